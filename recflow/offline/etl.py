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
import importlib.util
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
    rejects_jsonl: bytes = Field(repr=False)  # {"source", "line", "reason"} per line; b"" when none
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
    """The Glue job module, loaded from its file."""
    if not GLUE_SCRIPT.is_file():
        raise FileNotFoundError(
            f"The Glue script {GLUE_SCRIPT} is missing: run recflow from a source checkout of the project."
        )
    spec = importlib.util.spec_from_file_location("recflow_glue_interactions_etl", GLUE_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
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


def load_raw_lines(con: duckdb.DuckDBPyConnection, raw_files: list[tuple[str, bytes | Path]]) -> None:
    """Create the table raw_lines(source, line): every physical line of every file."""
    sources: list[str] = []
    chunks: list[str] = []
    for source, data in raw_files:
        file_chunks = split_into_chunks(data if isinstance(data, bytes) else Path(data).read_bytes())
        sources.extend([source] * len(file_chunks))
        chunks.extend(file_chunks)
    con.execute("CREATE TABLE raw_chunks (source VARCHAR, chunk VARCHAR)")
    if chunks:
        con.execute("INSERT INTO raw_chunks SELECT unnest(?), unnest(?)", [sources, chunks])
    # A table, not a view over raw_chunks: DuckDB splits a scan by row groups of 122,880 rows, so only
    # stored lines let CLASSIFY_LINES_SQL run on every core (a few hundred chunks are one row group).
    con.execute("CREATE TABLE raw_lines AS SELECT source, unnest(string_split(chunk, chr(10))) AS line FROM raw_chunks")


def run_etl(raw_files: list[tuple[str, bytes | Path]], min_rating: float | None, run_id: str) -> EtlResult:
    """Transform the raw files (key such as "raw/x.dat", and the content or a local path) like the Glue job."""
    glue = load_glue_script()
    with duckdb.connect() as con, tempfile.TemporaryDirectory(prefix="recflow-etl-") as tmp:
        load_raw_lines(con, raw_files)
        con.execute("CREATE TABLE etl_params AS SELECT CAST(? AS DOUBLE) AS min_rating", [min_rating])
        con.execute(f"CREATE TABLE classified_lines AS {glue.CLASSIFY_LINES_SQL}")
        con.execute(f"CREATE TABLE interactions AS {glue.INTERACTIONS_SQL}")

        counts_cursor = con.execute(glue.REPORT_COUNTS_SQL)
        names = [column[0] for column in counts_cursor.description]
        totals = counts_cursor.fetchone()
        if totals is None:  # an aggregate without GROUP BY always answers one row
            raise RuntimeError("REPORT_COUNTS_SQL returned no row.")
        counts = dict(zip(names, totals, strict=True))
        reasons = con.execute(glue.REJECT_REASONS_SQL).fetchall()
        source_files = [row[0] for row in con.execute(glue.SOURCE_FILES_SQL).fetchall()]
        report = glue.build_report(counts, reasons, source_files, run_id=run_id)

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
