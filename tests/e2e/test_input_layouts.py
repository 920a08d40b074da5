"""Layouts other than HetRec's through the whole offline run: columns by name, parameters, clear failures."""

import csv
import datetime
import json
from pathlib import Path

import pytest

from recflow.offline.runtime import RunRequest, run
from recflow.synthetic import generate

pytestmark = pytest.mark.e2e

USERS = 80
LASTFM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lastfm-2k-tagging.csv"


@pytest.fixture(scope="module")
def hetrec_rows(tmp_path_factory: pytest.TempPathFactory) -> list[list[str]]:
    path = tmp_path_factory.mktemp("data") / "ratings.dat"
    generate(path, users=USERS, items=300, interactions=4_000, seed=5)
    return [line.split("\t") for line in path.read_text().splitlines()]


def _run(raw: Path, lake: Path, **parameters: str):
    return run(RunRequest(raw_files=[raw], lake=lake, time_scale=0, parameters=parameters))


def test_a_reordered_header_is_read_by_name(hetrec_rows: list[list[str]], tmp_path: Path) -> None:
    # Given the HetRec columns in another order: movieID userID rating timestamp
    raw = tmp_path / "reordered.dat"
    raw.write_text("".join(f"{m}\t{u}\t{r}\t{t}\n" for u, m, r, t in hetrec_rows))

    # When the pipeline runs
    summary = _run(raw, tmp_path / "lake")

    # Then the users are the users and the items the items
    assert summary.status == "SUCCEEDED", summary.cause
    assert summary.counts["users"] == USERS
    assert summary.counts["items"] == len({row[1] for row in hetrec_rows[1:]})
    report = json.loads((tmp_path / "lake" / "transformed" / summary.run_id / "report.json").read_text())
    assert report["files"]["raw/reordered.dat"]["columns"]["user"] == "userID"
    out = (tmp_path / "lake" / summary.recommendations[0]).read_text().splitlines()
    assert {json.loads(line)["input"]["userId"] for line in out} == {row[0] for row in hetrec_rows[1:]}


def write_lastfm_like(path: Path, rows: list[list[str]]) -> int:
    """user_id,artist_id,tagged_at with ISO dates; every 500th row dated 1956. Returns the pre-1970 rows."""
    old = 0
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["user_id", "artist_id", "tagged_at"])
        for n, (user, item, _, millis) in enumerate(rows[1:]):
            day = datetime.datetime.fromtimestamp(int(millis) // 1000, tz=datetime.UTC).date().isoformat()
            if n % 500 == 0:
                day, old = "1956-06-01", old + 1
            writer.writerow([user, item, day])
    return old


def test_a_lastfm_like_csv_runs_with_its_column_parameters(hetrec_rows: list[list[str]], tmp_path: Path) -> None:
    raw = tmp_path / "tagging.csv"
    old = write_lastfm_like(raw, hetrec_rows)

    summary = _run(raw, tmp_path / "lake", ItemColumn="artist_id", TimestampColumn="tagged_at")

    assert summary.status == "SUCCEEDED", summary.cause
    report = json.loads((tmp_path / "lake" / "transformed" / summary.run_id / "report.json").read_text())
    assert report["files"]["raw/tagging.csv"]["columns"] == {
        "user": "user_id",
        "item": "artist_id",
        "timestamp": "tagged_at",
    }
    assert report["rejects_by_reason"] == {"timestamp before 1970": old}
    assert report["timestamp_units"]["iso-8601"] == report["interactions"] + report["duplicates_dropped"]


def test_without_the_parameters_the_run_fails_naming_the_file_the_role_and_the_columns(
    hetrec_rows: list[list[str]], tmp_path: Path
) -> None:
    raw = tmp_path / "tagging.csv"
    write_lastfm_like(raw, hetrec_rows)

    summary = _run(raw, tmp_path / "lake")

    assert (summary.status, summary.failed_phase) == ("FAILED", "etl")
    assert "raw/tagging.csv: no item id column; the file's columns are user_id, artist_id, tagged_at" in summary.cause
    assert "set ItemColumn" in summary.cause


def test_an_unreadable_file_fails_the_data_check_with_the_real_reason(
    hetrec_rows: list[list[str]], tmp_path: Path
) -> None:
    # A tab-separated header over comma-separated lines: every data line is rejected
    raw = tmp_path / "ratings.csv"
    raw.write_text("\t".join(hetrec_rows[0]) + "\n" + "".join(",".join(row) + "\n" for row in hetrec_rows[1:]))

    summary = _run(raw, tmp_path / "lake")

    lines = len(hetrec_rows) - 1
    assert (summary.status, summary.failed_phase, summary.error) == ("FAILED", "data", "DataCheckFailed")
    assert (
        f'raw/ratings.csv: all {lines:,} lines rejected; {lines:,} × "expected 4 tab-separated fields, found 1" — '
        "the file looks comma-separated: set InputFormat=csv or check the header"
    ) in summary.cause
    assert "upload more data" not in summary.cause


@pytest.mark.skipif(not LASTFM.is_file(), reason="the development data set is not here")
def test_the_real_lastfm_file_runs_with_its_pre_1970_dates_rejected(tmp_path: Path) -> None:
    summary = _run(LASTFM, tmp_path / "lake", ItemColumn="artist_id", TimestampColumn="tagged_at")

    assert summary.status == "SUCCEEDED", summary.cause
    report = json.loads((tmp_path / "lake" / "transformed" / summary.run_id / "report.json").read_text())
    assert report["rejects_by_reason"] == {"timestamp before 1970": 3}
    assert (report["interactions"], report["users"]) == (71_061, 1_892)


def test_mapped_event_type_and_value_reach_the_schema_and_the_csv(hetrec_rows: list[list[str]], tmp_path: Path) -> None:
    # Given a CSV with an event type and a weight column, both named by parameters
    raw = tmp_path / "events.csv"
    kinds = ("click", "watch", "add to cart")
    with raw.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["user", "item", "ts", "kind", "weight"])
        for n, (user, item, rating, millis) in enumerate(hetrec_rows[1:]):
            writer.writerow([user, item, int(millis) // 1000, kinds[n % 3], rating])

    # When the pipeline runs with EventTypeColumn and EventValueColumn
    summary = _run(raw, tmp_path / "lake", EventTypeColumn="kind", EventValueColumn="weight")

    # Then the run succeeds and the transformed CSV carries EVENT_TYPE and EVENT_VALUE
    assert summary.status == "SUCCEEDED", summary.cause
    folder = tmp_path / "lake" / "transformed" / summary.run_id / "interactions"
    lines = "".join(path.read_text() for path in sorted(folder.glob("*.csv"))).splitlines()
    assert lines[0] == "USER_ID,ITEM_ID,EVENT_TYPE,EVENT_VALUE,TIMESTAMP"
    assert {line.split(",")[2] for line in lines[1:]} == set(kinds)
    first = hetrec_rows[1]
    assert f"{first[0]},{first[1]},click,{float(first[2]):g},{int(first[3]) // 1000}" in lines
