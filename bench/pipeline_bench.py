"""The offline pipeline on the HetRec-sized synthetic set, as `make demo` runs it.

Budget (issue: offline mode): ≤ 60 s wall and ≤ 3 GB peak memory from upload to recommendations for
every user, on 2 cores. Prints per-phase seconds so regressions show. Run: .venv/bin/python bench/pipeline_bench.py
"""

import argparse
import resource
import tempfile
import time
from pathlib import Path

from recflow.offline.runtime import RunRequest, run
from recflow.synthetic import generate

BUDGET_SECONDS, BUDGET_BYTES = 60.0, 3 * 1024**3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=2100)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--interactions", type=int, default=850_000)
    parser.add_argument("--raw", type=Path, help="use this raw file instead of synthetic data")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        raw = args.raw
        if raw is None:
            raw = Path(tmp) / "ratings.dat"
            started = time.perf_counter()
            generate(raw, users=args.users, items=args.items, interactions=args.interactions, seed=7)
            print(f"generated {raw.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s (not timed)")
        summary = run(RunRequest(raw_files=[raw], lake=Path(tmp) / "lake"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"status {summary.status}, run {summary.run_id}, {summary.state_transitions} state transitions")
    print(f"{'phase':<8} {'wall s':>8}")
    for phase, seconds in summary.phase_wall_seconds.items():
        print(f"{phase:<8} {seconds:>8.2f}")
    print(f"{'total':<8} {summary.wall_seconds:>8.2f}   ({summary.wall_seconds / BUDGET_SECONDS:.2f}× the 60 s budget)")
    print(f"peak RSS {peak / 1024**3:.2f} GB ({peak / BUDGET_BYTES:.2f}× the 3 GB budget)")
    print(
        f"counts: {summary.counts.get('interactions')} interactions, {summary.counts.get('users')} users, "
        f"{summary.counts.get('items')} items; metrics: "
        + ", ".join(f"{k}={v:.4f}" for k, v in sorted(summary.metrics.items()))
    )


if __name__ == "__main__":
    main()
