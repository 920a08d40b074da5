"""Constants of the fake AWS environment the function tests run in (imported by conftest and tests)."""

import json

ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "recflow-data-123456789012"
RUN_ID = "ratings-2024-05-789bf09d1697"
DATASET_GROUP_ARN = f"arn:aws:personalize:{REGION}:{ACCOUNT}:dataset-group/recflow"
SOLUTION_ARN = f"arn:aws:personalize:{REGION}:{ACCOUNT}:solution/recflow-solution"
TOPIC_NAME = "recflow-notifications"
STATE_MACHINE_NAME = "recflow-pipeline"

ENVIRONMENT = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_SERVICE_NAME": "recflow-test",
    "POWERTOOLS_METRICS_NAMESPACE": "recflow",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "DATA_BUCKET": BUCKET,
    "NAME_PREFIX": "recflow",
    "DATASET_GROUP_ARN": DATASET_GROUP_ARN,
    "INTERACTIONS_DATASET_ARN": f"arn:aws:personalize:{REGION}:{ACCOUNT}:dataset/recflow/INTERACTIONS",
    "PERSONALIZE_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/recflow-personalize",
    "RECIPE_ARN": "arn:aws:personalize:::recipe/aws-user-personalization-v2",
    "NUM_RESULTS": "25",
    "BATCH_USERS_KEY": "",
    "NOTIFICATION_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC_NAME}",
    "IMPORT_DEADLINE_SECONDS": "7200",
    "TRAINING_DEADLINE_SECONDS": "43200",
    "BATCH_DEADLINE_SECONDS": "14400",
    "POLL_MIN_SECONDS": "60",
    "SOLUTION_ARN": SOLUTION_ARN,
    "STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_NAME}",
}


def emitted_metrics(stdout: str) -> dict[str, float]:
    """The metric values of the EMF lines Powertools printed."""
    values: dict[str, float] = {}
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                value = document[definition["Name"]]
                values[definition["Name"]] = value[0] if isinstance(value, list) else value
    return values
