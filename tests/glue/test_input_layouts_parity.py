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
    header_and_rows = [tuple(interactions.columns)] + [
        tuple(str(value) for value in row) for row in interactions.collect()
    ]
    return header_and_rows, [row.asDict() for row in rejects.collect()], report


def assert_same(spark: Any, lake: Path, options: Any) -> dict:
    spark_rows, spark_rejects, spark_report = spark_etl(spark, lake, options)
    offline = run_etl(raw_files_in(lake), None, "parity", options)

    csv_lines = offline.interactions_csv.decode().split("\n")
    duckdb_rows = [tuple(line.split(",")) for line in csv_lines[:-1]]
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


def test_imported_event_type_and_value_give_the_same_csv_on_both_engines(spark: Any, tmp_path: Path) -> None:
    parquet = tmp_path / "p.parquet"
    with duckdb.connect() as con:
        con.execute(
            "COPY (SELECT * FROM (VALUES (1, 'p1', 1714557600, 'click', 4.5), (1, 'p2', 1714557600, NULL, 2.0), "
            "(2, 'p1', 1714557600, 'buy', NULL)) AS t(user_id, item_id, ts, kind, weight)) "
            f"TO '{parquet}' (FORMAT PARQUET)"
        )
    lake = write_lake(
        tmp_path / "lake",
        {
            "raw/events.tsv": b"userID\tmovieID\tkind\tweight\ttimestamp\textra\n"
            b"75\t3\tclick\t4.50\t1162160236000\tx\n75\t3\tclick\t+4.5\t1162160236\ty\n"
            b"75\t3\twatch it\t4.5\t1162160236\tz\n76\t3\t\t1\t1162160236\t\n76\t4\tbuy\tfive\t1162160236\t\n"
            b"76\t5\tadd  to cart\t-0.0\t1162160236\t\n77\t5\tbuy\t-03.250\t1162160236\t\n",
            "raw/events.jsonl": b'{"user_id": 8, "item_id": "j1", "ts": "2024-05-01", "kind": "view", "weight": 1}\n'
            b'{"user_id": 8, "item_id": "j2", "ts": 1714557600, "weight": 2.5}\n'
            b'{"user_id": 8, "item_id": "j3", "ts": 1714557600, "kind": "view", "weight": "7"}\n',
            "raw/p.parquet": parquet.read_bytes(),
        },
    )
    options = glue.parse_options(
        {"timestamp_column": "", "event_type_column": "kind", "event_value_column": "weight", "min_rating": "1"}
    )

    report = assert_same(spark, lake, options)

    offline = run_etl(raw_files_in(lake), None, "parity", options)
    spark_rows, _, _ = spark_etl(spark, lake, options)
    assert offline.interactions_csv.decode().splitlines()[0] == "USER_ID,ITEM_ID,EVENT_TYPE,EVENT_VALUE,TIMESTAMP"
    assert ("75", "3", "click", "4.5", "1162160236") in spark_rows
    assert ("75", "3", "watch it", "4.5", "1162160236") in spark_rows
    assert ("77", "5", "buy", "-3.25", "1162160236") not in spark_rows  # below MinRating
    assert report["rejects_by_reason"] == {
        "empty event type": 3,
        "weight is not a number": 2,
        "event type is not 1-256 characters of A-Z a-z 0-9 _ . : @ / + - and single spaces": 1,
    }
    assert (report["interactions"], report["below_min_rating"]) == (5, 1)


def test_quoted_fields_give_the_same_result_on_both_engines(spark: Any, tmp_path: Path) -> None:
    lake = write_lake(
        tmp_path / "lake",
        {
            "raw/quoted.csv": b'"userID","movieID","rating","timestamp"\n"75","3","1","2006-11-29 21:17:16"\n'
            b'75,"32",4.5,1162160624000\n"Smith, J","4","1","1162160236000"\n"a""b","5","1","1162160236000"\n'
            b'"76","""","1","1162160236000"\n"77","6","",""\n',
            "raw/quoted.tsv": b'"user_id"\t"item_id"\t"ts"\n"8"\t"t1"\t"1714557600"\n',
        },
    )

    report = assert_same(spark, lake, glue.EtlOptions())

    assert (report["interactions"], report["rejected"]) == (3, 4)
