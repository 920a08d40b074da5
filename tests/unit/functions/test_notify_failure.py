import json

import pytest
from lambda_env import RUN_ID, emitted_metrics
from recflow_lambda.errors import InvalidEvent
from recflow_lambda.handlers import notify_failure

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


def test_a_lambda_failure_is_published_as_one_sentence(topic_messages, load_event, lambda_context, capsys):
    # Given the state machine caught DataCheckFailed (its Cause is the Lambda error JSON with a stack trace)
    event = load_event("notify_failure")

    # When notify_failure runs
    result = notify_failure.handler(event, lambda_context)

    # Then the operators get the error message, not the stack trace
    assert result == {"notified": True}
    assert topic_messages() == [
        {
            "subject": f"recflow run {RUN_ID} failed",
            "message": f"recflow run {RUN_ID} failed in phase data: DataCheckFailed: "
            f"Run {RUN_ID} has 812 interactions after the ETL (3 lines rejected); "
            "Amazon Personalize needs at least 1000: upload more data under raw/.",
        }
    ]
    assert emitted_metrics(capsys.readouterr().out) == {"RunsFailed": 1.0}


@pytest.mark.parametrize(
    ("cause", "told"),
    [
        ("phase train did not finish in 43200 s", "phase train did not finish in 43200 s"),
        (json.dumps({"JobRunState": "FAILED", "ErrorMessage": "Out of memory."}), "Out of memory."),
        ('["not", "an", "object"]', '["not", "an", "object"]'),
        (None, "no cause was reported"),
        ("", "no cause was reported"),
    ],
)
def test_the_cause_is_told_as_readably_as_possible(topic_messages, load_event, lambda_context, cause, told):
    event = load_event("notify_failure") | {"phase": "train", "error": "DeadlineExceeded", "cause": cause}

    notify_failure.handler(event, lambda_context)

    [published] = topic_messages()
    assert published["message"] == f"recflow run {RUN_ID} failed in phase train: DeadlineExceeded: {told}"


def test_an_event_without_an_error_is_invalid(topic_messages, lambda_context):
    with pytest.raises(InvalidEvent, match=r"\(phase: Field required; error: Field required\)"):
        notify_failure.handler({"run_id": RUN_ID}, lambda_context)

    assert topic_messages() == []
