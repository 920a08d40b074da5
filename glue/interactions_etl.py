"""Glue job: raw interactions files (delimited text, JSON lines, Parquet; gzip) -> the Amazon Personalize
interactions CSV, the batch inference inputs (every user, every item), rejects and a report.

The transform is written once, as the SQL constants and the planning functions below, and runs unchanged
on Spark SQL 3.5 (AWS Glue 5.0, this job) and on DuckDB (recflow/offline/etl.py loads this file by path).

Each file is planned first, in Python, from its first bytes (plan_file): its format (InputFormat, or the
extension and magic bytes), for text its header line and delimiter, and which column plays which role
(UserColumn/ItemColumn/TimestampColumn/EventValueColumn/EventTypeColumn, or the common names in
COMMON_NAMES, case-insensitively). Columns are found by name only: a file whose header does not name a
user, an item and a timestamp column, or names two candidates for one role, fails the run with a
sentence naming the file, the role and its columns (InputLayoutError).

The SQL then reads relations that each runner creates:
- ``raw_lines(source VARCHAR, line_number BIGINT, line VARCHAR)``: one row per physical line of every
  text or JSON lines file, numbered from 1, split on LF only, the LF removed and nothing else changed,
  except that bytes that are not UTF-8 become U+FFFD (as Java decodes them) and a BOM at the very start
  of a file is dropped (Hadoop's line reader does). Gzip files are read decompressed.
- ``file_layouts``: one row per planned file (layout_rows), the positions or JSON paths of its fields.
- ``parquet_records`` (PARQUET_RECORD_COLUMNS): the Parquet records, already cut into the role columns
  and numbered from 1 per file (each engine reads Parquet with its own reader; the SQL that validates
  them is this one).
- ``etl_params`` (ETL_PARAMS_COLUMNS, etl_params_row): one row; min_rating NULL keeps every value, the
  import flags say whether EVENT_TYPE / EVENT_VALUE go into the CSV (and the event type is checked).

The rules: a BOM starting a line and a CR ending it are ignored; a line of spaces is blank; the file's
header line, and a later line whose user field is the user column's name (a second header, from
concatenated files), is a header; a text line has as many fields as the header; user and item ids are
1-256 characters from A-Z a-z 0-9 _ . : @ / + - (they go unquoted into the CSV); the event value, when a
column is mapped to it, is a decimal number; the event type, when EventTypeColumn is set, is 1-256
characters of those, words separated by single spaces; the timestamp is a positive integer below 1e17, read per
value as seconds below 1e11, milliseconds below 1e14 and microseconds above (1e11 s is the year 5138,
1e11 ms March 1973, 1e14 µs March 1973), or an ISO-8601 / RFC 3339 date or date-time (``2024-05-01``,
``2024-05-01T10:00:00Z``, ``2024-05-01 10:00:00``, offsets ``+02:00``; no zone means UTC; fractions of a
second are dropped). Times before 1970 are rejected: Personalize's TIMESTAMP is Unix epoch seconds.
Anything else is rejected with the first problem found. Values below min_rating are counted and dropped;
of the same output row (user, item, seconds, and the event type and value when imported) only one is kept.

Every raw line or record lands in exactly one of: header, blank, rejected, below_min_rating, duplicate,
interaction; report.json counts each, so nothing is dropped silently (see ``check_report_adds_up``).

Dialect rules the SQL keeps to (each function checked on both engines): ``split_part`` and ``substring``
are 1-based in both; ``chr(9)``/``chr(13)`` for tab and CR and ``ascii(x) = 65279`` for a BOM keep the
SQL text ASCII; ``regexp_like(x, p)`` (Spark's; DuckDB's ``regexp_matches`` under a macro) is true when p
is found anywhere in x, so a field is checked by ``NOT regexp_like(x, '[^...]')`` (no character outside a
class: no anchors, the same in Java and RE2, and ten times cheaper in DuckDB than extracting a full match),
and a pattern anchored with ``^...$`` only runs after such a class check has ruled out line breaks (Java's
``$`` also matches before a final one, RE2's does not); a group that did not take part extracts as '';
patterns have no backslashes (Spark unescapes them in string literals, DuckDB does not), hence ``[.]``; ``try_cast``
results are only used where a pattern has already matched, because the engines' casts accept different
spellings (Spark trims spaces, for one); ``floor`` before casting to BIGINT (DuckDB's cast rounds,
Spark's truncates) and ``/`` is always a division of doubles; ``get_json_object``, ``split`` (with a
one-character class such as ``[|]`` as the pattern), ``element_at`` (1-based) and ``size`` are Spark's,
and the DuckDB runner defines them as macros; ``count(*) FILTER (WHERE ...)``; aliases upper-cased in the
SQL give the CSV header.

Glue ships only this one file, so it imports nothing from the project, and ``awsglue``/``pyspark`` are
imported inside the functions that need them (the module must import without them).
"""

import datetime
import json
import re
import sys
import zlib
from dataclasses import dataclass, field
from typing import Any

# --- what the job is asked to read (template parameters, passed as Glue job arguments) -------------------

ROLES = ("user", "item", "timestamp", "event_value", "event_type")
REQUIRED_ROLES = ("user", "item", "timestamp")
ROLE_PARAMETERS = {
    "user": "UserColumn",
    "item": "ItemColumn",
    "timestamp": "TimestampColumn",
    "event_value": "EventValueColumn",
    "event_type": "EventTypeColumn",
}
ROLE_ARGUMENTS = {
    "user": "user_column",
    "item": "item_column",
    "timestamp": "timestamp_column",
    "event_value": "event_value_column",
    "event_type": "event_type_column",
}
ROLE_NOUNS = {
    "user": "user id",
    "item": "item id",
    "timestamp": "timestamp",
    "event_value": "event value",
    "event_type": "event type",
}
# Column names recognised when the role's parameter is empty, compared in lower case.
COMMON_NAMES = {
    "user": ("userid", "user_id", "user", "customer_id"),
    "item": ("movieid", "item_id", "itemid", "item", "product_id", "sku"),
    "timestamp": ("timestamp", "ts", "time", "event_time"),
    "event_value": ("rating", "event_value"),
    "event_type": ("event_type",),
}
# InputFormat values: the delimited text formats name their delimiter.
DELIMITERS = {"tsv": "\t", "csv": ",", "semicolon": ";", "pipe": "|"}
DELIMITER_NAMES = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}
INPUT_FORMATS = ("auto", *DELIMITERS, "jsonl", "parquet")
JSON_EXTENSIONS = (".jsonl", ".ndjson", ".json")
PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"
HEAD_BYTES = 64 * 1024  # enough of a file to read its header line (and for gzip, after decompressing)
JSON_KEY = re.compile(r"[A-Za-z0-9_]{1,128}")

# Glue job arguments that may be left out, with their defaults.
OPTIONAL_ARGUMENTS = {
    "raw_prefix": "raw/",
    "min_rating": "",
    "input_format": "auto",
    **{argument: "" for argument in ROLE_ARGUMENTS.values()},
    "max_rejected_share": "0.1",
}


class InputLayoutError(ValueError):
    """A file cannot be read as interactions (format, header, columns); the message says which and why."""


@dataclass(frozen=True)
class EtlOptions:
    """How to read the raw files: the template parameters, validated."""

    input_format: str = "auto"
    columns: dict[str, str] = field(default_factory=dict)  # role -> column name given by a parameter
    min_rating: float | None = None
    max_rejected_share: float = 0.1


def imports(options: EtlOptions, role: str) -> bool:
    """Whether the interactions CSV carries the optional role (event_type, event_value): its parameter is set.

    A column found by its common name alone (HetRec's rating) is read, checked and used for MinRating, but
    not imported, so the default deployment's schema and CSV keep their three columns.
    """
    return role in options.columns


# etl_params: one row, what the run is asked to do beyond reading the files.
ETL_PARAMS_COLUMNS = "min_rating DOUBLE, import_event_type BOOLEAN, import_event_value BOOLEAN"


def etl_params_row(options: EtlOptions) -> tuple[float | None, bool, bool]:
    return (options.min_rating, imports(options, "event_type"), imports(options, "event_value"))


def parse_min_rating(value: str | None) -> float | None:
    """The --min_rating argument: "" (or absent) keeps every rating."""
    if value is None or value.strip() == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"--min_rating must be a number or empty, got {value!r}.") from None


def parse_options(arguments: dict[str, str]) -> EtlOptions:
    """EtlOptions from job arguments (names without "--", as resolve_arguments returns them)."""
    values = {**OPTIONAL_ARGUMENTS, **{name.removeprefix("--"): value for name, value in arguments.items()}}
    input_format = values["input_format"].strip().lower() or "auto"
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"--input_format must be one of {', '.join(INPUT_FORMATS)}, got {values['input_format']!r}.")
    try:
        share = float(values["max_rejected_share"] or "0.1")
    except ValueError:
        share = -1.0
    if not 0 <= share <= 1:
        raise ValueError(f"--max_rejected_share must be a number from 0 to 1, got {values['max_rejected_share']!r}.")
    columns = {role: values[argument].strip() for role, argument in ROLE_ARGUMENTS.items() if values[argument].strip()}
    return EtlOptions(input_format, columns, parse_min_rating(values["min_rating"]), share)


# --- planning a file: format, header, delimiter, columns ----------------------------------------------


@dataclass(frozen=True)
class FileLayout:
    """How one raw file is read; the report's per-file entry is made from it."""

    source: str
    format: str  # tsv, csv, semicolon, pipe, jsonl or parquet
    compression: str | None  # "gzip" or None
    columns: dict[str, str]  # role -> the file's column name
    file_columns: list[str]  # every column of the file, in its order
    header_line: int | None = None  # text: the header's line number
    hint: str | None = None  # what a wrong delimiter looks like, from the first data line

    @property
    def ignored_columns(self) -> list[str]:
        return [name for name in self.file_columns if name not in self.columns.values()]

    def position(self, role: str) -> int | None:
        """1-based field number of the role's column (text), None when the role is not mapped."""
        return self.file_columns.index(self.columns[role]) + 1 if role in self.columns else None

    def json_path(self, role: str) -> str | None:
        return f"$.{self.columns[role]}" if role in self.columns else None

    def fields_reason(self) -> str | None:
        if self.format not in DELIMITERS:
            return None
        return f"expected {len(self.file_columns)} {DELIMITER_NAMES[DELIMITERS[self.format]]}-separated fields"

    def describe(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"format": self.format}
        if self.compression:
            entry["compression"] = self.compression
        entry["columns"] = dict(self.columns)
        entry["ignored_columns"] = self.ignored_columns
        if self.hint:
            entry["hint"] = self.hint
        return entry


def format_of(source: str, head: bytes, options: EtlOptions) -> tuple[str, str | None]:
    """(format, compression) of a file from InputFormat, its name and its first bytes.

    Gzip is recognised by its magic bytes and must be named *.gz: Spark decompresses by the extension.
    """
    name = source.lower()
    compression = "gzip" if head.startswith(GZIP_MAGIC) else None
    if compression and not name.endswith(".gz"):
        raise InputLayoutError(f"{source}: the file is gzip-compressed but its name does not end in .gz: rename it.")
    if name.endswith(".gz") and not compression:
        raise InputLayoutError(f"{source}: the name ends in .gz but the file is not gzip-compressed: rename it.")
    name = name.removesuffix(".gz")
    if compression:
        head = decompress_head(source, head)
    if options.input_format != "auto":
        if options.input_format == "parquet" and (compression or not head.startswith(PARQUET_MAGIC)):
            raise InputLayoutError(f"{source}: InputFormat=parquet but the file is not Parquet (no PAR1 magic bytes).")
        return options.input_format, compression
    if head.startswith(PARQUET_MAGIC) or name.endswith(".parquet"):
        if compression or not head.startswith(PARQUET_MAGIC):
            raise InputLayoutError(f"{source}: the name ends in .parquet but the file is not Parquet.")
        return "parquet", None
    text = head.decode("utf-8-sig", errors="replace").lstrip(" \t\r\n")
    if name.endswith(JSON_EXTENSIONS) or text.startswith("{"):
        return "jsonl", compression
    return "text", compression


def decompress_head(source: str, head: bytes) -> bytes:
    """The start of a gzip file's content, from its first bytes (a prefix of the stream is enough)."""
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, HEAD_BYTES)
    except zlib.error as exc:
        raise InputLayoutError(f"{source}: the file is not valid gzip ({exc}).") from None


def head_lines(head: bytes) -> list[tuple[int, str]]:
    """(line number, text) of the complete lines in the head, BOM and CR removed, as the SQL sees them."""
    text = head.decode("utf-8-sig", errors="replace")
    lines = text.split("\n")
    if len(lines) > 1:
        lines = lines[:-1]  # after the last LF: nothing, or a line that may go on past the head
    result = []
    for number, line in enumerate(lines, start=1):
        line = line.removeprefix("\ufeff").removesuffix("\r")
        result.append((number, line))
    return result


def plan_file(
    source: str, head: bytes, options: EtlOptions, parquet_columns: list[str] | None = None
) -> FileLayout | None:
    """The layout of one file from its first HEAD_BYTES bytes as stored (gzip still compressed); None for a
    file without a non-blank line.

    parquet_columns: the column names of a Parquet file (read by the engine from its footer).
    """
    file_format, compression = format_of(source, head, options)
    if file_format == "parquet":
        if parquet_columns is None:
            raise ValueError("plan_file needs the Parquet file's columns")
        return FileLayout(source, "parquet", None, resolve_columns(source, parquet_columns, options), parquet_columns)
    if compression:
        head = decompress_head(source, head)
    binary = binary_content(head)
    if binary:
        raise InputLayoutError(
            f"{source}: the file is binary, not text ({binary} in its first {min(len(head), HEAD_BYTES):,} bytes): "
            "upload delimited text, JSON lines or Parquet, gzip-compressed or not."
        )
    lines = [(number, line) for number, line in head_lines(head) if line.strip(" ") != ""]
    if not lines:
        if len(head) >= HEAD_BYTES:
            raise InputLayoutError(f"{source}: no line ends within the first {HEAD_BYTES:,} bytes.")
        return None
    header_number, header = lines[0]
    if file_format == "jsonl":
        return plan_json(source, header, compression, options)
    return plan_text(source, header_number, header, lines[1:2], file_format, compression, options)


def binary_content(head: bytes) -> str | None:
    """What makes the head of a file binary rather than text, or None: more than a tenth of its characters
    control characters (NUL included) or bytes that are not UTF-8. A few stray NUL or Latin-1 bytes in a text
    file keep it text: their lines are read, and rejected if a field holds them."""
    text = head.decode("utf-8", errors="replace")
    odd = sum(1 for char in text if char == "\ufffd" or (char < " " and char not in "\t\r\n"))
    if text and odd * 10 > len(text):
        return f"{odd:,} of {len(text):,} characters are control characters or not UTF-8"
    return None


def plan_json(source: str, first: str, compression: str | None, options: EtlOptions) -> FileLayout:
    try:
        record = json.loads(first)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        raise InputLayoutError(
            f"{source}: the first line is not a JSON object, so the file cannot be read as JSON lines; "
            "set InputFormat if it is delimited text."
        )
    columns = [str(key) for key in record]
    resolved = resolve_columns(source, columns, options)
    awkward = [name for name in resolved.values() if not JSON_KEY.fullmatch(name)]
    if awkward:
        raise InputLayoutError(
            f"{source}: JSON keys used as columns must be 1-128 characters of A-Z a-z 0-9 _, not {', '.join(awkward)}."
        )
    return FileLayout(source, "jsonl", compression, resolved, columns)


def plan_text(
    source: str,
    header_number: int,
    header: str,
    data_lines: list[tuple[int, str]],
    file_format: str,
    compression: str | None,
    options: EtlOptions,
) -> FileLayout:
    if file_format in DELIMITERS:
        delimiter = DELIMITERS[file_format]
    else:
        delimiter = detect_delimiter(source, header)
        file_format = next(name for name, char in DELIMITERS.items() if char == delimiter)
    columns = [name.strip(" ").removeprefix('"').removesuffix('"') for name in header.split(delimiter)]
    try:
        resolved = resolve_columns(source, columns, options)
    except InputLayoutError as exc:
        looks = [char for char in DELIMITERS.values() if char != delimiter and header.count(char) >= 2]
        if len(columns) == 1 and looks:
            other_format = next(name for name, char in DELIMITERS.items() if char == looks[0])
            raise InputLayoutError(
                f"{exc} The header looks {DELIMITER_NAMES[looks[0]]}-separated, not "
                f"{DELIMITER_NAMES[delimiter]}-separated: set InputFormat={other_format} (or auto)."
            ) from None
        raise
    hint = None
    if data_lines:
        sample = data_lines[0][1]
        if sample.count(delimiter) != len(columns) - 1:
            others = [
                char for char in DELIMITERS.values() if char != delimiter and sample.count(char) == len(columns) - 1
            ]
            if others:
                other_format = next(name for name, char in DELIMITERS.items() if char == others[0])
                hint = (
                    f"the file looks {DELIMITER_NAMES[others[0]]}-separated: "
                    f"set InputFormat={other_format} or check the header"
                )
    return FileLayout(source, file_format, compression, resolved, columns, header_number, hint)


def detect_delimiter(source: str, header: str) -> str:
    counts = {char: header.count(char) for char in DELIMITERS.values()}
    best = max(counts.values())
    winners = [char for char, count in counts.items() if count == best]
    if best == 0 or len(winners) > 1:
        found = (
            "no tab, comma, semicolon or pipe in it"
            if best == 0
            else f"{best} each of {' and '.join(DELIMITER_NAMES[char] for char in winners)}"
        )
        # The line itself is not quoted: in a file without a header it is an interaction.
        raise InputLayoutError(
            f"{source}: cannot tell the delimiter from the header line ({len(header):,} characters, {found}): "
            "set InputFormat to tsv, csv, semicolon or pipe, and start the file with a header line naming its columns."
        )
    return winners[0]


def resolve_columns(source: str, columns: list[str], options: EtlOptions) -> dict[str, str]:
    """role -> column name, by the role's parameter or else by COMMON_NAMES; raise InputLayoutError."""
    listing = ", ".join(columns) if columns else "none"
    resolved: dict[str, str] = {}
    for role in ROLES:
        wanted = options.columns.get(role)
        if wanted:
            matches = [name for name in columns if name == wanted] or [
                name for name in columns if name.lower() == wanted.lower()
            ]
            if len(matches) != 1:
                problem = "is not a column of the file" if not matches else "matches several columns"
                raise InputLayoutError(
                    f"{source}: {ROLE_PARAMETERS[role]}={wanted} {problem}; the file's columns are {listing}."
                )
            resolved[role] = matches[0]
            continue
        candidates = [name for name in columns if name.lower() in COMMON_NAMES[role]]
        if len(candidates) > 1:
            raise InputLayoutError(
                f"{source}: {len(candidates)} columns could be the {ROLE_NOUNS[role]} column "
                f"({', '.join(candidates)}): set {ROLE_PARAMETERS[role]} to one of them; "
                f"the file's columns are {listing}."
            )
        if candidates:
            resolved[role] = candidates[0]
        elif role in REQUIRED_ROLES:
            raise InputLayoutError(
                f"{source}: no {ROLE_NOUNS[role]} column; the file's columns are {listing}: set "
                f"{ROLE_PARAMETERS[role]} to one of them, or name the column one of "
                f"{', '.join(COMMON_NAMES[role])} (any case). A file needs a header line naming its columns."
            )
    taken: dict[str, str] = {}
    for role, name in resolved.items():
        if name in taken:
            raise InputLayoutError(
                f"{source}: column {name} is mapped to both the {ROLE_NOUNS[taken[name]]} and the "
                f"{ROLE_NOUNS[role]}; set {ROLE_PARAMETERS[taken[name]]} and {ROLE_PARAMETERS[role]} "
                "to different columns."
            )
        taken[name] = role
    if options.min_rating is not None and "event_value" not in resolved:
        raise InputLayoutError(
            f"{source}: MinRating is set but the file has no event value column; the file's columns are "
            f"{listing}: set EventValueColumn, or leave MinRating empty."
        )
    return resolved


LAYOUT_COLUMNS = (
    "source STRING, format STRING, split_pattern STRING, header_line BIGINT, field_count BIGINT, "
    "fields_reason STRING, user_header STRING, value_name STRING, "
    "user_pos INT, item_pos INT, timestamp_pos INT, value_pos INT, type_pos INT, "
    "user_path STRING, item_path STRING, timestamp_path STRING, value_path STRING, type_path STRING"
)


def layout_rows(layouts: list[FileLayout]) -> list[tuple[Any, ...]]:
    """The rows of file_layouts (LAYOUT_COLUMNS) for the text and JSON lines files."""
    rows = []
    for layout in layouts:
        if layout.format == "parquet":
            continue
        text = layout.format in DELIMITERS
        roles = ("user", "item", "timestamp", "event_value", "event_type")
        rows.append(
            (
                layout.source,
                "text" if text else "jsonl",
                f"[{DELIMITERS[layout.format]}]" if text else None,
                layout.header_line,
                len(layout.file_columns) if text else None,
                layout.fields_reason(),
                layout.columns["user"] if text else None,
                layout.columns.get("event_value"),
                *[layout.position(role) if text else None for role in roles],
                *[None if text else layout.json_path(role) for role in roles],
            )
        )
    return rows


# --- the transform ----------------------------------------------------------------------------------

LINE_FIELDS_SQL = """
-- Text and JSON lines cut into the role fields, by each file's layout; one row per raw line.
WITH without_bom AS (
    -- A BOM can still start a line in the middle of a file when files were concatenated.
    SELECT
        source,
        line_number,
        line,
        CASE WHEN ascii(line) = 65279 THEN substring(line, 2) ELSE line END AS text
    FROM raw_lines
),
cleaned AS (
    -- Readers split on LF only, so lines of CRLF files end in CR.
    SELECT
        source,
        line_number,
        line,
        CASE
            WHEN substring(text, length(text), 1) = chr(13) THEN substring(text, 1, length(text) - 1)
            ELSE text
        END AS text
    FROM without_bom
),
split_lines AS (
    SELECT
        cleaned.*,
        layout.format,
        layout.header_line,
        layout.field_count,
        layout.fields_reason,
        layout.user_header,
        layout.value_name,
        layout.user_pos,
        layout.item_pos,
        layout.timestamp_pos,
        layout.value_pos,
        layout.type_pos,
        layout.user_path,
        layout.item_path,
        layout.timestamp_path,
        layout.value_path,
        layout.type_path,
        CASE WHEN layout.format = 'text' THEN split(cleaned.text, layout.split_pattern) END AS parts
    FROM cleaned
    LEFT JOIN file_layouts AS layout ON cleaned.source = layout.source
),
cut AS (
    SELECT
        source,
        line_number,
        line,
        text,
        coalesce(format, 'text') AS format,
        line_number = header_line AS is_header_line,
        user_header,
        value_name,
        CASE
            WHEN format = 'jsonl' THEN
                CASE
                    WHEN substring(ltrim(text), 1, 1) <> '{' OR get_json_object(text, '$') IS NULL
                        THEN 'not a JSON object'
                END
            WHEN size(parts) <> field_count THEN concat(
                fields_reason, ', found ', CAST(size(parts) AS STRING),
                CASE WHEN instr(text, '"') > 0 THEN ' (a quoted field cannot hold the delimiter)' ELSE '' END
            )
        END AS shape_problem,
        CASE
            WHEN format = 'jsonl' THEN coalesce(get_json_object(text, user_path), '')
            ELSE element_at(parts, user_pos)
        END AS user_id,
        CASE
            WHEN format = 'jsonl' THEN coalesce(get_json_object(text, item_path), '')
            ELSE element_at(parts, item_pos)
        END AS item_id,
        CASE
            WHEN format = 'jsonl' THEN coalesce(get_json_object(text, timestamp_path), '')
            ELSE element_at(parts, timestamp_pos)
        END AS timestamp_text,
        CASE
            WHEN value_name IS NULL THEN NULL
            WHEN format = 'jsonl' THEN coalesce(get_json_object(text, value_path), '')
            ELSE element_at(parts, value_pos)
        END AS value_text,
        CASE
            WHEN type_pos IS NULL AND type_path IS NULL THEN NULL
            WHEN format = 'jsonl' THEN coalesce(get_json_object(text, type_path), '')
            ELSE element_at(parts, type_pos)
        END AS type_text
    FROM split_lines
)
-- A quoted text field ("75", as CSV writers quote) is read without its quotes, a doubled quote inside
-- standing for one; a quoted field holding the delimiter or a line break splits, and is rejected by its
-- field count.
SELECT
    source,
    line_number,
    line,
    text,
    format,
    is_header_line,
    user_header,
    value_name,
    shape_problem,
    CASE
        WHEN format = 'text' AND user_id LIKE '"%"'
            THEN replace(substring(user_id, 2, length(user_id) - 2), '""', '"')
        ELSE user_id
    END AS user_id,
    CASE
        WHEN format = 'text' AND item_id LIKE '"%"'
            THEN replace(substring(item_id, 2, length(item_id) - 2), '""', '"')
        ELSE item_id
    END AS item_id,
    CASE
        WHEN format = 'text' AND timestamp_text LIKE '"%"'
            THEN replace(substring(timestamp_text, 2, length(timestamp_text) - 2), '""', '"')
        ELSE timestamp_text
    END AS timestamp_text,
    CASE
        WHEN format = 'text' AND value_text LIKE '"%"'
            THEN replace(substring(value_text, 2, length(value_text) - 2), '""', '"')
        ELSE value_text
    END AS value_text,
    CASE
        WHEN format = 'text' AND type_text LIKE '"%"'
            THEN replace(substring(type_text, 2, length(type_text) - 2), '""', '"')
        ELSE type_text
    END AS type_text
FROM cut
"""

# The Parquet records, cut by each engine into parquet_records(source, line_number, user_id, item_id,
# timestamp_text, value_name, value_text, type_name, type_text), get the same columns as LINE_FIELDS_SQL; a
# rejected record is written as its fields joined by tabs.
PARQUET_FIELDS_SQL = """
SELECT
    source,
    line_number,
    concat_ws(
        chr(9), coalesce(user_id, ''), coalesce(item_id, ''), coalesce(timestamp_text, ''), value_text, type_text
    ) AS line,
    concat_ws(
        chr(9), coalesce(user_id, ''), coalesce(item_id, ''), coalesce(timestamp_text, ''), value_text, type_text
    ) AS text,
    'parquet' AS format,
    false AS is_header_line,
    CAST(NULL AS STRING) AS user_header,
    value_name,
    CAST(NULL AS STRING) AS shape_problem,
    coalesce(user_id, '') AS user_id,
    coalesce(item_id, '') AS item_id,
    coalesce(timestamp_text, '') AS timestamp_text,
    CASE WHEN value_name IS NOT NULL THEN coalesce(value_text, '') END AS value_text,
    CASE WHEN type_name IS NOT NULL THEN coalesce(type_text, '') END AS type_text
FROM parquet_records
"""

ISO_PATTERN = (
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?)?$"
)

CLASSIFY_LINES_SQL = """
-- One row per raw line or record (the relation fields: LINE_FIELDS_SQL and PARQUET_FIELDS_SQL), with the
-- kind it turned out to be: blank, header, rejected (with its reason), below_min_rating or accepted.
WITH checked AS (
    SELECT
        *,
        -- Ids: no character outside the class (a search with no anchors, the same in Java and RE2).
        user_id <> '' AND length(user_id) <= 256 AND NOT regexp_like(user_id, '[^A-Za-z0-9_.:@/+-]') AS user_ok,
        item_id <> '' AND length(item_id) <= 256 AND NOT regexp_like(item_id, '[^A-Za-z0-9_.:@/+-]') AS item_ok,
        -- Anchored patterns run only where the class check has ruled out line terminators (Java's $ matches
        -- before a final one, RE2's does not).
        value_text IS NULL
            OR (NOT regexp_like(value_text, '[^0-9.+-]')
                AND regexp_like(value_text, '^[+-]?[0-9]{1,9}([.][0-9]{1,9})?$'))
            AS value_ok,
        -- The event type is checked only when it is imported (EventTypeColumn set): words of the id
        -- characters separated by single spaces, at most 256 characters (Personalize's string limit).
        NOT import_event_type OR type_text IS NULL
            OR (type_text <> '' AND length(type_text) <= 256
                AND NOT regexp_like(type_text, '[^A-Za-z0-9_.:@/+ -]')
                AND regexp_like(type_text, '^[A-Za-z0-9_.:@/+-]+( [A-Za-z0-9_.:@/+-]+)*$'))
            AS type_ok,
        timestamp_text <> '' AND NOT regexp_like(timestamp_text, '[^0-9]') AS digits
    FROM fields
    CROSS JOIN etl_params
),
dates_checked AS (
    SELECT
        *,
        -- Digits are never a date: the ISO pattern, the dearest, only runs on the other timestamps.
        CASE
            WHEN digits THEN false
            ELSE NOT regexp_like(timestamp_text, '[^0-9Tt :.,Zz+-]') AND regexp_like(timestamp_text, '@ISO@')
        END AS iso
    FROM checked
),
parsed AS (
    SELECT
        *,
        -- Only read where a pattern matched, where both engines cast the same spellings.
        -- NULL when the digits overflow.
        CASE WHEN value_ok THEN try_cast(value_text AS DOUBLE) END AS event_value,
        CASE WHEN digits THEN try_cast(timestamp_text AS BIGINT) END AS raw_timestamp,
        CASE WHEN iso THEN CAST(substring(timestamp_text, 1, 4) AS BIGINT) END AS year,
        CASE WHEN iso THEN CAST(substring(timestamp_text, 6, 2) AS BIGINT) END AS month,
        CASE WHEN iso THEN CAST(substring(timestamp_text, 9, 2) AS BIGINT) END AS day,
        CASE WHEN iso AND length(timestamp_text) >= 16 THEN CAST(substring(timestamp_text, 12, 2) AS BIGINT) ELSE 0 END
            AS hour,
        CASE WHEN iso AND length(timestamp_text) >= 16 THEN CAST(substring(timestamp_text, 15, 2) AS BIGINT) ELSE 0 END
            AS minute,
        CASE
            WHEN iso AND substring(timestamp_text, 17, 1) = ':' THEN CAST(substring(timestamp_text, 18, 2) AS BIGINT)
            ELSE 0
        END AS second,
        CASE WHEN iso THEN regexp_extract(timestamp_text, '@ISO@', 4) END AS zone
    FROM dates_checked
),
zoned AS (
    SELECT
        *,
        CASE WHEN length(zone) >= 3 THEN CAST(substring(zone, 2, 2) AS BIGINT) ELSE 0 END AS zone_hours,
        CASE WHEN length(zone) > 3 THEN CAST(substring(zone, length(zone) - 1, 2) AS BIGINT) ELSE 0 END AS zone_minutes,
        CASE WHEN substring(zone, 1, 1) = '-' THEN -1 ELSE 1 END AS zone_sign,
        -- Days since 1970-01-01 of the civil date (H. Hinnant's days_from_civil), in doubles both engines
        -- compute exactly at this size; March starts the year, so February's length does not matter.
        year - CASE WHEN month <= 2 THEN 1 ELSE 0 END AS march_year,
        (month + 9) % 12 AS march_month,
        CASE
            WHEN month = 2 AND ((year % 4 = 0 AND year % 100 <> 0) OR year % 400 = 0) THEN 29
            WHEN month = 2 THEN 28
            ELSE 30 + (month + floor(month / 8)) % 2
        END AS month_days
    FROM parsed
),
dated AS (
    SELECT
        *,
        iso AND month BETWEEN 1 AND 12 AND day BETWEEN 1 AND month_days AND hour <= 23 AND minute <= 59
            AND second <= 60 AND zone_hours <= 23 AND zone_minutes <= 59 AS valid_date,
        floor(march_year / 400) * 146097
            + (march_year - floor(march_year / 400) * 400) * 365
            + floor((march_year - floor(march_year / 400) * 400) / 4)
            - floor((march_year - floor(march_year / 400) * 400) / 100)
            + floor((153 * march_month + 2) / 5) + day - 1
            - 719468 AS epoch_days
    FROM zoned
),
timed AS (
    SELECT
        *,
        CASE
            -- Microseconds: drop the last 6 digits (a division through a DOUBLE is not exact above 2^53).
            WHEN raw_timestamp >= 100000000000000
                THEN CAST(substring(timestamp_text, 1, length(timestamp_text) - 6) AS BIGINT)
            WHEN raw_timestamp >= 100000000000 THEN CAST(floor(raw_timestamp / 1000) AS BIGINT)
            WHEN raw_timestamp IS NOT NULL THEN raw_timestamp
            WHEN valid_date THEN CAST(
                epoch_days * 86400 + hour * 3600 + minute * 60 + second
                - zone_sign * (zone_hours * 3600 + zone_minutes * 60) AS BIGINT
            )
        END AS seconds,
        CASE
            WHEN raw_timestamp >= 100000000000000 THEN 'microseconds'
            WHEN raw_timestamp >= 100000000000 THEN 'milliseconds'
            WHEN raw_timestamp IS NOT NULL THEN 'seconds'
            WHEN iso THEN 'iso-8601'
        END AS timestamp_unit
    FROM dated
),
judged AS (
    SELECT
        *,
        -- 'ok', 'blank', 'header' or why the line is rejected (the first problem found).
        CASE
            WHEN is_header_line THEN 'header'
            WHEN shape_problem IS NULL AND user_ok AND item_ok AND value_ok AND type_ok
                AND seconds >= 0 AND (raw_timestamp IS NULL OR raw_timestamp BETWEEN 1 AND 99999999999999999) THEN 'ok'
            WHEN trim(text) = '' THEN 'blank'
            WHEN lower(user_id) = lower(user_header) THEN 'header'
            WHEN shape_problem IS NOT NULL THEN shape_problem
            WHEN user_id = '' THEN 'empty user id'
            WHEN item_id = '' THEN 'empty item id'
            -- Ids are written unquoted into the CSV: no commas, quotes, spaces or control characters.
            WHEN NOT user_ok THEN 'user id is not 1-256 characters of A-Z a-z 0-9 _ . : @ / + -'
            WHEN NOT item_ok THEN 'item id is not 1-256 characters of A-Z a-z 0-9 _ . : @ / + -'
            WHEN NOT value_ok THEN concat(value_name, ' is not a number')
            WHEN NOT type_ok AND trim(type_text) = '' THEN 'empty event type'
            WHEN NOT type_ok THEN 'event type is not 1-256 characters of A-Z a-z 0-9 _ . : @ / + - and single spaces'
            WHEN iso AND NOT valid_date THEN 'timestamp is not a valid ISO-8601 date'
            WHEN iso THEN 'timestamp before 1970'
            WHEN NOT digits OR raw_timestamp = 0 THEN 'timestamp is not a positive integer'
            -- Every field check passed, so only the range check failed: the digits overflow BIGINT or
            -- are 1e17 and more.
            ELSE 'timestamp out of range'
        END AS verdict
    FROM timed
)
SELECT
    judged.source,
    judged.line_number,
    CASE
        WHEN judged.verdict IN ('blank', 'header') THEN judged.verdict
        WHEN judged.verdict <> 'ok' THEN 'rejected'
        WHEN judged.event_value < judged.min_rating THEN 'below_min_rating'
        ELSE 'accepted'
    END AS kind,
    CASE WHEN judged.verdict NOT IN ('ok', 'blank', 'header') THEN judged.verdict END AS reason,
    -- Only rejected lines are needed verbatim; keeping every line would double what is held in memory.
    CASE WHEN judged.verdict NOT IN ('ok', 'blank', 'header') THEN judged.line END AS rejected_line,
    judged.user_id,
    judged.item_id,
    CASE WHEN judged.verdict = 'ok' THEN judged.seconds END AS event_seconds,
    CASE WHEN judged.verdict = 'ok' THEN judged.timestamp_unit END AS timestamp_unit,
    -- The optional columns of the interactions CSV, NULL unless their parameter is set.
    CASE WHEN judged.verdict = 'ok' AND judged.import_event_type THEN judged.type_text END AS event_type,
    -- The value as the shortest decimal text (4.50 -> 4.5, +05.0 -> 5): the engines print doubles
    -- differently (Java writes 1.0E7), and "5" and "5.0" make the same row.
    CASE
        WHEN judged.verdict = 'ok' AND judged.import_event_value THEN concat(
            CASE WHEN substring(judged.value_text, 1, 1) = '-' AND judged.event_value <> 0 THEN '-' ELSE '' END,
            regexp_extract(judged.value_text, '^[+-]?0*([0-9]+)', 1),
            regexp_extract(judged.value_text, '([.][0-9]*[1-9])0*$', 1)
        )
    END AS event_value
FROM judged
""".replace("@ISO@", ISO_PATTERN)


def interactions_sql(options: EtlOptions) -> str:
    """The Personalize interactions dataset: accepted lines, exact duplicates of the output row dropped.

    Its columns are the deployed schema's: EVENT_TYPE and EVENT_VALUE only when EventTypeColumn and
    EventValueColumn are set (template.yaml chooses the schema by the same parameters).
    """
    optional = [role for role in ("event_type", "event_value") if imports(options, role)]
    names = ["user_id AS USER_ID", "item_id AS ITEM_ID", *[f"{role} AS {role.upper()}" for role in optional]]
    columns = ",\n    ".join([*names, "event_seconds AS TIMESTAMP"])
    order = ", ".join(["USER_ID", "TIMESTAMP", "ITEM_ID", *[role.upper() for role in optional]])
    return f"SELECT DISTINCT\n    {columns}\nFROM classified_lines\nWHERE kind = 'accepted'\nORDER BY {order}\n"


REJECTS_SQL = """
SELECT source, line_number, rejected_line AS line, reason
FROM classified_lines
WHERE kind = 'rejected'
ORDER BY source, line_number
"""

REPORT_COUNTS_SQL = """
-- Reads classified_lines and interactions (INTERACTIONS_SQL registered under that name).
WITH line_counts AS (
    SELECT
        count(*) AS lines_read,
        count(*) FILTER (WHERE kind = 'header') AS header_lines,
        count(*) FILTER (WHERE kind = 'blank') AS blank_lines,
        count(*) FILTER (WHERE kind = 'rejected') AS rejected,
        count(*) FILTER (WHERE kind = 'below_min_rating') AS below_min_rating,
        count(*) FILTER (WHERE kind = 'accepted') AS accepted,
        -- Over every line whose timestamp was read: duplicates and low values included.
        count(*) FILTER (WHERE timestamp_unit = 'milliseconds') AS milliseconds,
        count(*) FILTER (WHERE timestamp_unit = 'seconds') AS seconds,
        count(*) FILTER (WHERE timestamp_unit = 'microseconds') AS microseconds,
        count(*) FILTER (WHERE timestamp_unit = 'iso-8601') AS iso_8601
    FROM classified_lines
),
interaction_counts AS (
    SELECT
        count(*) AS interactions,
        count(DISTINCT USER_ID) AS users,
        count(DISTINCT ITEM_ID) AS items,
        min(TIMESTAMP) AS first_timestamp,
        max(TIMESTAMP) AS last_timestamp
    FROM interactions
),
active_users AS (
    SELECT count(*) AS users_with_2plus
    FROM (
        SELECT USER_ID
        FROM interactions
        GROUP BY USER_ID
        HAVING count(*) >= 2
    ) AS users_with_two_or_more
)
SELECT
    line_counts.lines_read,
    line_counts.header_lines,
    line_counts.blank_lines,
    line_counts.rejected,
    line_counts.accepted - interaction_counts.interactions AS duplicates_dropped,
    line_counts.below_min_rating,
    interaction_counts.interactions,
    interaction_counts.users,
    interaction_counts.items,
    active_users.users_with_2plus,
    line_counts.milliseconds,
    line_counts.seconds,
    line_counts.microseconds,
    line_counts.iso_8601,
    interaction_counts.first_timestamp,
    interaction_counts.last_timestamp
FROM line_counts
CROSS JOIN interaction_counts
CROSS JOIN active_users
"""

REJECT_REASONS_SQL = """
SELECT reason, count(*) AS lines
FROM classified_lines
WHERE kind = 'rejected'
GROUP BY reason
ORDER BY reason
"""

FILE_COUNTS_SQL = """
-- Per file: lines (or records) read and those neither header nor blank (reason NULL), then each reject
-- reason's count.
SELECT
    source,
    CAST(NULL AS STRING) AS reason,
    count(*) AS lines,
    count(*) FILTER (WHERE kind NOT IN ('header', 'blank')) AS data_lines
FROM classified_lines
GROUP BY source
UNION ALL
SELECT source, reason, count(*) AS lines, count(*) AS data_lines
FROM classified_lines
WHERE kind = 'rejected'
GROUP BY source, reason
ORDER BY source, reason
"""

SOURCE_FILES_SQL = """
-- The files that had at least one line (an empty file adds no line, so no count changes).
SELECT DISTINCT source
FROM classified_lines
ORDER BY source
"""

# The batch inference input of every user and of every item of the run, as Personalize reads it: JSON
# lines {"userId":"75"} / {"itemId":"3"}, sorted. Both are written (small next to the interactions): the
# recipe decides at PrepareBatchInput time which one is scored, and that Lambda only copies the file, so no
# Lambda reads the interactions. Their record counts are the report's users and items.
BATCH_INPUT_SQL = {
    "users": "SELECT DISTINCT USER_ID AS userId FROM interactions ORDER BY userId",
    "items": "SELECT DISTINCT ITEM_ID AS itemId FROM interactions ORDER BY itemId",
}


def batch_input_prefix(run_id: str, name: str) -> str:
    """Where the ETL writes one batch input ("users" or "items"): one JSON lines part file under it."""
    return f"transformed/{run_id}/batch_input/{name}/"


TOP_REASONS = 3  # per file in the report

PARQUET_RECORD_COLUMNS = (
    "source STRING, line_number BIGINT, user_id STRING, item_id STRING, timestamp_text STRING, "
    "value_name STRING, value_text STRING, type_name STRING, type_text STRING"
)
FIELDS_SQL = f"{LINE_FIELDS_SQL}\nUNION ALL\n{PARQUET_FIELDS_SQL}"


# --- the report ----------------------------------------------------------------------------------------


def build_report(
    counts: dict[str, Any],
    reasons: list[tuple[str, int]],
    source_files: list[str],
    run_id: str | None = None,
    *,
    layouts: list[FileLayout] | None = None,
    file_counts: list[tuple[str, str | None, int, int]] | None = None,
    options: EtlOptions | None = None,
) -> dict[str, Any]:
    """report.json from the rows of REPORT_COUNTS_SQL, REJECT_REASONS_SQL, SOURCE_FILES_SQL and FILE_COUNTS_SQL."""
    options = options or EtlOptions()
    number = {name: int(value) for name, value in counts.items() if value is not None}
    report: dict[str, Any] = {"run_id": run_id} if run_id is not None else {}
    report.update(
        {
            "source_files": list(source_files),
            "lines_read": number["lines_read"],
            "header_lines": number["header_lines"],
            "blank_lines": number["blank_lines"],
            "rejected": number["rejected"],
            "rejects_by_reason": {reason: int(lines) for reason, lines in reasons},
            "duplicates_dropped": number["duplicates_dropped"],
            "below_min_rating": number["below_min_rating"],
            "interactions": number["interactions"],
            "users": number["users"],
            "items": number["items"],
            "users_with_2plus": number["users_with_2plus"],
            "users_with_2plus_share": round(number["users_with_2plus"] / number["users"], 6)
            if number["users"]
            else 0.0,
            "timestamp_units": {
                "milliseconds": number["milliseconds"],
                "seconds": number["seconds"],
                "microseconds": number.get("microseconds", 0),
                "iso-8601": number.get("iso_8601", 0),
            },
            "time_range": time_range(number.get("first_timestamp"), number.get("last_timestamp")),
            "files": describe_files(layouts or [], file_counts or []),
            "input_format": options.input_format,
            "max_rejected_share": options.max_rejected_share,
        }
    )
    check_report_adds_up(report)
    return report


def time_range(first: int | None, last: int | None) -> dict[str, Any] | None:
    """The interactions' first and last TIMESTAMP, as epoch seconds and as UTC dates."""
    if first is None or last is None:
        return None

    def utc(seconds: int) -> str:
        moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    return {"first": first, "last": last, "first_utc": utc(first), "last_utc": utc(last)}


def describe_files(layouts: list[FileLayout], file_counts: list[tuple[str, str | None, int, int]]) -> dict[str, Any]:
    """Per file: its format, chosen and ignored columns, lines read (and of them data lines), rejects and
    the top reasons; the data check reads it to name a file that is unreadable."""
    files: dict[str, dict[str, Any]] = {layout.source: layout.describe() for layout in layouts}
    reasons: dict[str, list[tuple[str, int]]] = {}
    for source, reason, lines, data_lines in file_counts:
        entry = files.setdefault(source, {})
        if reason is None:
            entry["lines_read"] = int(lines)
            entry["data_lines"] = int(data_lines)
        else:
            reasons.setdefault(source, []).append((reason, int(lines)))
    for source, entry in files.items():
        entry.setdefault("lines_read", 0)
        entry.setdefault("data_lines", 0)
        ranked = sorted(reasons.get(source, []), key=lambda pair: (-pair[1], pair[0]))
        entry["rejected"] = sum(lines for _, lines in ranked)
        entry["top_reasons"] = dict(ranked[:TOP_REASONS])
    return dict(sorted(files.items()))


def check_report_adds_up(report: dict[str, Any]) -> None:
    """Raise when a line is unaccounted for: every line read must land in exactly one count."""
    accounted = sum(
        report[name]
        for name in (
            "header_lines",
            "blank_lines",
            "rejected",
            "duplicates_dropped",
            "below_min_rating",
            "interactions",
        )
    )
    parsed = report["interactions"] + report["duplicates_dropped"] + report["below_min_rating"]
    problems = []
    if accounted != report["lines_read"]:
        problems.append(f"the line counts add up to {accounted}, not lines_read={report['lines_read']}")
    if sum(report["rejects_by_reason"].values()) != report["rejected"]:
        problems.append("rejects_by_reason does not add up to rejected")
    if sum(report["timestamp_units"].values()) != parsed:
        problems.append("timestamp_units does not add up to the parsed lines")
    if problems:
        raise RuntimeError(f"ETL report does not add up: {'; '.join(problems)}.")


# --- whether the run can be imported at all -----------------------------------------------------------

# Amazon Personalize's training minimums. functions/recflow_lambda/minimums.py holds the same numbers for
# the local Personalize (Glue ships this file alone, so it cannot import them; tests/unit/etl/
# test_run_rejection.py keeps the two equal). The ETL applies them before writing: a rejected run writes its
# report (with the sentence as "rejection", which the data check raises) and its rejects, no interactions
# and no batch input, so nothing of it can be imported.
MIN_TRAINING_INTERACTIONS = 1000
MIN_TRAINING_USERS = 25  # users with at least 2 interactions each
MIN_SHARE_OF_USERS_WITH_2PLUS = 0.01


def run_rejection(report: dict[str, Any], run_id: str, sources: list[str]) -> str | None:
    """Why Amazon Personalize could not train on this run's data, as one sentence naming the files; None
    when it could. sources: every raw file of the run, also those without a line (absent from the report)."""
    files = report.get("files", {})
    data_lines = report["lines_read"] - report["header_lines"] - report["blank_lines"]
    if data_lines == 0:
        described = [f"{source} {_without_data(files.get(source, {}))}" for source in sorted(sources)]
        listing = "; ".join(described) or "raw/ is empty"
        return f"Run {run_id} has no interactions to import: {listing}; upload data under raw/."
    where = f"the rejected lines, with their line numbers, are under rejects/{run_id}/"
    unreadable = [
        f"{source}: all {counts['rejected']:,} lines rejected; {ranked_reasons(counts.get('top_reasons', {}))}"
        + (f" — {counts['hint']}" if counts.get("hint") else "")
        for source, counts in sorted(files.items())
        if counts.get("data_lines", 0) > 0 and counts.get("rejected", 0) == counts.get("data_lines", 0)
    ]
    if unreadable:
        return f"Run {run_id}: {' | '.join(unreadable)} ({where})."
    share = report["rejected"] / data_lines
    if report["rejected"] and share > report["max_rejected_share"]:
        return (
            f"Run {run_id}: {report['rejected']:,} of {data_lines:,} lines rejected ({share:.1%}); top reasons: "
            f"{ranked_reasons(report['rejects_by_reason'])}. That is more than "
            f"MaxRejectedShare={report['max_rejected_share']:g} allows: fix the files under raw/ or raise "
            f"MaxRejectedShare ({where})."
        )
    of_files = f"of {named_files(report['source_files'])}"
    if report["interactions"] < MIN_TRAINING_INTERACTIONS:
        return (
            f"Run {run_id} has {report['interactions']} interactions after the ETL {of_files} ({report['rejected']} "
            f"lines rejected); Amazon Personalize needs at least {MIN_TRAINING_INTERACTIONS}: "
            "upload more data under raw/."
        )
    if report["users_with_2plus"] < MIN_TRAINING_USERS:
        return (
            f"Run {run_id} has {report['users_with_2plus']} users with 2 or more interactions in the data {of_files}; "
            f"Amazon Personalize needs at least {MIN_TRAINING_USERS}: upload more data under raw/."
        )
    if report["users"] and report["users_with_2plus"] / report["users"] < MIN_SHARE_OF_USERS_WITH_2PLUS:
        return (
            f"Run {run_id}: only {report['users_with_2plus']:,} of {report['users']:,} users in the data {of_files} "
            f"have 2 or more interactions; Amazon Personalize needs at least {MIN_SHARE_OF_USERS_WITH_2PLUS:.0%}: "
            "upload more interactions of the same users under raw/."
        )
    return None


def _without_data(entry: dict[str, Any]) -> str:
    if not entry.get("lines_read"):
        return "is empty"
    if entry.get("format") in DELIMITERS:  # a text file's first non-blank line is its header
        return "has a header line but no data lines"
    return "has no records" if entry.get("format") == "parquet" else "has only blank lines"


def ranked_reasons(reasons: dict[str, int], top: int = TOP_REASONS) -> str:
    ranked = sorted(reasons.items(), key=lambda pair: (-pair[1], pair[0]))[:top]
    return "; ".join(f'{lines:,} × "{reason}"' for reason, lines in ranked)


def named_files(sources: list[str]) -> str:
    """raw/a.dat, raw/a.dat and raw/b.dat, or raw/a.dat and 29 other files."""
    if len(sources) <= 2:
        return " and ".join(sources) or "no file"
    return f"{sources[0]} and {len(sources) - 1:,} other files"


def report_document(report: dict[str, Any], run_id: str, rejection: str | None) -> dict[str, Any]:
    """What report.json holds: the report with its run id, and the rejection when the run has one."""
    return {"run_id": run_id, **report, **({"rejection": rejection} if rejection else {})}


def report_json(report: dict[str, Any]) -> str:
    """The text of report.json (the same on Glue and offline)."""
    return json.dumps(report, indent=2) + "\n"


# --- Spark ---------------------------------------------------------------------------------------------


def transform_dataframe(
    spark: Any,
    raw_lines_df: Any,
    layouts: list[FileLayout],
    options: EtlOptions,
    parquet_records_df: Any = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """Run the transform on Spark: (interactions_df, rejects_df, report without run_id).

    raw_lines_df has the columns source, line_number and line (see read_inputs). Registers the temporary
    views raw_lines, file_layouts, parquet_records, etl_params, fields, classified_lines and interactions
    on the session; the last two are cached because the report and the outputs read them.
    """
    raw_lines_df.select("source", "line_number", "line").createOrReplaceTempView("raw_lines")
    spark.createDataFrame(layout_rows(layouts), LAYOUT_COLUMNS).createOrReplaceTempView("file_layouts")
    if parquet_records_df is None:
        parquet_records_df = spark.createDataFrame([], PARQUET_RECORD_COLUMNS)
    parquet_records_df.createOrReplaceTempView("parquet_records")
    spark.createDataFrame([etl_params_row(options)], ETL_PARAMS_COLUMNS).createOrReplaceTempView("etl_params")
    spark.sql(FIELDS_SQL).createOrReplaceTempView("fields")
    spark.sql(CLASSIFY_LINES_SQL).persist().createOrReplaceTempView("classified_lines")
    interactions = spark.sql(interactions_sql(options)).persist()
    interactions.createOrReplaceTempView("interactions")

    counts = spark.sql(REPORT_COUNTS_SQL).first().asDict()
    reasons = [(row["reason"], row["lines"]) for row in spark.sql(REJECT_REASONS_SQL).collect()]
    source_files = [row["source"] for row in spark.sql(SOURCE_FILES_SQL).collect()]
    file_counts = [tuple(row) for row in spark.sql(FILE_COUNTS_SQL).collect()]
    report = build_report(counts, reasons, source_files, layouts=layouts, file_counts=file_counts, options=options)
    return interactions, spark.sql(REJECTS_SQL), report


def read_head(uri: str, s3: Any = None) -> bytes:
    """The first HEAD_BYTES bytes of a file at an s3:// or file:// URI (b"" for an empty file)."""
    if uri.startswith("s3://"):
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            return bytes(s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{HEAD_BYTES - 1}")["Body"].read())
        except Exception as exc:  # an empty object has no byte 0: S3 answers InvalidRange
            if getattr(exc, "response", {}).get("Error", {}).get("Code") == "InvalidRange":
                return b""
            raise
    with open(uri.removeprefix("file://"), "rb") as file:
        return file.read(HEAD_BYTES)


def read_inputs(
    spark: Any, uris: list[str], root_uri: str, options: EtlOptions, s3: Any = None
) -> tuple[Any, Any, list[FileLayout]]:
    """(raw_lines_df, parquet_records_df, layouts) for the files at uris, each planned from its first bytes.

    A file's source is its URI with root_uri removed (the S3 key). Raises InputLayoutError for a file
    that cannot be read (every file is planned before any is read, so the run fails early).
    """
    text_uris: list[str] = []
    parquet_files: list[tuple[FileLayout, Any, str]] = []
    layouts: list[FileLayout] = []
    for uri in uris:
        source = uri[len(root_uri) :] if uri.startswith(root_uri) else uri
        head = read_head(uri, s3)
        file_format, _ = format_of(source, head, options)
        if file_format == "parquet":
            frame = spark.read.parquet(_literal_path(uri))
            layout = plan_file(source, head, options, parquet_columns=list(frame.columns))
            assert layout is not None
            parquet_files.append((layout, frame, uri))
        else:
            layout = plan_file(source, head, options)
            text_uris.append(uri)
        if layout is not None:
            layouts.append(layout)
    raw_lines = read_raw_lines(spark, text_uris, root_uri)
    parquet_records = read_parquet_records(spark, parquet_files, root_uri) if parquet_files else None
    return raw_lines, parquet_records, layouts


def _literal_path(uri: str) -> str:
    """Paths are globs to Spark: escape the glob characters of a key."""
    return re.sub(r"([\\*?\[\]{}])", r"\\\1", uri)


def _source_column(root_uri: str) -> Any:
    """The file's key: input_file_name() is URL-encoded (a space is %20, a + stays +), hence the decoding."""
    from pyspark.sql import functions as F

    file_uri = F.url_decode(F.replace(F.input_file_name(), F.lit("+"), F.lit("%2B")))
    return F.when(file_uri.startswith(root_uri), file_uri.substr(len(root_uri) + 1, 1 << 30)).otherwise(file_uri)


def _numbered(spark: Any, frame: Any) -> Any:
    """frame (source, block, row_id, ...) with line_number: 1-based position of the row in its file.

    Splits of one file are read whole, each in one task, and monotonically_increasing_id counts up
    within a task; so a row's number is the rows of the file's earlier splits (by block start) plus its
    place in its own split. The splits are few: their offsets are computed here and broadcast.
    """
    from pyspark.sql import functions as F

    frame = frame.persist()
    splits = frame.groupBy("source", "block").agg(F.min("row_id").alias("first_id"), F.count("*").alias("rows"))
    offsets, before, previous = [], 0, None
    for row in sorted(splits.collect(), key=lambda row: (row["source"], row["block"])):
        before = before if row["source"] == previous else 0
        offsets.append((row["source"], row["block"], row["first_id"], before))
        before, previous = before + row["rows"], row["source"]
    offsets_df = spark.createDataFrame(offsets, "source string, block bigint, first_id bigint, before bigint")
    numbered = frame.join(F.broadcast(offsets_df), ["source", "block"])
    return numbered.withColumn("line_number", F.col("before") + F.col("row_id") - F.col("first_id") + 1)


def read_raw_lines(spark: Any, uris: list[str], root_uri: str) -> Any:
    """raw_lines(source, line_number, line) for the text and JSON lines files at uris (gzip by .gz).

    Lines are split on LF only (Spark's default also splits on a lone CR, which would change lines), and
    decoded so that bytes that are not UTF-8 become U+FFFD instead of staying invalid inside Spark's
    strings.
    """
    from pyspark.sql import functions as F

    if not uris:
        return spark.createDataFrame([], "source string, line_number bigint, line string")
    lines = (
        spark.read.option("lineSep", "\n")
        .text([_literal_path(uri) for uri in uris])
        .select(
            _source_column(root_uri).alias("source"),
            F.input_file_block_start().alias("block"),
            F.monotonically_increasing_id().alias("row_id"),
            F.decode(F.col("value").cast("binary"), "UTF-8").alias("line"),
        )
    )
    return _numbered(spark, lines).select("source", "line_number", "line")


def read_parquet_records(spark: Any, files: list[tuple[FileLayout, Any, str]], root_uri: str) -> Any:
    """parquet_records (PARQUET_RECORD_COLUMNS) for the Parquet files, each cut by its own layout.

    Files with the same columns and mapping (a Spark or Firehose output folder) are read as one
    DataFrame. Values become strings the shared SQL reads: a TIMESTAMP (an instant) its epoch seconds, a
    TIMESTAMP_NTZ or DATE its ISO text, anything else its cast to string.
    """
    from pyspark.sql import functions as F

    groups: dict[tuple[Any, ...], tuple[FileLayout, Any, list[str]]] = {}
    for layout, frame, uri in files:
        signature = (frame.schema.simpleString(), tuple(sorted(layout.columns.items())))
        groups.setdefault(signature, (layout, frame, []))[2].append(uri)
    frames = []
    for layout, frame, uris in groups.values():
        types = {item.name: item.dataType.typeName() for item in frame.schema.fields}
        if len(uris) > 1:
            frame = spark.read.parquet(*[_literal_path(uri) for uri in uris])

        def text(role: str, layout: FileLayout = layout, types: dict[str, str] = types) -> Any:
            if role not in layout.columns:
                return F.lit(None).cast("string")
            name = layout.columns[role]
            if types[name] == "timestamp":
                return F.expr(f"unix_seconds(`{name}`)").cast("string")
            return F.col(f"`{name}`").cast("string")

        frames.append(
            frame.select(
                _source_column(root_uri).alias("source"),
                F.input_file_block_start().alias("block"),
                F.monotonically_increasing_id().alias("row_id"),
                text("user").alias("user_id"),
                text("item").alias("item_id"),
                text("timestamp").alias("timestamp_text"),
                F.lit(layout.columns.get("event_value")).cast("string").alias("value_name"),
                text("event_value").alias("value_text"),
                F.lit(layout.columns.get("event_type")).cast("string").alias("type_name"),
                text("event_type").alias("type_text"),
            )
        )
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionByName(frame)
    return _numbered(spark, union).select(
        "source",
        "line_number",
        "user_id",
        "item_id",
        "timestamp_text",
        "value_name",
        "value_text",
        "type_name",
        "type_text",
    )


def batch_input_dataframes(interactions_df: Any) -> dict[str, Any]:
    """BATCH_INPUT_SQL on Spark: "users"/"items" -> a one-partition DataFrame, sorted, so each is written as
    one part file (a batch inference job reads one file of up to 50M records; one file per run keeps the
    batch output one `<input>.out` file)."""
    interactions_df.createOrReplaceTempView("interactions")
    spark = interactions_df.sparkSession
    frames = {}
    for name, sql in BATCH_INPUT_SQL.items():
        frame = spark.sql(sql)
        frames[name] = frame.repartition(1).sortWithinPartitions(*frame.columns)
    return frames


def write_outputs(interactions_df: Any, rejects_df: Any, lake_uri: str, run_id: str, rejected: bool = False) -> None:
    """Write the interactions CSV, the batch inputs and the rejects JSON lines under lake_uri (s3://bucket
    or a file: URI); of a rejected run (run_rejection) only the rejects."""
    if rejected:
        rejects_df.write.mode("overwrite").json(f"{lake_uri}/rejects/{run_id}/")
        return
    # Personalize imports every object under the interactions folder: no empty _SUCCESS marker there.
    hadoop_conf = interactions_df.sparkSession.sparkContext._jsc.hadoopConfiguration()
    hadoop_conf.set("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
    interactions_df.write.mode("overwrite").option("header", True).csv(f"{lake_uri}/transformed/{run_id}/interactions/")
    for name, frame in batch_input_dataframes(interactions_df).items():
        frame.write.mode("overwrite").json(f"{lake_uri}/{batch_input_prefix(run_id, name)}")
    rejects_df.write.mode("overwrite").json(f"{lake_uri}/rejects/{run_id}/")


def list_raw_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    """Every object under the raw prefix (a FULL import replaces the dataset, so a run reads them all)."""
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []) if not obj["Key"].endswith("/"))
    return sorted(keys)


def resolve_arguments(argv: list[str]) -> dict[str, str]:
    """Glue job arguments; getResolvedOptions fails on absent names, so optional ones are asked for only if given."""
    from awsglue.utils import getResolvedOptions

    optional = [name for name in OPTIONAL_ARGUMENTS if f"--{name}" in argv]
    args = getResolvedOptions(argv, ["JOB_NAME", "bucket", "run_id", *optional])
    return {**OPTIONAL_ARGUMENTS, **args}


def main() -> None:
    """Glue entry point: read s3://bucket/raw_prefix, write transformed/<run-id>/ and rejects/<run-id>/."""
    import boto3
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from pyspark.context import SparkContext

    args = resolve_arguments(sys.argv)
    bucket, run_id = args["bucket"], args["run_id"]
    options = parse_options(args)

    spark_context = SparkContext.getOrCreate()
    glue_context = GlueContext(spark_context)
    spark = glue_context.spark_session
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)

    s3 = boto3.client("s3")
    keys = list_raw_keys(s3, bucket, args["raw_prefix"])
    raw_lines, parquet_records, layouts = read_inputs(
        spark, [f"s3://{bucket}/{key}" for key in keys], f"s3://{bucket}/", options, s3=s3
    )
    interactions, rejects, report = transform_dataframe(spark, raw_lines, layouts, options, parquet_records)
    rejection = run_rejection(report, run_id, keys)

    write_outputs(interactions, rejects, f"s3://{bucket}", run_id, rejected=rejection is not None)
    s3.put_object(
        Bucket=bucket,
        Key=f"transformed/{run_id}/report.json",
        Body=report_json(report_document(report, run_id, rejection)).encode(),
        ContentType="application/json",
    )
    job.commit()


if __name__ == "__main__":
    main()
