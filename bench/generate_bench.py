"""`recflow generate` speed and memory: the HetRec size and issue 13's 10M lines (70k users x 10k items).

Each size runs in its own process, so its peak RSS is its own. The floor, measured in the same child
process: Arrow writing the same number of random rows of the same four columns to a file, what writing
the text costs at all. Issue 13's target for 10M: <= 15 s wall and <= 1 GB peak.

    .venv/bin/python bench/generate_bench.py [--small-only]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from recflow.synthetic import HETREC_INTERACTIONS, HETREC_ITEMS, HETREC_USERS, generate

SIZES = {
    "HetRec 855k": (HETREC_USERS, HETREC_ITEMS, HETREC_INTERACTIONS),
    "10M (70k x 10k)": (70_000, 10_000, 10_000_000),
}
TARGET_10M = (15.0, 1024.0)  # seconds, peak MB


def measure(users: int, items: int, interactions: int) -> dict[str, float]:
    """In this (child) process: generate's wall and peak RSS, then the floor."""
    with tempfile.TemporaryDirectory(prefix="generate-bench-") as tmp:
        started = time.perf_counter()
        stats = generate(Path(tmp) / "ratings.dat", users=users, items=items, interactions=interactions, seed=7)
        wall = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rng = np.random.default_rng(0)
        table = pa.table(
            {
                "userID": rng.integers(1, users * 34, interactions),
                "movieID": rng.integers(1, items * 6, interactions),
                "rating": rng.integers(1, 11, interactions) / 2,
                "timestamp": rng.integers(875_664_000_000, 1_230_768_000_000, interactions),
            }
        )
        started = time.perf_counter()
        options = pa_csv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
        pa_csv.write_csv(table, str(Path(tmp) / "floor.dat"), options)
        floor = time.perf_counter() - started
    return {"wall": wall, "peak_mb": peak, "floor": floor, "bytes": stats.bytes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small-only", action="store_true", help="only the HetRec size")
    parser.add_argument("--child", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return
    print(f"{'size':18} {'wall s':>7} {'peak MB':>8} {'floor s':>8} {'x floor':>8} {'MB':>6}  target")
    for name, size in SIZES.items():
        if args.small_only and name != "HetRec 855k":
            continue
        child = subprocess.run(
            [sys.executable, __file__, "--child", *map(str, size)], check=True, capture_output=True, text=True
        )
        figures = json.loads(child.stdout.splitlines()[-1])
        target = ""
        if name.startswith("10M"):
            met = figures["wall"] <= TARGET_10M[0] and figures["peak_mb"] <= TARGET_10M[1]
            target = f"<= {TARGET_10M[0]:.0f} s, <= 1 GB: {'met' if met else 'missed'}"
        print(
            f"{name:18} {figures['wall']:7.2f} {figures['peak_mb']:8.0f} {figures['floor']:8.2f} "
            f"{figures['wall'] / figures['floor']:8.1f} {figures['bytes'] / 1e6:6.0f}  {target}",
            flush=True,
        )


if __name__ == "__main__":
    main()
