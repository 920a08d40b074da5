"""The offline data lake: a local directory laid out exactly like the S3 bucket.

Before a run, the objects a run reads are loaded into (moto) S3; after it, every object the run
created is written back. Run outputs live under run-id prefixes, so nothing an earlier run wrote
is ever overwritten (recommendations/latest.json is a pointer and is meant to move).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

# What a run reads from the lake; everything else is output of earlier runs. history/ holds the phase
# durations of earlier runs, which the pipeline's polling follows (functions/recflow_lambda/phase_history.py).
INPUT_PREFIXES = ("raw/", "batch_users_input/", "history/")
COPY_BYTES = 8 * 2**20


def lake_objects(lake: Path, prefixes: tuple[str, ...] = INPUT_PREFIXES) -> list[tuple[str, Path]]:
    """(key, path) of the lake's files under `prefixes`, sorted by key."""
    found = []
    for prefix in prefixes:
        folder = lake / prefix
        if folder.is_dir():
            found += [(p.relative_to(lake).as_posix(), p) for p in folder.rglob("*") if p.is_file()]
    return sorted(found)


def upload(s3: Any, bucket: str, objects: list[tuple[str, Path]]) -> None:
    for key, path in objects:
        s3.upload_file(str(path), bucket, key)


def download_new(s3: Any, bucket: str, lake: Path, known: dict[str, str]) -> list[str]:
    """Write the bucket's objects whose ETag is not in `known` (key -> ETag) into the lake."""
    written = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if known.get(key) == obj["ETag"] or key.endswith("/"):
                continue
            target = lake / key
            target.parent.mkdir(parents=True, exist_ok=True)
            # One GET, not download_file's concurrent ranged GETs: moto copies the whole object for each
            # range, which made writing back a 10M-interaction run's 600 MB take 16 s.
            with target.open("wb") as out:
                shutil.copyfileobj(s3.get_object(Bucket=bucket, Key=key)["Body"], out, COPY_BYTES)
            written.append(key)
    return written


def etags(s3: Any, bucket: str) -> dict[str, str]:
    result = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        result.update({obj["Key"]: obj["ETag"] for obj in page.get("Contents", [])})
    return result
