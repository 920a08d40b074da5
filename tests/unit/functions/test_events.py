"""The sample events of events/ are valid inputs of their handlers (they also feed sam local invoke)."""

from pathlib import Path

import pytest
from lambda_env import BUCKET, RUN_ID
from pydantic import BaseModel
from recflow_lambda.errors import InvalidEvent
from recflow_lambda.models import (
    CheckDataEvent,
    CheckJobEvent,
    FailureEvent,
    FinishRunEvent,
    JobState,
    ObjectCreatedEvent,
    PointCampaignEvent,
    RunEvent,
    ScheduledEvent,
    SolutionRequest,
    StartBatchEvent,
    TriggerEvent,
    parse_event,
)
from recflow_lambda.naming import upload_run_id

MODEL_OF_EVENT: dict[str, type[BaseModel]] = {
    "start_run": TriggerEvent,
    "start_run_scheduled": TriggerEvent,
    "start_run_run_ended": TriggerEvent,
    "check_data": CheckDataEvent,
    "prepare_batch_input": RunEvent,
    "start_import": RunEvent,
    "start_training": RunEvent,
    "start_batch": StartBatchEvent,
    "check_job": CheckJobEvent,
    "finish_run": FinishRunEvent,
    "notify_failure": FailureEvent,
    "solution_resource": SolutionRequest,
    "point_campaign": PointCampaignEvent,
}
HANDLERS = Path(__file__).resolve().parents[3] / "functions" / "recflow_lambda" / "handlers"


def test_every_handler_has_a_sample_event():
    handlers = {path.stem for path in HANDLERS.glob("*.py")} - {"__init__"}

    assert handlers <= set(MODEL_OF_EVENT)


@pytest.mark.parametrize("name", sorted(MODEL_OF_EVENT))
def test_sample_event_is_valid(load_event, name):
    parsed = parse_event(MODEL_OF_EVENT[name], load_event(name), name)

    assert isinstance(parsed, MODEL_OF_EVENT[name])


def test_sample_trigger_events_are_an_upload_and_a_schedule(load_event):
    upload = parse_event(TriggerEvent, load_event("start_run"), "start_run").root
    schedule = parse_event(TriggerEvent, load_event("start_run_scheduled"), "start_run").root

    assert isinstance(upload, ObjectCreatedEvent)
    assert isinstance(schedule, ScheduledEvent)


def test_sample_events_follow_the_run_of_the_sample_upload(load_event):
    upload = load_event("start_run")["detail"]

    obj = upload["object"]
    run_id = upload_run_id(upload["bucket"]["name"], obj["key"], f"{obj['version-id']}/{obj['sequencer']}")

    assert upload["bucket"]["name"] == BUCKET
    assert run_id == RUN_ID
    assert {load_event(name)["run_id"] for name in ("check_data", "start_import", "finish_run")} == {RUN_ID}


def test_an_invalid_event_is_reported_in_one_sentence(load_event):
    event = load_event("start_batch")
    del event["input_uri"]
    event["run_id"] = "run/with/slashes"

    with pytest.raises(InvalidEvent) as raised:
        parse_event(StartBatchEvent, event, "start_batch")

    assert str(raised.value) == (
        "The start_batch event is invalid (run_id: String should match pattern "
        "'^[a-zA-Z0-9][a-zA-Z0-9\\-_]*$'; input_uri: Field required)."
    )


def test_sample_job_states_carry_exactly_the_fields_of_the_contract(load_event):
    # JobState ignores unknown keys, so a field the contract dropped (e.g. an error dict) would pass unnoticed
    finish = load_event("finish_run")
    jobs = [load_event("check_job")["job"], finish["import"], finish["training"], finish["batch"]]

    assert [set(job) for job in jobs] == [set(JobState.model_fields)] * 4
