"""The Glue transform run offline: the SQL of glue/interactions_etl.py, executed by DuckDB.

The SQL is imported from the Glue script itself (by file path: glue/ is not a package, and Glue deploys
that one file), so the offline ETL cannot drift from the one on AWS.

Inputs and outputs are bytes so they move to and from S3 (moto or real) with one call each:

    raw = [(key, s3.get_object(Bucket=b, Key=key)["Body"].read()) for key in raw_keys]
    result = run_etl(raw, min_rating=None, run_id=run_id)
    for key, body in result.objects().items():
        s3.put_object(Bucket=b, Key=key, Body=body)

or to a local lake directory with ``result.write_lake(lake_dir)``.
"""

from __future__ import annotations

import codecs
import dataclasses
import functools
import gzip
import importlib.util
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

GLUE_SCRIPT = Path(__file__).resolve().parents[2] / "glue" / "interactions_etl.py"

# Lines reach DuckDB as an Arrow array over the file's bytes (file_lines): chunks of text that DuckDB
# splits cost a second copy of every line, a Python list a conversion per line (bench/etl_bench.py
# prints them side by side).
SCAN_BLOCK = 1 << 24  # bytes searched for LF at a time
BATCH_LINES = 64 * 1024  # lines per Arrow batch: DuckDB gives each thread whole batches


def _replace_like_java(error: UnicodeError) -> tuple[str, int]:
    """Undecodable bytes become U+FFFD as in Java's UTF-8 decoder, which Spark's reader goes through.

    Python and Java agree (one U+FFFD per maximal invalid subsequence) except after ED A0-BF, the start
    of an encoded surrogate: Java takes the 2 or 3 bytes as one sequence, Python replaces each byte.
    """
    assert isinstance(error, UnicodeDecodeError)
    data, start = error.object, error.start
    if data[start] == 0xED and start + 1 < len(data) and 0xA0 <= data[start + 1] < 0xC0:
        if start + 2 < len(data) and 0x80 <= data[start + 2] < 0xC0:
            return "\ufffd", start + 3
        return "\ufffd", start + 2
    return "\ufffd", error.end


codecs.register_error("recflow-replace-like-java", _replace_like_java)


class EtlResult(BaseModel):
    """What one ETL run produced, as the bytes of the objects the Glue job writes."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    interactions_csv: bytes = Field(repr=False)  # header USER_ID,ITEM_ID,TIMESTAMP
    rejects_jsonl: bytes = Field(repr=False)  # {"source", "line_number", "line", "reason"} per line; b"" when none
    # "users" -> {"userId":"75"} lines, "items" -> {"itemId":"3"} lines: every one of the run, sorted
    batch_inputs: dict[str, bytes] = Field(repr=False)
    report: dict[str, Any]
    # Why Personalize could not train on the run (the Glue script's run_rejection); None when it could.
    rejection: str | None = None

    @property
    def interactions_key(self) -> str:
        return f"transformed/{self.run_id}/interactions/part-00000.csv"

    @property
    def rejects_key(self) -> str:
        return f"rejects/{self.run_id}/part-00000.json"

    @property
    def report_key(self) -> str:
        return f"transformed/{self.run_id}/report.json"

    def batch_input_key(self, name: str) -> str:
        """The batch input's one part file, under the prefix the Glue job writes it to."""
        prefix: str = load_glue_script().batch_input_prefix(self.run_id, name)
        return prefix + "part-00000.json"

    def objects(self) -> dict[str, bytes]:
        """Data lake key -> body, exactly the objects the Glue job writes for this run: of a rejected run
        only its rejects and its report, nothing that could be imported."""
        glue = load_glue_script()
        importable = {
            self.interactions_key: self.interactions_csv,
            **{self.batch_input_key(name): body for name, body in self.batch_inputs.items()},
        }
        document = glue.report_document(self.report, self.run_id, self.rejection)
        return {
            **(importable if self.rejection is None else {}),
            self.rejects_key: self.rejects_jsonl,
            self.report_key: glue.report_json(document).encode(),
        }

    def write_lake(self, lake_dir: Path) -> list[Path]:
        """Write objects() under lake_dir (a directory that mirrors the bucket); returns the files."""
        written = []
        for key, body in self.objects().items():
            path = Path(lake_dir) / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
            written.append(path)
        return written


def load_glue_script() -> ModuleType:
    """The Glue job module, loaded from its file (once per path: its exception classes must stay the same)."""
    if not GLUE_SCRIPT.is_file():
        raise FileNotFoundError(
            f"The Glue script {GLUE_SCRIPT} is missing: run recflow from a source checkout of the project."
        )
    return _load_script(GLUE_SCRIPT)


@functools.cache
def _load_script(path: Path) -> ModuleType:
    name = "recflow_glue_interactions_etl"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def raw_files_in(lake_dir: Path, prefix: str = "raw/") -> list[tuple[str, Path]]:
    """(key, path) of every file under lake_dir/prefix, keys relative to lake_dir like S3 keys."""
    root = Path(lake_dir)
    return sorted((path.relative_to(root).as_posix(), path) for path in (root / prefix).rglob("*") if path.is_file())


def file_bytes(data: bytes | Path) -> bytes:
    return data if isinstance(data, bytes) else Path(data).read_bytes()


def file_head(data: bytes | Path, size: int) -> bytes:
    """The first size bytes, without reading the rest of a file given as a path."""
    if isinstance(data, bytes):
        return data[:size]
    with Path(data).open("rb") as file:
        return file.read(size)


def _text_body(source: str, data: bytes | Path, compression: str | None, glue: Any) -> bytes:
    body = file_bytes(data)
    return _gunzip(source, body, glue) if compression == "gzip" else body


def file_lines(data: bytes) -> pa.LargeStringArray:
    """The file's lines, split like Spark's reader with lineSep LF (read_raw_lines in the Glue script).

    A BOM at the start of the file is dropped, the final LF ends the last line instead of starting an
    empty one, an empty file has no lines, CR stays, bytes that are not UTF-8 become U+FFFD. The lines
    are one buffer (the text without its LFs) and their offsets found with numpy: no Python string per
    line, and DuckDB reads the Arrow array in place.
    """
    data = data.removeprefix(b"\xef\xbb\xbf")
    if not _is_utf8(data):
        data = data.decode("utf-8", errors="recflow-replace-like-java").encode()
    if not data:
        return pa.array([], pa.large_string())
    # Blocks bound the temporary array of comparisons to a few MB.
    codes = np.frombuffer(data, np.uint8)
    breaks = np.concatenate(
        [np.flatnonzero(codes[start : start + SCAN_BLOCK] == 10) + start for start in range(0, len(codes), SCAN_BLOCK)]
    )
    text = data.replace(b"\n", b"")
    # Line i ends where its LF was, less the i LFs removed before it; a last line without LF ends the text.
    ends = breaks - np.arange(len(breaks))
    if not data.endswith(b"\n"):
        ends = np.append(ends, len(text))
    offsets = np.concatenate([np.zeros(1, np.int64), ends.astype(np.int64)])
    return pa.LargeStringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(text))


def _is_utf8(data: bytes) -> bool:
    """Whether data is valid UTF-8, decoded a block at a time so no copy of a large file is made whole."""
    if data.isascii():
        return True
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for start in range(0, len(data), SCAN_BLOCK):
            decoder.decode(data[start : start + SCAN_BLOCK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def load_raw_lines(con: duckdb.DuckDBPyConnection, raw_files: list[tuple[str, bytes]]) -> None:
    """Register raw_lines(source, line_number, line): every physical line of every text file.

    An Arrow table that DuckDB scans where it lies, in batches of BATCH_LINES so that every core takes
    some; each file's source is a dictionary of one value, not a copy of its name per line.
    """
    sources, numbers, lines = [], [], []
    for source, data in raw_files:
        lines_of_file = file_lines(data)
        count = len(lines_of_file)
        sources.append(pa.DictionaryArray.from_arrays(pa.array(np.zeros(count, np.int32)), pa.array([source])))
        numbers.append(pa.array(np.arange(1, count + 1, dtype=np.int64)))
        lines.append(lines_of_file)
    table = pa.table(
        {
            "source": pa.chunked_array(sources, pa.dictionary(pa.int32(), pa.string())),
            "line_number": pa.chunked_array(numbers, pa.int64()),
            "line": pa.chunked_array(lines, pa.large_string()),
        }
    )
    con.register("raw_lines", pa.Table.from_batches(table.to_batches(max_chunksize=BATCH_LINES), table.schema))


def _parquet_value(name: str, column_type: str) -> str:
    """SQL for a Parquet column as the text the shared SQL reads (see read_parquet_records in the Glue script)."""
    quoted = '"' + name.replace('"', '""') + '"'
    if column_type.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"CAST(CAST(floor(epoch({quoted})) AS BIGINT) AS VARCHAR)"
    return f"CAST({quoted} AS VARCHAR)"


def load_parquet_records(
    con: duckdb.DuckDBPyConnection, glue: Any, files: list[tuple[str, Path]], options: Any
) -> list[Any]:
    """Create parquet_records (the Glue script's PARQUET_RECORD_COLUMNS); returns the files' layouts.

    A view over the files, so the records stream from DuckDB's Parquet reader into the classification
    on every core instead of being copied into a table first.
    """
    if not files:
        con.execute(f"CREATE TABLE parquet_records ({glue.PARQUET_RECORD_COLUMNS})")
        return []
    layouts, selects = [], []
    for source, path in files:
        scan = f"read_parquet('{_sql_text(str(path))}', file_row_number = true)"
        types = {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()}
        types.pop("file_row_number", None)
        with path.open("rb") as file:
            head = file.read(glue.HEAD_BYTES)
        layout = glue.plan_file(source, head, options, parquet_columns=list(types))
        layouts.append(layout)

        def value(role: str, layout: Any = layout, types: dict[str, str] = types) -> str:
            name = layout.columns.get(role)
            return "CAST(NULL AS VARCHAR)" if name is None else _parquet_value(name, types[name])

        def name_of(role: str, layout: Any = layout) -> str:
            name = layout.columns.get(role)
            return "CAST(NULL AS VARCHAR)" if name is None else f"'{_sql_text(name)}'"

        selects.append(
            f"SELECT '{_sql_text(source)}', file_row_number + 1, {value('user')}, {value('item')}, "
            f"{value('timestamp')}, {name_of('event_value')}, {value('event_value')}, {name_of('event_type')}, "
            f"{value('event_type')} FROM {scan}"
        )
    names = [column.split()[0] for column in glue.PARQUET_RECORD_COLUMNS.split(", ")]
    con.execute(f"CREATE VIEW parquet_records ({', '.join(names)}) AS {' UNION ALL '.join(selects)}")
    return layouts


def _sql_text(text: str) -> str:
    return text.replace("'", "''")


def classify(
    con: duckdb.DuckDBPyConnection, raw_files: list[tuple[str, bytes | Path]], options: Any, workdir: Path
) -> list[Any]:
    """Plan every file, load its lines or records and create classified_lines; returns the layouts.

    workdir holds Parquet bodies given as bytes (DuckDB reads Parquet from a file).
    """
    glue = load_glue_script()
    con.execute("SET enable_progress_bar = false")  # DuckDB draws one on stdout for queries over 2 s
    text_files: list[tuple[str, bytes]] = []
    parquet_files: list[tuple[str, Path]] = []
    layouts = []
    for source, data in raw_files:
        head = file_head(data, glue.HEAD_BYTES)
        file_format, compression = glue.format_of(source, head, options)
        if file_format == "parquet":
            path = data if isinstance(data, Path) else workdir / f"{len(parquet_files)}.parquet"
            if not isinstance(data, Path):
                path.write_bytes(data)
            parquet_files.append((source, path))
            continue
        layout = glue.plan_file(source, head, options)
        if layout is not None:
            layouts.append(layout)
        text_files.append((source, _text_body(source, data, compression, glue)))
    load_raw_lines(con, text_files)
    text_files.clear()  # the lines are in raw_lines now: a file read here need not stay in memory twice
    layouts += load_parquet_records(con, glue, parquet_files, options)

    con.execute(f"CREATE TABLE file_layouts ({glue.LAYOUT_COLUMNS})")
    rows = glue.layout_rows(layouts)
    if rows:
        con.executemany(f"INSERT INTO file_layouts VALUES ({', '.join('?' * len(rows[0]))})", rows)
    con.execute(f"CREATE TABLE etl_params ({glue.ETL_PARAMS_COLUMNS})")
    con.execute("INSERT INTO etl_params VALUES (?, ?, ?)", list(glue.etl_params_row(options)))
    # Spark's functions, as the shared SQL calls them (see the Glue script's dialect rules): get_json_object
    # is NULL for a line that is not JSON, like Spark's; split takes a one-character class such as '[|]',
    # a regex to Spark, the character between the brackets here (DuckDB's regex split is 40 times slower).
    con.execute("CREATE MACRO get_json_object(j, p) AS CASE WHEN json_valid(j) THEN json_extract_string(j, p) END")
    con.execute("CREATE MACRO split(s, p) AS string_split(s, substring(p, 2, 1))")
    con.execute("CREATE MACRO element_at(l, i) AS l[i]")
    con.execute("CREATE MACRO size(l) AS len(l)")
    con.execute("CREATE MACRO regexp_like(s, p) AS regexp_matches(s, p)")  # both search: true if p occurs in s
    con.execute(f"CREATE VIEW fields AS {glue.FIELDS_SQL}")
    con.execute(f"CREATE TABLE classified_lines AS {glue.CLASSIFY_LINES_SQL}")
    con.unregister("raw_lines")  # frees the lines' Arrow buffers before the interactions are sorted
    return layouts


def run_etl(
    raw_files: list[tuple[str, bytes | Path]], min_rating: float | None, run_id: str, options: Any = None
) -> EtlResult:
    """Transform the raw files (key such as "raw/x.dat", and the content or a local path) like the Glue job.

    options: the Glue script's EtlOptions (InputFormat, the column parameters, MaxRejectedShare); a
    min_rating given here replaces its min_rating. Raises the script's InputLayoutError for a file that
    cannot be read, naming the file and why.
    """
    glue = load_glue_script()
    options = options if options is not None else glue.EtlOptions()
    if min_rating is not None:
        options = dataclasses.replace(options, min_rating=min_rating)
    with duckdb.connect() as con, tempfile.TemporaryDirectory(prefix="recflow-etl-") as tmp:
        layouts = classify(con, raw_files, options, Path(tmp))
        con.execute(f"CREATE TABLE interactions AS {glue.interactions_sql(options)}")

        counts_cursor = con.execute(glue.REPORT_COUNTS_SQL)
        names = [column[0] for column in counts_cursor.description]
        totals = counts_cursor.fetchone()
        if totals is None:  # an aggregate without GROUP BY always answers one row
            raise RuntimeError("REPORT_COUNTS_SQL returned no row.")
        counts = dict(zip(names, totals, strict=True))
        reasons = con.execute(glue.REJECT_REASONS_SQL).fetchall()
        source_files = [row[0] for row in con.execute(glue.SOURCE_FILES_SQL).fetchall()]
        file_counts = con.execute(glue.FILE_COUNTS_SQL).fetchall()
        report = glue.build_report(
            counts, reasons, source_files, run_id=run_id, layouts=layouts, file_counts=file_counts, options=options
        )

        interactions_path = Path(tmp) / "interactions.csv"
        rejects_path = Path(tmp) / "rejects.json"
        # The table keeps interactions_sql's order (DuckDB preserves insertion order by default).
        con.execute(f"COPY interactions TO '{interactions_path}' (FORMAT CSV, HEADER)")
        con.execute(f"COPY ({glue.REJECTS_SQL}) TO '{rejects_path}' (FORMAT JSON)")
        batch_inputs = {}
        for name, sql in glue.BATCH_INPUT_SQL.items():
            path = Path(tmp) / f"batch-{name}.json"
            con.execute(f"COPY ({sql}) TO '{path}' (FORMAT JSON)")  # {"userId":"75"} lines, as Spark writes them
            batch_inputs[name] = path.read_bytes()
        return EtlResult(
            run_id=run_id,
            interactions_csv=interactions_path.read_bytes(),
            rejects_jsonl=rejects_path.read_bytes(),
            batch_inputs=batch_inputs,
            report=report,
            rejection=glue.run_rejection(report, run_id, [source for source, _ in raw_files]),
        )


def _gunzip(source: str, body: bytes, glue: Any) -> bytes:
    try:
        return gzip.decompress(body)
    except (OSError, EOFError) as exc:
        raise glue.InputLayoutError(f"{source}: the file is not valid gzip ({exc}).") from None
