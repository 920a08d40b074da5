"""Any interactions layout, read by name: formats, delimiters, column mappings and timestamps, offline."""

from __future__ import annotations

import datetime
import gzip
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from recflow.offline.etl import EtlResult, load_glue_script, run_etl

glue = load_glue_script()

HETREC = (
    b"userID\tmovieID\trating\ttimestamp\n"
    b"75\t3\t1\t1162160236000\n75\t32\t4.5\t1162160624000\n76\t3\t2\t1162160700000\n"
)
HETREC_CSV = b"USER_ID,ITEM_ID,TIMESTAMP\n75,3,1162160236\n75,32,1162160624\n76,3,1162160700\n"


def options(**parameters: str) -> Any:
    return glue.parse_options(parameters)


def rows(result: EtlResult) -> list[str]:
    return result.interactions_csv.decode().splitlines()[1:]


def rejects(result: EtlResult) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.rejects_jsonl.decode().split("\n") if line]


def epoch(text: str) -> int:
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return int(moment.timestamp())


def test_a_reordered_header_gives_the_right_users_and_items() -> None:
    reordered = b"movieID\tuserID\trating\ttimestamp\n3\t75\t1\t1162160236000\n32\t75\t4.5\t1162160624000\n"
    reordered += b"3\t76\t2\t1162160700000\n"

    result = run_etl([("raw/reordered.dat", reordered)], None, "run-1")

    assert result.interactions_csv == HETREC_CSV
    assert (result.report["users"], result.report["items"]) == (2, 2)
    assert result.report["files"]["raw/reordered.dat"]["columns"] == {
        "user": "userID",
        "item": "movieID",
        "timestamp": "timestamp",
        "event_value": "rating",
    }


@pytest.mark.parametrize(
    ("name", "body", "file_format"),
    [
        ("raw/a.csv", HETREC.replace(b"\t", b","), "csv"),
        ("raw/a.txt", HETREC.replace(b"\t", b";"), "semicolon"),
        ("raw/a.psv", HETREC.replace(b"\t", b"|"), "pipe"),
        ("raw/a.tsv.gz", gzip.compress(HETREC), "tsv"),
        ("raw/a.csv.gz", gzip.compress(HETREC.replace(b"\t", b",")), "csv"),
    ],
)
def test_each_delimiter_is_detected_from_the_header_and_gzip_is_read(name: str, body: bytes, file_format: str) -> None:
    result = run_etl([(name, body)], None, "run-1")

    assert result.interactions_csv == HETREC_CSV
    assert result.report["files"][name]["format"] == file_format
    assert result.report["files"][name].get("compression") == ("gzip" if name.endswith(".gz") else None)


def test_json_lines_are_read_by_key_in_any_order_with_numbers_or_strings() -> None:
    body = (
        b'{"item_id": 3, "user_id": "75", "ts": 1162160236000, "event_type": "watch", "extra": [1]}\n'
        b'{"ts": "2006-10-29T22:23:44Z", "user_id": 75, "item_id": "32"}\n'
        b"\n"
        b'{"user_id": 76, "item_id": 3, "ts": 1162160700}\n'
        b'{"user_id": 77, "ts": 1162160700}\n'
        b"not json\n"
    )

    result = run_etl([("raw/events.jsonl", body)], None, "run-1")

    assert result.interactions_csv == HETREC_CSV
    assert [(r["line_number"], r["reason"]) for r in rejects(result)] == [
        (5, "empty item id"),
        (6, "not a JSON object"),
    ]
    entry = result.report["files"]["raw/events.jsonl"]
    assert entry["format"] == "jsonl"
    assert entry["columns"] == {"user": "user_id", "item": "item_id", "timestamp": "ts", "event_type": "event_type"}
    assert entry["ignored_columns"] == ["extra"]
    assert result.report["timestamp_units"] == {"milliseconds": 1, "seconds": 1, "microseconds": 0, "iso-8601": 1}


def write_parquet(path: Path, select: str) -> Path:
    with duckdb.connect() as con:
        con.execute(f"COPY ({select}) TO '{path}' (FORMAT PARQUET)")
    return path


def test_parquet_is_read_by_column_name_with_typed_timestamps(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "part-0.parquet",
        "SELECT * FROM (VALUES "
        "(3, 75, TIMESTAMPTZ '2006-10-29 22:17:16+00', 1.0, 'x'), "
        "(32, 75, TIMESTAMPTZ '2006-10-29 23:23:44+01', 4.5, 'y'), "
        "(3, 76, TIMESTAMPTZ '2006-10-29 22:25:00.9+00', 2.0, 'z'), "
        "(4, NULL, TIMESTAMPTZ '2006-10-29 22:25:00+00', 2.0, 'z')"
        ") AS t(item_id, user_id, event_time, rating, note)",
    )

    result = run_etl([("raw/part-0.parquet", path)], None, "run-1")

    assert result.interactions_csv == HETREC_CSV
    assert rejects(result) == [
        {"source": "raw/part-0.parquet", "line_number": 4, "line": "\t4\t1162160700\t2.0", "reason": "empty user id"}
    ]
    entry = result.report["files"]["raw/part-0.parquet"]
    assert (entry["format"], entry["ignored_columns"]) == ("parquet", ["note"])


def test_parquet_naive_timestamps_and_dates_are_utc(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "p.parquet",
        "SELECT * FROM (VALUES ('75', '3', TIMESTAMP '2006-10-29 22:17:16'), "
        "('76', '3', TIMESTAMP '2006-10-29 22:25:00')) AS t(customer_id, sku, time)",
    )

    result = run_etl([("raw/p.parquet", path.read_bytes())], None, "run-1")

    assert rows(result) == ["75,3,1162160236", "76,3,1162160700"]


def test_one_run_may_mix_formats(tmp_path: Path) -> None:
    parquet = write_parquet(tmp_path / "p.parquet", "SELECT 76 AS userId, 3 AS itemId, 1162160700 AS timestamp")
    raw = [
        ("raw/a.tsv", b"userID\tmovieID\ttimestamp\n75\t3\t1162160236\n"),
        ("raw/b.jsonl.gz", gzip.compress(b'{"user": "75", "item": "32", "time": "2006-10-29 22:23:44"}\n')),
        ("raw/c.parquet", parquet),
    ]

    result = run_etl(raw, None, "run-1")

    assert result.interactions_csv == HETREC_CSV
    assert [result.report["files"][key]["format"] for key, _ in raw] == ["tsv", "jsonl", "parquet"]


def test_custom_column_names_come_from_the_parameters_and_iso_dates_become_epoch_seconds() -> None:
    body = b"user_id,artist_id,tagged_at,tag\n2,51,2009-04-01,rock\n2,52,1956-06-01,jazz\n3,51,2011-05-09,pop\n"

    result = run_etl(
        [("raw/lastfm.csv", body)], None, "run-1", options(item_column="artist_id", timestamp_column="tagged_at")
    )

    assert rows(result) == [f"2,51,{epoch('2009-04-01')}", f"3,51,{epoch('2011-05-09')}"]
    assert rejects(result) == [
        {
            "source": "raw/lastfm.csv",
            "line_number": 3,
            "line": "2,52,1956-06-01,jazz",
            "reason": "timestamp before 1970",
        }
    ]
    entry = result.report["files"]["raw/lastfm.csv"]
    assert entry["columns"] == {"user": "user_id", "item": "artist_id", "timestamp": "tagged_at"}
    assert entry["ignored_columns"] == ["tag"]
    assert result.report["time_range"]["first_utc"] == "2009-04-01T00:00:00Z"


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01",
        "2024-05-01T10:20:30Z",
        "2024-05-01t10:20:30z",
        "2024-05-01 10:20:30",
        "2024-05-01T10:20",
        "2024-05-01T10:20:30.999999+02:00",
        "2024-05-01T10:20:30-0530",
        "2024-05-01T23:20:30-05",
        "2024-02-29T00:00:00Z",
        "2000-02-29",
        "1970-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    ],
)
def test_iso_8601_and_rfc_3339_times_become_epoch_seconds(text: str) -> None:
    body = f"user,item,time\n75,3,{text}\n".encode()

    result = run_etl([("raw/a.csv", body)], None, "run-1")

    offset = text[-5:] if text.endswith("-0530") else None
    expected = epoch(text[:-5] + "-05:30" if offset else text.replace("t", "T").replace("z", "Z"))
    assert rows(result) == [f"75,3,{expected}"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2023-02-29", "timestamp is not a valid ISO-8601 date"),
        ("2024-13-01", "timestamp is not a valid ISO-8601 date"),
        ("2024-04-31", "timestamp is not a valid ISO-8601 date"),
        ("2024-05-01T24:00:00Z", "timestamp is not a valid ISO-8601 date"),
        ("1969-12-31T23:59:59Z", "timestamp before 1970"),
        ("1970-01-01T00:30:00+01:00", "timestamp before 1970"),
        ("2024-05-01Z", "timestamp is not a positive integer"),
        ("01/05/2024", "timestamp is not a positive integer"),
        ("100000000000000000", "timestamp out of range"),
    ],
)
def test_bad_times_are_rejected_with_their_reason(text: str, reason: str) -> None:
    result = run_etl([("raw/a.csv", f"user,item,time\n75,3,{text}\n".encode())], None, "run-1")

    assert [r["reason"] for r in rejects(result)] == [reason]


def test_epoch_seconds_milliseconds_and_microseconds_are_told_apart_per_value() -> None:
    body = b"user,item,ts\n75,3,1162160236\n75,4,1162160236000\n75,5,1162160236999999\n"

    result = run_etl([("raw/a.csv", body)], None, "run-1")

    assert rows(result) == ["75,3,1162160236", "75,4,1162160236", "75,5,1162160236"]
    assert result.report["timestamp_units"] == {"milliseconds": 1, "seconds": 1, "microseconds": 1, "iso-8601": 0}


def test_min_rating_filters_on_the_mapped_event_value() -> None:
    body = b"user,item,ts,stars\n75,3,1162160236,1\n75,4,1162160236,5\n"

    result = run_etl([("raw/a.csv", body)], 3.0, "run-1", options(event_value_column="stars"))

    # EventValueColumn set: the value is imported too (the schema has EVENT_VALUE).
    assert result.interactions_csv.decode().splitlines() == [
        "USER_ID,ITEM_ID,EVENT_VALUE,TIMESTAMP",
        "75,4,5,1162160236",
    ]
    assert result.report["below_min_rating"] == 1


def layout_error(raw: list[tuple[str, bytes]], **parameters: str) -> str:
    with pytest.raises(glue.InputLayoutError) as raised:
        run_etl(raw, None, "run-1", options(**parameters))
    return str(raised.value)


def test_two_candidates_for_a_role_fail_naming_the_file_the_role_and_the_columns() -> None:
    message = layout_error([("raw/a.csv", b"user_id,userId,item_id,ts\n1,1,2,3\n")])

    assert message.startswith("raw/a.csv: 2 columns could be the user id column (user_id, userId)")
    assert "set UserColumn to one of them" in message
    assert message.endswith("the file's columns are user_id, userId, item_id, ts.")


def test_a_missing_column_fails_naming_the_file_the_role_and_the_columns() -> None:
    message = layout_error([("raw/lastfm.csv", b"user_id,artist_id,tagged_at\n2,51,2009-04-01\n")])

    assert message.startswith("raw/lastfm.csv: no item id column; the file's columns are user_id, artist_id, tagged_at")
    assert "set ItemColumn to one of them" in message


def test_a_file_without_a_header_fails_instead_of_being_read_by_position() -> None:
    message = layout_error([("raw/a.dat", b"75\t3\t1\t1162160236000\n")])

    assert message.startswith("raw/a.dat: no user id column; the file's columns are 75, 3, 1, 1162160236000")
    assert "A file needs a header line naming its columns." in message


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"user_column": "uid"}, "raw/a.csv: UserColumn=uid is not a column of the file; the file's columns are"),
        ({"item_column": "user"}, "raw/a.csv: column user is mapped to both the user id and the item id"),
        ({"min_rating": "3"}, "raw/a.csv: MinRating is set but the file has no event value column"),
        ({"input_format": "parquet"}, "raw/a.csv: InputFormat=parquet but the file is not Parquet"),
    ],
)
def test_parameters_that_do_not_fit_the_file_fail_clearly(parameters: dict[str, str], expected: str) -> None:
    assert layout_error([("raw/a.csv", b"user,item,ts\n75,3,1162160236\n")], **parameters).startswith(expected)


def test_a_forced_delimiter_that_does_not_fit_the_header_says_what_the_file_looks_like() -> None:
    message = layout_error([("raw/ratings.csv", HETREC.replace(b"\t", b","))], input_format="tsv")

    assert "The header looks comma-separated, not tab-separated: set InputFormat=csv (or auto)." in message


def test_gzip_must_be_named_gz() -> None:
    assert layout_error([("raw/a.tsv", gzip.compress(HETREC))]) == (
        "raw/a.tsv: the file is gzip-compressed but its name does not end in .gz: rename it."
    )


def test_comma_separated_lines_under_a_tab_header_are_rejected_with_a_hint() -> None:
    body = b"userID\tmovieID\trating\ttimestamp\n75,3,1,1162160236000\n75,4,1,1162160236000\n"

    result = run_etl([("raw/ratings.csv", body)], None, "run-1")

    entry = result.report["files"]["raw/ratings.csv"]
    assert (entry["data_lines"], entry["rejected"]) == (2, 2)
    assert entry["top_reasons"] == {"expected 4 tab-separated fields, found 1": 2}
    assert entry["hint"] == "the file looks comma-separated: set InputFormat=csv or check the header"


def test_bad_options_are_one_clear_sentence() -> None:
    with pytest.raises(ValueError, match=r"^--input_format must be one of auto, tsv, csv, semicolon, pipe, jsonl"):
        options(input_format="xlsx")
    with pytest.raises(ValueError, match=r"^--max_rejected_share must be a number from 0 to 1, got '2'\.$"):
        options(max_rejected_share="2")


def test_quoted_fields_are_read_without_their_quotes_and_never_split_into_other_columns() -> None:
    body = (
        b'"userID","movieID","rating","timestamp"\n'
        b'"75","3","1","2006-11-29 21:17:16"\n'  # a quoted time with a space, as CSV writers write it
        b'75,"32",4.5,1162160624000\n'  # quoting may vary by field
        b'"Smith, J","4","1","1162160236000"\n'  # a quoted comma splits: rejected by its field count
        b'"a""b","5","1","1162160236000"\n'  # a doubled quote is a quote: not an id character
        b'"userID","movieID","rating","timestamp"\n'  # a second, quoted header (concatenated files)
    )

    result = run_etl([("raw/quoted.csv", body)], None, "run-1")

    assert rows(result) == ["75,32,1162160624", "75,3,1164835036"]
    assert [(reject["line_number"], reject["reason"]) for reject in rejects(result)] == [
        (4, "expected 4 comma-separated fields, found 5 (a quoted field cannot hold the delimiter)"),
        (5, "user id is not 1-256 characters of A-Z a-z 0-9 _ . : @ / + -"),
    ]
    assert rejects(result)[0]["line"] == '"Smith, J","4","1","1162160236000"'
    assert result.report["header_lines"] == 2
