"""How soon the pipeline notices a Personalize job's end, and how many status checks it pays for it.

Runs the real offline pipeline (no simulated waiting: time_scale 0) with every Personalize job (import,
training, batch) lasting 3 min, 20 min, 45 min, 2 h and 10 h, twice per duration on one lake: the first run
has no history, the second finds the first's durations in history/phase-durations.json. Per phase it prints
the lag (when the pipeline moved on, minus the job's duration), the polls and the state transitions the
phase took, next to the original design's fixed 20-minute waits on the same duration (computed:
lag = ceil(d/1200)·1200 − d, polls = ceil(d/1200)), and checks the issue's bounds:

- first run: lag ≤ max(60 s, 10% of d), ≤ 100 polls per phase;
- second run: lag ≤ max(30 s, 2% of d), ≤ 15 polls per phase;
- a run with a 2-hour training: < 500 state transitions;
- a training stuck until its deadline (24 h by default): < 2,500 history events (10% of Step Functions' 25,000).

The runs give the import and batch phases training's 24 h deadline, so the 10-hour jobs may finish.

Run: .venv/bin/python bench/polling_bench.py   (about 2–4 minutes on 2 cores)
"""

from __future__ import annotations

import contextlib
import io
import math
import tempfile
import time
from collections import Counter
from pathlib import Path

from recflow.execution_history import STATE_PHASES
from recflow.offline.runtime import RunRequest, run
from recflow.run_summary import Summary
from recflow.synthetic import generate

DURATIONS = {"3 min": 180, "20 min": 1200, "45 min": 2700, "2 h": 7200, "10 h": 36_000}
PHASES = ("import", "train", "batch")
FIXED_WAIT = 1200  # the original design: check every 20 minutes
TRANSITIONS_2H, EVENTS_LIMIT = 500, 2_500


def bounds(seconds: float, learnt: bool) -> tuple[float, int]:
    """(lag, polls) the issue allows a phase of `seconds` on a first (not learnt) or later run."""
    return (max(30, 0.02 * seconds), 15) if learnt else (max(60, 0.10 * seconds), 100)


def fixed_design(seconds: float) -> tuple[float, int]:
    checks = math.ceil(seconds / FIXED_WAIT)
    return checks * FIXED_WAIT - seconds, checks


def run_once(
    raw: Path, lake: Path, seconds: float, faults: dict[str, str] | None = None
) -> tuple[Summary, Counter[str]]:
    transitions: Counter[str] = Counter()
    request = RunRequest(
        raw_files=[raw],
        lake=lake,
        time_scale=0,
        job_seconds=dict.fromkeys(PHASES, seconds),
        faults=faults or {},
        # A 10-hour import or batch job is past their default deadlines (6 h, 12 h): give them training's 24 h.
        parameters={"ImportDeadlineSeconds": "86400", "BatchDeadlineSeconds": "86400"},
    )
    with contextlib.redirect_stderr(io.StringIO()):  # moto's and Powertools' chatter; the summary says it all
        summary = run(request, on_state=lambda state: transitions.update([STATE_PHASES[state]]))
    return summary, transitions


def history_events(summary: Summary) -> int:
    """Step Functions history events of a run: 2 per state (entered, exited), 3 per Lambda task
    (scheduled, started, succeeded/failed), 4 for the Glue task and 2 for the execution's start and end."""
    invocations = sum(usage.invocations for usage in summary.lambdas.values())
    return 2 * summary.state_transitions + 3 * invocations + 4 + 2


def main() -> None:
    started = time.perf_counter()
    failures: list[str] = []
    header = (
        f"{'job':>6} {'run':>6} {'phase':>6} │ {'lag s':>6} {'bound':>6} {'polls':>5} {'bound':>5} "
        f"{'trans':>5} {'verdict':>7} │ {'20-min lag s':>12} {'polls':>5} │ {'lag ratio':>9}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "ratings.dat"
        generate(raw, users=60, items=200, interactions=3_000, seed=3)
        print(header)
        print("─" * len(header))
        for label, seconds in DURATIONS.items():
            lake = Path(tmp) / f"lake-{seconds}"
            for number, learnt in ((1, False), (2, True)):
                summary, transitions = run_once(raw, lake, seconds)
                if summary.status != "SUCCEEDED":
                    failures.append(f"{label} run {number}: {summary.status} {summary.cause}")
                    continue
                for phase in PHASES:
                    result = summary.phases[phase]
                    lag = (result.detected_after_seconds or 0) - (result.job_seconds or 0)
                    lag_bound, polls_bound = bounds(seconds, learnt)
                    ok = 0 <= lag <= lag_bound and result.polls <= polls_bound
                    fixed_lag, fixed_polls = fixed_design(seconds)
                    ratio = f"{lag / fixed_lag:.2f}" if fixed_lag else "—"
                    print(
                        f"{label:>6} {number:>6} {phase:>6} │ {lag:>6.0f} {lag_bound:>6.0f} {result.polls:>5} "
                        f"{polls_bound:>5} {transitions[phase]:>5} {'ok' if ok else 'MISSED':>7} │ "
                        f"{fixed_lag:>12.0f} {fixed_polls:>5} │ {ratio:>9}"
                    )
                    if not ok:
                        failures.append(f"{label} run {number} {phase}: lag {lag:.0f} s, {result.polls} polls")
                line = f"{label:>6} {number:>6} {'run':>6} │ {summary.state_transitions} state transitions"
                if seconds == DURATIONS["2 h"]:
                    ok = summary.state_transitions < TRANSITIONS_2H
                    line += f" (bound {TRANSITIONS_2H}: {'ok' if ok else 'MISSED'})"
                    if not ok:
                        failures.append(f"2 h run {number}: {summary.state_transitions} transitions")
                print(line)
        # A training that never finishes: polled until TrainingDeadlineSeconds (default 24 h), then the run fails.
        summary, transitions = run_once(raw, Path(tmp) / "lake-stuck", 180, faults={"train": "stall"})
        events = history_events(summary)
        ok = summary.error is not None and events < EVENTS_LIMIT
        train = summary.phases["train"]
        print(
            f"\nstuck training: {summary.status} ({summary.error}) after {train.detected_after_seconds:.0f} s, "
            f"{train.polls} polls, {summary.state_transitions} state transitions, ≈ {events} history "
            f"events = {events / 25_000:.1%} of Step Functions' 25,000 (bound 10%: {'ok' if ok else 'MISSED'})"
        )
        if not ok:
            failures.append(f"stuck training: {events} events")
    print(f"\n{time.perf_counter() - started:.0f} s; verdict: " + ("all bounds met" if not failures else "MISSED:"))
    for failure in failures:
        print(f"  {failure}")


if __name__ == "__main__":
    main()
