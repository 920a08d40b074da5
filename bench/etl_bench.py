"""ETL speed: the offline DuckDB runner against the Glue transform on pyspark local[2], in one process.

Data: the HetRec-sized synthetic set (recflow.synthetic defaults) and, when present, the development
file ../shared/data/ml-latest-small-ratings.dat. Both engines run the same SQL, read the raw file and
produce the interactions CSV, the rejects and the report (Spark writes its outputs to a temporary
directory, the DuckDB runner returns them as bytes).

Figures: wall seconds (best of --repeat runs; Spark also its first run, and the session start),
lines/s, CPU seconds, peak RSS (DuckDB: this process; Spark: the JVM, where the work happens), and
how the three ways of getting lines into DuckDB compare.

    .venv/bin/python bench/etl_bench.py [--repeat 3] [--no-spark]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from recflow.offline import etl
from recflow.synthetic import generate

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ml-latest-small-ratings.dat"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reset_peak_rss(pid: int | str = "self") -> None:
    """Linux: writing 5 to clear_refs resets VmHWM, so each measurement gets its own peak."""
    with contextlib.suppress(OSError):  # not Linux, or not allowed: the peak then covers earlier runs
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_of(repeat: int, run: Callable[[], Any], pid: int | str = "self") -> dict[str, Any]:
    """Best wall time of repeat runs, with the CPU seconds and peak RSS of that run."""
    best: dict[str, Any] = {}
    for _ in range(repeat):
        reset_peak_rss(pid)
        started, cpu = time.perf_counter(), cpu_seconds()
        result = run()
        wall = time.perf_counter() - started
        if not best or wall < best["wall"]:
            best = {"wall": wall, "cpu": cpu_seconds() - cpu, "rss": peak_rss_mb(pid), "result": result}
    return best


def duckdb_readers(data: bytes) -> dict[str, float]:
    """Seconds to get every line of data into a DuckDB table, three ways (the runner uses the first)."""
    text = data.decode("utf-8-sig", errors="replace").removesuffix("\n")

    def runner(con: duckdb.DuckDBPyConnection) -> int:
        etl.load_raw_lines(con, [("raw/x", data)])
        return con.execute("SELECT count(line) FROM raw_lines").fetchone()[0]

    ways = {
        "chunks of lines, split by DuckDB (the runner)": runner,
        "one string, split by DuckDB": lambda con: (
            con.execute("CREATE TABLE raw_lines AS SELECT unnest(string_split(?, chr(10))) AS line", [text])
            .execute("SELECT count(line) FROM raw_lines")
            .fetchone()[0]
        ),
        "a Python list of lines": lambda con: (
            con.execute("CREATE TABLE raw_lines AS SELECT unnest(?) AS line", [text.split("\n")])
            .execute("SELECT count(line) FROM raw_lines")
            .fetchone()[0]
        ),
    }
    seconds = {}
    for name, count_lines in ways.items():
        timings = []
        for _ in range(3):
            with duckdb.connect() as con:
                started = time.perf_counter()
                lines = count_lines(con)
                timings.append(time.perf_counter() - started)
        assert lines == text.count("\n") + 1
        seconds[name] = min(timings)
    return seconds


def run_spark(spark: Any, glue: Any, lake: Path, key: str, out: Path) -> dict[str, Any]:
    raw = glue.read_raw_lines(spark, [f"file://{lake}/{key}"], root_uri=f"file://{lake}/")
    interactions, rejects, report = glue.transform_dataframe(spark, raw, None)
    glue.write_outputs(interactions, rejects, f"file://{out}", "bench")
    spark.catalog.clearCache()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-spark", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="etl-bench-") as tmp:
        lake = Path(tmp) / "lake"
        started = time.perf_counter()
        stats = generate(lake / "raw" / "synthetic.dat")
        print(
            f"synthetic set: {stats.interactions:,} interactions, {stats.users:,} users, {stats.items:,} items, "
            f"{stats.bytes / 1e6:.1f} MB, generated in {time.perf_counter() - started:.2f} s"
        )
        datasets = {"synthetic HetRec-sized": "raw/synthetic.dat"}
        if REAL_DATA.is_file():
            (lake / "raw" / "ml-latest-small.dat").write_bytes(REAL_DATA.read_bytes())
            datasets["ml-latest-small (real)"] = "raw/ml-latest-small.dat"

        print(f"\nmachine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; best of {args.repeat} runs")
        print("\nGetting the synthetic set's lines into DuckDB:")
        for name, seconds in duckdb_readers((lake / datasets["synthetic HetRec-sized"]).read_bytes()).items():
            print(f"  {name:48s} {seconds:6.3f} s")

        figures: dict[str, dict[str, dict[str, Any]]] = {}
        for name, key in datasets.items():
            raw = [(key, (lake / key).read_bytes())]
            figures[name] = {"duckdb": best_of(args.repeat, lambda raw=raw: etl.run_etl(raw, None, "bench").report)}

        if not args.no_spark:
            from pyspark.sql import SparkSession

            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            started = time.perf_counter()
            spark = (
                SparkSession.builder.master("local[2]")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")  # progress bars would bury the figures
                .config("spark.driver.memory", "2g")
                .getOrCreate()
            )
            spark.sparkContext.setLogLevel("ERROR")
            session_start = time.perf_counter() - started
            jvm = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
            glue = etl.load_glue_script()
            for name, key in datasets.items():
                out = Path(tmp) / "spark-out"
                started = time.perf_counter()
                run_spark(spark, glue, lake, key, out)
                first = time.perf_counter() - started
                warm = best_of(args.repeat, lambda key=key, out=out: run_spark(spark, glue, lake, key, out), pid=jvm)
                figures[name]["spark"] = warm | {"first": first, "session": session_start}
            spark.stop()

        print(
            f"\n{'data':24s} {'engine':16s} {'lines':>9s} {'wall s':>7s} {'lines/s':>10s} {'CPU s':>6s} "
            f"{'peak RSS MB':>12s}"
        )
        for name, engines in figures.items():
            lines = engines["duckdb"]["result"]["lines_read"]
            for engine, figure in engines.items():
                label = "DuckDB" if engine == "duckdb" else "Spark local[2]"
                cpu = f"{figure['cpu']:6.2f}" if engine == "duckdb" else "   JVM"
                print(
                    f"{name:24s} {label:16s} {lines:9,d} {figure['wall']:7.2f} {lines / figure['wall']:10,.0f} "
                    f"{cpu} {figure['rss']:12.0f}"
                )
            if "spark" in engines:
                spark_figures, duck = engines["spark"], engines["duckdb"]["wall"]
                assert spark_figures["result"] == {
                    k: v for k, v in engines["duckdb"]["result"].items() if k != "run_id"
                }
                print(
                    f"{'':24s} Spark first run {spark_figures['first']:.2f} s, session start "
                    f"{spark_figures['session']:.2f} s; Spark/DuckDB wall: warm "
                    f"{spark_figures['wall'] / duck:.1f}x, first run + session start "
                    f"{(spark_figures['first'] + spark_figures['session']) / duck:.1f}x (same reports)"
                )


if __name__ == "__main__":
    main()
