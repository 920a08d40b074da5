"""Aggregations over a run's files on disk, in DuckDB: interactions per user and per item, how often each
popularity level was recommended, and one example line per reject reason. Both loaders call these (the
stack's loader downloads the run's objects first)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from recflow.report.model import Degree, PopularityLevel, RejectReason, RunData

_INTERACTIONS = "read_csv($interactions, header = true, types = {'USER_ID': 'VARCHAR', 'ITEM_ID': 'VARCHAR'})"
# Batch output lines: {"input": …, "output": {"recommendedItems": […], …}, "error": …}; output is null on error.
_RECOMMENDED = (
    "SELECT unnest(output.recommendedItems) AS item FROM read_json($outputs, format = 'newline_delimited', "
    "columns = {'output': 'STRUCT(recommendedItems VARCHAR[])'})"
)
_NO_RECOMMENDATIONS = "SELECT NULL::VARCHAR AS item WHERE false"
_REJECTS = (
    "read_json($rejects, format = 'newline_delimited', "
    "columns = {'source': 'VARCHAR', 'line': 'VARCHAR', 'reason': 'VARCHAR'})"
)


def run_data(interactions: list[Path], outputs: list[Path]) -> RunData | None:
    """The run's interactions per user, and per popularity level its items and their recommendations."""
    if not interactions:
        return None
    params: dict[str, list[str]] = {"interactions": [str(path) for path in interactions]}
    if outputs:
        params["outputs"] = [str(path) for path in outputs]
    with duckdb.connect() as db:
        per_user = db.execute(
            f"SELECT n, count(*) FROM (SELECT count(*) AS n FROM {_INTERACTIONS} GROUP BY USER_ID) "
            "GROUP BY n ORDER BY n",
            {"interactions": params["interactions"]},
        ).fetchall()
        levels = db.execute(
            f"""
            WITH interacted AS (SELECT ITEM_ID AS item, count(*) AS n FROM {_INTERACTIONS} GROUP BY ITEM_ID),
                 recommended AS (SELECT item, count(*) AS n FROM ({_RECOMMENDED if outputs else _NO_RECOMMENDATIONS})
                                 GROUP BY item)
            SELECT coalesce(i.n, 0), count(i.item), coalesce(sum(r.n), 0), count(r.item)
            FROM interacted i FULL OUTER JOIN recommended r ON i.item = r.item
            GROUP BY 1 ORDER BY 1
            """,
            params,
        ).fetchall()
    return RunData(
        per_user=[Degree(interactions=n, count=users) for n, users in per_user],
        popularity=[
            PopularityLevel(interactions=n, items=items, recommended=recommended, recommended_items=recommended_items)
            for n, items, recommended, recommended_items in levels
        ],
    )


def rejects(by_reason: dict[str, int], files: list[Path]) -> list[RejectReason]:
    """The ETL report's reject counts, each with one rejected line from the rejects files; most frequent first."""
    examples: dict[str, tuple[int, str]] = {}
    if files:
        with duckdb.connect() as db:
            rows = db.execute(
                f"SELECT reason, count(*), min(line) FROM {_REJECTS} GROUP BY reason",
                {"rejects": [str(path) for path in files]},
            ).fetchall()
        examples = {reason: (lines, example) for reason, lines, example in rows}
    # The report's counts are authoritative; a reason only the files hold is still shown.
    counts = {**{reason: lines for reason, (lines, _) in examples.items()}, **by_reason}
    found = [
        RejectReason(reason=reason, lines=lines, example=examples.get(reason, (0, None))[1])
        for reason, lines in counts.items()
    ]
    return sorted(found, key=lambda reject: (-reject.lines, reject.reason))
