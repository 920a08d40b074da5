"""prepare_batch_input: put the batch inference input of a run (which users, or items, to score) in place.

The ETL lists every user and every item of a run (one JSON lines file each under
transformed/<run-id>/batch_input/, their counts in report.json): this Lambda copies the one the recipe
scores with S3 CopyObject, which S3 carries out server-side, and takes its record count from the report.
It reads no data-sized object, so its memory and time do not grow with the data. A user-provided file
(BATCH_USERS_KEY) is validated line by line as it streams past, in constant memory, then copied.
"""

import json
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, NonNegativeInt, ValidationError

from recflow_lambda import storage
from recflow_lambda.data_check import report_key
from recflow_lambda.errors import DataCheckFailed, InputNotFound
from recflow_lambda.models import BatchInput, BatchKind
from recflow_lambda.recipes import batch_kind

# What the ETL calls each kind's batch input, and the report's count of its records.
ETL_INPUT_NAMES: dict[BatchKind, str] = {"userId": "users", "itemId": "items"}
# The tag on the pipeline's own copies under batch_users_input/<run-id>/: the bucket's ExpireRunBatchInput
# lifecycle rule filters on it, so a user's BATCH_USERS_KEY file under the same prefix is never expired.
RUN_COPY_TAG: dict[str, str] = {"recflow-retention": "run-output"}


class _ReportCounts(BaseModel):
    """The two counts of report.json this Lambda needs: distinct users and items of the interactions."""

    model_config = ConfigDict(extra="ignore")

    users: NonNegativeInt
    items: NonNegativeInt


def etl_input_prefix(run_id: str, kind: BatchKind) -> str:
    """Where the ETL writes the batch input of every user (or item); the Glue script's batch_input_prefix."""
    return f"transformed/{run_id}/batch_input/{ETL_INPUT_NAMES[kind]}/"


def input_key(run_id: str, name: str) -> str:
    return f"batch_users_input/{run_id}/{name}"


def prepare_batch_input(run_id: str, bucket: str, recipe_arn: str, users_key: str) -> BatchInput:
    """Copy the user-provided input file ``users_key`` or, when it is empty, the ETL's list of every user
    (or item) under ``batch_users_input/<run-id>/``."""
    kind = batch_kind(recipe_arn)
    if users_key:
        return _copy_provided_input(run_id, bucket, users_key, kind)
    return _copy_etl_input(run_id, bucket, kind)


def _copy_etl_input(run_id: str, bucket: str, kind: BatchKind) -> BatchInput:
    name = ETL_INPUT_NAMES[kind]
    records = getattr(_report_counts(run_id, bucket), name)
    if records == 0:
        raise DataCheckFailed(f"Run {run_id} has no {name} to score: its ETL report counts 0.")
    prefix = etl_input_prefix(run_id, kind)
    where = storage.s3_uri(bucket, prefix)
    # Spark names its part file part-00000-<uuid>-c000.json; the ETL writes one part (see the Glue script).
    parts = [key for key in storage.list_keys(bucket, prefix) if key.endswith(".json")]
    if not parts:
        raise InputNotFound(
            f"The ETL of run {run_id} wrote no batch input under {where}; rerun the ETL "
            "(an ETL older than this function does not write it)."
        )
    if len(parts) > 1:
        raise DataCheckFailed(
            f"The ETL of run {run_id} wrote {len(parts)} batch input files under {where} instead of one; "
            "deploy the Glue script of this version and rerun the ETL."
        )
    key = input_key(run_id, f"{name}.json")
    storage.copy_object(bucket, parts[0], key, tags=RUN_COPY_TAG)
    return BatchInput(s3_uri=storage.s3_uri(bucket, key), records=records, kind=kind)


def _report_counts(run_id: str, bucket: str) -> _ReportCounts:
    location = storage.s3_uri(bucket, report_key(run_id))
    document = storage.read_json(bucket, report_key(run_id))
    if document is None:
        raise InputNotFound(f"The ETL report {location} does not exist; rerun the ETL of run {run_id}.")
    try:
        return _ReportCounts.model_validate(document)
    except ValidationError as exc:
        raise DataCheckFailed(f"The ETL report {location} has no valid users and items counts.") from exc


def _copy_provided_input(run_id: str, bucket: str, users_key: str, kind: BatchKind) -> BatchInput:
    source = storage.s3_uri(bucket, users_key)
    if not storage.object_exists(bucket, users_key):
        raise InputNotFound(
            f"The batch input file {source} (BATCH_USERS_KEY) does not exist; upload it, "
            "or set BATCH_USERS_KEY to empty to score every user of the run."
        )
    records = 0
    for line_number, line in enumerate(storage.iter_lines(bucket, users_key), start=1):
        if not line.strip():
            continue
        if not _is_input_record(line, kind):
            raise DataCheckFailed(
                f'Line {line_number} of {source} is not a JSON object with a string {kind}, like {{"{kind}": "42"}}.'
            )
        records += 1
    if records == 0:
        raise DataCheckFailed(f"The batch input file {source} has no records.")
    key = input_key(run_id, PurePosixPath(users_key).name)
    storage.copy_object(bucket, users_key, key, tags=RUN_COPY_TAG)
    return BatchInput(s3_uri=storage.s3_uri(bucket, key), records=records, kind=kind)


def _is_input_record(line: str, kind: BatchKind) -> bool:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return False
    return isinstance(record, dict) and isinstance(record.get(kind), str) and record[kind] != ""
