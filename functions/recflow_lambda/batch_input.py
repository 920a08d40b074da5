"""prepare_batch_input: write the batch inference input of a run (which users, or items, to score)."""

import csv
import json
from pathlib import PurePosixPath

from recflow_lambda import storage
from recflow_lambda.errors import DataCheckFailed, InputNotFound
from recflow_lambda.models import BatchInput, BatchKind
from recflow_lambda.recipes import batch_kind

DEFAULT_INPUT_NAME = "users.json"
_ID_COLUMN: dict[BatchKind, str] = {"userId": "USER_ID", "itemId": "ITEM_ID"}


def interactions_prefix(run_id: str) -> str:
    return f"transformed/{run_id}/interactions/"


def input_key(run_id: str, name: str) -> str:
    return f"batch_users_input/{run_id}/{name}"


def prepare_batch_input(run_id: str, bucket: str, recipe_arn: str, users_key: str) -> BatchInput:
    """Copy the user-provided input file ``users_key`` or, when it is empty, list every user (or item)."""
    kind = batch_kind(recipe_arn)
    if users_key:
        return _copy_provided_input(run_id, bucket, users_key, kind)
    return _write_every_id(run_id, bucket, kind)


def _write_every_id(run_id: str, bucket: str, kind: BatchKind) -> BatchInput:
    prefix = interactions_prefix(run_id)
    parts = [key for key in storage.list_keys(bucket, prefix) if key.endswith(".csv")]
    if not parts:
        raise InputNotFound(f"No interactions CSV exists under {storage.s3_uri(bucket, prefix)}; rerun the ETL.")
    column = _ID_COLUMN[kind]
    ids: set[str] = set()
    for key in parts:
        rows = csv.DictReader(storage.iter_lines(bucket, key))
        if rows.fieldnames is None or column not in rows.fieldnames:
            raise DataCheckFailed(f"{storage.s3_uri(bucket, key)} has no {column} column in its header.")
        for row in rows:
            if not row[column]:
                raise DataCheckFailed(f"Line {rows.line_num} of {storage.s3_uri(bucket, key)} has an empty {column}.")
            ids.add(row[column])
    key = input_key(run_id, DEFAULT_INPUT_NAME)
    storage.put_lines(bucket, key, (json.dumps({kind: value}) for value in sorted(ids)))
    return BatchInput(s3_uri=storage.s3_uri(bucket, key), records=len(ids), kind=kind)


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
    storage.copy_object(bucket, users_key, key)
    return BatchInput(s3_uri=storage.s3_uri(bucket, key), records=records, kind=kind)


def _is_input_record(line: str, kind: BatchKind) -> bool:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return False
    return isinstance(record, dict) and isinstance(record.get(kind), str) and record[kind] != ""
