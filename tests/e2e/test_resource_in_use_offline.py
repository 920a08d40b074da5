"""A Personalize job creation refused as in use (ResourceInUseException) is retried by the state machine to success."""

import pytest

from recflow.offline.runtime import RunRequest, run
from recflow.synthetic import generate

pytestmark = pytest.mark.e2e


def test_an_import_refused_twice_as_in_use_is_retried_and_the_run_succeeds(tmp_path):
    # Given a local Personalize that answers the first two CreateDatasetImportJob calls with ResourceInUseException
    raw = tmp_path / "ratings.dat"
    generate(raw, users=120, items=400, interactions=12_000, seed=3)
    lake = tmp_path / "lake"

    # When the pipeline runs
    summary = run(RunRequest(raw_files=[raw], lake=lake, time_scale=0, faults={"import": "busy"}))

    # Then the state machine's Retry called the import start again until it got through, and the run succeeded
    assert summary.status == "SUCCEEDED", summary.cause
    (start_import,) = [usage for name, usage in summary.lambdas.items() if "StartImport" in name]
    assert (start_import.invocations, start_import.errors) == (3, 2)
    assert summary.phases["import"].status == "ACTIVE"
    assert (lake / "recommendations" / "latest.json").exists()
