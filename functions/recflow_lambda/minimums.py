"""Amazon Personalize's data minimums, kept by the local Personalize (the Glue script holds the same numbers).

From the Personalize quotas page: a dataset import job needs at least 1,000 records, and training needs
at least 1,000 interactions (after any event filtering) from at least 25 users with 2 or more each.
"""

MIN_IMPORT_RECORDS = 1000
MIN_TRAINING_INTERACTIONS = 1000
MIN_TRAINING_USERS = 25  # users with at least 2 interactions each
# The current quotas page also asks that at least 1% of users have 2 or more interactions.
MIN_SHARE_OF_USERS_WITH_2PLUS = 0.01
