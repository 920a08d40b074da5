"""The offline pipeline on the HetRec-sized synthetic set, as `make demo` runs it.

Budget (issue: offline mode): ≤ 60 s wall and ≤ 3 GB peak memory from upload to recommendations for
every user, on 2 cores. Prints per-phase seconds so regressions show. Run: .venv/bin/python bench/pipeline_bench.py

With --lambdas-at N [N ...] it runs the pipeline once per size N of interactions instead (50 per user, so
the users and the batch input grow with N; 10,000 items) and prints the `lambdas` section of each run's
summary.json side by side: every function's max memory, and its ratio to the smallest run's. The issue's
target: all data-sized work in the ETL, so the functions' max memory stays within 20% from 100k to 10M
interactions:
    .venv/bin/python bench/pipeline_bench.py --lambdas-at 100000 10000000
Those runs use the popularity-count recipe and no simulated waiting, so training and scoring stay bounded
(the recipe changes nothing the functions do).
"""

import argparse
import resource
import tempfile
import time
from pathlib import Path

from recflow.offline.runtime import RunRequest, Summary, run
from recflow.synthetic import generate

BUDGET_SECONDS, BUDGET_BYTES = 60.0, 3 * 1024**3
MEMORY_TARGET = 0.20  # per function, how far the largest run's max memory may be from the smallest's
INTERACTIONS_PER_USER, ITEMS, BLOCK = 50, 10_000, 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=2100)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--interactions", type=int, default=850_000)
    parser.add_argument("--raw", type=Path, help="use this raw file instead of synthetic data")
    parser.add_argument("--lambdas-at", type=int, nargs="+", metavar="N", help="compare the functions' memory")
    args = parser.parse_args()
    if args.lambdas_at:
        compare_lambdas(sorted(args.lambdas_at))
        return
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
    training = summary.training
    if training:
        print(f"model: λ={training.get('penalty')}, τ={training.get('recency')}; {training.get('decision')}")


def synthetic_file(path: Path, interactions: int) -> int:
    """A HetRec-layout file of `interactions` lines; returns its users. Up to BLOCK lines it is one synthetic
    set; beyond, BLOCK-line sets of other users (as before the generator streamed: the figures stay comparable)."""
    users = max(100, min(interactions, BLOCK) // INTERACTIONS_PER_USER)
    block = path.with_suffix(".block")
    generate(block, users=users, items=ITEMS, interactions=min(interactions, BLOCK), seed=7)
    if interactions <= BLOCK:
        block.rename(path)
        return users
    header, *lines = block.read_text().splitlines()
    block.unlink()
    rows = [line.split("\t", 1) for line in lines]
    shift = max(int(user) for user, _ in rows) + 1
    copies = interactions // BLOCK
    with path.open("w") as out:
        out.write(header + "\n")
        for copy in range(copies):  # the same tastes, other users: users and their lists grow with the data
            out.writelines(f"{int(user) + copy * shift}\t{rest}\n" for user, rest in rows)
    return users * copies


def run_at(interactions: int, tmp: Path) -> Summary:
    """One offline run on a synthetic file of `interactions` lines."""
    raw = tmp / f"ratings-{interactions}.dat"
    started = time.perf_counter()
    users = synthetic_file(raw, interactions)
    print(
        f"{interactions:,} interactions ({users:,} users, {ITEMS:,} items): "
        f"generated {raw.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - started:.0f} s (not timed)",
        flush=True,
    )
    request = RunRequest(
        raw_files=[raw],
        lake=tmp / f"lake-{interactions}",
        recipe="aws-popularity-count",
        time_scale=0,
        job_seconds={"import": 60, "train": 60, "batch": 60},
    )
    summary = run(request)
    raw.unlink()
    print(
        f"  status {summary.status} in {summary.wall_seconds:.0f} s wall "
        + ", ".join(f"{phase} {seconds:.0f} s" for phase, seconds in summary.phase_wall_seconds.items()),
        flush=True,
    )
    if summary.status != "SUCCEEDED":
        raise SystemExit(f"the run at {interactions:,} interactions ended {summary.status}: {summary.cause}")
    return summary


def compare_lambdas(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        summaries = {size: run_at(size, Path(tmp)) for size in sizes}
    by_function: dict[str, dict[int, float]] = {}
    limits: dict[str, int] = {}
    for size, summary in summaries.items():
        for name, usage in summary.lambdas.items():
            logical_id = name.split("-")[-2]  # recflow-offline-<LogicalId>-<suffix>
            by_function.setdefault(logical_id, {})[size] = usage.max_memory_mb
            limits[logical_id] = usage.memory_limit_mb
    smallest, largest = sizes[0], sizes[-1]
    print()
    print("max memory MB per function (summary.json `lambdas`)")
    header = f"{'function':<28}" + "".join(f"{f'{size:,}':>12}" for size in sizes) + f"{'ratio':>8}{'limit':>8}"
    print(header)
    worst = 0.0  # the largest difference between the two runs, either way
    for function, memory in sorted(by_function.items()):
        ratio = memory[largest] / memory[smallest] if smallest in memory and largest in memory else float("nan")
        worst = max(worst, abs(ratio - 1))
        cells = "".join(f"{memory.get(size, float('nan')):>12.1f}" for size in sizes)
        print(f"{function:<28}{cells}{ratio:>8.2f}{limits[function]:>8}")
    users = {size: summary.counts.get("users") for size, summary in summaries.items()}
    print("users: " + ", ".join(f"{users[size]:,} at {size:,}" for size in sizes))
    verdict = "within" if worst <= MEMORY_TARGET else "OVER"
    print(f"largest difference {worst:.0%}: {verdict} the target (same max memory within {MEMORY_TARGET:.0%})")


if __name__ == "__main__":
    main()
