"""template.yaml and the state machine agree, and the state machine polls the way the issue asks."""

import importlib
import json
import re
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.decode import cfn_yaml
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
ASL = json.loads((ROOT / "statemachine" / "pipeline.asl.json").read_text())
# cfn-lint's reader turns the short forms (!GetAtt X.Arn) into the long ones ({"Fn::GetAtt": [X, Arn]}).
RESOURCES: dict[str, Any] = cfn_yaml.loads((ROOT / "template.yaml").read_text())["Resources"]
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
    substitutions = RESOURCES["PipelineStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert _placeholders() == set(substitutions)


def test_every_function_the_state_machine_calls_is_a_function_of_the_template_with_an_importable_handler():
    substitutions = RESOURCES["PipelineStateMachine"]["Properties"]["DefinitionSubstitutions"]
    functions = {
        logical_id: resource["Properties"]["Handler"]
        for logical_id, resource in RESOURCES.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    called = [v["Fn::GetAtt"][0] for k, v in substitutions.items() if k.endswith("FunctionArn")]
    assert len(called) == 9
    for logical_id in called:
        assert logical_id in functions, logical_id
    for handler in functions.values():
        module, _, attr = handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module), attr)), handler


def test_every_lambda_task_retries_the_lambda_service_errors_and_catches_everything_else():
    tasks = {name: s for name, s in STATES.items() if s["Type"] == "Task" and "FunctionArn" in s["Resource"]}
    # "Check your batch input" and "Prepare batch input" both call PrepareBatchInput, and the two campaign
    # tasks PointCampaign
    assert len(tasks) == 13
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
    assert len(waits) == 4  # the three jobs and the campaign
    assert all("SecondsPath" in s and "Seconds" not in s for s in waits.values()), "no fixed waits"


JOB_CHECKS = {
    "Check import status": ("Is the import done?", "Wait for the import", "Import failed"),
    "Check training status": ("Is training done?", "Wait for training", "Training failed"),
    "Check batch status": ("Are recommendations ready?", "Wait for recommendations", "Batch failed"),
}


@pytest.mark.parametrize("check", sorted(JOB_CHECKS))
def test_a_job_check_catches_the_job_outcomes_by_name_and_its_choice_only_asks_for_active(check):
    choice, wait, failed = JOB_CHECKS[check]
    state = STATES[check]
    # The job outcomes check_job raises lead to the phase's failure by name
    (named,) = [c for c in state["Catch"] if "JobFailed" in c["ErrorEquals"]]
    assert set(named["ErrorEquals"]) == {"JobFailed", "JobStopped", "DeadlineExceeded", "UnexpectedJobStatus"}
    assert named["Next"] == failed and named["ResultPath"] == "$.failure"
    # and the choice after the check is only "is it ACTIVE?"; anything else waits and checks again
    assert state["Next"] == choice
    (rule,) = STATES[choice]["Choices"]
    assert (rule["StringEquals"], STATES[choice]["Default"]) == ("ACTIVE", wait)
    assert STATES[wait]["Next"] == check


def _failure_path(start: str) -> list[str]:
    """The states a caught error goes through (a Choice may go either way: both are followed)."""
    path, todo = [], [start]
    while todo:
        name = todo.pop()
        if name in path:
            continue
        path.append(name)
        state = STATES[name]
        todo += [state["Next"]] if "Next" in state else []
        todo += [rule["Next"] for rule in state.get("Choices", [])] + ([state["Default"]] if "Default" in state else [])
    return path


def test_every_failure_path_notifies_and_ends_in_a_fail_state():
    assert STATES["Notify failure"]["Next"] == "Run failed"
    assert STATES["Run failed"]["Type"] == "Fail"
    for name, state in STATES.items():
        for catch in state.get("Catch", []):
            path = _failure_path(catch["Next"])
            assert "Run failed" in path, name
            assert all(STATES[step]["Type"] in ("Pass", "Choice", "Fail") for step in path if step != "Notify failure")
            if name != "Notify failure":
                assert "Notify failure" in path, name


def test_a_step_functions_error_is_renamed_after_its_phase_before_the_fail_state():
    # Given the phases' failure states, each naming its phase and the error a States.* error becomes
    failed = {name: s for name, s in STATES.items() if s.get("ResultPath") == "$.failed"}
    assert {s["Result"]["phase"] for s in failed.values()} == {"etl", "data", "import", "train", "batch", "finish"}
    for state in failed.values():
        assert state["Result"]["step_error"].endswith("StepFailed")
        assert not state["Result"]["step_error"].startswith("States.")
        assert state["Next"] == "Is it a Step Functions error?"
    # Then only a States.* error goes through the renaming, which keeps Step Functions' name in the cause
    (rule,) = STATES["Is it a Step Functions error?"]["Choices"]
    assert (rule["Variable"], rule["StringMatches"]) == ("$.failure.Error", "States.*")
    renaming = STATES[rule["Next"]]
    assert renaming["Parameters"]["Error.$"] == "$.failed.step_error"
    assert "$.failure.Error" in renaming["Parameters"]["Cause.$"]
    assert STATES["Notify failure"]["Parameters"]["phase.$"] == "$.failed.phase"
    # And no state names a States.* error of its own
    literal_errors = [s["Parameters"]["Error"] for s in STATES.values() if "Error" in s.get("Parameters", {})]
    assert literal_errors and not any(error.startswith("States.") for error in literal_errors)


def test_every_task_catches_data_limit_exceeded_which_states_all_does_not():
    for name, state in STATES.items():
        if state["Type"] == "Task":
            caught = [error for catch in state["Catch"] for error in catch["ErrorEquals"]]
            assert "States.DataLimitExceeded" in caught, name


def test_automatic_training_cannot_be_switched_on_by_cloudformation():
    solution = RESOURCES["Solution"]
    assert solution["Type"] == "Custom::PersonalizeSolution"  # AWS::Personalize::Solution has no such property


def test_no_wildcard_actions_in_iam_policies():
    text = (ROOT / "template.yaml").read_text()
    for service in ("s3", "personalize", "glue", "states", "sns"):
        allowed = re.findall(rf"Action: {service}:\*", text)
        denies = text.count("Sid: DenyInsecureTransport")  # each bucket's TLS-only Deny is the s3:* there is
        assert len(allowed) <= (denies if service == "s3" else 0), service


def _run_failure_path(failure: dict[str, str], phase_state: str) -> dict[str, Any]:
    """Execute the ASL's own failure states in moto's interpreter, from a caught ``failure`` onwards.

    Only Notify failure (a Lambda task) is replaced by a Pass state that records what it would send.
    """
    states = {name: STATES[name] for name in _failure_path(phase_state)}
    notify = states["Notify failure"]
    states["Notify failure"] = {
        "Type": "Pass",
        "Parameters": notify["Parameters"],
        "ResultPath": "$.notified",
        "Next": notify["Next"],
    }
    states["Caught"] = {"Type": "Pass", "Result": failure, "ResultPath": "$.failure", "Next": phase_state}
    definition = {"StartAt": "Caught", "States": states}
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="failure-path", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/sfn"
        )["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine, name="run-1", input=json.dumps({"run_id": "run-1"}))
        for _ in range(100):
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if described["status"] != "RUNNING":
                break
            time.sleep(0.05)
        history = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
    notified = next(
        json.loads(e["stateExitedEventDetails"]["output"])["notified"]
        for e in history
        if e.get("stateExitedEventDetails", {}).get("name") == "Notify failure"
    )
    return {
        "status": described["status"],
        "error": described.get("error"),
        "cause": described.get("cause"),
        "notified": notified,
    }


def test_a_step_functions_error_ends_the_run_renamed_after_its_phase():
    # Given the import check timed out (Step Functions' own States.Timeout)
    failure = {"Error": "States.Timeout", "Cause": "The task timed out after 60 seconds."}
    # When the failure states run
    run = _run_failure_path(failure, "Import failed")
    # Then the run fails as ImportStepFailed, the cause keeps Step Functions' name, and the operators hear the phase
    cause = "Step Functions reported States.Timeout in phase import: The task timed out after 60 seconds."
    assert (run["status"], run["error"], run["cause"]) == ("FAILED", "ImportStepFailed", cause)
    assert run["notified"] == {"run_id": "run-1", "phase": "import", "error": "ImportStepFailed", "cause": cause}


def test_an_error_of_ours_ends_the_run_under_its_own_name():
    failure = {"Error": "JobFailed", "Cause": '{"errorMessage": "Personalize training job x failed in phase train."}'}
    run = _run_failure_path(failure, "Training failed")
    assert (run["status"], run["error"], run["cause"]) == ("FAILED", "JobFailed", failure["Cause"])
    assert run["notified"]["phase"] == "train"


def _successors(state: dict[str, Any]) -> set[str]:
    found = {state["Next"]} if "Next" in state else set()
    found |= {rule["Next"] for rule in state.get("Choices", [])} | ({state["Default"]} if "Default" in state else set())
    return found | {catch["Next"] for catch in state.get("Catch", [])}


def test_the_campaign_moves_only_once_the_batch_output_is_ready_and_the_run_finishes_only_once_it_serves_it():
    # The one way into the campaign step is the batch check's ACTIVE: a run failing before never moves it
    into = {name for name, state in STATES.items() if "Point the campaign at the new version" in _successors(state)}
    assert into == {"Are recommendations ready?"}
    (rule,) = STATES["Are recommendations ready?"]["Choices"]
    assert (rule["StringEquals"], rule["Next"]) == ("ACTIVE", "Point the campaign at the new version")
    # and the one way into Finish run is the campaign being ready (point_campaign says so at once without one)
    assert {name for name, state in STATES.items() if "Finish run" in _successors(state)} == {
        "Is the campaign on the new version?"
    }
    (ready,) = STATES["Is the campaign on the new version?"]["Choices"]
    assert (ready["Variable"], ready["BooleanEquals"], ready["Next"]) == ("$.campaign.ready", True, "Finish run")
    assert STATES["Wait for the campaign"]["Next"] == "Check the campaign"
    for task in ("Point the campaign at the new version", "Check the campaign"):
        state = STATES[task]
        assert state["Resource"] == "${PointCampaignFunctionArn}" and state["ResultPath"] == "$.campaign"
        # UpdateCampaign refused while the campaign is busy is retried like a job creation
        assert any(r["ErrorEquals"] == ["PersonalizeResourceInUse"] for r in state["Retry"])
        (named,) = [c for c in state["Catch"] if "JobFailed" in c["ErrorEquals"]]
        assert set(named["ErrorEquals"]) == {"JobFailed", "DeadlineExceeded", "UnexpectedJobStatus"}
        assert {c["Next"] for c in state["Catch"]} == {"Finish failed"}
    assert STATES["Finish run"]["Parameters"]["campaign.$"] == "$.campaign"


def test_the_filter_and_the_campaign_are_conditional_resources_of_the_personalize_custom_resource_function():
    document = cfn_yaml.loads((ROOT / "template.yaml").read_text())
    token = {"Fn::GetAtt": ["SolutionFunction", "Arn"]}
    seen_filter, campaign = RESOURCES["ExcludeSeenFilter"], RESOURCES["Campaign"]
    assert (seen_filter["Type"], seen_filter["Condition"]) == ("Custom::PersonalizeFilter", "ExcludesSeenItems")
    assert seen_filter["Properties"]["FilterExpression"] == 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")'
    assert (campaign["Type"], campaign["Condition"]) == ("Custom::PersonalizeCampaign", "HasCampaign")
    assert seen_filter["Properties"]["ServiceToken"] == campaign["Properties"]["ServiceToken"] == token
    # The campaign refers to the solution: CloudFormation deletes it first (Personalize keeps a solution in use)
    assert campaign["Properties"]["SolutionArn"] == {"Fn::GetAtt": ["Solution", "Arn"]}
    assert document["Parameters"]["ExcludeSeenItems"]["Default"] == "true"
    assert document["Parameters"]["CampaignMinTPS"]["Default"] == 0
    outputs = document["Outputs"]
    assert (outputs["FilterArn"]["Condition"], outputs["CampaignArn"]["Condition"]) == (
        "ExcludesSeenItems",
        "HasCampaign",
    )
    batch_env = RESOURCES["StartBatchFunction"]["Properties"]["Environment"]["Variables"]
    assert batch_env["FILTER_ARN"] == {
        "Fn::If": ["ExcludesSeenItems", {"Fn::GetAtt": ["ExcludeSeenFilter", "Arn"]}, ""]
    }
    point_env = RESOURCES["PointCampaignFunction"]["Properties"]["Environment"]["Variables"]
    assert point_env["CAMPAIGN_ARN"] == {"Fn::If": ["HasCampaign", {"Fn::GetAtt": ["Campaign", "Arn"]}, ""]}
