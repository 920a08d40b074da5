"""Interactions data: reading Personalize CSV files, checking them like Personalize, minimums.

Personalize rejects a whole import when a file breaks the schema, so every check here ends the
import with one sentence naming the file, the line, the value and how many rows share the problem.
"""

import csv
import io
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from recflow_lambda.minimums import MIN_IMPORT_RECORDS, MIN_TRAINING_INTERACTIONS, MIN_TRAINING_USERS

from recflow.personalize_local.codes import encoded, first_occurrences
from recflow.personalize_local.schema import DatasetSchema, SchemaField

MAX_ID_LENGTH = 256

# 10**11 seconds is the year 5138, while 10**11 milliseconds is March 1973: any realistic
# timestamp at or above it is in milliseconds.
MILLISECONDS_THRESHOLD = 10**11

_CHUNK_ROWS = 65536  # rows turned into arrays at a time, to bound the memory of big files


class DataError(Exception):
    """The data breaks a Personalize rule; the message is the job's failureReason."""


@dataclass(frozen=True)
class Interactions:
    """Columns of an Interactions dataset: every schema field, TIMESTAMP as int64, the rest as text."""

    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.columns["TIMESTAMP"])

    @property
    def users(self) -> np.ndarray:
        return self.columns["USER_ID"]

    @property
    def items(self) -> np.ndarray:
        return self.columns["ITEM_ID"]

    @property
    def timestamps(self) -> np.ndarray:
        return self.columns["TIMESTAMP"]

    @classmethod
    def concat(cls, parts: Iterable["Interactions"]) -> "Interactions":
        parts = list(parts)
        names = parts[0].columns.keys()
        return cls({name: np.concatenate([part.columns[name] for part in parts]) for name in names})

    def without_duplicates(self) -> "Interactions":
        """Personalize keeps one of several events with the same timestamp and identical properties."""
        if len(self) == 0:
            return self
        first = first_occurrences(list(self.columns.values()))
        if first.all():
            return self
        return Interactions({name: column[first] for name, column in self.columns.items()})


def read_interactions_csv(text: str, source: str, schema: DatasetSchema) -> Interactions:
    """Parse one CSV file (header row first) and check it against `schema`; DataError otherwise."""
    return _read_plain_csv(text, source, schema) or read_rows(text, source, schema)


def read_rows(text: str, source: str, schema: DatasetSchema) -> Interactions:
    """read_interactions_csv row by row: any CSV, and the first line of each problem found."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise DataError(f"{source} is empty: it needs a header row naming the schema fields.")
        end_of_header = text.find("\n")
        if '"' in text[: end_of_header if end_of_header >= 0 else len(text)]:
            raise DataError(f"The header row of {source} must not be enclosed in quotation marks.")
        _check_header(header, source, schema)
        problems = _Problems()
        columns = {name: _Column(schema.field(name), problems) for name in header}
        records = 0  # data rows so far; a row's index maps back to its line only to report a problem
        while chunk := list(itertools.islice(reader, _CHUNK_ROWS)):
            rows = [row for row in chunk if row]  # a blank line carries no record
            if set(map(len, rows)) - {len(header)}:
                wrong = next(index for index, row in enumerate(rows) if len(row) != len(header))
                raise DataError(
                    f"{source} line {_line_of(text, records + wrong)} has {len(rows[wrong])} values, but "
                    f"the header has {len(header)} columns ({', '.join(header)})."
                )
            if rows:
                for name, values in zip(header, zip(*rows, strict=True), strict=True):
                    columns[name].add(np.array(values, dtype=str), records)
            records += len(rows)
    except csv.Error as exc:
        raise DataError(f"{source} line {reader.line_num} is not valid CSV: {exc}.") from exc
    problems.raise_first(source, text)
    arrays = {}
    for field in schema.fields:
        if field.name in columns:
            arrays[field.name] = columns[field.name].array()
        else:  # a nullable field the file leaves out: null for every row
            arrays[field.name] = np.full(records, "", dtype="<U1")
    return Interactions(arrays)


def _read_plain_csv(text: str, source: str, schema: DatasetSchema) -> Interactions | None:
    """The common case in one columnar pass: a file without quotes or carriage returns (what the ETL
    writes) whose every value is valid. None sends any other file to the row-by-row reader, which accepts
    what this accepts and names the first problem of the rest."""
    header_end = text.find("\n")
    if header_end <= 0 or '"' in text or "\r" in text:
        return None
    header = text[:header_end].split(",")
    _check_header(header, source, schema)
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(text.encode()),
            parse_options=pa_csv.ParseOptions(quote_char=False, ignore_empty_lines=True),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid:  # a row with another number of values, among others
        return None
    columns = {}
    for field in schema.fields:
        if field.name not in header:  # a nullable field the file leaves out: null for every row
            columns[field.name] = np.full(table.num_rows, "", dtype="<U1")
            continue
        values = table[field.name]
        if not _plainly_valid(field, values):
            return None
        if field.name == "TIMESTAMP":
            columns[field.name] = pc.cast(values, pa.int64()).to_numpy()
        else:
            columns[field.name] = values.to_numpy(zero_copy_only=False).astype(str)
    return Interactions(columns)


# What the columnar pass accepts, a subset of what _Column accepts: ASCII digits for integers, plain
# decimals for numbers.
_INTEGER = "^-?[0-9]+$"
_NUMBER = "^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"


def _plainly_valid(field: SchemaField, values: pa.ChunkedArray) -> bool:
    present = pc.not_equal(values, "")
    if not field.nullable and not pc.all(present).as_py():
        return False
    if field.name in ("USER_ID", "ITEM_ID") and (pc.max(pc.utf8_length(values)).as_py() or 0) > MAX_ID_LENGTH:
        return False
    if field.type in ("long", "int"):
        integers = pc.match_substring_regex(values, _INTEGER)
        if not pc.all(pc.or_(integers, pc.invert(present))).as_py():
            return False
        if field.name == "TIMESTAMP":
            # 18 digits at most (no int64 overflow) and below the milliseconds threshold: nothing to report.
            if (pc.max(pc.utf8_length(values)).as_py() or 0) > 18:
                return False
            return (pc.max(pc.cast(values, pa.int64())).as_py() or 0) < MILLISECONDS_THRESHOLD
    elif field.type in ("float", "double"):
        numbers = pc.match_substring_regex(values, _NUMBER)
        if not pc.all(pc.or_(numbers, pc.invert(present))).as_py():
            return False
        finite = pc.is_finite(pc.cast(pc.if_else(present, values, "0"), pa.float64()))
        return bool(pc.all(finite).as_py())
    elif field.type == "boolean":
        booleans = pc.is_in(pc.utf8_lower(values), pa.array(["true", "false"]))
        return bool(pc.all(pc.or_(booleans, pc.invert(present))).as_py())
    return True


def import_shortfall(records: int) -> str | None:
    if records < MIN_IMPORT_RECORDS:
        return f"The import has {records} records; a dataset import job needs at least {MIN_IMPORT_RECORDS} records."
    return None


def training_shortfall(interactions: Interactions, dataset_group: str) -> str | None:
    """Why Personalize would refuse to train on `interactions`, or None when it has enough data."""
    per_user = np.bincount(encoded(interactions.users))
    active_users = int((per_user >= 2).sum())
    if len(interactions) < MIN_TRAINING_INTERACTIONS or active_users < MIN_TRAINING_USERS:
        return (
            f"Insufficient training data in dataset group {dataset_group}: training needs at least "
            f"{MIN_TRAINING_INTERACTIONS} interactions and {MIN_TRAINING_USERS} users with at least 2 "
            f"interactions each, but the dataset has {len(interactions)} interactions and "
            f"{active_users} such users."
        )
    return None


def _check_header(header: list[str], source: str, schema: DatasetSchema) -> None:
    expected = ", ".join(schema.names)
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise DataError(f"The header of {source} repeats the column(s) {', '.join(duplicates)}.")
    unknown = [name for name in header if name not in schema.names]
    if unknown:
        raise DataError(
            f"The header of {source} has column(s) {', '.join(unknown)} that are not fields of the "
            f"schema {schema.arn} (fields: {expected})."
        )
    missing = [field.name for field in schema.fields if not field.nullable and field.name not in header]
    if missing:
        raise DataError(
            f"The header of {source} lacks the required field(s) {', '.join(missing)} of the schema "
            f"{schema.arn} (fields: {expected})."
        )


def _line_of(text: str, record: int) -> int:
    """The line number where data row `record` (0-based, blank lines not counted) ends."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    next(reader)
    seen = -1
    for row in reader:
        seen += bool(row)
        if seen == record:
            return reader.line_num
    raise ValueError(f"the text has no data row {record}")


class _Problems:
    """The first occurrence (as a data row index) and the count of each kind of bad value in one file."""

    def __init__(self) -> None:
        self.first: dict[str, tuple[int, str]] = {}
        self.counts: dict[str, int] = {}

    def add(self, kind: str, record: int, message: str, count: int) -> None:
        if kind not in self.first or record < self.first[kind][0]:
            self.first[kind] = (record, message)
        self.counts[kind] = self.counts.get(kind, 0) + count

    def raise_first(self, source: str, text: str) -> None:
        if not self.first:
            return
        kind, (record, message) = min(self.first.items(), key=lambda entry: entry[1][0])
        count = self.counts[kind]
        more = f" {count} rows of the file have this problem." if count > 1 else ""
        raise DataError(f"{source} line {_line_of(text, record)}: {message}{more}")


class _Column:
    """One column's values as checked arrays, chunk by chunk; the checks are vectorised."""

    def __init__(self, field: SchemaField, problems: _Problems) -> None:
        self.field = field
        self.problems = problems
        self.chunks: list[np.ndarray] = []

    def array(self) -> np.ndarray:
        if not self.chunks:
            return np.array([], dtype=np.int64 if self.field.name == "TIMESTAMP" else "<U1")
        return np.concatenate(self.chunks)

    def add(self, values: np.ndarray, offset: int) -> None:
        """Check `values` (text, data rows offset.. of the file) and keep them."""
        name, kind = self.field.name, self.field.type
        present = values != ""
        if not self.field.nullable:
            self._report(f"empty {name}", values, offset, ~present, f"{name} is empty.")
        # The array's width is its longest value: most chunks skip the length check.
        if name in ("USER_ID", "ITEM_ID") and values.dtype.itemsize // 4 > MAX_ID_LENGTH:
            too_long = np.char.str_len(values) > MAX_ID_LENGTH
            self._report(f"long {name}", values, offset, too_long, f"{name} is longer than {MAX_ID_LENGTH} characters.")
        if kind in ("long", "int"):
            integers = _is_integer(values)
            suffix = " Unix epoch time in seconds." if name == "TIMESTAMP" else "."
            self._report(
                f"integer {name}",
                values,
                offset,
                present & ~integers,
                "{name} {value!r} is not an integer" + suffix,
            )
        elif kind in ("float", "double"):
            numbers = np.array([_is_number(value) for value in values.tolist()], dtype=bool)
            self._report(f"number {name}", values, offset, present & ~numbers, "{name} {value!r} is not a number.")
        elif kind == "boolean":
            booleans = np.isin(np.char.lower(values), ["true", "false"])
            self._report(
                f"boolean {name}",
                values,
                offset,
                present & ~booleans,
                "{name} {value!r} is not true or false.",
            )
        self.chunks.append(self._timestamps(values, offset, integers) if name == "TIMESTAMP" else values)

    def _timestamps(self, values: np.ndarray, offset: int, integers: np.ndarray) -> np.ndarray:
        # More than 18 digits would overflow int64: such values are reported, never converted.
        fits = integers & (np.char.str_len(values) <= 18)
        numbers = np.where(fits, values, "0").astype(np.int64)
        self._report(
            "milliseconds",
            values,
            offset,
            fits & (numbers >= MILLISECONDS_THRESHOLD) & (numbers < MILLISECONDS_THRESHOLD * 1000),
            "TIMESTAMP {value} looks like milliseconds; Personalize needs Unix epoch time in seconds (divide by 1000).",
        )
        self._report(
            "huge timestamp",
            values,
            offset,
            integers & (~fits | (numbers >= MILLISECONDS_THRESHOLD * 1000)),
            "TIMESTAMP {value} is far too large for Unix epoch time in seconds.",
        )
        return numbers

    def _report(self, kind: str, values: np.ndarray, offset: int, bad: np.ndarray, template: str) -> None:
        where = np.flatnonzero(bad)
        if len(where):
            first = int(where[0])
            message = template.format(name=self.field.name, value=str(values[first]))
            self.problems.add(kind, offset + first, message, len(where))


def _is_integer(values: np.ndarray) -> np.ndarray:
    """Optional minus sign, then decimal digits only (no spaces, plus signs or underscores)."""
    unsigned = np.char.lstrip(values, "-")
    signs = np.char.str_len(values) - np.char.str_len(unsigned)
    return np.char.isdecimal(unsigned) & (signs <= 1)


def _is_number(value: str) -> bool:
    try:
        number = float(value)
    except ValueError:
        return False
    return bool(np.isfinite(number))
