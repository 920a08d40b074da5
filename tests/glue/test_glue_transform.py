"""The Glue transform on a real (local) Spark 3.5, and its parity with the offline DuckDB runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from nasty_raw_files import NASTY_RAW_FILES

from recflow.offline.etl import load_glue_script, raw_files_in, run_etl

pytestmark = pytest.mark.spark

glue = load_glue_script()

HEADER = "userID\tmovieID\trating\ttimestamp"


def transform_lines(
    spark: Any, lines: list[str], min_rating: float | None = None, tmp_path: Path | None = None
) -> tuple[list, list, dict]:
    """The lines as the file raw/x.dat, after the HetRec header unless they start with a header."""
    import tempfile

    body = "\n".join(lines if lines and lines[0] == HEADER else [HEADER, *lines]) + "\n"
    with tempfile.TemporaryDirectory() as tmp:
        lake = write_lake(Path(tmp), {"raw/x.dat": body.encode()})
        return transform_lake(spark, lake, min_rating)


def transform_lake(
    spark: Any, lake: Path, min_rating: float | None = None, **parameters: str
) -> tuple[list, list, dict]:
    options = glue.parse_options({"min_rating": "" if min_rating is None else str(min_rating), **parameters})
    uris = [f"file://{lake}/{key}" for key, _ in raw_files_in(lake)]
    raw, parquet, layouts = glue.read_inputs(spark, uris, f"file://{lake}/", options)
    interactions, rejects, report = glue.transform_dataframe(spark, raw, layouts, options, parquet)
    return [tuple(row) for row in interactions.collect()], [row.asDict() for row in rejects.collect()], report


def write_lake(root: Path, files: dict[str, bytes]) -> Path:
    for key, body in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(body)
    return root


def test_the_hetrec_sample_row_becomes_a_personalize_row(spark: Any) -> None:
    rows, rejects, report = transform_lines(spark, [HEADER, "75\t3\t1\t1162160236000"])

    assert rows == [("75", "3", 1162160236)]
    assert rejects == []
    assert report["lines_read"] == 2
    assert report["header_lines"] == 1
    assert report["interactions"] == 1
    assert report["timestamp_units"] == {"milliseconds": 1, "seconds": 0, "microseconds": 0, "iso-8601": 0}


def test_milliseconds_and_seconds_give_the_same_rows(spark: Any) -> None:
    in_ms, _, ms_report = transform_lines(spark, ["75\t3\t1\t1162160236000", "75\t32\t4.5\t1162160624000"])
    in_s, _, s_report = transform_lines(spark, ["75\t3\t1\t1162160236", "75\t32\t4.5\t1162160624"])

    assert in_ms == in_s == [("75", "3", 1162160236), ("75", "32", 1162160624)]
    assert (ms_report["timestamp_units"]["milliseconds"], ms_report["timestamp_units"]["seconds"]) == (2, 0)
    assert (s_report["timestamp_units"]["milliseconds"], s_report["timestamp_units"]["seconds"]) == (0, 2)


def test_bom_crlf_header_blank_and_duplicates_are_handled_and_counted(spark: Any, tmp_path: Path) -> None:
    lake = write_lake(
        tmp_path,
        {
            "raw/export.dat": b"\xef\xbb\xbf" + HEADER.encode() + b"\r\n"
            b"75\t3\t1\t1162160236000\r\n"
            b"\r\n"
            b"75\t3\t1\t1162160236000\r\n"
            b"75\t3\t5\t1162160236\r\n"
            b"   \r\n"
            b"76\t3\t2\t1162160240000\r\n"
        },
    )

    rows, rejects, report = transform_lake(spark, lake)

    assert rows == [("75", "3", 1162160236), ("76", "3", 1162160240)]
    assert rejects == []
    assert {k: report[k] for k in ("lines_read", "header_lines", "blank_lines", "duplicates_dropped")} == {
        "lines_read": 7,
        "header_lines": 1,
        "blank_lines": 2,
        "duplicates_dropped": 2,
    }
    assert report["interactions"] == 2
    assert report["timestamp_units"] == {"milliseconds": 3, "seconds": 1, "microseconds": 0, "iso-8601": 0}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("75\t3\t1", "expected 4 tab-separated fields, found 3"),
        ("75\t3\t1\t1162160236000\textra", "expected 4 tab-separated fields, found 5"),
        ("75,3,1,1162160236000", "expected 4 tab-separated fields, found 1"),
        ("\t3\t1\t1162160236000", "empty user id"),
        ("75\t\t1\t1162160236000", "empty item id"),
        ('"7"5"\t3\t1\t1162160236000', "user id is not 1-256 characters of A-Z a-z 0-9 _ . : @ / + -"),
        ('"75\t3"\t1\t1162160236000', "user id is not 1-256 characters of A-Z a-z 0-9 _ . : @ / + -"),
        (
            '"7\t5"\t3\t1\t1162160236000',
            "expected 4 tab-separated fields, found 5 (a quoted field cannot hold the delimiter)",
        ),
        ("75\t3,4\t1\t1162160236000", "item id is not 1-256 characters of A-Z a-z 0-9 _ . : @ / + -"),
        ("75\t3\tgood\t1162160236000", "rating is not a number"),
        ("75\t3\t1\tyesterday", "timestamp is not a positive integer"),
        ("75\t3\t1\t-1162160236000", "timestamp is not a positive integer"),
        ("75\t3\t1\t0", "timestamp is not a positive integer"),
        ("75\t3\t1\t1162160236000.5", "timestamp is not a positive integer"),
        ("75\t3\t1\t100000000000000000", "timestamp out of range"),
        ("75\t3\t1\t1956-06-01", "timestamp before 1970"),
        ("75\t3\t1\t2024-02-30", "timestamp is not a valid ISO-8601 date"),
        ("75\t3\t1\t2024-05-01T25:00:00Z", "timestamp is not a valid ISO-8601 date"),
        ("75\t3\t1\t99999999999999999999", "timestamp out of range"),
    ],
)
def test_a_line_that_cannot_be_parsed_is_rejected_unchanged_with_its_reason(spark: Any, line: str, reason: str) -> None:
    rows, rejects, report = transform_lines(spark, [line])

    assert rows == []
    assert rejects == [{"source": "raw/x.dat", "line_number": 2, "line": line, "reason": reason}]
    assert report["rejected"] == 1
    assert report["rejects_by_reason"] == {reason: 1}


def test_min_rating_drops_lower_ratings_and_counts_them(spark: Any) -> None:
    rows, _, report = transform_lines(
        spark, ["75\t3\t1\t1162160236000", "75\t4\t3.5\t1162160236000", "75\t5\t4\t1162160236000"], 3.5
    )

    assert rows == [("75", "4", 1162160236), ("75", "5", 1162160236)]
    assert report["below_min_rating"] == 1
    assert report["interactions"] == 2


def test_every_line_is_counted_once(spark: Any, nasty_lake: Path) -> None:
    rows, rejects, report = transform_lake(spark, nasty_lake)

    parts = ("header_lines", "blank_lines", "rejected", "duplicates_dropped", "below_min_rating", "interactions")
    physical_lines = sum(body.count(b"\n") + (not body.endswith(b"\n")) for body in NASTY_RAW_FILES.values() if body)
    assert report["lines_read"] == physical_lines == sum(report[part] for part in parts)
    assert report["interactions"] == len(rows)
    assert report["rejected"] == len(rejects) == sum(report["rejects_by_reason"].values())
    assert report["source_files"] == sorted(key for key, body in NASTY_RAW_FILES.items() if body)


def test_spark_and_duckdb_agree_on_interactions_rejects_and_report(spark: Any, nasty_lake: Path) -> None:
    for min_rating in (None, 3.0):
        spark_rows, spark_rejects, spark_report = transform_lake(spark, nasty_lake, min_rating)
        offline = run_etl(raw_files_in(nasty_lake), min_rating, run_id="parity")

        csv_lines = offline.interactions_csv.decode().split("\n")
        assert csv_lines[0] == "USER_ID,ITEM_ID,TIMESTAMP"
        duckdb_rows = [(user, item, int(ts)) for user, item, ts in (line.split(",") for line in csv_lines[1:-1])]
        duckdb_rejects = [json.loads(line) for line in offline.rejects_jsonl.decode().split("\n") if line]
        assert spark_rows == duckdb_rows  # same order too
        assert spark_rejects == duckdb_rejects
        assert {"run_id": "parity", **spark_report} == offline.report
        assert len(spark_rejects) > 30


def test_write_outputs_writes_the_personalize_csv_and_the_rejects(spark: Any, nasty_lake: Path, tmp_path: Path) -> None:
    options = glue.EtlOptions()
    uris = [f"file://{nasty_lake}/{key}" for key, _ in raw_files_in(nasty_lake)]
    raw, parquet, layouts = glue.read_inputs(spark, uris, f"file://{nasty_lake}/", options)
    interactions, rejects, report = glue.transform_dataframe(spark, raw, layouts, options, parquet)

    glue.write_outputs(interactions, rejects, f"file://{tmp_path}/out", "run-1")

    interactions_dir = tmp_path / "out/transformed/run-1/interactions"
    assert not (interactions_dir / "_SUCCESS").exists()  # Personalize would try to import it
    csv_rows = []
    for part in sorted(interactions_dir.glob("part-*.csv")):
        lines = part.read_text().splitlines()
        if lines:
            assert lines[0] == "USER_ID,ITEM_ID,TIMESTAMP"
            csv_rows += lines[1:]
    assert "75,3,1162160236" in csv_rows
    assert len(csv_rows) == report["interactions"]
    reject_lines = [
        json.loads(line)
        for part in (tmp_path / "out/rejects/run-1").glob("part-*.json")
        for line in part.read_text().split("\n")
        if line
    ]
    assert len(reject_lines) == report["rejected"]
    assert {
        "source": "raw/nasty lines.dat",
        "line_number": 8,
        "line": "80\t7\t4",
        "reason": "expected 4 tab-separated fields, found 3",
    } in reject_lines


def test_no_raw_files_give_an_empty_report(spark: Any) -> None:
    options = glue.EtlOptions()
    raw, parquet, layouts = glue.read_inputs(spark, [], "s3://bucket/", options)
    interactions, rejects, report = glue.transform_dataframe(spark, raw, layouts, options, parquet)

    assert interactions.count() == 0
    assert rejects.count() == 0
    assert report["lines_read"] == 0
    assert report["source_files"] == []
