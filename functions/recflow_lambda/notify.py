"""SNS adapter: run notifications."""

from recflow_lambda.clients import sns_client

# SNS rejects subjects longer than 100 characters.
_MAX_SUBJECT = 100


def publish(topic_arn: str, subject: str, message: str) -> str:
    """Publish ``message`` to ``topic_arn``; return the SNS message id."""
    response = sns_client().publish(TopicArn=topic_arn, Subject=subject[:_MAX_SUBJECT], Message=message)
    return str(response["MessageId"])
