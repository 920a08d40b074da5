"""The whole offline run at 100k, 850k (the demo) and 10M interactions: issue 13's scale table.

Each size runs `recflow.offline.runtime.run` (the default recipe, as `make demo` does) in its own process, so
its peak RSS and its start-up are its own, on `recflow generate` data of that shape (not timed). Printed:
summary.json's per-phase wall seconds at each size, the wall, start-up (process start to the execution's
start: imports and deploy) and its imports alone, the wall without the training phase (what a faster model
could not remove), and peak RSS, how they grow from size to size, and two floors measured in the
same child after the run: a DuckDB scan of the raw file (read_csv with COUNT(DISTINCT) of users and items,
what ETL and import cannot beat) and one matrix product of the model's shape (users x 64 factors times 64 x
items, in blocks: every score a batch job must produce).

Targets (issue 13): 10M <= 120 s wall and <= 4 GB peak; 850k <= 8 s; 100k <= 4 s with start-up <= 1.5 s.

    .venv/bin/python bench/scale_bench.py [--sizes 100k 850k 10M]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = {  # users, items, interactions
    "100k": (610, 9_700, 100_000),
    "850k": (2_100, 10_000, 850_000),
    "10M": (70_000, 10_000, 10_000_000),
}
TARGETS = {"100k": (4.0, None), "850k": (8.0, None), "10M": (120.0, 4 * 1024**3)}  # wall s, peak bytes
STARTUP_TARGET = ("100k", 1.5)
PHASES = ("etl", "data", "import", "train", "batch", "finish")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument("--child", nargs=4, metavar=("RAW", "USERS", "ITEMS", "LAKE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        raw, users, items, lake = args.child
        print(json.dumps(child(Path(raw), int(users), int(items), Path(lake))))
        return
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            results[size] = measure(size, Path(tmp))
    report(results)


def measure(size: str, tmp: Path) -> dict:
    from recflow.synthetic import generate

    users, items, interactions = SIZES[size]
    raw = tmp / f"ratings-{size}.dat"
    generate(raw, users=users, items=items, interactions=interactions, seed=7)
    command = [sys.executable, __file__, "--child", str(raw), str(users), str(items), str(tmp / f"lake-{size}")]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    raw.unlink()
    if completed.returncode != 0:
        raise SystemExit(f"the {size} run failed:\n{completed.stderr[-3000:]}")
    result: dict = json.loads(completed.stdout.strip().splitlines()[-1])
    print(f"{size}: {result['status']} in {result['wall']:.1f} s, peak {result['peak'] / 1024**3:.2f} GB", flush=True)
    return result


def child(raw: Path, users: int, items: int, lake: Path) -> dict:
    """One run in this process, then the floors; what the parent prints."""
    process_start = time.time()
    import resource

    from recflow.offline.runtime import RunRequest, run

    imports = time.time() - process_start
    summary = run(RunRequest(raw_files=[raw], lake=lake))
    wall = time.time() - process_start  # as a user waits for `recflow local run`: imports included
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    startup = summary.started.timestamp() - process_start if summary.started else float("nan")
    return {
        "status": summary.status,
        "wall": wall,
        "startup": startup,
        "imports": imports,
        "untrained": wall - summary.phase_wall_seconds.get("train", 0.0),  # what a faster model could not remove
        "peak": peak,
        "phases": summary.phase_wall_seconds,
        "training": summary.training.get("decision", ""),
        "ndcg": summary.metrics.get("normalized_discounted_cumulative_gain_at_25"),
        "scan": scan_floor(raw),
        "product": product_floor(users, items),
    }


def scan_floor(raw: Path) -> float:
    import duckdb

    started = time.perf_counter()
    duckdb.sql(
        f"SELECT COUNT(*), COUNT(DISTINCT userID), COUNT(DISTINCT movieID) FROM read_csv('{raw}', delim='\t')"
    ).fetchall()
    return time.perf_counter() - started


def product_floor(users: int, items: int, factors: int = 64) -> float:
    import numpy as np

    rng = np.random.default_rng(0)
    user_factors = rng.random((users, factors), dtype=np.float32)
    item_factors = rng.random((factors, items), dtype=np.float32)
    step = max(1, 4_000_000 // items)
    started = time.perf_counter()
    for start in range(0, users, step):
        user_factors[start : start + step] @ item_factors
    return time.perf_counter() - started


def report(results: dict[str, dict]) -> None:
    sizes = list(results)
    print()
    print(f"{'phase (wall s)':<16}" + "".join(f"{size:>10}" for size in sizes))
    for phase in PHASES:
        print(f"{phase:<16}" + "".join(f"{results[s]['phases'].get(phase, float('nan')):>10.2f}" for s in sizes))
    rows = {
        "start-up": lambda r: f"{r['startup']:.2f}",
        "  of it imports": lambda r: f"{r['imports']:.2f}",
        "wall - train": lambda r: f"{r['untrained']:.2f}",
        "total wall": lambda r: f"{r['wall']:.2f}",
        "peak GB": lambda r: f"{r['peak'] / 1024**3:.2f}",
        "floor: scan s": lambda r: f"{r['scan']:.2f}",
        "floor: product s": lambda r: f"{r['product']:.2f}",
        "wall / floors": lambda r: f"{r['wall'] / (r['scan'] + r['product']):.0f}x",
        "NDCG@25": lambda r: f"{r['ndcg']:.4f}" if r["ndcg"] is not None else "-",
    }
    for name, cell in rows.items():
        print(f"{name:<16}" + "".join(f"{cell(results[s]):>10}" for s in sizes))
    for previous, size in zip(sizes, sizes[1:], strict=False):
        grow = SIZES[size][2] / SIZES[previous][2]
        wall = results[size]["wall"] / results[previous]["wall"]
        peak = results[size]["peak"] / results[previous]["peak"]
        print(f"{previous} -> {size}: data x{grow:.1f}, wall x{wall:.1f}, peak memory x{peak:.1f}")
    for size in sizes:
        print(f"model at {size}: {results[size]['training']}")
    print()
    for size in sizes:
        wall_target, peak_target = TARGETS[size]
        verdict = "PASS" if results[size]["wall"] <= wall_target else "MISS"
        line = f"{size}: {results[size]['wall']:.1f} s wall, target <= {wall_target:.0f} s: {verdict}"
        if verdict == "MISS" and results[size]["untrained"] > wall_target:
            line += f" (the run without its training phase took {results[size]['untrained']:.1f} s)"
        if peak_target:
            peak_verdict = "PASS" if results[size]["peak"] <= peak_target else "MISS"
            peak = results[size]["peak"] / 1024**3
            line += f"; peak {peak:.2f} GB, target <= {peak_target / 1024**3:.0f} GB: {peak_verdict}"
        print(line)
    size, target = STARTUP_TARGET
    if size in results:
        verdict = "PASS" if results[size]["startup"] <= target else "MISS"
        startup, imports = results[size]["startup"], results[size]["imports"]
        print(f"{size}: start-up {startup:.2f} s ({imports:.2f} s of it imports), target <= {target} s: {verdict}")


if __name__ == "__main__":
    main()
