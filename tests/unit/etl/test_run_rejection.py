"""The ETL's whole-run verdict (the Glue script's run_rejection): Personalize's minimums and MaxRejectedShare,
applied before anything importable is written; the data check raises it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from recflow_lambda import minimums

from recflow.offline.etl import load_glue_script, run_etl

glue = load_glue_script()
HEADER = b"userID\tmovieID\trating\ttimestamp\n"
RUN = "r-1"


def report(interactions: int = 1200, users: int = 60, users_with_2plus: int = 58, **changes: Any) -> dict[str, Any]:
    rejected = changes.pop("rejected", 3)
    reasons = changes.pop("rejects_by_reason", {"rating is not a number": rejected} if rejected else {})
    document = {
        "run_id": RUN,
        "source_files": ["raw/a.dat"],
        "lines_read": 1 + rejected + interactions,
        "header_lines": 1,
        "blank_lines": 0,
        "rejected": rejected,
        "rejects_by_reason": reasons,
        "duplicates_dropped": 0,
        "below_min_rating": 0,
        "interactions": interactions,
        "users": users,
        "items": 300,
        "users_with_2plus": users_with_2plus,
        "timestamp_units": {"seconds": interactions},
        "files": {"raw/a.dat": {"format": "tsv", "data_lines": rejected + interactions, "rejected": rejected}},
        "max_rejected_share": 0.1,
    }
    return document | changes


REPORTS = {
    "trainable": report(),
    "exactly the minimums": report(interactions=1000, users_with_2plus=25),
    "999 interactions": report(interactions=999),
    "24 users with 2+": report(users_with_2plus=24),
    "under 1% of users with 2+": report(users=5_801, users_with_2plus=58),
    "18.8% rejected": report(rejected=300, interactions=1294, rejects_by_reason={"empty item id": 100, "x": 200}),
    "every line of a file rejected": report(
        rejected=50,
        interactions=0,
        users=0,
        users_with_2plus=0,
        max_rejected_share=1.0,
        files={
            "raw/a.dat": {"data_lines": 50, "rejected": 50, "top_reasons": {"expected 4 tab-separated fields": 50}},
        },
    ),
    "many files": report(interactions=10, rejected=0, source_files=[f"raw/{n}.dat" for n in range(30)]),
}


def test_the_minimums_are_personalizes_in_both_places() -> None:
    assert (glue.MIN_TRAINING_INTERACTIONS, glue.MIN_TRAINING_USERS, glue.MIN_SHARE_OF_USERS_WITH_2PLUS) == (
        minimums.MIN_TRAINING_INTERACTIONS,
        minimums.MIN_TRAINING_USERS,
        minimums.MIN_SHARE_OF_USERS_WITH_2PLUS,
    )


VERDICTS = {
    "trainable": None,
    "exactly the minimums": None,
    "999 interactions": "Run r-1 has 999 interactions after the ETL of raw/a.dat (3 lines rejected); Amazon "
    "Personalize needs at least 1000: upload more data under raw/.",
    "24 users with 2+": "Run r-1 has 24 users with 2 or more interactions in the data of raw/a.dat; Amazon "
    "Personalize needs at least 25: upload more data under raw/.",
    "under 1% of users with 2+": "Run r-1: only 58 of 5,801 users in the data of raw/a.dat have 2 or more "
    "interactions; Amazon Personalize needs at least 1%: upload more interactions of the same users under raw/.",
    "18.8% rejected": 'Run r-1: 300 of 1,594 lines rejected (18.8%); top reasons: 200 × "x"; 100 × "empty item '
    'id". That is more than MaxRejectedShare=0.1 allows: fix the files under raw/ or raise MaxRejectedShare (the '
    "rejected lines, with their line numbers, are under rejects/r-1/).",
    # Never "upload more data" when the data is unreadable, whatever MaxRejectedShare allows
    "every line of a file rejected": 'Run r-1: raw/a.dat: all 50 lines rejected; 50 × "expected 4 tab-separated '
    'fields" (the rejected lines, with their line numbers, are under rejects/r-1/).',
    "many files": "Run r-1 has 10 interactions after the ETL of raw/0.dat and 29 other files (0 lines rejected); "
    "Amazon Personalize needs at least 1000: upload more data under raw/.",
}


@pytest.mark.parametrize("name", list(REPORTS))
def test_the_verdict_says_why_personalize_could_not_train_naming_the_files(name: str) -> None:
    document = REPORTS[name]
    assert glue.run_rejection(document, RUN, document["source_files"]) == VERDICTS[name]


def test_files_without_data_are_named_each_with_what_it_holds() -> None:
    # Given an empty file, a header-only file and a file of blank lines
    raw = [("raw/empty.csv", b""), ("raw/header.dat", HEADER), ("raw/blank.jsonl", b"\n  \n")]

    # When the ETL runs
    result = run_etl(raw, None, RUN)

    # Then the run is rejected naming each file, and only the report and the (empty) rejects are written
    assert result.rejection == (
        "Run r-1 has no interactions to import: raw/blank.jsonl has only blank lines; raw/empty.csv is empty; "
        "raw/header.dat has a header line but no data lines; upload data under raw/."
    )
    objects = result.objects()
    assert sorted(objects) == [f"rejects/{RUN}/part-00000.json", f"transformed/{RUN}/report.json"]
    assert json.loads(objects[f"transformed/{RUN}/report.json"])["rejection"] == result.rejection


def test_a_run_below_the_minimums_writes_no_interactions_and_no_batch_input() -> None:
    body = HEADER + b"".join(f"{u}\t{i}\t4\t1162160236\n".encode() for u in range(10) for i in range(5))

    result = run_etl([("raw/small.dat", body)], None, RUN)

    assert result.rejection is not None and "has 50 interactions after the ETL of raw/small.dat" in result.rejection
    assert not [key for key in result.objects() if "/interactions/" in key or "/batch_input/" in key]
    assert result.report["interactions"] == 50  # the report still counts every line


def test_a_trainable_run_writes_everything_and_no_rejection() -> None:
    body = HEADER + b"".join(f"{u}\t{i}\t4\t1162160236\n".encode() for u in range(60) for i in range(20))

    result = run_etl([("raw/ok.dat", body)], None, RUN)

    assert result.rejection is None
    objects = result.objects()
    assert f"transformed/{RUN}/interactions/part-00000.csv" in objects
    assert "rejection" not in json.loads(objects[f"transformed/{RUN}/report.json"])


@pytest.mark.parametrize(
    "body, problem",
    [
        (bytes(range(256)) * 8, "of 2,048 characters are control characters or not UTF-8"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(1, 256)) * 4, "control characters or not UTF-8"),
    ],
)
def test_a_binary_file_is_refused_by_name_without_quoting_it(body: bytes, problem: str) -> None:
    with pytest.raises(glue.InputLayoutError) as raised:
        run_etl([("raw/photo.dat", body)], None, RUN)
    message = str(raised.value)
    assert message.startswith("raw/photo.dat: the file is binary, not text (") and problem in message
    assert "PNG" not in message


def test_a_text_file_with_a_few_latin1_bytes_is_still_text() -> None:
    body = HEADER + "".join(f"u{u}\tcaf\xe9{u}\t4\t1162160236\n" for u in range(50)).encode("latin-1")
    assert glue.binary_content(body) is None


def test_layout_errors_do_not_quote_the_line_they_could_not_read() -> None:
    # A headerless file: its first line is an interaction, which must not reach a log or a notification
    with pytest.raises(glue.InputLayoutError) as raised:
        run_etl([("raw/x.dat", b"user-SECRET 42 1162160236\n")], None, RUN)
    assert "SECRET" not in str(raised.value) and "raw/x.dat: cannot tell the delimiter" in str(raised.value)
    with pytest.raises(glue.InputLayoutError) as raised:
        run_etl([("raw/x.jsonl", b'{"user-SECRET\n')], None, RUN)
    assert "SECRET" not in str(raised.value)
