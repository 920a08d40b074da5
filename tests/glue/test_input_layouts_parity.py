"""Spark and DuckDB agree on every input layout: delimiters, gzip, JSON lines, Parquet, names and times."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from recflow.offline.etl import load_glue_script, raw_files_in, run_etl

pytestmark = pytest.mark.spark

glue = load_glue_script()


def write_lake(root: Path, files: dict[str, bytes]) -> Path:
    for key, body in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(body)
    return root


def spark_etl(spark: Any, lake: Path, options: Any) -> tuple[list, list, dict]:
    uris = [f"file://{lake}/{key}" for key, _ in raw_files_in(lake)]
    raw, parquet, layouts = glue.read_inputs(spark, uris, f"file://{lake}/", options)
    interactions, rejects, report = glue.transform_dataframe(spark, raw, layouts, options, parquet)
    return [tuple(row) for row in interactions.collect()], [row.asDict() for row in rejects.collect()], report


def assert_same(spark: Any, lake: Path, options: Any) -> dict:
    spark_rows, spark_rejects, spark_report = spark_etl(spark, lake, options)
    offline = run_etl(raw_files_in(lake), None, "parity", options)

    csv_lines = offline.interactions_csv.decode().split("\n")
    duckdb_rows = [(user, item, int(ts)) for user, item, ts in (line.split(",") for line in csv_lines[1:-1])]
    duckdb_rejects = [json.loads(line) for line in offline.rejects_jsonl.decode().split("\n") if line]
    assert spark_rows == duckdb_rows
    assert spark_rejects == duckdb_rejects
    assert {"run_id": "parity", **spark_report} == offline.report
    return offline.report


def test_every_format_and_mapping_gives_the_same_result_on_both_engines(spark: Any, tmp_path: Path) -> None:
    parquet = tmp_path / "p.parquet"
    with duckdb.connect() as con:
        con.execute(
            "COPY (SELECT * FROM (VALUES "
            "(1, 'p1', TIMESTAMPTZ '2024-05-01 10:00:00.7+02', TIMESTAMP '2024-05-01 10:00:00', DATE '2024-05-01'), "
            "(2, NULL, TIMESTAMPTZ '1960-01-01 00:00:00+00', TIMESTAMP '2024-05-02 11:00:00', DATE '2024-05-02')"
            ") AS t(user_id, item_id, event_time, naive, day)) "
            f"TO '{parquet}' (FORMAT PARQUET)"
        )
    lake = write_lake(
        tmp_path / "lake",
        {
            "raw/reordered.dat": b"movieID\tuserID\trating\ttimestamp\textra\n3\t75\t1\t1162160236000\tx\n"
            b"4\t75\t2\t1162160236123456\ty\n5\t75\t3\t1162160236\n",
            "raw/semi.csv.gz": gzip.compress(
                b"\xef\xbb\xbfuser;item;time\r\n1;a;2024-05-01T10:20:30Z\r\n2;b;2024-05-01 10:20:30+02:00\r\n"
                b"3;c;1956-06-01\r\n4;d;2024-02-30\r\n5;e;2024-05-01T10:20:30.5-0530\r\n"
            ),
            "raw/pipe.txt": b"customer_id|sku|ts\n7|s1|1700000000\n7|s2,x|1700000000\n",
            "raw/events.jsonl.gz": gzip.compress(
                b'{"user_id": 8, "item_id": "j1", "event_time": "2024-05-01", "event_type": "click"}\n'
                b'{"user_id": "8", "item_id": "j2", "event_time": 1714557600000}\n'
                b'{"user_id": 9, "event_time": 1714557600}\n'
                b"{not json\n\n"
            ),
            "raw/p.parquet": parquet.read_bytes(),
        },
    )

    report = assert_same(spark, lake, glue.EtlOptions())

    assert report["files"]["raw/reordered.dat"]["ignored_columns"] == ["extra"]
    assert report["rejected"] >= 6


def test_named_columns_and_min_rating_give_the_same_result_on_both_engines(spark: Any, tmp_path: Path) -> None:
    lake = write_lake(
        tmp_path / "lake",
        {
            "raw/tagging.csv": b"user_id,artist_id,tagged_at,stars\n2,51,2009-04-01,4\n2,52,1956-06-01,5\n"
            b"3,51,2011-05-09,1\n3,53,2011-05-09,x\n",
        },
    )
    options = glue.parse_options(
        {"item_column": "artist_id", "timestamp_column": "tagged_at", "event_value_column": "stars", "min_rating": "3"}
    )

    report = assert_same(spark, lake, options)

    assert (report["interactions"], report["below_min_rating"], report["rejected"]) == (1, 1, 2)
