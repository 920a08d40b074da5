"""Batch inference output in Amazon Personalize's format: one JSON line per input line, in order.

    {"input":{"userId":"75"},"output":{"recommendedItems":["1","2"],"scores":[0.0123,0.0101]},"error":null}

The input is echoed as given (re-serialised compactly). `scores` appears only for recipes that return
scores (user-personalization, personalized-ranking). A line Personalize cannot use (not JSON, not an
object, without the id the recipe needs, an id that is not a non-empty string, bad filterValues) keeps
its place with AWS's shape for it:

    {"input":{"itemId":"3"},"output":{"recommendedItems":[]},
     "error":"User error: Required fields for the provided recipe are userId"}      (on one line)

and the job goes on. Lines are answered in blocks, so memory stays bounded however long the file is.
"""

import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from recflow.personalize_local.recommender import Recommendation, TrainedModel
from recflow.progress import Advance

BLOCK_LINES = 4096
MAX_ID_LENGTH = 256  # Personalize's limit for USER_ID and ITEM_ID
USER_ERROR = "User error: "


@dataclass(frozen=True)
class BatchRequest:
    """One usable input line: the key to answer and what else the line asks for."""

    key: str  # the userId, or the itemId for related items
    user: str | None  # whose interactions a filter reads: the userId (optional on related-items lines)
    filter_values: Mapping[str, str] | None
    item_list: list[str] | None  # personalized-ranking: the items to order


# Answers one block of requests, in order: a Recommendation, or the sentence a line's error gives.
Answer = Callable[[Sequence[BatchRequest]], list[Recommendation | str]]


@dataclass(frozen=True)
class _Line:
    echo: object  # what goes into "input": the parsed JSON value, or the raw text
    request: BatchRequest | None  # None exactly when `error` says why the line is unusable
    error: str | None


def model_answer(model: TrainedModel, num_results: int) -> Answer:
    """Answers straight from `model`, unfiltered (Serving.batch_answer also applies the job's filter)."""

    def answer(requests: Sequence[BatchRequest]) -> list[Recommendation | str]:
        if model.ranks_lists:
            return [model.rank(request.key, request.item_list or []) for request in requests]
        return list(model.recommend([request.key for request in requests], num_results))

    return answer


def batch_output_lines(
    model: TrainedModel,
    input_lines: Iterable[str],
    num_results: int,
    advance: Advance = lambda _: None,
    *,
    answer: Answer | None = None,
) -> Iterator[str]:
    """The `.out` lines (without newlines) for `input_lines`, one per input line; `advance` counts the
    lines answered. `answer` (default: `model_answer`, unfiltered) answers the usable lines."""
    answer = answer or model_answer(model, num_results)
    lines = iter(input_lines)
    blocks = iter(
        lambda: [_parse(line, model.query_key, model.ranks_lists) for line in itertools.islice(lines, BLOCK_LINES)], []
    )
    for parsed, answered in _answered_ahead(blocks, answer):
        answers = iter(answered)
        for line in parsed:
            result = next(answers) if line.request is not None else line.error
            if isinstance(result, Recommendation):
                output: dict[str, object] = {"recommendedItems": result.items}
                if result.scores is not None:
                    output["scores"] = result.scores
                yield _output_line(line.echo, output, None)
            else:
                yield _output_line(line.echo, {"recommendedItems": []}, _user_error(result or ""))
        advance(len(parsed))


def _answered_ahead(
    blocks: Iterator[list[_Line]], answer: Answer
) -> Iterator[tuple[list[_Line], list[Recommendation | str]]]:
    """Each block of parsed lines with the answers to its usable ones. The next block is answered on another
    thread while the caller writes this one: answering is numpy work that releases the GIL, writing is JSON."""

    def answered(parsed: list[_Line]) -> list[Recommendation | str]:
        requests = [line.request for line in parsed if line.request is not None]
        return answer(requests) if requests else []

    with ThreadPoolExecutor(1) as pool:
        ahead: tuple[list[_Line], Future[list[Recommendation | str]]] | None = None
        for parsed in blocks:
            current, ahead = ahead, (parsed, pool.submit(answered, parsed))
            if current is not None:
                yield current[0], current[1].result()
        if ahead is not None:
            yield ahead[0], ahead[1].result()


def _user_error(message: str) -> str:
    return message if message.startswith(USER_ERROR) else USER_ERROR + message


def _parse(line: str, field: str, ranks_lists: bool) -> _Line:
    text = line.rstrip("\r\n")
    required = f"Required fields for the provided recipe are {field}" + (", itemList" if ranks_lists else "")
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return _Line(text, None, f"The line is not valid JSON ({exc.msg} at column {exc.colno}).")
    if not isinstance(record, dict):
        return _Line(record, None, f"The line must be a JSON object such as {json.dumps({field: '75'})}.")
    if field not in record or (ranks_lists and "itemList" not in record):
        return _Line(record, None, required)
    problem = _id_problem(record[field], field)
    if problem:
        return _Line(record, None, problem)
    user = record.get("userId") if field == "itemId" else record[field]
    problem = _id_problem(user, "userId") if user is not None else None
    if problem:
        return _Line(record, None, problem)
    filter_values = record.get("filterValues")
    if filter_values is not None and not (
        isinstance(filter_values, dict) and all(isinstance(value, str) for value in filter_values.values())
    ):
        return _Line(record, None, 'filterValues must be an object of strings, such as {"EVENT_TYPE": "\\"click\\""}.')
    item_list = record.get("itemList") if ranks_lists else None
    if ranks_lists and not (
        isinstance(item_list, list) and item_list and all(isinstance(item, str) and item for item in item_list)
    ):
        return _Line(record, None, "itemList must be a non-empty list of item id strings.")
    return _Line(record, BatchRequest(record[field], user, filter_values, item_list), None)


def _id_problem(value: object, field: str) -> str | None:
    example = json.dumps({field: "75"})
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        return f"{field} must be a string such as {example}, not {kind}."
    if not value or len(value) > MAX_ID_LENGTH:
        return f"{field} must have 1 to {MAX_ID_LENGTH} characters."
    return None


def _output_line(echo: object, output: dict[str, object], error: str | None) -> str:
    record = {"input": echo, "output": output, "error": error}
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)
