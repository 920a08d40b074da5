"""Amazon Personalize's data minimums, shared by the data check and the local Personalize.

From the Personalize quotas page: a dataset import job needs at least 1,000 records, and training needs
at least 1,000 interactions (after any event filtering) from at least 25 users with 2 or more each.
"""

MIN_IMPORT_RECORDS = 1000
MIN_TRAINING_INTERACTIONS = 1000
MIN_TRAINING_USERS = 25  # users with at least 2 interactions each
# The current quotas page also asks that at least 1% of users have 2 or more interactions.
MIN_SHARE_OF_USERS_WITH_2PLUS = 0.01

# Not Personalize's: the share of data lines the ETL may reject before a run fails (MaxRejectedShare's default).
DEFAULT_MAX_REJECTED_SHARE = 0.1
