"""The S3 reads and writes of the local service's jobs, through the injected boto3 client."""

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError


class S3Problem(Exception):
    """An S3 location could not be read or written; the message is the job's failureReason."""


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> "S3Uri":
        if not uri.startswith("s3://"):
            raise ValueError(f"{uri} is not an s3:// location")
        bucket, _, key = uri[5:].partition("/")
        if not bucket:
            raise ValueError(f"{uri} names no bucket")
        return cls(bucket, key)

    @property
    def is_folder(self) -> bool:
        return self.key == "" or self.key.endswith("/")

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def object_keys(s3: Any, location: S3Uri, suffix: str) -> list[str]:
    """Keys ending in `suffix` under a folder location (recursively), or the one object named."""
    try:
        if not location.is_folder:
            s3.head_object(Bucket=location.bucket, Key=location.key)
            return [location.key]
        keys: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=location.key):
            keys.extend(item["Key"] for item in page.get("Contents", ()) if item["Key"].lower().endswith(suffix))
        return sorted(keys)
    except ClientError as exc:
        raise S3Problem(f"Could not read {location}: {_describe(exc)}.") from exc


def read_text(s3: Any, bucket: str, key: str) -> str:
    try:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        raise S3Problem(f"Could not read s3://{bucket}/{key}: {_describe(exc)}.") from exc
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise S3Problem(f"s3://{bucket}/{key} is not UTF-8 text (byte {exc.start} cannot be decoded).") from exc


def write_text(s3: Any, bucket: str, key: str, text: str) -> None:
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"))
    except ClientError as exc:
        raise S3Problem(f"Could not write s3://{bucket}/{key}: {_describe(exc)}.") from exc


def _describe(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    code = error.get("Code", "error")
    if code in ("404", "NoSuchKey", "NotFound"):
        return "the object does not exist"
    if code == "NoSuchBucket":
        return "the bucket does not exist"
    return f"{code} {error.get('Message', '')}".strip()
