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
from pydantic import BaseModel, ConfigDict, Field

GLUE_SCRIPT = Path(__file__).resolve().parents[2] / "glue" / "interactions_etl.py"

# Lines reach DuckDB as chunks of whole lines that DuckDB splits in parallel: one string per file is
# split on a single thread, a Python list of lines costs a conversion per line (bench/etl_bench.py
# prints the three side by side).
CHUNK_CHARS = 64 * 1024


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
    report: dict[str, Any]

    @property
    def interactions_key(self) -> str:
        return f"transformed/{self.run_id}/interactions/part-00000.csv"

    @property
    def rejects_key(self) -> str:
        return f"rejects/{self.run_id}/part-00000.json"

    @property
    def report_key(self) -> str:
        return f"transformed/{self.run_id}/report.json"

    def objects(self) -> dict[str, bytes]:
        """Data lake key -> body, exactly the objects the Glue job writes for this run."""
        glue = load_glue_script()
        return {
            self.interactions_key: self.interactions_csv,
            self.rejects_key: self.rejects_jsonl,
            self.report_key: glue.report_json(self.report).encode(),
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


def split_into_chunks(data: bytes) -> list[str]:
    """The file's text as chunks of whole lines, joined by LF they are exactly its lines.

    Same rules as Spark's reader with lineSep LF (read_raw_lines in the Glue script): a BOM at the start
    of the file is dropped, the final LF ends the last line instead of starting an empty one, an empty
    file has no lines, CR stays, bytes that are not UTF-8 become U+FFFD.
    """
    text = data.decode("utf-8-sig", errors="recflow-replace-like-java")
    if not text:
        return []
    if text.endswith("\n"):
        text = text[:-1]
    chunks = []
    start = 0
    while True:
        end = text.find("\n", start + CHUNK_CHARS)
        if end == -1:
            chunks.append(text[start:])
            return chunks
        chunks.append(text[start:end])
        start = end + 1


def chunk_first_lines(chunks: list[str]) -> list[int]:
    """The line number of each chunk's first line (chunks from split_into_chunks of one file)."""
    first, numbers = 1, []
    for chunk in chunks:
        numbers.append(first)
        first += chunk.count("\n") + 1
    return numbers


def file_bytes(data: bytes | Path) -> bytes:
    return data if isinstance(data, bytes) else Path(data).read_bytes()


def load_raw_lines(con: duckdb.DuckDBPyConnection, raw_files: list[tuple[str, bytes]]) -> None:
    """Create the table raw_lines(source, line_number, line): every physical line of every text file."""
    sources: list[str] = []
    firsts: list[int] = []
    chunks: list[str] = []
    for source, data in raw_files:
        file_chunks = split_into_chunks(data)
        sources.extend([source] * len(file_chunks))
        firsts.extend(chunk_first_lines(file_chunks))
        chunks.extend(file_chunks)
    con.execute("CREATE TABLE raw_chunks (source VARCHAR, first_line BIGINT, chunk VARCHAR)")
    if chunks:
        con.execute("INSERT INTO raw_chunks SELECT unnest(?), unnest(?), unnest(?)", [sources, firsts, chunks])
    # A table, not a view over raw_chunks: DuckDB splits a scan by row groups of 122,880 rows, so only
    # stored lines let CLASSIFY_LINES_SQL run on every core (a few hundred chunks are one row group).
    # generate_subscripts and unnest over the same list run in step: each line gets its number.
    con.execute(
        "CREATE TABLE raw_lines AS SELECT source, first_line + generate_subscripts(parts, 1) - 1 AS line_number, "
        "unnest(parts) AS line FROM (SELECT source, first_line, string_split(chunk, chr(10)) AS parts FROM raw_chunks)"
    )


def _parquet_value(name: str, column_type: str) -> str:
    """SQL for a Parquet column as the text the shared SQL reads (see read_parquet_records in the Glue script)."""
    quoted = '"' + name.replace('"', '""') + '"'
    if column_type.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"CAST(CAST(floor(epoch({quoted})) AS BIGINT) AS VARCHAR)"
    return f"CAST({quoted} AS VARCHAR)"


def load_parquet_records(
    con: duckdb.DuckDBPyConnection, glue: Any, files: list[tuple[str, Path]], options: Any
) -> list[Any]:
    """Create parquet_records (the Glue script's PARQUET_RECORD_COLUMNS); returns the files' layouts."""
    con.execute(f"CREATE TABLE parquet_records ({glue.PARQUET_RECORD_COLUMNS})")
    layouts = []
    for source, path in files:
        scan = f"read_parquet('{_sql_text(str(path))}', file_row_number = true)"
        types = {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()}
        types.pop("file_row_number", None)
        head = path.read_bytes()[: glue.HEAD_BYTES]
        layout = glue.plan_file(source, head, options, parquet_columns=list(types))
        layouts.append(layout)

        def value(role: str, layout: Any = layout, types: dict[str, str] = types) -> str:
            name = layout.columns.get(role)
            return "NULL" if name is None else _parquet_value(name, types[name])

        value_name = layout.columns.get("event_value")
        con.execute(
            f"INSERT INTO parquet_records SELECT ?, file_row_number + 1, {value('user')}, {value('item')}, "
            f"{value('timestamp')}, ?, {value('event_value')} FROM {scan}",
            [source, value_name],
        )
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
    text_files: list[tuple[str, bytes]] = []
    parquet_files: list[tuple[str, Path]] = []
    layouts = []
    for source, data in raw_files:
        body = file_bytes(data)
        file_format, compression = glue.format_of(source, body[: glue.HEAD_BYTES], options)
        if file_format == "parquet":
            path = data if isinstance(data, Path) else workdir / f"{len(parquet_files)}.parquet"
            if not isinstance(data, Path):
                path.write_bytes(body)
            parquet_files.append((source, path))
            continue
        layout = glue.plan_file(source, body[: glue.HEAD_BYTES], options)
        if compression == "gzip":
            body = _gunzip(source, body, glue)
        if layout is not None:
            layouts.append(layout)
        text_files.append((source, body))
    load_raw_lines(con, text_files)
    layouts += load_parquet_records(con, glue, parquet_files, options)

    con.execute(f"CREATE TABLE file_layouts ({glue.LAYOUT_COLUMNS})")
    rows = glue.layout_rows(layouts)
    if rows:
        con.executemany(f"INSERT INTO file_layouts VALUES ({', '.join('?' * len(rows[0]))})", rows)
    con.execute("CREATE TABLE etl_params AS SELECT CAST(? AS DOUBLE) AS min_rating", [options.min_rating])
    # Spark's functions, as the shared SQL calls them (see the Glue script's dialect rules): get_json_object
    # is NULL for a line that is not JSON, like Spark's; split takes a one-character class such as '[|]',
    # a regex to Spark, the character between the brackets here (DuckDB's regex split is 40 times slower).
    con.execute("CREATE MACRO get_json_object(j, p) AS CASE WHEN json_valid(j) THEN json_extract_string(j, p) END")
    con.execute("CREATE MACRO split(s, p) AS string_split(s, substring(p, 2, 1))")
    con.execute("CREATE MACRO element_at(l, i) AS l[i]")
    con.execute("CREATE MACRO size(l) AS len(l)")
    con.execute(f"CREATE VIEW fields AS {glue.FIELDS_SQL}")
    con.execute(f"CREATE TABLE classified_lines AS {glue.CLASSIFY_LINES_SQL}")
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
        con.execute(f"CREATE TABLE interactions AS {glue.INTERACTIONS_SQL}")

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
        # The table keeps INTERACTIONS_SQL's order (DuckDB preserves insertion order by default).
        con.execute(f"COPY interactions TO '{interactions_path}' (FORMAT CSV, HEADER)")
        con.execute(f"COPY ({glue.REJECTS_SQL}) TO '{rejects_path}' (FORMAT JSON)")
        return EtlResult(
            run_id=run_id,
            interactions_csv=interactions_path.read_bytes(),
            rejects_jsonl=rejects_path.read_bytes(),
            report=report,
        )


def _gunzip(source: str, body: bytes, glue: Any) -> bytes:
    try:
        return gzip.decompress(body)
    except (OSError, EOFError) as exc:
        raise glue.InputLayoutError(f"{source}: the file is not valid gzip ({exc}).") from None
