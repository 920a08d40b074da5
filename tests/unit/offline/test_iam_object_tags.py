"""A write that sets object tags (x-amz-tagging) also needs s3:PutObjectTagging, as IAM asks for it."""

from recflow.offline.authorization import HttpCall, requests_of
from recflow.offline.template import ACCOUNT_ID, REGION


def _put(headers: dict[str, str]) -> HttpCall:
    return HttpCall(
        service="s3",
        operation="PutObject",
        method="PUT",
        uri=f"https://lake.s3.{REGION}.amazonaws.com/batch_users_input/run/users.json",
        body=b"",
        form={},
        headers=headers,
        account=ACCOUNT_ID,
        region=REGION,
        s3_resource="arn:aws:s3:::lake/batch_users_input/run/users.json",
    )


def test_a_copy_that_replaces_tags_reads_the_source_writes_the_object_and_tags_it():
    call = _put({"x-amz-copy-source": "lake/transformed/run/users.json", "X-Amz-Tagging": "recflow-retention=run"})
    assert [(r.action, r.resource) for r in requests_of(call)] == [
        ("s3:GetObject", "arn:aws:s3:::lake/transformed/run/users.json"),
        ("s3:PutObject", "arn:aws:s3:::lake/batch_users_input/run/users.json"),
        ("s3:PutObjectTagging", "arn:aws:s3:::lake/batch_users_input/run/users.json"),
    ]


def test_a_write_without_tags_needs_only_put_object():
    assert [r.action for r in requests_of(_put({}))] == ["s3:PutObject"]
