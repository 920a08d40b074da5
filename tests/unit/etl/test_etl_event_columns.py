"""EVENT_TYPE / EVENT_VALUE: imported only when their parameter names a column, checked, deduplicated with the row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from recflow.offline.etl import EtlResult, load_glue_script, run_etl

glue = load_glue_script()

EVENTS = (
    b"user,item,ts,kind,weight\n"
    b"75,3,1162160236,click,4.50\n"
    b"75,3,1162160236,click,+4.5\n"  # the same output row once the value is read: dropped as a duplicate
    b"75,3,1162160236,watch,4.5\n"  # another event type: another row
    b"75,4,1162160236,add to cart,-0.0\n"
    b"76,4,1162160236,buy,0012.250\n"
)


def options(**parameters: str) -> Any:
    return glue.parse_options(parameters)


def lines(result: EtlResult) -> list[str]:
    return result.interactions_csv.decode().splitlines()


def rejects(result: EtlResult) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.rejects_jsonl.decode().split("\n") if line]


def test_both_parameters_put_both_columns_in_the_csv_with_normalised_values() -> None:
    result = run_etl(
        [("raw/e.csv", EVENTS)], None, "run-1", options(event_type_column="kind", event_value_column="weight")
    )

    assert lines(result) == [
        "USER_ID,ITEM_ID,EVENT_TYPE,EVENT_VALUE,TIMESTAMP",
        "75,3,click,4.5,1162160236",
        "75,3,watch,4.5,1162160236",
        "75,4,add to cart,0,1162160236",
        "76,4,buy,12.25,1162160236",
    ]
    assert result.report["duplicates_dropped"] == 1


def test_only_the_event_type_parameter_imports_only_the_event_type() -> None:
    result = run_etl([("raw/e.csv", EVENTS)], None, "run-1", options(event_type_column="kind"))

    assert lines(result)[0] == "USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP"
    assert "75,4,add to cart,1162160236" in lines(result)
    assert result.report["files"]["raw/e.csv"]["ignored_columns"] == ["weight"]


def test_a_value_found_by_its_common_name_filters_but_is_not_imported() -> None:
    body = b"userID\tmovieID\trating\ttimestamp\n75\t3\t1\t1162160236000\n75\t32\t4.5\t1162160624000\n"

    result = run_etl([("raw/r.dat", body)], 3.0, "run-1")

    assert lines(result) == ["USER_ID,ITEM_ID,TIMESTAMP", "75,32,1162160624"]
    assert result.report["files"]["raw/r.dat"]["columns"]["event_value"] == "rating"


def test_an_event_type_found_by_its_common_name_is_neither_checked_nor_imported() -> None:
    body = b"user_id,item_id,ts,event_type\n75,3,1162160236,\n75,4,1162160236,a\tb\n"

    result = run_etl([("raw/e.csv", body)], None, "run-1")

    assert lines(result) == ["USER_ID,ITEM_ID,TIMESTAMP", "75,3,1162160236", "75,4,1162160236"]
    assert result.report["files"]["raw/e.csv"]["columns"]["event_type"] == "event_type"


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("", "empty event type"),
        ("  ", "empty event type"),
        ("add  to cart", "event type is not 1-256 characters of A-Z a-z 0-9 _ . : @ / + - and single spaces"),
        (" click", "event type is not 1-256 characters of A-Z a-z 0-9 _ . : @ / + - and single spaces"),
        ("x" * 257, "event type is not 1-256 characters of A-Z a-z 0-9 _ . : @ / + - and single spaces"),
        ('click"', "event type is not 1-256 characters of A-Z a-z 0-9 _ . : @ / + - and single spaces"),
    ],
)
def test_a_bad_event_type_rejects_the_line_with_its_reason(kind: str, reason: str) -> None:
    body = f"user\titem\tts\tkind\n75\t3\t1162160236\t{kind}\n75\t4\t1162160236\t{'y' * 256}\n".encode()

    result = run_etl([("raw/e.tsv", body)], None, "run-1", options(event_type_column="kind"))

    assert [(entry["line_number"], entry["reason"]) for entry in rejects(result)] == [(2, reason)]
    assert lines(result)[1:] == [f"75,4,{'y' * 256},1162160236"]


def test_a_non_numeric_value_rejects_the_line_naming_the_column() -> None:
    body = b'{"u": "1", "i": "2", "t": 1162160236, "w": "lots"}\n{"u": "1", "i": "3", "t": 1162160236, "w": 2}\n'

    result = run_etl(
        [("raw/e.jsonl", body)],
        None,
        "run-1",
        options(user_column="u", item_column="i", timestamp_column="t", event_value_column="w"),
    )

    assert [entry["reason"] for entry in rejects(result)] == ["w is not a number"]
    assert lines(result) == ["USER_ID,ITEM_ID,EVENT_VALUE,TIMESTAMP", "1,3,2,1162160236"]


def test_parquet_records_carry_the_event_type(tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    with duckdb.connect() as con:
        con.execute(
            "COPY (SELECT * FROM (VALUES ('1', 'a', 1162160236, 'click', 2.5), ('1', 'b', 1162160236, NULL, 1.0)) "
            f"AS t(user_id, item_id, ts, kind, weight)) TO '{path}' (FORMAT PARQUET)"
        )

    result = run_etl(
        [("raw/e.parquet", path)], None, "run-1", options(event_type_column="kind", event_value_column="weight")
    )

    assert lines(result) == ["USER_ID,ITEM_ID,EVENT_TYPE,EVENT_VALUE,TIMESTAMP", "1,a,click,2.5,1162160236"]
    assert [(entry["line"], entry["reason"]) for entry in rejects(result)] == [
        ("1\tb\t1162160236\t1.0", "empty event type")
    ]
