"""Filters in the local Personalize service: the expression grammar, filterValues, the filter lifecycle
through boto3, and batch inference with and without a filter (Personalize keeps seen items unless a
filter removes them), plus the batch output's shape for unusable lines and for recipes without scores."""

import json
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError

from recflow.offline.clock import SimClock
from recflow.offline.moto_extensions import GlueOutcome, extended_moto
from recflow.personalize_local.backend import backend_factory
from recflow.personalize_local.errors import PersonalizeError
from recflow.personalize_local.filters import (
    RECENT_PER_EVENT_TYPE,
    RecentInteractions,
    parse_expression,
    parse_filter_values,
)
from recflow.personalize_local.interactions import Interactions
from recflow.personalize_local.settings import LocalSettings
from recflow.personalize_local.trainer import default_trainer

from .helpers import ACCOUNT, BUCKET, INTERACTIONS_SCHEMA, REGION, ROLE, START, Api, interactions_csv, put, read

EXCLUDE_SEEN = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")'
RECIPES = "arn:aws:personalize:::recipe/"
USERS = [str(user) for user in range(1, 31)]
INPUT_KEY = "batch/users.json"
CATALOGUE = 97  # interactions_csv's items: "1" … "97"


def seen_items(csv_text: str) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for line in csv_text.splitlines()[1:]:
        user, item = line.split(",")[:2]
        seen.setdefault(user, set()).add(item)
    return seen


SEEN = seen_items(interactions_csv())


# ------------------------------------------------------------------------------------ the grammar


@pytest.mark.parametrize(
    ("text", "action", "dataset", "field", "values", "parameters"),
    [
        (EXCLUDE_SEEN, "EXCLUDE", "Interactions", "EVENT_TYPE", ("*",), ()),
        (
            'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "watch")',
            "INCLUDE",
            "Interactions",
            "EVENT_TYPE",
            ("click", "watch"),
            (),
        ),
        (
            "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($EVENT_TYPE)",
            "EXCLUDE",
            "Interactions",
            "EVENT_TYPE",
            (),
            ("EVENT_TYPE",),
        ),
        (
            'exclude itemId where INTERACTIONS.event_type in ("click", $More)',
            "EXCLUDE",
            "Interactions",
            "EVENT_TYPE",
            ("click",),
            ("More",),
        ),
        ("INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)", "INCLUDE", "Items", "GENRE", (), ("GENRE",)),
    ],
)
def test_supported_expressions_parse(text, action, dataset, field, values, parameters):
    expression = parse_expression(text)

    assert (expression.action, expression.dataset, expression.field) == (action, dataset, field)
    assert (expression.values, expression.parameters, expression.text) == (values, parameters, text)


@pytest.mark.parametrize(
    ("text", "found", "why"),
    [
        ('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN ("click")', "'NOT' at position 46", "expected IN"),
        ("EXCLUDE ItemID WHERE Items.PRICE < $PRICE", "'<' at position 34", "expected IN"),
        (EXCLUDE_SEEN + ' | INCLUDE ItemID WHERE Items.GENRE IN ("x")', "'|' at position 55", "one condition"),
        (
            'EXCLUDE ItemID WHERE Items.A IN ("x") AND Items.B IN ("y")',
            "'AND' at position 39",
            "without AND, OR, IF or |",
        ),
        ('INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click")', "'UserID' at position 9", "filters items only"),
        (
            'EXCLUDE ItemID WHERE Interactions.EVENT_VALUE IN ("5")',
            "'EVENT_VALUE' at position 35",
            "only use the event type",
        ),
        ("INCLUDE ItemID WHERE Items.GENRE IN CurrentItem.GENRE", "'CurrentItem' at position 37", 'expected "("'),
        (
            'EXCLUDE ItemID WHERE CurrentUser.AGE IN ("5")',
            "'CurrentUser' at position 22",
            "Interactions.EVENT_TYPE or Items",
        ),
        (
            "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ()",
            "')' at position 50",
            "double-quoted value or a $PARAMETER",
        ),
        (
            'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click)',
            "'\"click)' at position 50",
            "outside the grammar",
        ),
        ('EXCLUDE ItemID WHERE Items.GENRE IN ("*")', "'\"*\"' at position 38", "only fits Interactions.EVENT_TYPE"),
        ("EXCLUDE ItemID WHERE", "'the end of the expression' at position 21", "expected Interactions.EVENT_TYPE"),
        ("RECOMMEND ItemID", "'RECOMMEND' at position 1", "expected EXCLUDE or INCLUDE"),
    ],
)
def test_unsupported_expressions_name_the_part_that_cannot_be_parsed(text, found, why):
    with pytest.raises(PersonalizeError) as caught:
        parse_expression(text)

    assert caught.value.code == "InvalidInputException"
    assert caught.value.message.startswith(
        f"The local Personalize service cannot parse {found} of the filter expression"
    )
    assert why in caught.value.message


def test_filter_values_are_quoted_and_comma_separated():
    assert parse_filter_values('"click","watch"', "TYPES") == ["click", "watch"]
    assert parse_filter_values(' "a b" , "c" ', "TYPES") == ["a b", "c"]
    for bad in ("click", '"click",', '"click" "watch"', ""):
        with pytest.raises(
            PersonalizeError, match="filterValues TYPES must be double-quoted values separated by commas"
        ):
            parse_filter_values(bad, "TYPES")


def test_placeholders_take_filter_values_an_unset_exclude_is_ignored_and_include_needs_every_value():
    exclude = parse_expression("EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($TYPES)")
    include = parse_expression("INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($TYPES)")

    assert exclude.values_for({"TYPES": '"click","watch"'}, "arn:f") == ("click", "watch")
    assert exclude.values_for(None, "arn:f") is None  # Personalize leaves that part of the expression out
    with pytest.raises(PersonalizeError, match=r"includes items by \$TYPES: filterValues must give a value for TYPES"):
        include.values_for({}, "arn:f")
    with pytest.raises(
        PersonalizeError,
        match=r"filterValues has types, which the filter arn:f does not use \(its expression has \$TYPES\)",
    ):
        exclude.values_for({"types": '"click"'}, "arn:f")


def test_filters_consider_the_100_most_recent_interactions_per_user_and_event_type():
    # Given a user with 150 clicks and 3 watches, oldest first, and another user with one click
    count = 150
    users = np.array(["a"] * (count + 3) + ["b"])
    items = np.array([f"c{n}" for n in range(count)] + ["w0", "w1", "w2", "c0"])
    events = np.array(["click"] * count + ["Watch"] * 3 + ["CLICK"])
    timestamps = np.array(list(range(count)) + [5, 6, 7, 1], dtype=np.int64)
    data = Interactions({"USER_ID": users, "ITEM_ID": items, "TIMESTAMP": timestamps, "EVENT_TYPE": events})
    catalogue = np.array(sorted(set(items.tolist())))

    recent = RecentInteractions.of(data)
    user_ids, clicks = recent.matrix(["click"], catalogue)
    _, everything = recent.matrix(["*"], catalogue)

    # Then the 100 newest clicks count (case-insensitively), the 50 oldest do not, and "*" adds the watches
    assert user_ids.tolist() == ["a", "b"]
    clicked = set(catalogue[clicks[0].indices].tolist())
    assert clicked == {f"c{n}" for n in range(count - RECENT_PER_EVENT_TYPE, count)}
    assert set(catalogue[clicks[1].indices].tolist()) == {"c0"}
    assert set(catalogue[everything[0].indices].tolist()) == clicked | {"w0", "w1", "w2"}


# ------------------------------------------------------------------------------- through boto3


@pytest.fixture
def personalize(aws, schema_arn) -> Iterator[tuple[Any, SimClock, str]]:
    """A boto3 client of the local service (moto with recflow's extensions), its clock and an ACTIVE group."""
    clock = SimClock(start=START, scale=0)
    s3 = boto3.client("s3", region_name=REGION)
    factory = backend_factory(clock, lambda: s3, default_trainer(), LocalSettings())
    with extended_moto(clock, lambda name, args: GlueOutcome("SUCCEEDED"), factory):
        client = boto3.client("personalize", region_name=REGION)
        group = client.create_dataset_group(name="shop")["datasetGroupArn"]
        clock.advance(60)
        yield client, clock, group


def _code(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_filter_lifecycle_through_boto3(personalize):
    client, clock, group = personalize
    settings = LocalSettings()

    # When a filter is created
    arn = client.create_filter(name="exclude-seen", datasetGroupArn=group, filterExpression=EXCLUDE_SEEN)["filterArn"]
    statuses = [client.describe_filter(filterArn=arn)["filter"]["status"]]
    clock.advance(settings.resource_seconds / 2)
    statuses.append(client.describe_filter(filterArn=arn)["filter"]["status"])
    clock.advance(settings.resource_seconds / 2)
    described = client.describe_filter(filterArn=arn)["filter"]

    # Then it moves through Personalize's statuses on the simulated clock and describes itself
    assert arn == f"arn:aws:personalize:{REGION}:{ACCOUNT}:filter/exclude-seen"
    assert statuses + [described["status"]] == ["CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE"]
    assert described["filterExpression"] == EXCLUDE_SEEN
    assert described["datasetGroupArn"] == group and described["name"] == "exclude-seen"
    listed = client.list_filters(datasetGroupArn=group)["Filters"]
    assert [(f["filterArn"], f["status"]) for f in listed] == [(arn, "ACTIVE")]
    assert client.list_filters(datasetGroupArn=group + "-other")["Filters"] == []

    # And a second one with the same name, an Items expression, or a bad expression is refused
    assert _code(
        lambda: client.create_filter(name="exclude-seen", datasetGroupArn=group, filterExpression=EXCLUDE_SEEN)
    )[0] == ("ResourceAlreadyExistsException")
    code, message = _code(
        lambda: client.create_filter(
            name="genre", datasetGroupArn=group, filterExpression="INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)"
        )
    )
    assert code == "InvalidInputException"
    assert message == (
        f"The filter expression uses Items.GENRE, but the dataset group {group} has no Items dataset (the local "
        "Personalize service supports only Interactions datasets)."
    )
    code, message = _code(
        lambda: client.create_filter(
            name="bad", datasetGroupArn=group, filterExpression="EXCLUDE ItemID WHERE Items.PRICE < 5"
        )
    )
    assert (code, "cannot parse '<' at position 34" in message) == ("InvalidInputException", True)

    # And the dataset group cannot go while the filter exists; deleting the filter forgets it
    assert _code(lambda: client.delete_dataset_group(datasetGroupArn=group))[0] == "ResourceInUseException"
    client.delete_filter(filterArn=arn)
    assert _code(lambda: client.describe_filter(filterArn=arn))[0] == "ResourceNotFoundException"
    assert client.list_filters()["Filters"] == []


def test_a_dataset_group_holds_at_most_10_filters(personalize):
    client, _, group = personalize
    for number in range(10):
        client.create_filter(name=f"f{number}", datasetGroupArn=group, filterExpression=EXCLUDE_SEEN)

    code, message = _code(
        lambda: client.create_filter(name="f10", datasetGroupArn=group, filterExpression=EXCLUDE_SEEN)
    )

    assert code == "LimitExceededException" and "already has 10 filters" in message


# ------------------------------------------------------------------------------- batch inference


def trained(
    api: Api, s3: Any, recipe: str = "aws-user-personalization-v2", csv_text: str | None = None
) -> tuple[str, str, str]:
    """(dataset group, dataset, ACTIVE solution version of `recipe`) trained on `csv_text`."""
    group, dataset = api.imported_dataset(s3, csv_text)
    solution = api.call(
        "CreateSolution", name=recipe, datasetGroupArn=group, recipeArn=RECIPES + recipe, performAutoTraining=False
    )["solutionArn"]
    api.advance(api.backend.settings.resource_seconds)
    version = api.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
    api.finish("train")
    assert api.version_status(version)["status"] == "ACTIVE"
    return group, dataset, version


def active_filter(api: Api, group: str, expression: str, name: str = "filter") -> str:
    arn = api.call("CreateFilter", name=name, datasetGroupArn=group, filterExpression=expression)["filterArn"]
    api.advance(api.backend.settings.resource_seconds)
    return arn


def batch(
    api: Api, s3: Any, version: str, lines: list[str], name: str, num_results: int = 25, **extra: Any
) -> list[dict]:
    put(s3, INPUT_KEY, "".join(line + "\n" for line in lines))
    arn = api.call(
        "CreateBatchInferenceJob",
        jobName=name,
        solutionVersionArn=version,
        jobInput={"s3DataSource": {"path": f"s3://{BUCKET}/{INPUT_KEY}"}},
        jobOutput={"s3DataDestination": {"path": f"s3://{BUCKET}/out/{name}/"}},
        roleArn=ROLE,
        numResults=num_results,
        **extra,
    )["batchInferenceJobArn"]
    api.finish("batch")
    job = api.batch_status(arn)
    assert job["status"] == "ACTIVE", job
    assert job.get("filterArn") == extra.get("filterArn")
    return [json.loads(line) for line in read(s3, f"out/{name}/users.json.out").splitlines()]


def user_lines(users: list[str]) -> list[str]:
    return [json.dumps({"userId": user}) for user in users]


def test_seen_items_appear_without_the_filter_and_never_with_it(api, s3):
    # Given a trained version and the exclude-seen filter; each user saw 40 of the 97 items
    group, _, version = trained(api, s3)
    exclude_seen = active_filter(api, group, EXCLUDE_SEEN)

    # When batch jobs ask for 60 items per user, without and with the filter
    plain = batch(api, s3, version, user_lines(USERS), "plain", num_results=60)
    filtered = batch(api, s3, version, user_lines(USERS), "filtered", num_results=60, filterArn=exclude_seen)

    # Then without it every list holds seen items (only 57 are unseen); with it none, and every unseen item
    for user, without, with_filter in zip(USERS, plain, filtered, strict=True):
        items = without["output"]["recommendedItems"]
        assert len(items) == 60 and len(set(items) & SEEN[user]) >= 3
        kept = with_filter["output"]["recommendedItems"]
        assert not set(kept) & SEEN[user]
        assert set(kept) == {str(item) for item in range(1, CATALOGUE + 1)} - SEEN[user]
        # The filter removes items; it does not reorder the rest
        assert kept[:20] == [item for item in items if item not in SEEN[user]][:20]
        assert with_filter["error"] is None and len(with_filter["output"]["scores"]) == len(kept)


def test_the_backend_answers_like_the_batch_output(api, s3):
    group, _, version = trained(api, s3)
    exclude_seen = active_filter(api, group, EXCLUDE_SEEN)
    lines = batch(api, s3, version, user_lines([*USERS, "cold"]), "filtered", filterArn=exclude_seen)

    answers = api.backend.serving.recommend(version, [*USERS, "cold"], 25, filter_arn=exclude_seen)
    single = api.backend.serving.recommend(version, ["7"], 25, filter_arn=exclude_seen)

    assert [{"recommendedItems": a.items, "scores": a.scores} for a in answers] == [line["output"] for line in lines]
    assert single == [answers[6]]


def test_an_include_filter_keeps_only_the_users_items(api, s3):
    group, _, version = trained(api, s3)
    only_seen = active_filter(api, group, 'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")')

    lines = batch(api, s3, version, user_lines([*USERS[:5], "cold"]), "include", filterArn=only_seen)

    for user, line in zip(USERS[:5], lines, strict=False):
        assert set(line["output"]["recommendedItems"]) <= SEEN[user]
        assert len(line["output"]["recommendedItems"]) == 25
    assert lines[-1]["output"] == {"recommendedItems": [], "scores": []}  # a user without interactions


def test_filters_read_interactions_imported_after_training(api, s3):
    # Given a version trained on the first import, then an INCREMENTAL import where every user saw every item
    group, dataset, version = trained(api, s3)
    exclude_seen = active_filter(api, group, EXCLUDE_SEEN)
    rows = [f"{user},{item},{1_700_000_000 + item}" for user in USERS for item in range(1, CATALOGUE + 1)]
    put(s3, "later/part-0.csv", "USER_ID,ITEM_ID,TIMESTAMP\n" + "\n".join(rows) + "\n")
    job = api.start_import(dataset, f"s3://{BUCKET}/later/", name="import-2", mode="INCREMENTAL")
    api.finish("import")
    assert api.import_status(job)["status"] == "ACTIVE"

    # When the old version's batch job applies the filter
    lines = batch(api, s3, version, user_lines([USERS[0], "cold"]), "after", filterArn=exclude_seen)

    # Then the filter reads the dataset as it is now: nothing is left for known users
    assert lines[0]["output"] == {"recommendedItems": [], "scores": []}
    assert len(lines[1]["output"]["recommendedItems"]) == 25


EVENT_SCHEMA = {
    **INTERACTIONS_SCHEMA,
    "fields": [*INTERACTIONS_SCHEMA["fields"], {"name": "EVENT_TYPE", "type": "string"}],
}


@pytest.fixture
def event_api(aws) -> Api:
    """A service whose dataset has EVENT_TYPE: a user's even-numbered interactions are clicks, the others watches."""
    schema = boto3.client("personalize", region_name=REGION).create_schema(
        name="with-events", schema=json.dumps(EVENT_SCHEMA)
    )["schemaArn"]
    return Api(SimClock(start=START, scale=0), LocalSettings(), schema, default_trainer())


def event_csv() -> str:
    rows = ["USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE"]
    for line in interactions_csv().splitlines()[1:]:
        user, item, timestamp = line.split(",")
        rows.append(f"{user},{item},{timestamp},{'click' if int(timestamp) // 60 % 2 == 0 else 'watch'}")
    return "\n".join(rows) + "\n"


def test_placeholder_values_come_from_each_input_line(event_api, s3):
    # Given clicks and watches, and filters on an event type given per line
    csv_text = event_csv()
    clicked: dict[str, set[str]] = {}
    for line in csv_text.splitlines()[1:]:
        user, item, _, event = line.split(",")
        if event == "click":
            clicked.setdefault(user, set()).add(item)
    group, _, version = trained(event_api, s3, csv_text=csv_text)
    exclude = active_filter(event_api, group, "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($TYPES)", "exclude")
    include = active_filter(event_api, group, "INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($TYPES)", "include")
    plain = batch(event_api, s3, version, user_lines(["1"]), "plain", num_results=97)[0]["output"]["recommendedItems"]
    lines = [
        json.dumps({"userId": "1", "filterValues": {"TYPES": '"CLICK"'}}),
        json.dumps({"userId": "1"}),
        json.dumps({"userId": "1", "filterValues": {"TYPES": "click"}}),
        json.dumps({"userId": "1", "filterValues": {"OTHER": '"click"'}}),
    ]

    # When batch jobs run them with each filter
    excluded = batch(event_api, s3, version, lines, "exclude", num_results=97, filterArn=exclude)
    included = batch(event_api, s3, version, lines[:2], "include", num_results=97, filterArn=include)

    # Then a value removes (or keeps only) the clicked items, matched case-insensitively
    assert excluded[0]["output"]["recommendedItems"] == [item for item in plain if item not in clicked["1"]]
    assert set(plain) & (SEEN["1"] - clicked["1"])  # watched items stay
    assert excluded[1]["output"]["recommendedItems"] == plain  # no value: that part of an EXCLUDE is left out
    assert excluded[2] == {
        "input": {"userId": "1", "filterValues": {"TYPES": "click"}},
        "output": {"recommendedItems": []},
        "error": "User error: filterValues TYPES must be double-quoted values separated by commas, such as "
        '"\\"click\\",\\"watch\\"", not \'click\'.',
    }
    assert excluded[3]["error"].startswith("User error: filterValues has OTHER, which the filter ")
    assert set(included[0]["output"]["recommendedItems"]) == clicked["1"]
    assert included[1]["output"] == {"recommendedItems": []}
    assert (
        included[1]["error"].startswith("User error: The filter ")
        and "must give a value for TYPES" in included[1]["error"]
    )


def test_unusable_lines_get_aws_shape(api, s3):
    _, _, version = trained(api, s3)
    put(s3, INPUT_KEY, '{"itemId":"3"}\nnot json\n')

    lines = read_batch_text(api, s3, version)

    assert lines[0] == (
        '{"input":{"itemId":"3"},"output":{"recommendedItems":[]},'
        '"error":"User error: Required fields for the provided recipe are userId"}'
    )
    assert lines[1].startswith(
        '{"input":"not json","output":{"recommendedItems":[]},"error":"User error: The line is not valid JSON'
    )


def read_batch_text(api: Api, s3: Any, version: str) -> list[str]:
    arn = api.call(
        "CreateBatchInferenceJob",
        jobName="raw",
        solutionVersionArn=version,
        jobInput={"s3DataSource": {"path": f"s3://{BUCKET}/{INPUT_KEY}"}},
        jobOutput={"s3DataDestination": {"path": f"s3://{BUCKET}/out/raw/"}},
        roleArn=ROLE,
    )["batchInferenceJobArn"]
    api.finish("batch")
    assert api.batch_status(arn)["status"] == "ACTIVE"
    return read(s3, "out/raw/users.json.out").splitlines()


def test_popularity_count_gives_every_user_the_same_items_without_scores_unless_filtered(api, s3):
    group, _, version = trained(api, s3, "aws-popularity-count")
    exclude_seen = active_filter(api, group, EXCLUDE_SEEN)

    plain = batch(api, s3, version, user_lines([*USERS, "cold"]), "plain")
    filtered = batch(api, s3, version, user_lines(USERS[:3]), "filtered", filterArn=exclude_seen)

    assert all(line["output"] == plain[0]["output"] for line in plain)
    assert list(plain[0]["output"]) == ["recommendedItems"] and len(plain[0]["output"]["recommendedItems"]) == 25
    for user, line in zip(USERS, filtered, strict=False):
        popular_unseen = [item for item in plain[0]["output"]["recommendedItems"] if item not in SEEN[user]]
        assert line["output"]["recommendedItems"][: len(popular_unseen)] == popular_unseen
        assert "scores" not in line["output"]


def test_related_items_come_without_scores_and_a_user_id_lets_a_filter_apply(api, s3):
    group, _, version = trained(api, s3, "aws-sims")
    exclude_seen = active_filter(api, group, EXCLUDE_SEEN)
    lines = [json.dumps({"itemId": "3"}), json.dumps({"itemId": "3", "userId": "1"})]

    plain = batch(api, s3, version, lines, "plain")
    filtered = batch(api, s3, version, lines, "filtered", filterArn=exclude_seen)

    assert list(plain[0]["output"]) == ["recommendedItems"] and "3" not in plain[0]["output"]["recommendedItems"]
    assert plain[1]["output"] == plain[0]["output"]
    assert filtered[0]["output"] == plain[0]["output"]  # no user: nothing of theirs to exclude
    assert not set(filtered[1]["output"]["recommendedItems"]) & SEEN["1"]


def test_a_batch_job_needs_an_active_filter_of_its_dataset_group(api, s3):
    group, _, version = trained(api, s3)
    pending = api.call("CreateFilter", name="pending", datasetGroupArn=group, filterExpression=EXCLUDE_SEEN)[
        "filterArn"
    ]
    other_group = api.call("CreateDatasetGroup", name="other")["datasetGroupArn"]
    other = api.call("CreateFilter", name="other", datasetGroupArn=other_group, filterExpression=EXCLUDE_SEEN)[
        "filterArn"
    ]
    put(s3, INPUT_KEY, '{"userId": "1"}\n')

    def start(filter_arn: str) -> PersonalizeError:
        with pytest.raises(PersonalizeError) as caught:
            api.call(
                "CreateBatchInferenceJob",
                jobName="job",
                solutionVersionArn=version,
                jobInput={"s3DataSource": {"path": f"s3://{BUCKET}/{INPUT_KEY}"}},
                jobOutput={"s3DataDestination": {"path": f"s3://{BUCKET}/out/"}},
                roleArn=ROLE,
                filterArn=filter_arn,
            )
        return caught.value

    refused = start(pending)
    assert (refused.code, refused.message) == (
        "ResourceInUseException",
        f"The filter {pending} is CREATE PENDING; wait until it is ACTIVE.",
    )
    api.advance(api.backend.settings.resource_seconds)
    refused = start(other)
    assert refused.code == "InvalidInputException" and f"belongs to the dataset group {other_group}" in refused.message


def test_only_the_most_recent_interactions_count_as_seen(make_api, s3):
    # Given a service whose filters consider each user's 10 most recent interactions (Personalize: 100)
    api = make_api(filter_recent_per_event_type=10)
    group, _, version = trained(api, s3)
    exclude_seen = active_filter(api, group, EXCLUDE_SEEN)
    newest = {str((index * 7 + 1 * 13) % 97 + 1) for index in range(30, 40)}  # interactions_csv's user 1

    # When user 1 (40 interactions, one a minute) asks for the whole catalogue through the filter
    (line,) = batch(api, s3, version, user_lines(["1"]), "recent", num_results=CATALOGUE, filterArn=exclude_seen)

    # Then only the 10 newest are left out; the 30 older ones may come back
    items = set(line["output"]["recommendedItems"])
    assert len(newest) == 10 and not items & newest
    assert items == {str(item) for item in range(1, CATALOGUE + 1)} - newest


def test_create_filter_is_validated_against_botocores_model(api):
    group = api.dataset_group()

    with pytest.raises(PersonalizeError) as caught:
        api.call("CreateFilter", name="no spaces allowed", datasetGroupArn=group, filterExpression=EXCLUDE_SEEN)

    assert caught.value.code == "InvalidInputException"
    assert caught.value.message.startswith("1 validation error detected: Value 'no spaces allowed' at 'name'")
