"""S3 adapter: the data lake reads and writes of the pipeline (plain values in and out)."""

import json
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import ClientError

from recflow_lambda.clients import s3_client

_MISSING = {"NoSuchKey", "404", "NotFound"}


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def object_exists(bucket: str, key: str) -> bool:
    try:
        s3_client().head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in _MISSING:
            return False
        raise
    return True


def list_keys(bucket: str, prefix: str) -> list[str]:
    """Every key under ``prefix``, sorted."""
    pages = s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def read_json(bucket: str, key: str) -> Any | None:
    """The parsed JSON object at ``key``, or None when it does not exist."""
    try:
        body = s3_client().get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] in _MISSING:
            return None
        raise
    return json.loads(body.read())


def iter_lines(bucket: str, key: str) -> Iterator[str]:
    """Stream the lines of a UTF-8 text object without loading it whole (line endings removed)."""
    body = s3_client().get_object(Bucket=bucket, Key=key)["Body"]
    for line in body.iter_lines():
        yield line.decode("utf-8")


def put_json(bucket: str, key: str, document: Any) -> None:
    body = json.dumps(document, indent=2, sort_keys=True).encode()
    s3_client().put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def put_lines(bucket: str, key: str, lines: Iterable[str]) -> None:
    body = "".join(f"{line}\n" for line in lines).encode()
    s3_client().put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson")


def copy_object(bucket: str, source_key: str, destination_key: str, tags: dict[str, str] | None = None) -> None:
    """Copy server-side; with ``tags`` the copy carries exactly these tags instead of the source's."""
    tagging = {"TaggingDirective": "REPLACE", "Tagging": urlencode(tags)} if tags is not None else {}
    s3_client().copy_object(
        Bucket=bucket, Key=destination_key, CopySource={"Bucket": bucket, "Key": source_key}, **tagging
    )
