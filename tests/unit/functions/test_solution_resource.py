"""solution_resource: every request gets an answer PUT to its ResponseURL, including the failures."""

import ast
import hashlib
from dataclasses import replace
from pathlib import Path

import pytest
from recflow_lambda.errors import InvalidEvent, SolutionNotReady
from recflow_lambda.handlers import solution_resource

SOLUTION_NAME = "recflow-solution"
DATASET_GROUP_ARN = "arn:aws:personalize:us-east-1:123456789012:dataset-group/recflow"
RECIPE_ARN = "arn:aws:personalize:::recipe/aws-user-personalization-v2"
ARN = f"arn:aws:personalize:us-east-1:123456789012:solution/{SOLUTION_NAME}"
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/recflow/5b1d0f70-07f4-11ef-9a8e-0e4f9a1c2b3d"
NEW_NAME = "recflow-5b1d0f70-aws-sims"
NEW_ARN = f"arn:aws:personalize:us-east-1:123456789012:solution/{NEW_NAME}"
SIMS = "arn:aws:personalize:::recipe/aws-sims"
LIST_VERSIONS = {"solutionArn": ARN, "maxResults": 100}
CREATE_SOLUTION = {
    "name": SOLUTION_NAME,
    "datasetGroupArn": DATASET_GROUP_ARN,
    "recipeArn": RECIPE_ARN,
    "performAutoTraining": False,
}


@pytest.fixture
def request_event(load_event, cloudformation):
    def build(request_type: str = "Create", physical_id: str | None = None) -> dict:
        event = load_event("solution_resource") | {
            "RequestType": request_type,
            "ResponseURL": cloudformation[0],
        }
        if physical_id is not None:
            event["PhysicalResourceId"] = physical_id
        return event

    return build


def answer(status: str, reason: str, physical_id: str, data: dict | None = None) -> dict:
    return {
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": physical_id,
        "StackId": STACK_ID,
        "RequestId": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
        "LogicalResourceId": "Solution",
        "NoEcho": False,
        "Data": data or {},
    }


def versions(*statuses: str) -> dict:
    """ListSolutionVersions' answer: version i has the i-th status."""
    return {
        "solutionVersions": [
            {"solutionVersionArn": f"{ARN}/v{index}", "status": status} for index, status in enumerate(statuses)
        ]
    }


def solution(status: str, **changes) -> dict:
    return {
        "solution": {
            "name": SOLUTION_NAME,
            "solutionArn": ARN,
            "recipeArn": RECIPE_ARN,
            "datasetGroupArn": DATASET_GROUP_ARN,
            "performAutoTraining": False,
            "status": status,
        }
        | changes
    }


def test_create_makes_a_solution_that_never_trains_on_its_own(
    personalize_stubber, request_event, cloudformation, sleeps, lambda_context
):
    # Given no solution of that name exists
    personalize_stubber.add_client_error(
        "describe_solution", "ResourceNotFoundException", expected_params={"solutionArn": ARN}
    )
    # Then it is created with performAutoTraining=False (expected_params fails the test otherwise)
    personalize_stubber.add_response("create_solution", {"solutionArn": ARN}, expected_params=CREATE_SOLUTION)
    personalize_stubber.add_response("describe_solution", solution("CREATE PENDING"), {"solutionArn": ARN})
    personalize_stubber.add_response("describe_solution", solution("CREATE IN_PROGRESS"), {"solutionArn": ARN})
    personalize_stubber.add_response("describe_solution", solution("ACTIVE"), {"solutionArn": ARN})

    # When CloudFormation sends Create
    result = solution_resource.handler(request_event("Create"), lambda_context)

    # Then it waits until ACTIVE and answers SUCCESS with the ARN as physical id and Data.Arn
    expected = answer("SUCCESS", f"Solution {ARN} is ACTIVE.", ARN, {"Arn": ARN})
    assert result == expected
    assert cloudformation[1] == [{"path": "/response?X-Amz-Signature=example", "content_type": "", "body": expected}]
    assert sleeps == [5, 5]


def test_create_adopts_an_identical_existing_solution(
    personalize_stubber, request_event, cloudformation, sleeps, lambda_context
):
    personalize_stubber.add_response("describe_solution", solution("ACTIVE"), {"solutionArn": ARN})
    personalize_stubber.add_response("describe_solution", solution("ACTIVE"), {"solutionArn": ARN})

    solution_resource.handler(request_event("Create"), lambda_context)

    assert cloudformation[1][0]["body"] == answer("SUCCESS", f"Solution {ARN} is ACTIVE.", ARN, {"Arn": ARN})


def test_create_describes_the_solution_a_concurrent_attempt_created(
    personalize_stubber, request_event, cloudformation, sleeps, lambda_context
):
    personalize_stubber.add_client_error(
        "describe_solution", "ResourceNotFoundException", expected_params={"solutionArn": ARN}
    )
    personalize_stubber.add_client_error(
        "create_solution", "ResourceAlreadyExistsException", expected_params=CREATE_SOLUTION
    )
    personalize_stubber.add_response("describe_solution", solution("CREATE PENDING"), {"solutionArn": ARN})
    personalize_stubber.add_response("describe_solution", solution("ACTIVE"), {"solutionArn": ARN})

    solution_resource.handler(request_event("Create"), lambda_context)

    assert cloudformation[1][0]["body"]["Status"] == "SUCCESS"


@pytest.mark.parametrize(
    ("existing", "difference"),
    [
        (
            {"recipeArn": "arn:aws:personalize:::recipe/aws-sims"},
            "recipeArn 'arn:aws:personalize:::recipe/aws-sims'",
        ),
        ({"performAutoTraining": True}, "performAutoTraining True instead of False"),
    ],
)
def test_create_refuses_a_different_solution_of_the_same_name(
    personalize_stubber, request_event, cloudformation, sleeps, lambda_context, existing, difference
):
    personalize_stubber.add_response("describe_solution", solution("ACTIVE", **existing), {"solutionArn": ARN})

    solution_resource.handler(request_event("Create"), lambda_context)

    [put] = cloudformation[1]
    assert put["body"]["Status"] == "FAILED"
    assert put["body"]["Reason"].startswith(f"A solution named {SOLUTION_NAME} already exists with {difference}")
    assert put["body"]["Reason"].endswith("choose another Name or delete that solution.")
    # Not ours: a rollback must not delete it
    assert put["body"]["PhysicalResourceId"] == "Solution-not-created"


def test_a_solution_that_fails_to_create_answers_failed_with_its_arn_for_the_rollback(
    personalize_stubber, request_event, cloudformation, sleeps, lambda_context
):
    personalize_stubber.add_client_error(
        "describe_solution", "ResourceNotFoundException", expected_params={"solutionArn": ARN}
    )
    personalize_stubber.add_response("create_solution", {"solutionArn": ARN}, CREATE_SOLUTION)
    personalize_stubber.add_response("describe_solution", solution("CREATE FAILED"), {"solutionArn": ARN})

    solution_resource.handler(request_event("Create"), lambda_context)

    assert cloudformation[1][0]["body"] == answer(
        "FAILED", f"Solution {ARN} is CREATE FAILED instead of becoming ACTIVE.", ARN
    )


def test_create_answers_failed_before_the_function_times_out(
    personalize_stubber, request_event, cloudformation, sleeps, lambda_context
):
    # Given only 25 s are left, then 15 s after one poll
    remaining = iter([25_000, 15_000])
    context = replace(lambda_context)
    context.get_remaining_time_in_millis = lambda: next(remaining)
    personalize_stubber.add_client_error(
        "describe_solution", "ResourceNotFoundException", expected_params={"solutionArn": ARN}
    )
    personalize_stubber.add_response("create_solution", {"solutionArn": ARN}, CREATE_SOLUTION)
    personalize_stubber.add_response("describe_solution", solution("CREATE PENDING"), {"solutionArn": ARN})
    personalize_stubber.add_response("describe_solution", solution("CREATE IN_PROGRESS"), {"solutionArn": ARN})

    solution_resource.handler(request_event("Create"), context)

    assert cloudformation[1][0]["body"]["Status"] == "FAILED"
    assert cloudformation[1][0]["body"]["Reason"] == (
        f"Solution {ARN} was still CREATE IN_PROGRESS when the function ran out of time."
    )
    assert sleeps == [5]


def test_update_with_unchanged_properties_keeps_the_solution(
    personalize_stubber, request_event, cloudformation, sleeps, lambda_context
):
    personalize_stubber.add_response("describe_solution", solution("ACTIVE"), {"solutionArn": ARN})
    personalize_stubber.add_response("describe_solution", solution("ACTIVE"), {"solutionArn": ARN})

    solution_resource.handler(request_event("Update", physical_id=ARN), lambda_context)

    assert cloudformation[1][0]["body"] == answer("SUCCESS", f"Solution {ARN} is ACTIVE.", ARN, {"Arn": ARN})


def test_update_with_another_recipe_answers_the_new_solution_and_leaves_the_old_to_cloudformation(
    personalize_stubber, request_event, cloudformation, sleeps, lambda_context
):
    # Given the stack moves from user-personalization-v2 to sims: a new Name, a new solution
    event = request_event("Update", physical_id=ARN)
    event["OldResourceProperties"] = dict(event["ResourceProperties"])
    event["ResourceProperties"] |= {"Name": NEW_NAME, "RecipeArn": SIMS}
    personalize_stubber.add_client_error(
        "describe_solution", "ResourceNotFoundException", expected_params={"solutionArn": NEW_ARN}
    )
    personalize_stubber.add_response(
        "create_solution", {"solutionArn": NEW_ARN}, CREATE_SOLUTION | {"name": NEW_NAME, "recipeArn": SIMS}
    )
    personalize_stubber.add_response(
        "describe_solution", solution("ACTIVE", solutionArn=NEW_ARN, recipeArn=SIMS), {"solutionArn": NEW_ARN}
    )

    # When CloudFormation sends the Update
    solution_resource.handler(event, lambda_context)

    # Then the answer carries the new physical id (CloudFormation Deletes the old one next), the old is untouched
    assert cloudformation[1][0]["body"] == answer(
        "SUCCESS",
        f"Solution {NEW_ARN} is ACTIVE and replaces {ARN}, which CloudFormation deletes next.",
        NEW_ARN,
        {"Arn": NEW_ARN},
    )


def test_a_failed_update_deletes_the_solution_it_created_and_keeps_the_old_physical_id(
    personalize_stubber, request_event, cloudformation, sleeps, lambda_context
):
    event = request_event("Update", physical_id=ARN)
    event["ResourceProperties"] |= {"Name": NEW_NAME, "RecipeArn": SIMS}
    personalize_stubber.add_client_error(
        "describe_solution", "ResourceNotFoundException", expected_params={"solutionArn": NEW_ARN}
    )
    personalize_stubber.add_response(
        "create_solution", {"solutionArn": NEW_ARN}, CREATE_SOLUTION | {"name": NEW_NAME, "recipeArn": SIMS}
    )
    personalize_stubber.add_response("describe_solution", solution("CREATE FAILED"), {"solutionArn": NEW_ARN})
    # Then the solution the failed update made is deleted: CloudFormation never learns of it
    personalize_stubber.add_response("delete_solution", {}, {"solutionArn": NEW_ARN})

    solution_resource.handler(event, lambda_context)

    assert cloudformation[1][0]["body"] == answer(
        "FAILED", f"Solution {NEW_ARN} is CREATE FAILED instead of becoming ACTIVE.", ARN
    )


def test_create_fits_a_name_longer_than_63_characters_with_a_hash(
    personalize_stubber, request_event, cloudformation, sleeps, lambda_context
):
    # Given the Name a 50-character stack name gives (the custom resource used to refuse it)
    long_name = "s" * 50 + "-aws-user-personalization-v2"
    fitted = long_name[:54] + "-" + hashlib.sha256(long_name.encode()).hexdigest()[:8]
    fitted_arn = f"arn:aws:personalize:us-east-1:123456789012:solution/{fitted}"
    event = request_event("Create")
    event["ResourceProperties"]["Name"] = long_name
    personalize_stubber.add_client_error(
        "describe_solution", "ResourceNotFoundException", expected_params={"solutionArn": fitted_arn}
    )
    personalize_stubber.add_response("create_solution", {"solutionArn": fitted_arn}, CREATE_SOLUTION | {"name": fitted})
    personalize_stubber.add_response(
        "describe_solution", solution("ACTIVE", name=fitted, solutionArn=fitted_arn), {"solutionArn": fitted_arn}
    )

    solution_resource.handler(event, lambda_context)

    assert cloudformation[1][0]["body"] == answer(
        "SUCCESS", f"Solution {fitted_arn} is ACTIVE.", fitted_arn, {"Arn": fitted_arn}
    )
    assert len(fitted) == 63


def test_delete_removes_the_solution_and_waits_until_it_is_gone(
    personalize_stubber, request_event, cloudformation, sleeps, lambda_context
):
    personalize_stubber.add_response("describe_solution", solution("ACTIVE"), {"solutionArn": ARN})
    personalize_stubber.add_response("list_solution_versions", versions("ACTIVE"), LIST_VERSIONS)
    personalize_stubber.add_response("delete_solution", {}, {"solutionArn": ARN})
    personalize_stubber.add_response("describe_solution", solution("DELETE IN_PROGRESS"), {"solutionArn": ARN})
    personalize_stubber.add_client_error(
        "describe_solution", "ResourceNotFoundException", expected_params={"solutionArn": ARN}
    )

    solution_resource.handler(request_event("Delete", physical_id=ARN), lambda_context)

    assert cloudformation[1][0]["body"] == answer("SUCCESS", f"Solution {ARN} is deleted.", ARN)
    assert sleeps == [5, 5]


def test_delete_while_a_version_trains_stops_the_training_then_deletes(
    personalize_stubber, request_event, cloudformation, sleeps, lambda_context
):
    # Given a solution with an earlier ACTIVE version and one in training
    personalize_stubber.add_response("describe_solution", solution("ACTIVE"), {"solutionArn": ARN})
    personalize_stubber.add_response("list_solution_versions", versions("ACTIVE", "CREATE IN_PROGRESS"), LIST_VERSIONS)
    # Then the training is stopped (DeleteSolution would be refused), once, and the delete waits for it
    personalize_stubber.add_response("stop_solution_version_creation", {}, {"solutionVersionArn": f"{ARN}/v1"})
    personalize_stubber.add_response("describe_solution", solution("ACTIVE"), {"solutionArn": ARN})
    personalize_stubber.add_response("list_solution_versions", versions("ACTIVE", "CREATE STOPPING"), LIST_VERSIONS)
    personalize_stubber.add_response("describe_solution", solution("ACTIVE"), {"solutionArn": ARN})
    personalize_stubber.add_response("list_solution_versions", versions("ACTIVE", "CREATE STOPPED"), LIST_VERSIONS)
    personalize_stubber.add_response("delete_solution", {}, {"solutionArn": ARN})
    personalize_stubber.add_client_error(
        "describe_solution", "ResourceNotFoundException", expected_params={"solutionArn": ARN}
    )

    # When CloudFormation sends Delete
    solution_resource.handler(request_event("Delete", physical_id=ARN), lambda_context)

    assert cloudformation[1][0]["body"] == answer(
        "SUCCESS", f"Solution {ARN} is deleted (its training was stopped: {ARN}/v1).", ARN
    )
    assert sleeps == [5, 5, 5]


def test_delete_that_runs_out_of_time_while_a_training_stops_answers_failed(
    personalize_stubber, request_event, cloudformation, sleeps, lambda_context
):
    context = replace(lambda_context)
    context.get_remaining_time_in_millis = lambda: 15_000
    personalize_stubber.add_response("describe_solution", solution("ACTIVE"), {"solutionArn": ARN})
    personalize_stubber.add_response("list_solution_versions", versions("CREATE PENDING"), LIST_VERSIONS)
    personalize_stubber.add_response("stop_solution_version_creation", {}, {"solutionVersionArn": f"{ARN}/v0"})

    solution_resource.handler(request_event("Delete", physical_id=ARN), context)

    assert cloudformation[1][0]["body"] == answer(
        "FAILED",
        f"Solution {ARN} was still stopping its training when the function ran out of time; "
        "delete the stack again to finish.",
        ARN,
    )


def test_delete_of_a_solution_already_gone_succeeds(
    personalize_stubber, request_event, cloudformation, sleeps, lambda_context
):
    personalize_stubber.add_client_error(
        "describe_solution", "ResourceNotFoundException", expected_params={"solutionArn": ARN}
    )

    solution_resource.handler(request_event("Delete", physical_id=ARN), lambda_context)

    assert cloudformation[1][0]["body"] == answer("SUCCESS", f"Solution {ARN} was already deleted.", ARN)


def test_delete_after_a_create_that_made_nothing_calls_nothing(
    personalize_stubber, request_event, cloudformation, sleeps, lambda_context
):
    solution_resource.handler(request_event("Delete", physical_id="Solution-not-created"), lambda_context)

    assert cloudformation[1][0]["body"] == answer(
        "SUCCESS", "Nothing to delete: the Create made no solution (Solution-not-created).", "Solution-not-created"
    )


def test_delete_reads_no_properties_so_a_rollback_succeeds_whatever_the_create_was_given(
    personalize_stubber, request_event, cloudformation, sleeps, lambda_context
):
    # Given the rollback of a Create whose properties were invalid
    event = request_event("Delete", physical_id="Solution-not-created")
    event["ResourceProperties"] = {"Name": "not a name!"}

    solution_resource.handler(event, lambda_context)

    assert cloudformation[1][0]["body"]["Status"] == "SUCCESS"


def test_delete_refused_by_personalize_answers_failed_with_the_reason(
    personalize_stubber, request_event, cloudformation, sleeps, lambda_context
):
    personalize_stubber.add_response("describe_solution", solution("ACTIVE"), {"solutionArn": ARN})
    personalize_stubber.add_response("list_solution_versions", versions(), LIST_VERSIONS)
    personalize_stubber.add_client_error(
        "delete_solution",
        "ResourceInUseException",
        "The solution is used by a campaign.",
        expected_params={"solutionArn": ARN},
    )

    solution_resource.handler(request_event("Delete", physical_id=ARN), lambda_context)

    assert cloudformation[1][0]["body"] == answer(
        "FAILED",
        "Personalize DeleteSolution failed with ResourceInUseException: The solution is used by a campaign.",
        ARN,
    )


def test_invalid_properties_are_answered_not_left_hanging(
    personalize_stubber, request_event, cloudformation, sleeps, lambda_context
):
    event = request_event("Create")
    del event["ResourceProperties"]["RecipeArn"]

    result = solution_resource.handler(event, lambda_context)

    assert result["Status"] == "FAILED"
    assert result["Reason"] == (
        "The solution_resource event is invalid (ResourceProperties.RecipeArn: Field required)."
    )
    assert cloudformation[1][0]["body"] == result


def test_an_unexpected_error_is_answered_failed(
    personalize_stubber, request_event, cloudformation, sleeps, lambda_context
):
    personalize_stubber.add_client_error(
        "describe_solution", "AccessDeniedException", "Not authorized.", expected_params={"solutionArn": ARN}
    )

    solution_resource.handler(request_event("Create"), lambda_context)

    assert cloudformation[1][0]["body"]["Reason"] == (
        "Personalize DescribeSolution failed with AccessDeniedException: Not authorized."
    )


def test_an_event_without_a_response_url_cannot_be_answered_and_raises(load_event, lambda_context):
    event = load_event("solution_resource")
    del event["ResponseURL"]

    with pytest.raises(InvalidEvent, match=r"ResponseURL: Field required"):
        solution_resource.handler(event, lambda_context)


# --- ensure_solution: the same logic without CloudFormation (re-exported by the handler module) ---------
def test_ensure_solution_creates_the_solution_and_waits_through_the_callback(personalize_stubber):
    personalize_stubber.add_client_error(
        "describe_solution", "ResourceNotFoundException", expected_params={"solutionArn": ARN}
    )
    personalize_stubber.add_response("create_solution", {"solutionArn": ARN}, CREATE_SOLUTION)
    personalize_stubber.add_response("describe_solution", solution("CREATE PENDING"), {"solutionArn": ARN})
    personalize_stubber.add_response("describe_solution", solution("ACTIVE"), {"solutionArn": ARN})
    waits = []

    arn = solution_resource.ensure_solution(
        name=SOLUTION_NAME,
        dataset_group_arn=DATASET_GROUP_ARN,
        recipe_arn=RECIPE_ARN,
        wait=lambda: waits.append(1),
    )

    assert arn == ARN
    assert waits == [1]


def test_ensure_solution_gives_up_when_out_of_polls(personalize_stubber):
    # Found (being created), then polled twice: time for one wait only
    for _ in range(3):
        personalize_stubber.add_response("describe_solution", solution("CREATE PENDING"), {"solutionArn": ARN})
    polls = iter([True, False])

    with pytest.raises(SolutionNotReady, match="was still CREATE PENDING when the function ran out of time"):
        solution_resource.ensure_solution(
            name=SOLUTION_NAME,
            dataset_group_arn=DATASET_GROUP_ARN,
            recipe_arn=RECIPE_ARN,
            wait=lambda: None,
            has_time=lambda: next(polls),
        )


def test_every_stubbed_personalize_call_in_this_file_names_its_expected_params():
    # A stub without expected_params accepts any request: the call's parameters would go untested
    calls = [
        node
        for node in ast.walk(ast.parse(Path(__file__).read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("add_response", "add_client_error")
    ]
    unchecked = [
        node.lineno
        for node in calls
        if not any(keyword.arg == "expected_params" for keyword in node.keywords)
        and not (node.func.attr == "add_response" and len(node.args) == 3)
    ]
    assert len(calls) > 40
    assert unchecked == [], f"stubbed calls without expected_params at lines {unchecked}"
