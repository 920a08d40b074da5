"""The ETL writes the batch inference input of every user and of every item (PrepareBatchInput only copies it)."""

from __future__ import annotations

import json

from recflow.offline.etl import load_glue_script, run_etl

HEADER = b"userID\tmovieID\trating\ttimestamp\n"
glue = load_glue_script()


def lines(body: bytes) -> list[dict[str, str]]:
    return [json.loads(line) for line in body.decode().split("\n") if line]


def test_every_distinct_user_and_item_is_one_sorted_json_line() -> None:
    # Given interactions of users 75, 8 and the id a/b+c@d:e (every character an id may hold), a duplicate,
    # a rejected line and a rating below MinRating
    body = HEADER + (
        b"75\t3\t4\t1162160236000\n"
        b"75\t32\t4\t1162160624000\n"
        b"8\t3\t5\t1162160300000\n"
        b"8\t3\t5\t1162160300000\n"
        b"a/b+c@d:e\t_x.1-y\t4\t1162160900000\n"
        b"9\tbad item\t4\t1162160900000\n"
        b"10\t99\t1\t1162160900000\n"
    )
    # When the ETL runs with MinRating 2
    result = run_etl([("raw/ratings.dat", body)], 2.0, "run-1")
    # Then users.jsonl and items.jsonl list each accepted id once, sorted bytewise, compact JSON as Spark writes
    assert result.batch_inputs["users"] == b'{"userId":"75"}\n{"userId":"8"}\n{"userId":"a/b+c@d:e"}\n'
    assert result.batch_inputs["items"] == b'{"itemId":"3"}\n{"itemId":"32"}\n{"itemId":"_x.1-y"}\n'
    # And their record counts are the report's users and items
    assert (result.report["users"], result.report["items"]) == (3, 3)
    assert len(lines(result.batch_inputs["users"])) == result.report["users"]
    assert len(lines(result.batch_inputs["items"])) == result.report["items"]


def test_the_batch_inputs_are_written_where_prepare_batch_input_copies_them_from() -> None:
    from recflow_lambda.batch_input import etl_input_prefix

    result = run_etl([("raw/ratings.dat", HEADER + b"75\t3\t4\t1162160236000\n")], None, "run-1")

    assert result.batch_input_key("users") == "transformed/run-1/batch_input/users/part-00000.json"
    assert result.batch_input_key("items") == "transformed/run-1/batch_input/items/part-00000.json"
    assert result.batch_inputs == {"users": b'{"userId":"75"}\n', "items": b'{"itemId":"3"}\n'}
    # One prefix on both sides of the contract: the Glue script's and the Lambda's
    assert glue.batch_input_prefix("run-1", "users") == etl_input_prefix("run-1", "userId")
    assert glue.batch_input_prefix("run-1", "items") == etl_input_prefix("run-1", "itemId")


def test_no_interactions_give_empty_batch_inputs() -> None:
    result = run_etl([("raw/ratings.dat", HEADER + b"bad line\n")], None, "run-1")

    assert result.batch_inputs == {"users": b"", "items": b""}
    assert (result.report["users"], result.report["items"]) == (0, 0)


def test_the_same_input_gives_the_same_bytes() -> None:
    body = HEADER + b"".join(f"{u % 50}\t{u % 37}\t3\t{1162160236 + u}\n".encode() for u in range(3_000))

    first, second = (run_etl([("raw/ratings.dat", body)], None, "run-1") for _ in range(2))

    assert first.batch_inputs == second.batch_inputs
    assert [record["userId"] for record in lines(first.batch_inputs["users"])] == sorted(str(u) for u in range(50))
