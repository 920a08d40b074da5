import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from recflow_lambda.naming import (
    MAX_RUN_ID_LENGTH,
    execution_arn,
    job_name,
    personalize_arn,
    scheduled_run_id,
    upload_run_id,
)

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


def test_job_name_keeps_16_characters_of_the_prefix_and_fits_63_for_the_longest_run_id():
    run_id = "r" * MAX_RUN_ID_LENGTH

    name = job_name("a-very-long-stack-name-indeed", run_id, "import")

    assert name == f"a-very-long-stac-{run_id}-import"
    assert len(name) == 63
    assert NAME_RE.match(name)


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
