"""template.yaml and the state machine agree, and the state machine polls the way the issue asks."""

import importlib
import json
import re
from pathlib import Path

import pytest

from recflow.offline.template import Template

ROOT = Path(__file__).resolve().parents[2]
ASL = json.loads((ROOT / "statemachine" / "pipeline.asl.json").read_text())
TEMPLATE = Template(ROOT / "template.yaml")
LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
STATES = ASL["States"]


def _placeholders() -> set[str]:
    return set(re.findall(r"\$\{(\w+)\}", (ROOT / "statemachine" / "pipeline.asl.json").read_text()))


def test_every_placeholder_has_a_definition_substitution_and_every_substitution_is_used():
    substitutions = TEMPLATE.resources["PipelineStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert _placeholders() == set(substitutions)


def test_every_function_the_state_machine_calls_is_a_function_of_the_template_with_an_importable_handler():
    substitutions = TEMPLATE.resources["PipelineStateMachine"]["Properties"]["DefinitionSubstitutions"]
    functions = {f.logical_id: f for f in TEMPLATE.functions()}
    called = [v["Fn::GetAtt"][0] for k, v in substitutions.items() if k.endswith("FunctionArn")]
    assert len(called) == 8
    for logical_id in called:
        assert logical_id in functions, logical_id
    for fn in functions.values():
        module, _, attr = fn.handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module), attr)), fn.handler


def test_every_lambda_task_retries_the_lambda_service_errors_and_catches_everything_else():
    tasks = {name: s for name, s in STATES.items() if s["Type"] == "Task" and "FunctionArn" in s["Resource"]}
    assert len(tasks) == 10
    for name, state in tasks.items():
        retried = set().union(*(set(r["ErrorEquals"]) for r in state["Retry"]))
        assert retried >= LAMBDA_ERRORS, name
        assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], name


def test_personalize_job_starts_retry_throttling_with_capped_backoff():
    for name in ("Start import", "Start training", "Start batch recommendations"):
        (retry,) = [r for r in STATES[name]["Retry"] if r["ErrorEquals"] == ["PersonalizeThrottled"]]
        assert retry["BackoffRate"] > 1 and retry["MaxDelaySeconds"] <= 900, name


def test_glue_runs_synchronously_and_waits_come_from_the_status_checker():
    assert STATES["Transform raw interactions"]["Resource"] == "arn:aws:states:::glue:startJobRun.sync"
    waits = {name: s for name, s in STATES.items() if s["Type"] == "Wait"}
    assert len(waits) == 3
    assert all("SecondsPath" in s and "Seconds" not in s for s in waits.values()), "no fixed waits"


@pytest.mark.parametrize("choice", ["Is the import done?", "Is training done?", "Are recommendations ready?"])
def test_each_status_choice_accepts_both_batch_status_spellings_and_fails_otherwise(choice):
    state = STATES[choice]
    text = json.dumps(state["Choices"])
    for status in ("ACTIVE", "CREATE PENDING", "PENDING", "CREATE IN_PROGRESS", "IN PROGRESS"):
        assert f'"{status}"' in text, status
    assert "deadline_exceeded" in text
    assert STATES[state["Default"]]["Type"] == "Pass"  # records error and cause, then notifies


def test_every_failure_path_notifies_and_ends_in_a_fail_state():
    assert STATES["Notify failure"]["Next"] == "Run failed"
    assert STATES["Run failed"]["Type"] == "Fail"
    for name, state in STATES.items():
        for catch in state.get("Catch", []):
            target = STATES[catch["Next"]]
            while target.get("Next") not in (None, "Notify failure"):
                target = STATES[target["Next"]]
            assert target.get("Next") == "Notify failure" or catch["Next"] == "Run failed", name


def test_automatic_training_cannot_be_switched_on_by_cloudformation():
    solution = TEMPLATE.resources["Solution"]
    assert solution["Type"] == "Custom::PersonalizeSolution"  # AWS::Personalize::Solution has no such property


def test_no_wildcard_actions_in_iam_policies():
    text = (ROOT / "template.yaml").read_text()
    for service in ("s3", "personalize", "glue", "states", "sns"):
        allowed = re.findall(rf"Action: {service}:\*", text)
        assert len(allowed) <= (1 if service == "s3" else 0), service  # the one s3:* is the TLS-only Deny
