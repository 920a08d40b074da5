"""Local import validation speed: reading and checking an interactions CSV as a dataset import job does.

The file: the ETL's output shape (USER_ID,ITEM_ID,TIMESTAMP, seconds) of `recflow generate` data, 10M
rows (70k users x 10k items, issue 13's size) and 1M. Figures: read_interactions_csv's wall seconds and
peak RSS growth, the row-by-row reader's (the way every file was read before, and still the way a file
with quotes or a bad value is read) at 1M, and the floor: DuckDB's read_csv of the same file with
COUNT(DISTINCT) of users and items. Issue 13's target for 10M: <= 10 s.

    .venv/bin/python bench/import_bench.py
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from recflow.personalize_local import interactions
from recflow.personalize_local.schema import parse_schema
from recflow.synthetic import generate

SIZES = {"1M": (7_000, 10_000, 1_000_000), "10M": (70_000, 10_000, 10_000_000)}
TARGET_10M = 10.0
SCHEMA = parse_schema(
    "arn:aws:personalize:us-east-1:123456789012:schema/bench",
    json.dumps(
        {
            "type": "record",
            "name": "Interactions",
            "namespace": "com.amazonaws.personalize.schema",
            "fields": [
                {"name": "USER_ID", "type": "string"},
                {"name": "ITEM_ID", "type": "string"},
                {"name": "TIMESTAMP", "type": "long"},
            ],
            "version": "1.0",
        }
    ),
)


def interactions_csv(raw: Path, out: Path) -> None:
    """The synthetic HetRec file as the ETL writes it: ids as text, timestamps in seconds."""
    duckdb.sql(
        f"COPY (SELECT CAST(userID AS VARCHAR) AS USER_ID, CAST(movieID AS VARCHAR) AS ITEM_ID, "
        f"timestamp // 1000 AS TIMESTAMP FROM read_csv('{raw}', delim = '\t', header = true)) "
        f"TO '{out}' (FORMAT CSV, HEADER)"
    )


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def measure(name: str, users: int, items: int, rows: int, tmp: Path) -> str:
    """One size's table row."""
    raw, path = tmp / f"{name}.dat", tmp / f"{name}.csv"
    generate(raw, users=users, items=items, interactions=rows, seed=7)
    interactions_csv(raw, path)
    raw.unlink()
    text = path.read_text()
    seconds, data = timed(lambda: interactions.read_interactions_csv(text, str(path), SCHEMA))
    assert len(data) == rows
    query = f"SELECT count(*), count(DISTINCT USER_ID), count(DISTINCT ITEM_ID) FROM read_csv('{path}')"
    floor, _ = timed(lambda: duckdb.sql(query).fetchall())
    baseline = "-"
    if rows <= 1_000_000:  # the row-by-row reader takes over a minute at 10M
        row_seconds, row_data = timed(lambda: interactions.read_rows(text, str(path), SCHEMA))
        assert all(row_data.columns[column].tolist() == data.columns[column].tolist() for column in data.columns)
        baseline = f"{row_seconds:.2f}"
    target = f"<= {TARGET_10M:.0f} s: {'met' if seconds <= TARGET_10M else 'missed'}" if name == "10M" else ""
    return f"{name:5} {seconds:10.2f} {baseline:>8} {floor:8.2f} {seconds / floor:8.1f}  {target}"


def main() -> None:
    print(f"{'size':5} {'columnar s':>10} {'rows s':>8} {'floor s':>8} {'x floor':>8}  target")
    with tempfile.TemporaryDirectory(prefix="import-bench-") as tmp:
        for name, (users, items, rows) in SIZES.items():
            print(measure(name, users, items, rows, Path(tmp)), flush=True)


if __name__ == "__main__":
    main()
