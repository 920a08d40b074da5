"""The report's DuckDB aggregations, on small files whose answers are counted by hand."""

import json
from pathlib import Path

from recflow.report.aggregate import rejects, run_data
from recflow.report.model import Degree, PopularityLevel, RunData


def _interactions(path: Path, pairs: list[tuple[str, str]]) -> Path:
    path.write_text("USER_ID,ITEM_ID,TIMESTAMP\n" + "".join(f"{u},{i},1700000000\n" for u, i in pairs))
    return path


def _output(path: Path, lists: dict[str, list[str] | None]) -> Path:
    lines = [
        {"input": {"userId": user}, "output": {"recommendedItems": items}, "error": None}
        if items is not None
        else {"input": {"userId": user}, "output": None, "error": "User error: no such user"}
        for user, items in lists.items()
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_interactions_per_user_and_popularity_levels_with_their_recommendations(tmp_path):
    # Given items a (3 interactions), b (2), c (1), and users u1 (3), u2 (2), u3 (1), in two CSV parts
    first = _interactions(tmp_path / "part-00000.csv", [("u1", "a"), ("u1", "b"), ("u1", "c")])
    second = _interactions(tmp_path / "part-00001.csv", [("u2", "a"), ("u2", "b"), ("u3", "a")])
    # And recommendations: a twice, c once, and z (absent from the data) once; one line is an error line
    out = _output(tmp_path / "users.json.out", {"u1": ["a", "z"], "u2": ["a", "c"], "u4": None})

    data = run_data([first, second], [out])

    assert data is not None
    assert data.per_user == [Degree(interactions=n, count=1) for n in (1, 2, 3)]
    assert data.popularity == [
        PopularityLevel(interactions=0, items=0, recommended=1, recommended_items=1),  # z
        PopularityLevel(interactions=1, items=1, recommended=1, recommended_items=1),  # c
        PopularityLevel(interactions=2, items=1, recommended=0, recommended_items=0),  # b
        PopularityLevel(interactions=3, items=1, recommended=2, recommended_items=1),  # a
    ]
    assert data.per_item == [Degree(interactions=n, count=1) for n in (1, 2, 3)]
    assert data.recommendations == 4


def test_a_run_without_output_has_levels_without_recommendations_and_one_without_data_has_none(tmp_path):
    csv = _interactions(tmp_path / "part-00000.csv", [("u1", "a"), ("u2", "a")])

    data = run_data([csv], [])

    assert data is not None and data.popularity == [
        PopularityLevel(interactions=2, items=1, recommended=0, recommended_items=0)
    ]
    assert run_data([], []) is None


def test_popularity_figures_weigh_interactions_and_recommendations():
    # Given 2 items with 1 interaction, 1 item with 4; recommendations: 3 slots on the popular item, 1 on a rare one
    data = RunData(
        per_user=[],
        popularity=[
            PopularityLevel(interactions=1, items=2, recommended=1, recommended_items=1),
            PopularityLevel(interactions=4, items=1, recommended=3, recommended_items=1),
        ],
    )
    # An interaction's item has (1·1·2 + 4·4·1) / (1·2 + 4·1) = 18 / 6 = 3 interactions on average
    assert data.interacted_popularity == 3.0
    # A recommended item: (1·1 + 4·3) / 4 = 3.25
    assert data.recommended_popularity == 3.25
    assert data.catalog_coverage == 2 / 3


def test_rejects_keep_the_reports_counts_with_one_example_line_each_most_frequent_first(tmp_path):
    part = tmp_path / "part-00000.json"
    part.write_text(
        "".join(
            json.dumps({"source": "raw/r.dat", "line": line, "reason": reason}) + "\n"
            for line, reason in [
                ("1\t2\tfive\t3", "rating is not a number"),
                ("1\t2", "expected 4 tab-separated fields"),
                ("4\t5", "expected 4 tab-separated fields"),
            ]
        )
    )
    (tmp_path / "part-00001.json").write_text("")  # a writer with nothing to reject leaves an empty part

    found = rejects(
        {"expected 4 tab-separated fields": 7, "rating is not a number": 1}, sorted(tmp_path.glob("*.json"))
    )

    assert [(r.reason, r.lines, r.example) for r in found] == [
        ("expected 4 tab-separated fields", 7, "1\t2"),
        ("rating is not a number", 1, "1\t2\tfive\t3"),
    ]
    assert rejects({}, []) == []
