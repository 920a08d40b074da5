"""CLASSIFY_LINES_SQL against the rules written out in Python, on a grid of awkward fields.

The SQL checks a whole line with one pattern and only looks for the reason when it does not match;
this grid checks that the fast path and the reasons agree with the rules, on both engines.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest

from recflow.offline.etl import classify, load_glue_script

glue = load_glue_script()

ID = re.compile(r"[A-Za-z0-9_.:@/+-]{1,256}")
RATING = re.compile(r"[+-]?[0-9]{1,9}(\.[0-9]{1,9})?")
ID_REASON = "id is not 1-256 characters of A-Z a-z 0-9 _ . : @ / + -"

IDS = ["75", "", "userID", "a,b", '"q"', "x y", "\u00e9", "u" * 256, "u" * 257, "id:1/2+3_x-y.z@w", '"', '"a""b"']
RATINGS = ["4", "4.5", "", "4.", ".5", "+4", "-1", "NaN", "1e3", " 4", "1234567890", "0.0000000001"]
TIMESTAMPS = [
    *("1162160236000", "1162160236", "", "0", "00", "-5", "1.5e12", "12 ", "12\u2028", "9" * 20),
    *("99999999999", "100000000000", "99999999999999", "100000000000000", "99999999999999999"),
    "100000000000000000",
]
WHOLE_LINES = ["", " ", "  \t ", "\t", "\r", "\ufeff", "\ufeff\r", "userID", "75\t3\t4", "75\t3\t4\t5\t6", "\t\t\t"]


HEADER = "userID\tmovieID\trating\ttimestamp"


def grid() -> list[str]:
    """The lines of one file, after its HEADER line."""
    lines = ["\t".join(fields) for fields in itertools.product(IDS, IDS[:4], RATINGS, TIMESTAMPS)]
    lines += ["\t".join(fields) for fields in itertools.product(IDS[:3], IDS[:3], RATINGS[:3], ["1162160236"])]
    # BOM and CR variants of a sample.
    lines += ["\ufeff" + line for line in lines[::97]] + [line + "\r" for line in lines[::89]]
    return lines + WHOLE_LINES


def grid_file() -> bytes:
    return ("\n".join([HEADER, *grid()]) + "\n").encode()


def unquoted(field: str) -> str:
    """A field in quotes is read without them, a doubled quote inside standing for one."""
    return field[1:-1].replace('""', '"') if len(field) >= 2 and field[0] == field[-1] == '"' else field


def expected(line: str) -> tuple[str, str | None]:
    """(kind, reason) by the rules in the Glue script's docstring and SQL comments."""
    text = line[1:] if line.startswith("\ufeff") else line
    text = text[:-1] if text.endswith("\r") else text
    fields = [unquoted(field) for field in text.split("\t")]
    reason = None
    if len(fields) != 4:
        reason = f"expected 4 tab-separated fields, found {len(fields)}"
        reason += " (a quoted field cannot hold the delimiter)" if '"' in text else ""
    elif fields[0] == "":
        reason = "empty user id"
    elif fields[1] == "":
        reason = "empty item id"
    elif not ID.fullmatch(fields[0]):
        reason = "user " + ID_REASON
    elif not ID.fullmatch(fields[1]):
        reason = "item " + ID_REASON
    elif not RATING.fullmatch(fields[2]):
        reason = "rating is not a number"
    elif not re.fullmatch("[0-9]+", fields[3]) or int(fields[3]) == 0:
        reason = "timestamp is not a positive integer"
    elif int(fields[3]) >= 10**17:
        reason = "timestamp out of range"
    # A well-formed line is data, even for a user called "userID".
    if reason is None:
        return "accepted", None
    if text.strip(" ") == "":
        return "blank", None
    if fields[0].lower() == "userid":
        return "header", None
    return "rejected", reason


def test_duckdb_classifies_every_line_by_the_rules(tmp_path: Path) -> None:
    lines = grid()
    with duckdb.connect() as con:
        classify(con, [("raw/grid.dat", grid_file())], glue.EtlOptions(), tmp_path)
        rows = con.execute("SELECT line_number, kind, reason FROM classified_lines ORDER BY line_number").fetchall()

    assert rows[0] == (1, "header", None)
    assert [number for number, _, _ in rows] == list(range(1, len(lines) + 2))
    assert [(kind, reason) for _, kind, reason in rows[1:]] == [expected(line) for line in lines]
    assert len({kind for _, kind, _ in rows}) == 4  # the grid reaches every kind but below_min_rating


@pytest.mark.spark
def test_spark_classifies_every_line_by_the_rules(spark: Any, tmp_path: Path) -> None:
    lines = grid()
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "grid.dat").write_bytes(grid_file())
    options = glue.EtlOptions()
    raw, parquet, layouts = glue.read_inputs(spark, [f"file://{tmp_path}/raw/grid.dat"], f"file://{tmp_path}/", options)
    glue.transform_dataframe(spark, raw, layouts, options, parquet)
    rows = spark.sql("SELECT line_number, kind, reason FROM classified_lines ORDER BY line_number").collect()

    assert [row["line_number"] for row in rows] == list(range(1, len(lines) + 2))
    assert [(row["kind"], row["reason"]) for row in rows[1:]] == [expected(line) for line in lines]
