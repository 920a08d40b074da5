"""Custom::PersonalizeFilter through the custom resources' function: describe-or-create the exclude-seen filter
under its deterministic name, adopt only an identical one, delete it and wait until it is gone."""

import pytest
from recflow_lambda.handlers import solution_resource

NAME = "recflow-5b1d0f70-exclude-seen"
DATASET_GROUP_ARN = "arn:aws:personalize:us-east-1:123456789012:dataset-group/recflow-5b1d0f70"
ARN = f"arn:aws:personalize:us-east-1:123456789012:filter/{NAME}"
EXPRESSION = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")'
CREATE_FILTER = {"name": NAME, "datasetGroupArn": DATASET_GROUP_ARN, "filterExpression": EXPRESSION}


@pytest.fixture
def filter_event(load_event, cloudformation):
    def build(request_type: str = "Create", physical_id: str | None = None) -> dict:
        event = load_event("solution_resource")
        token = event["ServiceToken"]
        event |= {
            "RequestType": request_type,
            "ResponseURL": cloudformation[0],
            "LogicalResourceId": "ExcludeSeenFilter",
            "ResourceType": "Custom::PersonalizeFilter",
            "ResourceProperties": {
                "ServiceToken": token,
                "Name": NAME,
                "DatasetGroupArn": DATASET_GROUP_ARN,
                "FilterExpression": EXPRESSION,
            },
        }
        if physical_id is not None:
            event["PhysicalResourceId"] = physical_id
        return event

    return build


def described(status: str, **changes: str) -> dict:
    return {
        "filter": {
            "name": NAME,
            "filterArn": ARN,
            "datasetGroupArn": DATASET_GROUP_ARN,
            "filterExpression": EXPRESSION,
            "status": status,
        }
        | changes
    }


def not_found(stubber) -> None:
    stubber.add_client_error("describe_filter", "ResourceNotFoundException", expected_params={"filterArn": ARN})


def test_create_makes_the_filter_and_waits_until_it_is_active(
    personalize_stubber, filter_event, cloudformation, sleeps, lambda_context
):
    # Given no filter of that name
    not_found(personalize_stubber)
    # Then it is created with the stack's expression on the dataset group
    personalize_stubber.add_response("create_filter", {"filterArn": ARN}, CREATE_FILTER)
    personalize_stubber.add_response("describe_filter", described("CREATE PENDING"), {"filterArn": ARN})
    personalize_stubber.add_response("describe_filter", described("CREATE IN_PROGRESS"), {"filterArn": ARN})
    personalize_stubber.add_response("describe_filter", described("ACTIVE"), {"filterArn": ARN})

    # When CloudFormation sends Create
    result = solution_resource.handler(filter_event("Create"), lambda_context)

    # Then it answers once ACTIVE, with the filter's ARN as physical id and Arn
    assert (result["Status"], result["Reason"]) == ("SUCCESS", f"Filter {ARN} is ACTIVE.")
    assert (result["PhysicalResourceId"], result["Data"]) == (ARN, {"Arn": ARN})
    assert result["LogicalResourceId"] == "ExcludeSeenFilter"
    assert cloudformation[1][0]["body"] == result
    assert sleeps == [5, 5]


def test_create_adopts_an_identical_existing_filter(
    personalize_stubber, filter_event, cloudformation, sleeps, lambda_context
):
    personalize_stubber.add_response("describe_filter", described("ACTIVE"), {"filterArn": ARN})
    personalize_stubber.add_response("describe_filter", described("ACTIVE"), {"filterArn": ARN})

    result = solution_resource.handler(filter_event("Create"), lambda_context)

    assert (result["Status"], result["PhysicalResourceId"]) == ("SUCCESS", ARN)
    assert sleeps == []


def test_create_describes_the_filter_a_concurrent_attempt_created(
    personalize_stubber, filter_event, cloudformation, sleeps, lambda_context
):
    not_found(personalize_stubber)
    personalize_stubber.add_client_error(
        "create_filter", "ResourceAlreadyExistsException", expected_params=CREATE_FILTER
    )
    personalize_stubber.add_response("describe_filter", described("CREATE PENDING"), {"filterArn": ARN})
    personalize_stubber.add_response("describe_filter", described("ACTIVE"), {"filterArn": ARN})

    assert solution_resource.handler(filter_event("Create"), lambda_context)["Status"] == "SUCCESS"


def test_create_refuses_a_different_filter_of_the_same_name(
    personalize_stubber, filter_event, cloudformation, sleeps, lambda_context
):
    # Given a filter of that name that excludes only clicks
    other = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")'
    personalize_stubber.add_response("describe_filter", described("ACTIVE", filterExpression=other), {"filterArn": ARN})

    result = solution_resource.handler(filter_event("Create"), lambda_context)

    # Then the Create fails naming the difference, and reports no filter: the rollback must not delete it
    assert result["Status"] == "FAILED"
    assert result["Reason"] == (
        f"A filter named {NAME} already exists with filterExpression {other!r} instead of {EXPRESSION!r}; "
        "delete that filter (aws personalize delete-filter) and deploy again."
    )
    assert result["PhysicalResourceId"] == "ExcludeSeenFilter-not-created"


def test_a_filter_that_fails_to_create_answers_failed_with_its_arn_for_the_rollback(
    personalize_stubber, filter_event, cloudformation, sleeps, lambda_context
):
    not_found(personalize_stubber)
    personalize_stubber.add_response("create_filter", {"filterArn": ARN}, CREATE_FILTER)
    failed = described("CREATE FAILED", failureReason="Dataset group has no interactions dataset")
    personalize_stubber.add_response("describe_filter", failed, {"filterArn": ARN})

    result = solution_resource.handler(filter_event("Create"), lambda_context)

    assert result["Status"] == "FAILED"
    assert result["Reason"] == (
        f"Filter {ARN} is CREATE FAILED instead of becoming ACTIVE: Dataset group has no interactions dataset."
    )
    assert result["PhysicalResourceId"] == ARN


def test_delete_deletes_the_filter_and_waits_until_it_is_gone(
    personalize_stubber, filter_event, cloudformation, sleeps, lambda_context
):
    personalize_stubber.add_response("describe_filter", described("ACTIVE"), {"filterArn": ARN})
    personalize_stubber.add_response("delete_filter", {}, {"filterArn": ARN})
    personalize_stubber.add_response("describe_filter", described("DELETE PENDING"), {"filterArn": ARN})
    not_found(personalize_stubber)

    result = solution_resource.handler(filter_event("Delete", physical_id=ARN), lambda_context)

    assert (result["Status"], result["Reason"]) == ("SUCCESS", f"Filter {ARN} is deleted.")
    assert result["PhysicalResourceId"] == ARN
    assert sleeps == [5, 5]


def test_delete_of_a_filter_already_gone_succeeds(
    personalize_stubber, filter_event, cloudformation, sleeps, lambda_context
):
    not_found(personalize_stubber)

    result = solution_resource.handler(filter_event("Delete", physical_id=ARN), lambda_context)

    assert (result["Status"], result["Reason"]) == ("SUCCESS", f"Filter {ARN} was already deleted.")


def test_delete_after_a_create_that_made_nothing_calls_nothing(
    personalize_stubber, filter_event, cloudformation, sleeps, lambda_context
):
    event = filter_event("Delete", physical_id="ExcludeSeenFilter-not-created")

    result = solution_resource.handler(event, lambda_context)

    assert result["Status"] == "SUCCESS"
    assert result["Reason"] == "Nothing to delete: the Create made no filter (ExcludeSeenFilter-not-created)."


def test_a_type_the_function_does_not_serve_fails_its_create_but_not_its_delete(
    filter_event, cloudformation, sleeps, lambda_context
):
    create = filter_event("Create") | {"ResourceType": "Custom::Other"}
    delete = filter_event("Delete", physical_id="x") | {"ResourceType": "Custom::Other"}

    assert solution_resource.handler(create, lambda_context)["Status"] == "FAILED"
    assert solution_resource.handler(delete, lambda_context)["Status"] == "SUCCESS"
