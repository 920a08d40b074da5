"""The batch input end to end: the ETL writes it, PrepareBatchInput copies it without reading it (its role
cannot even read the interactions), and the batch job scores every user of the run."""

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from recflow.offline.runtime import RunRequest, run
from recflow.offline.stack import PROJECT_ROOT, TEMPLATE
from recflow.offline.template import Template
from recflow.synthetic import generate

pytestmark = pytest.mark.e2e

USERS = 80


@pytest.fixture(scope="module")
def raw_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "ratings.dat"
    generate(path, users=USERS, items=200, interactions=4_000, seed=11)
    return path


def _calls_of(lake: Path, run_id: str, role: str) -> list[dict[str, Any]]:
    record = json.loads((lake / "runs" / run_id / "iam.json").read_text())
    return [call for call in record["calls"] if role in call["principal"]]


def test_prepare_batch_input_copies_the_etls_list_and_every_user_is_scored(raw_file: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    # When the pipeline runs without a users file
    summary = run(RunRequest(raw_files=[raw_file], lake=lake, time_scale=0))
    assert summary.status == "SUCCEEDED", summary.cause
    run_id = summary.run_id
    # Then the batch input is the ETL's users file, copied unchanged
    (etl_part,) = (lake / "transformed" / run_id / "batch_input" / "users").glob("part-*.json")
    copied = lake / "batch_users_input" / run_id / "users.json"
    assert copied.read_bytes() == etl_part.read_bytes()
    # And it lists every user of the interactions once, which the batch output scores, one line each
    with (lake / "transformed" / run_id / "interactions" / "part-00000.csv").open() as file:
        users = {row["USER_ID"] for row in csv.DictReader(file)}
    assert len(users) == USERS == summary.counts["users"]
    assert [json.loads(line)["userId"] for line in copied.read_text().splitlines()] == sorted(users)
    (key,) = summary.recommendations
    scored = [json.loads(line) for line in (lake / key).read_text().splitlines()]
    assert sorted(line["input"]["userId"] for line in scored) == sorted(users)
    assert all(line["error"] is None and line["output"]["recommendedItems"] for line in scored)
    # And the function read only the report: its object reads are report.json and the copy's source
    reads = {
        call["resource"].split(":::", 1)[1]
        for call in _calls_of(lake, run_id, "PrepareBatchInputFunctionRole")
        if call["action"] == "s3:GetObject"
    }
    bucket = next(iter(reads)).split("/", 1)[0]
    assert reads == {
        f"{bucket}/transformed/{run_id}/report.json",
        f"{bucket}/transformed/{run_id}/batch_input/users/{etl_part.name}",
    }


def test_without_the_grant_on_the_etls_batch_input_the_copy_is_denied(raw_file: Path, tmp_path: Path) -> None:
    # Given PrepareBatchInput without s3:GetObject on transformed/*/batch_input/* (CopyObject reads its source)
    doc = Template(TEMPLATE).doc
    for policy in doc["Resources"]["PrepareBatchInputFunction"]["Properties"]["Policies"]:
        for statement in policy.get("Statement", []):
            if statement["Action"] == "s3:GetObject":
                statement["Resource"] = [r for r in statement["Resource"] if "batch_input/" not in r["Fn::Sub"]]
    for name in ("functions", "statemachine", "glue"):
        (tmp_path / name).symlink_to(PROJECT_ROOT / name)
    (tmp_path / "template.yaml").write_text(json.dumps(doc, indent=1))
    # When the pipeline runs
    summary = run(
        RunRequest(raw_files=[raw_file], lake=tmp_path / "lake", time_scale=0, template=tmp_path / "template.yaml")
    )
    # Then it fails at the copy, with an AccessDenied naming the action and the ETL's part file
    assert summary.status == "FAILED"
    assert "not authorized to perform: s3:GetObject on resource: arn:aws:s3:::" in str(summary.cause)
    assert f"/transformed/{summary.run_id}/batch_input/users/part-00000.json" in str(summary.cause)
    denied = [
        c for c in _calls_of(tmp_path / "lake", summary.run_id, "PrepareBatchInputFunctionRole") if not c["allowed"]
    ]
    assert [c["action"] for c in denied] == ["s3:GetObject"]
