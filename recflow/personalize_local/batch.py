"""Batch inference output in Amazon Personalize's format: one JSON line per input line, in order.

    {"input":{"userId":"75"},"output":{"recommendedItems":["1","2"],"scores":[0.0123,0.0101]},"error":null}

The input is echoed as given (re-serialised compactly). A line that is not usable (not JSON, not an
object, no id of the kind the model needs, an id that is not a non-empty string) gets an output line
with `"output":null` and a one-sentence `"error"`, and the job goes on. Lines are scored in blocks,
so memory stays bounded however long the input file is.
"""

import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from recflow.personalize_local.recommender import TrainedModel
from recflow.progress import Advance

BLOCK_LINES = 4096
MAX_ID_LENGTH = 256  # Personalize's limit for USER_ID and ITEM_ID


@dataclass(frozen=True)
class _Request:
    echo: object  # what goes into "input": the parsed JSON value, or the raw text
    key: str | None  # None exactly when `error` says why the line is unusable
    error: str | None


def batch_output_lines(
    model: TrainedModel, input_lines: Iterable[str], num_results: int, advance: Advance = lambda _: None
) -> Iterator[str]:
    """The `.out` lines (without newlines) for `input_lines`, one per input line; `advance` counts the
    lines answered."""
    lines = iter(input_lines)
    while block := list(itertools.islice(lines, BLOCK_LINES)):
        requests = [_parse(line, model.query_key) for line in block]
        keys = [request.key for request in requests if request.key is not None]
        answers = iter(model.recommend(keys, num_results, advance) if keys else [])
        advance(len(requests) - len(keys))  # the unusable lines, answered with their error
        for request in requests:
            if request.error is not None:
                yield _output_line(request.echo, None, request.error)
            else:
                items, scores = next(answers)
                yield _output_line(request.echo, {"recommendedItems": items, "scores": scores}, None)


def _parse(line: str, field: str) -> _Request:
    text = line.rstrip("\r\n")
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return _Request(text, None, f"The line is not valid JSON ({exc.msg} at column {exc.colno}).")
    example = json.dumps({field: "75"})
    if not isinstance(record, dict):
        return _Request(record, None, f"The line must be a JSON object such as {example}.")
    if field not in record:
        return _Request(record, None, f"The line has no {field}; this solution needs lines such as {example}.")
    value = record[field]
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        return _Request(record, None, f"{field} must be a string such as {example}, not {kind}.")
    if not value or len(value) > MAX_ID_LENGTH:
        return _Request(record, None, f"{field} must have 1 to {MAX_ID_LENGTH} characters.")
    return _Request(record, value, None)


def _output_line(echo: object, output: dict[str, list[str] | list[float]] | None, error: str | None) -> str:
    record = {"input": echo, "output": output, "error": error}
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)
