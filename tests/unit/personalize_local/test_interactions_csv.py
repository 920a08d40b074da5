"""Reading interactions CSV files the way Personalize checks them."""

import json

import numpy as np
import pytest

from recflow.personalize_local.interactions import (
    DataError,
    Interactions,
    _read_plain_csv,
    import_shortfall,
    read_interactions_csv,
    read_rows,
    training_shortfall,
)
from recflow.personalize_local.schema import parse_schema

from .helpers import INTERACTIONS_SCHEMA, interactions_csv

SOURCE = "s3://lake/part-0.csv"
SCHEMA = parse_schema("arn:aws:personalize:us-east-1:123456789012:schema/interactions", json.dumps(INTERACTIONS_SCHEMA))


def read(text: str) -> Interactions:
    return read_interactions_csv(text, SOURCE, SCHEMA)


def failure(text: str) -> str:
    with pytest.raises(DataError) as caught:
        read(text)
    return str(caught.value)


def test_reads_columns_in_any_header_order():
    # Given a file whose columns are in a different order than the schema's
    text = 'TIMESTAMP,ITEM_ID,USER_ID\n1600000000,10,u1\n1600000060,"item, with comma",u2\n'

    # When it is read
    data = read(text)

    # Then each value lands in its schema field, quoted commas included, timestamps as integers
    assert data.users.tolist() == ["u1", "u2"]
    assert data.items.tolist() == ["10", "item, with comma"]
    assert data.timestamps.tolist() == [1600000000, 1600000060]
    assert data.timestamps.dtype == np.int64


def test_skips_blank_lines_and_accepts_windows_line_ends():
    data = read("USER_ID,ITEM_ID,TIMESTAMP\r\n1,2,1600000000\r\n\r\n3,4,1600000001\r\n")
    assert data.users.tolist() == ["1", "3"]


def test_header_missing_a_schema_field_fails():
    reason = failure("USER_ID,ITEM_ID\n1,2\n")
    assert reason == (
        f"The header of {SOURCE} lacks the required field(s) TIMESTAMP of the schema {SCHEMA.arn} "
        "(fields: USER_ID, ITEM_ID, TIMESTAMP)."
    )


def test_header_with_a_column_outside_the_schema_fails():
    reason = failure("USER_ID,ITEM_ID,TIMESTAMP,RATING\n1,2,1600000000,5\n")
    assert reason.startswith(f"The header of {SOURCE} has column(s) RATING that are not fields of the schema")


def test_quoted_header_fails():
    reason = failure('"USER_ID","ITEM_ID","TIMESTAMP"\n1,2,1600000000\n')
    assert reason == f"The header row of {SOURCE} must not be enclosed in quotation marks."


def test_repeated_header_column_fails():
    assert failure("USER_ID,ITEM_ID,TIMESTAMP,USER_ID\n1,2,3,4\n") == (
        f"The header of {SOURCE} repeats the column(s) USER_ID."
    )


def test_empty_file_fails():
    assert failure("") == f"{SOURCE} is empty: it needs a header row naming the schema fields."


def test_row_with_the_wrong_number_of_values_fails_with_its_line():
    reason = failure("USER_ID,ITEM_ID,TIMESTAMP\n1,2,1600000000\n1,2\n")
    assert reason == f"{SOURCE} line 3 has 2 values, but the header has 3 columns (USER_ID, ITEM_ID, TIMESTAMP)."


def test_millisecond_timestamps_fail_with_the_first_line_and_the_count():
    # Given HetRec-style millisecond timestamps on lines 3 and 4
    text = "USER_ID,ITEM_ID,TIMESTAMP\n1,2,1600000000\n1,3,1600000000000\n1,4,1600000060000\n"

    # When it is read, Then the reason names the first one, says what to do, and counts them
    assert failure(text) == (
        f"{SOURCE} line 3: TIMESTAMP 1600000000000 looks like milliseconds; Personalize needs Unix epoch "
        "time in seconds (divide by 1000). 2 rows of the file have this problem."
    )


def test_non_integer_timestamp_fails():
    reason = failure("USER_ID,ITEM_ID,TIMESTAMP\n1,2,2020-09-13\n")
    assert reason == f"{SOURCE} line 2: TIMESTAMP '2020-09-13' is not an integer Unix epoch time in seconds."


def test_decimal_timestamp_fails():
    assert "TIMESTAMP '1600000000.5' is not an integer" in failure("USER_ID,ITEM_ID,TIMESTAMP\n1,2,1600000000.5\n")


def test_empty_user_id_fails():
    assert failure("USER_ID,ITEM_ID,TIMESTAMP\n1,2,1600000000\n,2,1600000000\n") == (
        f"{SOURCE} line 3: USER_ID is empty."
    )


def test_empty_item_id_fails():
    assert failure("USER_ID,ITEM_ID,TIMESTAMP\n1,,1600000000\n") == f"{SOURCE} line 2: ITEM_ID is empty."


def test_overlong_item_id_fails():
    reason = failure(f"USER_ID,ITEM_ID,TIMESTAMP\n1,{'x' * 257},1600000000\n")
    assert reason == f"{SOURCE} line 2: ITEM_ID is longer than 256 characters."


def test_earliest_problem_is_reported_first():
    # Given an empty id on line 4 and a bad timestamp on line 3
    text = "USER_ID,ITEM_ID,TIMESTAMP\n1,2,1600000000\n1,2,x\n,2,1600000000\n"
    # Then the reason is about line 3
    assert failure(text).startswith(f"{SOURCE} line 3: TIMESTAMP 'x'")


def test_malformed_quoting_fails_with_its_line():
    reason = failure('USER_ID,ITEM_ID,TIMESTAMP\n1,"2"x,1600000000\n')
    assert reason.startswith(f"{SOURCE} line 2 is not valid CSV:")


def test_optional_fields_may_be_left_out_and_typed_fields_are_checked():
    # Given a schema with a nullable EVENT_TYPE and a required EVENT_VALUE
    schema = parse_schema(
        "arn:aws:personalize:us-east-1:123456789012:schema/events",
        json.dumps(
            {
                "type": "record",
                "name": "Interactions",
                "fields": [
                    {"name": "USER_ID", "type": "string"},
                    {"name": "ITEM_ID", "type": "string"},
                    {"name": "TIMESTAMP", "type": "long"},
                    {"name": "EVENT_TYPE", "type": ["null", "string"]},
                    {"name": "EVENT_VALUE", "type": "float"},
                ],
            }
        ),
    )
    # When a file leaves EVENT_TYPE out, Then it reads with EVENT_TYPE null
    data = read_interactions_csv("USER_ID,ITEM_ID,TIMESTAMP,EVENT_VALUE\n1,2,1600000000,4.5\n", SOURCE, schema)
    assert data.columns["EVENT_TYPE"].tolist() == [""]
    assert data.columns["EVENT_VALUE"].tolist() == ["4.5"]
    # When EVENT_VALUE is not a number, Then the file fails
    with pytest.raises(DataError, match=r"line 2: EVENT_VALUE 'high' is not a number\."):
        read_interactions_csv("USER_ID,ITEM_ID,TIMESTAMP,EVENT_VALUE\n1,2,1600000000,high\n", SOURCE, schema)


EVENTS_SCHEMA = parse_schema(
    "arn:aws:personalize:us-east-1:123456789012:schema/typed",
    json.dumps(
        {
            "type": "record",
            "name": "Interactions",
            "fields": [
                {"name": "USER_ID", "type": "string"},
                {"name": "ITEM_ID", "type": "string"},
                {"name": "TIMESTAMP", "type": "long"},
                {"name": "EVENT_TYPE", "type": ["null", "string"]},
                {"name": "EVENT_VALUE", "type": ["null", "float"]},
                {"name": "FRESH", "type": ["null", "boolean"]},
                {"name": "PRICE", "type": ["null", "double"]},
            ],
        }
    ),
)


def assert_same(left: Interactions, right: Interactions) -> None:
    assert left.columns.keys() == right.columns.keys()
    for name, column in left.columns.items():
        assert column.dtype == right.columns[name].dtype, name
        assert column.tolist() == right.columns[name].tolist(), name


def test_a_plain_file_is_read_in_one_columnar_pass_with_the_row_readers_result():
    # Given a file as the ETL writes it (no quotes), with typed, empty and non-ASCII values, and a field left out
    text = (
        "ITEM_ID,USER_ID,TIMESTAMP,EVENT_VALUE,FRESH,EVENT_TYPE\n"
        "10,u1,1600000000,4.5,true,click\n"
        "\n"
        "ünï,u2,-3,,FALSE,\n"
        "12,u1,99999999999,-.5e3,,watch\n"
    )

    # When it is read, Then the columnar pass takes it and gives what the row-by-row reader gives
    plain = _read_plain_csv(text, SOURCE, EVENTS_SCHEMA)
    assert plain is not None
    assert_same(plain, read_rows(text, SOURCE, EVENTS_SCHEMA))
    assert plain.items.tolist() == ["10", "ünï", "12"]
    assert plain.timestamps.tolist() == [1600000000, -3, 99999999999]
    assert plain.columns["PRICE"].tolist() == ["", "", ""]


@pytest.mark.parametrize(
    "row",
    [
        '"u1",10,1600000000,4.5',  # quotes: only the CSV reader reads them
        "u1,10,1600000000, 4.5",  # a number Python reads but the columnar pass does not
        "u1,10,100000000000,4.5",  # milliseconds: the row reader names the line
        "u1,10,1600000000,nan",  # not a finite number
        "u1,,1600000000,4.5",  # empty required value
    ],
)
def test_anything_else_is_left_to_the_row_reader(row: str):
    text = f"USER_ID,ITEM_ID,TIMESTAMP,EVENT_VALUE\n1,2,1600000000,1\n{row}\n"

    assert _read_plain_csv(text, SOURCE, EVENTS_SCHEMA) is None
    try:
        expected: Interactions | str = read_rows(text, SOURCE, EVENTS_SCHEMA)
    except DataError as exc:
        expected = str(exc)
    try:
        got: Interactions | str = read_interactions_csv(text, SOURCE, EVENTS_SCHEMA)
    except DataError as exc:
        got = str(exc)
    if isinstance(expected, str):
        assert got == expected
    else:
        assert isinstance(got, Interactions)
        assert_same(got, expected)


def test_big_files_are_read_in_chunks_without_losing_rows():
    # Given more rows than one chunk holds
    text = interactions_csv(users=700, per_user=100)

    # When it is read, Then every row is there, in order
    data = read(text)
    assert len(data) == 70_000
    assert data.users[0] == "1" and data.users[-1] == "700"


def test_exact_duplicates_are_kept_once_in_first_seen_order():
    data = read("USER_ID,ITEM_ID,TIMESTAMP\n2,9,5\n1,2,3\n2,9,5\n1,2,4\n")
    assert data.without_duplicates().items.tolist() == ["9", "2", "2"]
    assert data.without_duplicates().timestamps.tolist() == [5, 3, 4]


def test_import_minimum_is_1000_records():
    assert import_shortfall(1000) is None
    assert import_shortfall(999) == "The import has 999 records; a dataset import job needs at least 1000 records."


def test_training_minimums():
    # Given 1,000 interactions from 24 users with 2+ interactions (and one user with 1)
    enough_rows = read(interactions_csv(users=24, per_user=42))
    short_of_users = Interactions.concat([enough_rows, read(interactions_csv(users=1, per_user=1, first_user=99))])
    # Then training is refused with both numbers
    assert training_shortfall(short_of_users, "dsg") == (
        "Insufficient training data in dataset group dsg: training needs at least 1000 interactions and 25 "
        "users with at least 2 interactions each, but the dataset has 1009 interactions and 24 such users."
    )
    # And 25 users with 40 interactions each are enough
    assert training_shortfall(read(interactions_csv(users=25, per_user=40)), "dsg") is None


def test_absurdly_large_timestamp_fails_without_overflowing():
    reason = failure("USER_ID,ITEM_ID,TIMESTAMP\n1,2,16000000000000000000000\n")
    assert reason == (
        f"{SOURCE} line 2: TIMESTAMP 16000000000000000000000 is far too large for Unix epoch time in seconds."
    )
