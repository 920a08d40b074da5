import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from recflow_lambda.naming import (
    MAX_RUN_ID_LENGTH,
    execution_arn,
    fit_name,
    job_name,
    personalize_arn,
    scheduled_run_id,
    upload_run_id,
)

from recflow.offline.template import Template

ROOT = Path(__file__).resolve().parents[3]
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*$")
BUCKET = "recflow-data-123456789012"


def test_upload_run_id_is_the_sanitised_stem_and_a_hash_of_bucket_key_and_sequencer():
    # Given an upload of raw/ratings-2024-05.dat
    key, sequencer = "raw/ratings-2024-05.dat", "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY/00663209F0B3F2A5C1"

    # When its run id is derived
    run_id = upload_run_id(BUCKET, key, sequencer)

    # Then it is "<stem>-<sha256(bucket/key/sequencer)[:12]>"
    digest = hashlib.sha256(f"{BUCKET}/{key}/{sequencer}".encode()).hexdigest()[:12]
    assert run_id == f"ratings-2024-05-{digest}"
    assert run_id == "ratings-2024-05-789bf09d1697"


def test_upload_run_id_sanitises_and_shortens_the_stem_to_24_characters():
    run_id = upload_run_id(BUCKET, "raw/2024/My Ratings (May) – final export v2.dat", "0A")

    stem, digest = run_id.rsplit("-", 1)
    assert stem == "My-Ratings-May-final-exp"
    assert len(stem) == 24
    assert len(digest) == 12
    assert NAME_RE.match(run_id)


def test_upload_run_id_of_a_key_without_usable_characters_uses_upload():
    run_id = upload_run_id(BUCKET, "raw/###.dat", "0A")

    assert run_id.startswith("upload-")
    assert NAME_RE.match(run_id)


def test_upload_run_id_is_stable_per_upload_and_changes_on_reupload():
    first = upload_run_id(BUCKET, "raw/a.dat", "0001")

    assert upload_run_id(BUCKET, "raw/a.dat", "0001") == first
    assert upload_run_id(BUCKET, "raw/a.dat", "0002") != first
    assert upload_run_id("other-bucket", "raw/a.dat", "0001") != first


def test_scheduled_run_id_uses_the_event_time_in_utc_to_the_minute():
    assert scheduled_run_id(datetime(2024, 5, 6, 3, 0, 59, tzinfo=UTC)) == "scheduled-20240506T0300Z"
    paris = timezone(timedelta(hours=2))
    assert scheduled_run_id(datetime(2024, 5, 6, 5, 30, tzinfo=paris)) == "scheduled-20240506T0330Z"


def test_job_name_is_prefix_run_id_and_phase():
    assert job_name("recflow", "run-1", "import") == "recflow-run-1-import"
    assert job_name("recflow", "run-1", "train") == "recflow-run-1-train"
    assert job_name("recflow", "run-1", "batch") == "recflow-run-1-batch"


def test_job_name_fits_a_long_prefix_to_16_characters_with_a_hash_and_63_for_the_longest_run_id():
    run_id = "r" * MAX_RUN_ID_LENGTH

    name = job_name("a-very-long-stack-name-indeed", run_id, "import")

    digest = hashlib.sha256(b"a-very-long-stack-name-indeed").hexdigest()[:8]
    assert name == f"a-very--{digest}-{run_id}-import"
    assert len(name) == 63
    assert NAME_RE.match(name)


def test_job_names_of_stacks_sharing_their_first_16_characters_differ():
    # Scheduled run ids are the same for every stack, and job names are unique per account and region
    run_id = scheduled_run_id(datetime(2024, 5, 6, 3, 0, tzinfo=UTC))

    eu, us = (job_name(f"recflow-production-{region}", run_id, "train") for region in ("eu", "us"))

    assert eu != us
    assert job_name("recflow-production-eu", run_id, "train") == eu  # and the same on every call


def test_fit_name_keeps_a_name_that_fits_and_cuts_a_longer_one_to_its_start_and_a_hash():
    assert fit_name("recflow-5b1d0f70-aws-sims") == "recflow-5b1d0f70-aws-sims"
    assert fit_name("x" * 63) == "x" * 63

    fitted = fit_name("x" * 64)

    assert fitted == "x" * 54 + "-" + hashlib.sha256(b"x" * 64).hexdigest()[:8]
    assert len(fitted) == 63
    assert fit_name("x" * 63 + "y") != fit_name("x" * 63 + "z")


def test_job_name_longer_than_63_characters_is_refused():
    with pytest.raises(ValueError, match="not a valid Personalize name"):
        job_name("recflow-stack-16", "r" * (MAX_RUN_ID_LENGTH + 1), "import")


def test_personalize_arn_uses_the_region_and_account_of_the_reference_arn():
    reference = "arn:aws-cn:personalize:cn-north-1:111122223333:dataset-group/recflow"

    arn = personalize_arn(reference, "dataset-import-job", "recflow-run-1-import")

    assert arn == "arn:aws-cn:personalize:cn-north-1:111122223333:dataset-import-job/recflow-run-1-import"


def test_personalize_arn_refuses_an_arn_without_region_or_account():
    with pytest.raises(ValueError, match="region and an account"):
        personalize_arn("arn:aws:personalize:::recipe/aws-sims", "solution", "x")


def test_execution_arn_is_derived_from_the_state_machine_arn():
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:recflow-pipeline"

    assert execution_arn(machine, "run-1") == "arn:aws:states:us-east-1:123456789012:execution:recflow-pipeline:run-1"
    with pytest.raises(ValueError, match="not a Step Functions state machine ARN"):
        execution_arn("arn:aws:states:us-east-1:123456789012:activity:x", "run-1")


# --- Every Personalize name recflow makes fits botocore's model, for any stack name CloudFormation accepts ----
PERSONALIZE_NAME = botocore.session.get_session().get_service_model("personalize").shape_for("Name").metadata
STACK_NAMES = ["a", "Z" * 128, "x" + "-" * 127, "a-" * 63 + "b9", "recflow-production-eu-west-1-recommendations-team1"]
RUN_IDS = [
    upload_run_id(BUCKET, "raw/" + "long-directory/" * 60 + "ratings" * 100 + ".dat", "0A"),
    upload_run_id(BUCKET, "raw/----a----.dat", "0A"),
    upload_run_id(BUCKET, "raw/###.dat", "0A"),
    scheduled_run_id(datetime(2024, 5, 6, 3, 0, tzinfo=UTC)),
    "r" * MAX_RUN_ID_LENGTH,
    "9",
]
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/5b1d0f70-07f4-11ef-9a8e-0e4f9a1c2b3d"


def assert_personalize_name(name: str) -> None:
    assert re.fullmatch(PERSONALIZE_NAME["pattern"], name), name
    assert PERSONALIZE_NAME["min"] <= len(name) <= PERSONALIZE_NAME["max"], name


@pytest.mark.parametrize("stack_name", STACK_NAMES)
@pytest.mark.parametrize("run_id", RUN_IDS)
def test_every_job_name_fits_personalize(stack_name, run_id):
    for phase in ("import", "train", "batch"):
        assert_personalize_name(job_name(stack_name, run_id, phase))


@pytest.mark.parametrize("stack_name", STACK_NAMES)
def test_every_name_template_yaml_gives_a_personalize_resource_fits_personalize(stack_name):
    # Given template.yaml's Personalize resources, their Name resolved for this stack and each recipe
    template = Template(ROOT / "template.yaml")
    recipes = template.doc["Parameters"]["Recipe"]["AllowedValues"]
    named = {
        logical_id: resource["Properties"]["Name"]
        for logical_id, resource in template.resources.items()
        if resource["Type"].startswith(("AWS::Personalize::", "Custom::Personalize"))
    }
    assert set(named) == {
        "DatasetGroup",
        "InteractionsSchema",
        "InteractionsDataset",
        "Solution",
        "ExcludeSeenFilter",
        "Campaign",
    }
    for recipe in recipes:
        pseudo = {"AWS::StackName": stack_name, "AWS::StackId": STACK_ID.format(name=stack_name), "Recipe": recipe}
        for logical_id, name in named.items():
            # Then each fits (the solution's after fit_name, which its custom resource applies)
            resolved = resolve(name, pseudo)
            assert_personalize_name(fit_name(resolved) if logical_id == "Solution" else resolved)


def resolve(value: Any, refs: dict[str, str]) -> Any:
    """The few intrinsics template.yaml builds names with: Ref, Sub, Select, Split."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [resolve(item, refs) for item in value]
    ((function, argument),) = value.items()
    if function == "Ref":
        return refs[argument]
    if function == "Fn::Select":
        return resolve(argument[1], refs)[int(argument[0])]
    if function == "Fn::Split":
        return resolve(argument[1], refs).split(argument[0])
    assert function == "Fn::Sub", f"resolve() does not know {function}"
    text, variables = (argument, {}) if isinstance(argument, str) else argument
    known = refs | {key: resolve(item, refs) for key, item in variables.items()}
    return re.sub(r"\$\{([\w:]+)\}", lambda match: known[match.group(1)], text)
