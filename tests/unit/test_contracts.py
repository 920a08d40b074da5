"""Contracts between the parts that must agree: error names, recipes, Personalize minimums, summary phases.

Each list lives in one place (errors.py, recipes.py, minimums.py, execution_history.STATE_PHASES); these tests fail
when another part drifts from it.
"""

import ast
import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import botocore.session
import pytest
from cfnlint.decode import cfn_yaml
from recflow_lambda import errors, job_status
from recflow_lambda.minimums import MIN_IMPORT_RECORDS, MIN_TRAINING_INTERACTIONS, MIN_TRAINING_USERS
from recflow_lambda.naming import RunPhase
from recflow_lambda.recipes import RECIPES, batch_kind

from recflow.execution_history import JOB_CHECK_STATES, STATE_PHASES
from recflow.personalize_local import interactions, recommender

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_CODE = ROOT / "functions" / "recflow_lambda"
STATES: dict[str, dict[str, Any]] = json.loads((ROOT / "statemachine" / "pipeline.asl.json").read_text())["States"]

# The error names the Step Functions developer guide defines ("Error names" in "Handling errors").
STATES_ERRORS = {
    "States.ALL",
    "States.BranchFailed",
    "States.DataLimitExceeded",
    "States.ExceedToleratedFailureThreshold",
    "States.HeartbeatTimeout",
    "States.Http.Socket",
    "States.IntrinsicFailure",
    "States.ItemReaderFailed",
    "States.NoChoiceMatched",
    "States.ParameterPathFailure",
    "States.Permissions",
    "States.QueryEvaluationError",
    "States.ResultPathMatchFailure",
    "States.ResultWriterFailed",
    "States.Runtime",
    "States.TaskFailed",
    "States.Timeout",
}
# Lambda invocation errors Step Functions names itself (the best-practices guide's retry list), besides
# the Lambda API's own exceptions.
STEP_FUNCTIONS_LAMBDA_ERRORS = {"Lambda.AWSLambdaException", "Lambda.SdkClientException"}


def _matched_names() -> Iterator[tuple[str, str]]:
    for name, state in STATES.items():
        for rule in state.get("Retry", []) + state.get("Catch", []):
            for error in rule["ErrorEquals"]:
                yield name, error


def _aws_service_errors(service: str) -> set[str]:
    model = botocore.session.get_session().get_service_model(service)
    return {f"{service.capitalize()}.{shape.name}" for shape in model.error_shapes}


def _error_classes() -> dict[str, type[errors.RecflowError]]:
    return {
        name: cls
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.RecflowError) and cls is not errors.RecflowError
    }


def _lambda_modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(LAMBDA_CODE.rglob("*.py")):
        yield path, ast.parse(path.read_text())


# --- error names ----------------------------------------------------------------------------------------
def test_every_error_name_in_a_retry_or_catch_is_ours_or_a_documented_aws_name():
    ours = {cls.__name__ for cls in errors.MATCHED_BY_NAME}
    aws = STATES_ERRORS | STEP_FUNCTIONS_LAMBDA_ERRORS | _aws_service_errors("lambda") | _aws_service_errors("glue")
    unknown = {(state, error) for state, error in _matched_names() if error not in ours | aws}
    assert unknown == set(), "these names match nothing errors.py raises nor any AWS error"


def test_every_error_matched_by_name_is_retried_or_caught_somewhere():
    matched = {error for _, error in _matched_names()}
    assert {cls.__name__ for cls in errors.MATCHED_BY_NAME} <= matched


def test_every_error_class_is_either_matched_by_name_or_documented_as_left_to_the_catch_all():
    matched, left = set(errors.MATCHED_BY_NAME), set(errors.LEFT_TO_CATCH_ALL)
    assert matched.isdisjoint(left)
    assert set(_error_classes().values()) == matched | left


def test_every_error_the_lambda_code_raises_is_one_of_errors_py():
    # Given every class named in a `raise SomeError(...)` of the Lambda code (a lower-case name is a variable
    # holding one of the classes personalize.py maps AWS error codes to)
    raised = {
        node.exc.func.id
        for _, module in _lambda_modules()
        for node in ast.walk(module)
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and isinstance(node.exc.func, ast.Name)
    }
    # Then apart from ValueError (a programming error of a caller), each one is a class the contract lists
    assert {name for name in raised if name[0].isupper()} - {"ValueError"} <= set(_error_classes())


def test_the_job_checks_catch_exactly_what_check_job_raises():
    raised = {
        node.exc.func.id
        for node in ast.walk(ast.parse(inspect.getsource(job_status)))
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and isinstance(node.exc.func, ast.Name)
    }
    assert raised == {"JobFailed", "JobStopped", "DeadlineExceeded", "UnexpectedJobStatus"}
    for state in JOB_CHECK_STATES.values():
        named = {error for catch in STATES[state]["Catch"][:-2] for error in catch["ErrorEquals"]}
        assert named == raised, state


def test_lambda_code_never_imports_the_offline_runtime():
    for path, module in _lambda_modules():
        imported = [alias.name for node in ast.walk(module) if isinstance(node, ast.Import) for alias in node.names]
        imported += [node.module or "" for node in ast.walk(module) if isinstance(node, ast.ImportFrom)]
        assert not [name for name in imported if name == "recflow" or name.startswith("recflow.")], path


# --- recipes --------------------------------------------------------------------------------------------
def test_the_template_offers_exactly_the_recipes_of_recipes_py():
    recipe = cfn_yaml.loads((ROOT / "template.yaml").read_text())["Parameters"]["Recipe"]
    assert recipe["AllowedValues"] == list(RECIPES)
    assert recipe["Default"] in RECIPES


def test_the_local_recommender_runs_exactly_the_recipes_of_recipes_py_with_the_same_batch_kinds():
    local = recommender.USER_PERSONALIZATION | recommender.POPULARITY | recommender.RELATED_ITEMS
    assert local == set(RECIPES)
    assert {name for name, kind in RECIPES.items() if kind == "itemId"} == recommender.RELATED_ITEMS


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_the_batch_kind_of_a_recipe_arn_comes_from_recipes_py(name):
    assert batch_kind(f"arn:aws:personalize:::recipe/{name}") == RECIPES[name]


def test_a_recipe_recflow_does_not_run_is_a_configuration_error():
    with pytest.raises(errors.ConfigurationError, match="aws-trending-now names a recipe recflow does not run"):
        batch_kind("arn:aws:personalize:::recipe/aws-trending-now")


def test_the_readme_recipe_table_lists_the_recipes_of_recipes_py():
    rows = re.findall(r"^\| `(aws-[a-z0-9-]+)` \| `(userId|itemId)`[^|]*\|$", (ROOT / "README.md").read_text(), re.M)
    assert dict(rows) == RECIPES and len(rows) == len(RECIPES)


# --- Personalize minimums -------------------------------------------------------------------------------
# The Glue script, which Glue ships alone, holds its own copy: tests/unit/etl/test_run_rejection.py compares them.
def test_the_local_personalize_imports_the_minimums_from_minimums_py_not_redefined():
    tree = ast.parse(inspect.getsource(interactions))
    assigned = {
        t.id for node in ast.walk(tree) if isinstance(node, ast.Assign) for t in node.targets if hasattr(t, "id")
    }
    assert not {name for name in assigned if name.startswith("MIN_")}
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "recflow_lambda.minimums"
        for alias in node.names
    }
    assert imported >= {"MIN_TRAINING_INTERACTIONS", "MIN_TRAINING_USERS"}


def test_the_local_import_refuses_below_the_shared_minimum():
    assert interactions.import_shortfall(MIN_IMPORT_RECORDS) is None
    shortfall = interactions.import_shortfall(MIN_IMPORT_RECORDS - 1)
    assert shortfall is not None and f"at least {MIN_IMPORT_RECORDS} records" in shortfall
    assert (MIN_IMPORT_RECORDS, MIN_TRAINING_INTERACTIONS, MIN_TRAINING_USERS) == (1000, 1000, 25)


# --- summary phases -------------------------------------------------------------------------------------
def test_every_state_maps_to_a_run_phase_and_every_mapped_state_exists():
    assert set(STATE_PHASES) == set(STATES)
    assert set(STATE_PHASES.values()) == set(get_args(RunPhase))


def test_a_phase_failure_state_names_the_phase_the_summary_gives_it():
    for name, state in STATES.items():
        if state.get("ResultPath") == "$.failed":
            assert state["Result"]["phase"] == STATE_PHASES[name], name


def test_a_task_fails_into_its_own_phase():
    for name, state in STATES.items():
        for catch in state.get("Catch", []):
            if name != "Notify failure":
                assert STATE_PHASES[catch["Next"]] == STATE_PHASES[name], (name, catch["Next"])


def test_the_summary_counts_polls_on_the_states_that_run_check_job():
    for state in JOB_CHECK_STATES.values():
        assert STATES[state]["Type"] == "Task" and STATES[state]["Resource"] == "${CheckJobFunctionArn}"
    checks = {name for name, s in STATES.items() if s.get("Resource") == "${CheckJobFunctionArn}"}
    assert checks == set(JOB_CHECK_STATES.values())
