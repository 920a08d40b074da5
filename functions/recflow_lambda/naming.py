"""Deterministic names: run ids, Personalize job names and the ARNs derived from them.

Names derive only from the trigger and the run id, so a duplicate event, a Lambda retry or a redrive
finds the execution or job the first attempt created instead of starting a second one. A name that would
exceed Personalize's 63 characters (a stack name may have 128) is cut and ends in a hash of the whole
name (`fit_name`), so it stays unique and the same on every call.
"""

import hashlib
import re
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Literal

# Amazon Personalize names (and a safe subset of Step Functions execution names).
NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*$"
MAX_NAME_LENGTH = 63
PREFIX_LENGTH = 16
STEM_LENGTH = 24
HASH_LENGTH = 12
Phase = Literal["import", "train", "batch"]  # the phases that run a Personalize job
# Every phase of a run, in order: a failure names one of them (the state machine's "<phase> failed" states).
RunPhase = Literal["etl", "data", "import", "train", "batch", "finish"]
FIT_HASH_LENGTH = 8
# "<prefix fitted to 16>-<run_id>-import" must fit in 63 characters.
MAX_RUN_ID_LENGTH = MAX_NAME_LENGTH - PREFIX_LENGTH - len("--import")

_NAME_RE = re.compile(NAME_PATTERN)
_UNSAFE_CHARACTERS = re.compile(r"[^a-zA-Z0-9_-]+")


def upload_run_id(bucket: str, key: str, version_marker: str) -> str:
    """Run id for an uploaded object: ``<key stem sanitised, ≤24>-<sha256(bucket/key/marker)[:12]>``.

    ``version_marker`` is the object's version id and S3 sequencer (the ETag when there are none): they
    change on every upload of the same key, so a re-upload starts a new run while a duplicate delivery
    does not.
    """
    stem = _UNSAFE_CHARACTERS.sub("-", PurePosixPath(key).stem).strip("-_")[:STEM_LENGTH].rstrip("-_")
    digest = hashlib.sha256(f"{bucket}/{key}/{version_marker}".encode()).hexdigest()[:HASH_LENGTH]
    return f"{stem or 'upload'}-{digest}"


def scheduled_run_id(event_time: datetime) -> str:
    """Run id for a scheduled trigger: ``scheduled-<YYYYMMDDTHHMMZ>`` of the event time in UTC."""
    return "scheduled-" + event_time.astimezone(UTC).strftime("%Y%m%dT%H%MZ")


def fit_name(name: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """``name`` itself when it has at most ``max_length`` characters; else its beginning, '-' and the first
    8 hex digits of its SHA-256, ``max_length`` characters in all. Names that differ anywhere stay apart."""
    if len(name) <= max_length:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:FIT_HASH_LENGTH]
    return f"{name[: max_length - FIT_HASH_LENGTH - 1]}-{digest}"


def job_name(name_prefix: str, run_id: str, phase: Phase) -> str:
    """Personalize job name ``<NAME_PREFIX fitted to 16>-<run_id>-<phase>``.

    Two stacks whose names share their first 16 characters still name their jobs apart (job names are
    unique per account and region, and scheduled run ids are the same for every stack).
    """
    name = f"{fit_name(name_prefix, PREFIX_LENGTH)}-{run_id}-{phase}"
    if len(name) > MAX_NAME_LENGTH or not _NAME_RE.match(name):
        raise ValueError(
            f"Job name {name!r} is not a valid Personalize name (≤ {MAX_NAME_LENGTH} characters of "
            "letters, digits, '-' and '_', starting with a letter or digit)."
        )
    return name


def personalize_arn(reference_arn: str, resource_type: str, name: str) -> str:
    """ARN of a Personalize resource of ``resource_type`` called ``name``, in the partition, region
    and account of ``reference_arn`` (any Personalize ARN of the same stack, e.g. the dataset group)."""
    partition, region, account = _arn_fields(reference_arn)
    return f"arn:{partition}:personalize:{region}:{account}:{resource_type}/{name}"


def execution_arn(state_machine_arn: str, execution_name: str) -> str:
    """ARN Step Functions gives the execution called ``execution_name`` of ``state_machine_arn``."""
    parts = state_machine_arn.split(":")
    if len(parts) != 7 or parts[5] != "stateMachine":
        raise ValueError(f"{state_machine_arn!r} is not a Step Functions state machine ARN.")
    parts[5] = "execution"
    return ":".join([*parts, execution_name])


def _arn_fields(arn: str) -> tuple[str, str, str]:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[3] or not parts[4]:
        raise ValueError(f"{arn!r} is not an ARN with a region and an account.")
    return parts[1], parts[3], parts[4]
