"""The offline ETL: the Glue script's SQL on DuckDB, bytes in, bytes out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recflow.offline import etl
from recflow.offline.etl import file_lines, raw_files_in, run_etl
from recflow.synthetic import generate

HEADER = b"userID\tmovieID\trating\ttimestamp\n"
REAL_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "ml-latest-small-ratings.dat"
REPORT_KEYS = [
    "run_id",
    "source_files",
    "lines_read",
    "header_lines",
    "blank_lines",
    "rejected",
    "rejects_by_reason",
    "duplicates_dropped",
    "below_min_rating",
    "interactions",
    "users",
    "items",
    "users_with_2plus",
    "users_with_2plus_share",
    "timestamp_units",
    "time_range",
    "files",
    "input_format",
    "max_rejected_share",
]


def reject_records(result: etl.EtlResult) -> list[dict]:
    # Split on LF only: a rejected line may hold U+2028, which str.splitlines() would split on.
    return [json.loads(line) for line in result.rejects_jsonl.decode().split("\n") if line]


def test_the_hetrec_sample_becomes_the_personalize_csv() -> None:
    result = run_etl([("raw/x.dat", HEADER + b"75\t3\t1\t1162160236000\n")], None, "run-1")

    assert result.interactions_csv == b"USER_ID,ITEM_ID,TIMESTAMP\n75,3,1162160236\n"
    assert result.rejects_jsonl == b""
    assert result.report == {
        "run_id": "run-1",
        "source_files": ["raw/x.dat"],
        "lines_read": 2,
        "header_lines": 1,
        "blank_lines": 0,
        "rejected": 0,
        "rejects_by_reason": {},
        "duplicates_dropped": 0,
        "below_min_rating": 0,
        "interactions": 1,
        "users": 1,
        "items": 1,
        "users_with_2plus": 0,
        "users_with_2plus_share": 0.0,
        "timestamp_units": {"milliseconds": 1, "seconds": 0, "microseconds": 0, "iso-8601": 0},
        "time_range": {
            "first": 1162160236,
            "last": 1162160236,
            "first_utc": "2006-10-29T22:17:16Z",
            "last_utc": "2006-10-29T22:17:16Z",
        },
        "files": {
            "raw/x.dat": {
                "format": "tsv",
                "columns": {"user": "userID", "item": "movieID", "timestamp": "timestamp", "event_value": "rating"},
                "ignored_columns": [],
                "lines_read": 2,
                "data_lines": 1,
                "rejected": 0,
                "top_reasons": {},
            }
        },
        "input_format": "auto",
        "max_rejected_share": 0.1,
    }
    assert list(result.report) == REPORT_KEYS


def test_counts_add_up_and_rejects_keep_the_line_unchanged() -> None:
    nasty = ['"7,5"\t3\t1\t1', "75\t3\t\x001\t1", "75\t3\t1\t11\r62", "75\t3\t1\t1\u2028", "75\t3\t1"]
    raw = "\ufeffuserID\tmovieID\trating\ttimestamp\r\n75\t3\t1\t1162160236000\r\n\r\n  \n"
    raw += "75\t3\t1\t1162160236\n76\t3\t1\t1162160236\n" + "\n".join(nasty) + "\n"

    result = run_etl([("raw/a.dat", raw.encode())], None, "run-1")

    report = result.report
    assert (report["lines_read"], report["header_lines"], report["blank_lines"]) == (11, 1, 2)
    assert (report["rejected"], report["duplicates_dropped"], report["interactions"]) == (5, 1, 2)
    assert report["timestamp_units"] == {"milliseconds": 1, "seconds": 2, "microseconds": 0, "iso-8601": 0}
    assert sorted(record["line"] for record in reject_records(result)) == sorted(nasty)
    assert {record["source"] for record in reject_records(result)} == {"raw/a.dat"}


def test_min_rating_filters_and_counts() -> None:
    raw = HEADER + b"75\t3\t1\t1162160236\n75\t4\t3.5\t1162160236\n75\t5\t5\t1162160236\n"

    result = run_etl([("raw/a.dat", raw)], 3.5, "run-1")

    assert result.interactions_csv == b"USER_ID,ITEM_ID,TIMESTAMP\n75,4,1162160236\n75,5,1162160236\n"
    assert result.report["below_min_rating"] == 1
    assert result.report["users_with_2plus"] == 1


def test_paths_and_bytes_give_the_same_result(tmp_path: Path) -> None:
    body = HEADER + b"75\t3\t1\t1162160236000\n76\t4\t2\t1162160237000\n"
    (tmp_path / "a.dat").write_bytes(body)

    from_path = run_etl([("raw/a.dat", tmp_path / "a.dat")], None, "run-1")
    from_bytes = run_etl([("raw/a.dat", body)], None, "run-1")

    assert from_path == from_bytes


def test_no_raw_files_give_a_header_and_zero_counts() -> None:
    result = run_etl([], None, "run-1")

    assert result.interactions_csv == b"USER_ID,ITEM_ID,TIMESTAMP\n"
    assert result.rejects_jsonl == b""
    assert result.report["lines_read"] == result.report["interactions"] == 0
    assert result.report["source_files"] == []


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        (b"", []),
        (b"a", ["a"]),
        (b"a\n", ["a"]),
        (b"\n", [""]),
        (b"a\n\n", ["a", ""]),
        (b"a\r\nb\rc", ["a\r", "b\rc"]),  # only LF ends a line
        (b"\xef\xbb\xbfa\n\xef\xbb\xbfb", ["a", "\ufeffb"]),  # a BOM is dropped only at the start
        (b"\xff\xe9t\xe9", ["\ufffd\ufffdt\ufffd"]),
        (b"\xed\xa0\x80|\xed\xbf|\xe2\x82", ["\ufffd|\ufffd|\ufffd"]),  # as Java decodes them
    ],
)
def test_files_split_into_lines_like_spark_reads_them(data: bytes, lines: list[str]) -> None:
    assert file_lines(data).to_pylist() == lines


def test_characters_split_by_a_block_edge_stay_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(etl, "SCAN_BLOCK", 2)  # every multi-byte character below straddles a block edge

    assert file_lines("é€😀\nx€".encode()).to_pylist() == ["é€😀", "x€"]
    assert file_lines("é€".encode() + b"\xff\n\xe2\x82").to_pylist() == ["é€\ufffd", "\ufffd"]


def test_small_blocks_and_batches_give_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    body = HEADER + b"".join(f"{u}\t{u % 7}\t3\t{1162160236 + u}\n".encode() for u in range(200)) + b"\n\nx\n"
    whole = run_etl([("raw/a.dat", body), ("raw/b.dat", body)], None, "run-1")

    # LFs found 7 bytes at a time, lines handed to DuckDB 3 at a time: block and batch edges fall mid-line.
    monkeypatch.setattr(etl, "SCAN_BLOCK", 7)
    monkeypatch.setattr(etl, "BATCH_LINES", 3)
    assert file_lines(body).to_pylist() == body.decode().removesuffix("\n").split("\n")
    assert run_etl([("raw/a.dat", body), ("raw/b.dat", body)], None, "run-1") == whole


def test_objects_are_the_lake_keys_the_glue_job_writes(tmp_path: Path) -> None:
    # Enough interactions for Personalize: a rejected run writes no interactions (test_run_rejection.py)
    body = HEADER + b"".join(f"{u}\t{i}\t1\t1162160236000\n".encode() for u in range(60) for i in range(20))
    result = run_etl([("raw/a.dat", body + b"bad\n")], None, "run-1")

    objects = result.objects()
    assert sorted(objects) == [
        "rejects/run-1/part-00000.json",
        "transformed/run-1/batch_input/items/part-00000.json",
        "transformed/run-1/batch_input/users/part-00000.json",
        "transformed/run-1/interactions/part-00000.csv",
        "transformed/run-1/report.json",
    ]
    assert json.loads(objects["transformed/run-1/report.json"]) == result.report
    written = result.write_lake(tmp_path / "lake")
    assert {path.relative_to(tmp_path / "lake").as_posix(): path.read_bytes() for path in written} == objects


def test_raw_files_in_lists_every_file_under_raw_as_keys(tmp_path: Path) -> None:
    for key in ("raw/b.dat", "raw/a/c d.dat", "transformed/x.csv"):
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(b"")

    assert [key for key, _ in raw_files_in(tmp_path)] == ["raw/a/c d.dat", "raw/b.dat"]


def test_a_missing_glue_script_is_one_clear_sentence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(etl, "GLUE_SCRIPT", tmp_path / "glue" / "interactions_etl.py")

    with pytest.raises(FileNotFoundError, match="is missing: run recflow from a source checkout"):
        run_etl([], None, "run-1")


@pytest.mark.skipif(not REAL_DATA.is_file(), reason="the development data set is not here")
def test_the_real_movielens_file_goes_through_whole() -> None:
    result = run_etl([("raw/ml-latest-small-ratings.dat", REAL_DATA)], None, "real")

    report = result.report
    assert (report["lines_read"], report["header_lines"], report["rejected"]) == (100_837, 1, 0)
    assert (report["interactions"], report["users"], report["items"]) == (100_836, 610, 9_724)
    assert report["timestamp_units"]["milliseconds"] == 100_836


@pytest.mark.slow
def test_a_hetrec_sized_file_keeps_every_interaction(tmp_path: Path) -> None:
    # Its speed is measured by bench/etl_bench.py, not asserted here.
    stats = generate(tmp_path / "raw" / "ratings.dat")
    raw = [("raw/ratings.dat", (tmp_path / "raw" / "ratings.dat").read_bytes())]

    result = run_etl(raw, None, "bench")

    assert result.report["interactions"] == stats.interactions
    assert result.report["rejected"] == 0
