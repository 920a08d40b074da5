"""CLASSIFY_LINES_SQL against the rules written out in Python, on a grid of awkward fields.

The SQL checks a whole line with one pattern and only looks for the reason when it does not match;
this grid checks that the fast path and the reasons agree with the rules, on both engines.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import duckdb
import pytest

from recflow.offline.etl import load_glue_script

glue = load_glue_script()

ID = re.compile(r"[A-Za-z0-9_.:@/+-]{1,256}")
RATING = re.compile(r"[+-]?[0-9]{1,9}(\.[0-9]{1,9})?")
ID_REASON = "id is not 1-256 characters of A-Z a-z 0-9 _ . : @ / + -"

IDS = ["75", "", "userID", "a,b", '"q"', "x y", "\u00e9", "u" * 256, "u" * 257, "id:1/2+3_x-y.z@w"]
RATINGS = ["4", "4.5", "", "4.", ".5", "+4", "-1", "NaN", "1e3", " 4", "1234567890", "0.0000000001"]
TIMESTAMPS = [
    *("1162160236000", "1162160236", "", "0", "00", "-5", "1.5e12", "12 ", "12\u2028", "9" * 20),
    *("99999999999", "100000000000", "99999999999999", "100000000000000"),
]
WHOLE_LINES = ["", " ", "  \t ", "\t", "\r", "\ufeff", "\ufeff\r", "userID", "75\t3\t4", "75\t3\t4\t5\t6", "\t\t\t"]


def grid() -> list[str]:
    lines = ["\t".join(fields) for fields in itertools.product(IDS, IDS[:4], RATINGS, TIMESTAMPS)]
    lines += ["\t".join(fields) for fields in itertools.product(IDS[:3], IDS[:3], RATINGS[:3], ["1162160236"])]
    # BOM and CR variants of a sample.
    lines += ["\ufeff" + line for line in lines[::97]] + [line + "\r" for line in lines[::89]]
    return lines + WHOLE_LINES


def expected(line: str) -> tuple[str, str | None]:
    """(kind, reason) by the rules in the Glue script's docstring and SQL comments."""
    text = line[1:] if line.startswith("\ufeff") else line
    text = text[:-1] if text.endswith("\r") else text
    fields = text.split("\t")
    reason = None
    if len(fields) != 4:
        reason = "expected 4 tab-separated fields"
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
    elif int(fields[3]) >= 10**14:
        reason = "timestamp out of range"
    # A well-formed line is data, even for a user called "userID".
    if reason is None:
        return "accepted", None
    if text.strip(" ") == "":
        return "blank", None
    if fields[0].lower() == "userid":
        return "header", None
    return "rejected", reason


def test_duckdb_classifies_every_line_by_the_rules() -> None:
    lines = grid()
    with duckdb.connect() as con:
        con.execute(
            "CREATE TABLE raw_lines AS SELECT unnest(?) AS source, unnest(?) AS line",
            [
                [f"{n:06d}" for n in range(len(lines))],
                lines,
            ],
        )
        con.execute("CREATE TABLE etl_params AS SELECT CAST(NULL AS DOUBLE) AS min_rating")
        rows = con.execute(f"SELECT source, kind, reason FROM ({glue.CLASSIFY_LINES_SQL}) ORDER BY source").fetchall()

    assert [(kind, reason) for _, kind, reason in rows] == [expected(line) for line in lines]
    assert len({kind for _, kind, _ in rows}) == 4  # the grid reaches every kind but below_min_rating


@pytest.mark.spark
def test_spark_classifies_every_line_by_the_rules(spark: Any) -> None:
    lines = grid()
    raw = spark.createDataFrame([(f"{n:06d}", line) for n, line in enumerate(lines)], "source string, line string")
    glue.transform_dataframe(spark, raw, None)
    rows = spark.sql("SELECT source, kind, reason FROM classified_lines ORDER BY source").collect()

    assert [(row["kind"], row["reason"]) for row in rows] == [expected(line) for line in lines]
