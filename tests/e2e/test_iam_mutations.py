"""Mutation tests of template.yaml's permissions: without one the pipeline needs, the offline run fails
with AccessDenied naming that action where AWS would refuse it; the unmodified template passes."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from recflow.cli import app
from recflow.offline.runtime import OfflineRunError, RunRequest, run
from recflow.offline.stack import PROJECT_ROOT, TEMPLATE
from recflow.offline.template import Template
from recflow.synthetic import generate

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

Mutation = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def raw_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "ratings.dat"
    generate(path, users=60, items=120, interactions=2_000, seed=5)  # past Personalize's minimums, small
    return path


def _policy_statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements of a function's inline policies (SAM `Policies: - Statement: …`)."""
    return [s for policy in resource["Properties"]["Policies"] if "Statement" in policy for s in policy["Statement"]]


def _without_action(logical_id: str, action: str) -> Mutation:
    def mutate(resources: dict[str, Any]) -> None:
        for statement in _policy_statements(resources[logical_id]):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            statement["Action"] = [a for a in actions if a != action]
        for policy in resources[logical_id]["Properties"]["Policies"]:
            if "Statement" in policy:
                policy["Statement"] = [s for s in policy["Statement"] if s["Action"]]

    return mutate


def _without_sam_policies(logical_id: str) -> Mutation:
    """Without the SAM policy templates (e.g. StepFunctionsExecutionPolicy); inline statements stay."""

    def mutate(resources: dict[str, Any]) -> None:
        policies = resources[logical_id]["Properties"]["Policies"]
        resources[logical_id]["Properties"]["Policies"] = [policy for policy in policies if "Statement" in policy]

    return mutate


def _etl_role_without_raw_reads(resources: dict[str, Any]) -> None:
    (policy,) = resources["EtlRole"]["Properties"]["Policies"]
    statements = policy["PolicyDocument"]["Statement"]
    policy["PolicyDocument"]["Statement"] = [s for s in statements if "/raw/" not in json.dumps(s.get("Resource"))]
    assert len(policy["PolicyDocument"]["Statement"]) == len(statements) - 1


def _bucket_policy_without(sid: str) -> Mutation:
    def mutate(resources: dict[str, Any]) -> None:
        document = resources["DataBucketPolicy"]["Properties"]["PolicyDocument"]
        kept = [s for s in document["Statement"] if s.get("Sid") != sid]
        assert len(kept) == len(document["Statement"]) - 1, f"template.yaml's bucket policy has no {sid}"
        document["Statement"] = kept

    return mutate


def _mutated_template(tmp_path: Path, mutate: Mutation) -> Path:
    """template.yaml with `mutate` applied, beside links to what it packages (functions/, statemachine/, glue/).
    Written as JSON (valid YAML) in the long form of the intrinsics."""
    doc = Template(TEMPLATE).doc
    mutate(doc["Resources"])
    for name in ("functions", "statemachine", "glue"):
        (tmp_path / name).symlink_to(PROJECT_ROOT / name)
    path = tmp_path / "template.yaml"
    path.write_text(json.dumps(doc, indent=1))
    return path


def _run(raw_file: Path, lake: Path, template: Path = TEMPLATE) -> Any:
    return run(RunRequest(raw_files=[raw_file], lake=lake, time_scale=0, template=template))


def test_the_template_as_written_passes_and_its_calls_are_recorded(raw_file: Path, tmp_path: Path) -> None:
    # Given the template as written, When the pipeline runs offline with every call authorized
    summary = _run(raw_file, tmp_path / "lake")
    # Then it succeeds, and iam.json records each principal's calls, none denied
    assert summary.status == "SUCCEEDED", summary.cause
    record = json.loads((tmp_path / "lake" / "runs" / summary.run_id / "iam.json").read_text())
    calls = {
        (c["principal"].split("-")[1] if "-" in c["principal"] else c["principal"], c["action"])
        for c in record["calls"]
    }
    assert {
        ("StartRunFunctionRole", "states:StartExecution"),
        ("PipelineStateMachineRole", "glue:StartJobRun"),
        ("PipelineStateMachineRole", "lambda:InvokeFunction"),
        ("EtlRole", "s3:GetObject"),
        ("StartImportFunctionRole", "personalize:CreateDatasetImportJob"),
        ("StartImportFunctionRole", "iam:PassRole"),
        ("PersonalizeRole", "s3:GetObject"),
        ("StartTrainingFunctionRole", "personalize:ListSolutionVersions"),
        ("events.amazonaws.com", "lambda:InvokeFunction"),
    } <= calls
    assert [c for c in record["calls"] if not c["allowed"]] == []
    # And `recflow local iam` prints them with the grants no call used
    result = CliRunner().invoke(app, ["local", "iam", "--lake", str(tmp_path / "lake")], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "personalize:CreateDatasetImportJob" in result.output
    assert "Granted, never used: candidates to remove" in result.output
    assert "glue:BatchStopJobRun" in result.output  # only a stopped run would use it


@pytest.mark.parametrize(
    ("mutate", "action", "where"),
    [
        pytest.param(
            _without_action("StartImportFunction", "personalize:CreateDatasetImportJob"),
            "personalize:CreateDatasetImportJob",
            "import",
            id="CreateDatasetImportJob",
        ),
        pytest.param(_without_action("StartImportFunction", "iam:PassRole"), "iam:PassRole", "import", id="PassRole"),
        pytest.param(_etl_role_without_raw_reads, "s3:GetObject", "etl", id="EtlRole-GetObject-raw"),
        pytest.param(
            _bucket_policy_without("PersonalizeReadsInputs"),
            "s3:GetObject",
            "import",
            id="BucketPolicy-PersonalizeReadsInputs",
        ),
    ],
)
def test_a_template_without_a_needed_permission_fails_the_run_naming_the_action(
    raw_file: Path, tmp_path: Path, mutate: Mutation, action: str, where: str
) -> None:
    # Given the template without one permission the pipeline needs
    template = _mutated_template(tmp_path, mutate)
    # When the pipeline runs offline
    summary = _run(raw_file, tmp_path / "lake", template)
    # Then the run fails in the phase AWS would fail it, with an AccessDenied naming the action
    assert summary.status == "FAILED"
    assert summary.failed_phase == where, summary.cause
    assert f"not authorized to perform: {action} on resource: arn:aws:" in str(summary.cause)
    record = json.loads((tmp_path / "lake" / "runs" / summary.run_id / "iam.json").read_text())
    assert [c["action"] for c in record["calls"] if not c["allowed"]] == [action]


def test_a_start_function_without_states_start_execution_starts_no_run(raw_file: Path, tmp_path: Path) -> None:
    # Given the start function without its StepFunctionsExecutionPolicy
    template = _mutated_template(tmp_path, _without_sam_policies("StartRunFunction"))
    # When a raw file is uploaded, Then no execution starts, and the error names the action
    with pytest.raises(OfflineRunError, match=r"not authorized to perform: states:StartExecution on resource: arn:"):
        _run(raw_file, tmp_path / "lake", template)
