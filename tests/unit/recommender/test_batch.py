"""Batch inference output lines: Personalize's format, one line per input line, errors per line."""

import json

import pytest

from recflow.personalize_local import recommender
from recflow.personalize_local.batch import batch_output_lines

from .conftest import Clustered


@pytest.fixture(scope="module")
def user_model(clustered: Clustered) -> recommender.TrainedModel:
    return recommender.train(
        clustered.users,
        clustered.items,
        clustered.timestamps,
        "arn:aws:personalize:::recipe/aws-user-personalization",
    )


@pytest.fixture(scope="module")
def sims_model(clustered: Clustered) -> recommender.TrainedModel:
    return recommender.train(clustered.users, clustered.items, clustered.timestamps, "aws-sims")


def test_a_line_reads_exactly_like_personalize_output(user_model: recommender.TrainedModel):
    (line,) = batch_output_lines(user_model, ['{"userId": "u7"}'], 25)

    record = json.loads(line)
    assert line == json.dumps(record, separators=(",", ":"))  # compact, no spaces
    assert list(record) == ["input", "output", "error"]
    assert line.startswith('{"input":{"userId":"u7"},"output":{"recommendedItems":["i')
    assert line.endswith(']},"error":null}')
    assert list(record["output"]) == ["recommendedItems", "scores"]
    items, scores = record["output"]["recommendedItems"], record["output"]["scores"]
    assert recommender.Recommendation(items, scores) == user_model.recommend(["u7"], 25)[0]
    assert len(items) == 25 and all(isinstance(item, str) for item in items)


def test_every_input_line_gets_one_output_line_in_order(user_model: recommender.TrainedModel):
    lines = [
        '{"userId": "u1"}',
        "not json",
        '{"userId": 75}',
        '{"itemId": "i3"}',
        '["u1"]',
        '{"userId": ""}',
        '{"userId": null}',
        '{"userId": "stranger", "context": {"device": "phone"}}',
        '{"userId": "u2"}',
    ]

    records = [json.loads(line) for line in batch_output_lines(user_model, lines, 3)]

    assert len(records) == len(lines)
    ok = [0, 7, 8]
    for index, record in enumerate(records):
        if index in ok:
            assert record["error"] is None and len(record["output"]["recommendedItems"]) == 3
        else:
            # AWS's shape for a line it cannot use: an empty list, no scores, a "User error: …"
            assert record["output"] == {"recommendedItems": []}
            assert isinstance(record["error"], str) and record["error"].startswith("User error: ")
    assert [records[i]["input"] for i in (0, 1, 2, 3, 4)] == [
        {"userId": "u1"},
        "not json",  # not JSON: echoed as the text it was
        {"userId": 75},
        {"itemId": "i3"},
        ["u1"],
    ]
    assert records[7]["input"] == {"userId": "stranger", "context": {"device": "phone"}}  # echoed as given
    assert records[1]["error"].startswith("User error: The line is not valid JSON")
    assert records[2]["error"] == 'User error: userId must be a string such as {"userId": "75"}, not int.'
    assert records[3]["error"] == "User error: Required fields for the provided recipe are userId"
    assert records[4]["error"] == 'User error: The line must be a JSON object such as {"userId": "75"}.'
    assert records[6]["error"] == 'User error: userId must be a string such as {"userId": "75"}, not null.'


def test_seen_items_can_appear_without_a_filter_and_unknown_users_get_popular_items(
    clustered: Clustered, user_model: recommender.TrainedModel
):
    lines = [json.dumps({"userId": f"u{u}"}) for u in range(90)] + ['{"userId": "nobody"}']

    records = [json.loads(line) for line in batch_output_lines(user_model, lines, 25)]

    # As in Personalize without a filter: some users get items they already interacted with
    assert any(
        set(record["output"]["recommendedItems"]) & clustered.seen(f"u{u}") for u, record in enumerate(records[:-1])
    )
    assert records[-1]["output"]["recommendedItems"] == user_model.recommend(["nobody"], 25)[0].items


def test_related_items_take_item_ids(sims_model: recommender.TrainedModel):
    lines = ['{"itemId": "i4"}', '{"userId": "u1"}']

    first, second = (json.loads(line) for line in batch_output_lines(sims_model, lines, 10))

    assert first["input"] == {"itemId": "i4"} and first["error"] is None
    assert "i4" not in first["output"]["recommendedItems"]
    assert list(first["output"]) == ["recommendedItems"]  # related items come without scores
    assert len(first["output"]["recommendedItems"]) == 10
    assert second["output"] == {"recommendedItems": []}
    assert second["error"] == "User error: Required fields for the provided recipe are itemId"


def test_long_inputs_are_scored_in_blocks(monkeypatch: pytest.MonkeyPatch, user_model: recommender.TrainedModel):
    monkeypatch.setattr("recflow.personalize_local.batch.BLOCK_LINES", 7)
    lines = [json.dumps({"userId": f"u{u % 90}"}) if u % 5 else "{" for u in range(100)]

    output = list(batch_output_lines(user_model, iter(lines), 4))

    assert len(output) == 100
    for line, out in zip(lines, output, strict=True):
        record = json.loads(out)
        if line == "{":
            assert record["error"] is not None
        else:
            assert record["input"] == json.loads(line)
            assert record["output"]["recommendedItems"] == user_model.recommend([record["input"]["userId"]], 4)[0].items
