"""S3 adapter for state/run-lock.json: the run in flight, read and written with S3 conditional writes.

start_run runs with a reserved concurrency of 1, so one invocation at a time reads and writes the lock. The
write is conditional all the same (If-Match on the ETag read, If-None-Match for the first lock): should two
invocations ever overlap, the second write fails with PreconditionFailed and Lambda retries the event, rather
than one of them silently losing a pending upload.
"""

import json

from botocore.exceptions import ClientError

from recflow_lambda.clients import s3_client
from recflow_lambda.models import RunLock

LOCK_KEY = "state/run-lock.json"
_MISSING = {"NoSuchKey", "404", "NotFound"}


def read_lock(bucket: str) -> tuple[RunLock, str | None]:
    """The lock and its ETag; an empty lock and None when there is none yet."""
    try:
        response = s3_client().get_object(Bucket=bucket, Key=LOCK_KEY)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in _MISSING:
            return RunLock(), None
        raise
    return RunLock.model_validate(json.loads(response["Body"].read())), str(response["ETag"])


def write_lock(bucket: str, lock: RunLock, etag: str | None) -> None:
    """Write the lock if nobody wrote it since it was read as ``etag`` (None: if there is still none)."""
    condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
    body = lock.model_dump_json(indent=2).encode()
    s3_client().put_object(Bucket=bucket, Key=LOCK_KEY, Body=body, ContentType="application/json", **condition)
