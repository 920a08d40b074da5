"""The Glue job, offline: the same transform SQL as glue/interactions_etl.py, run by DuckDB on the
objects under raw/ in (moto) S3, with outputs written where the Glue job writes them."""

from __future__ import annotations

import time
from dataclasses import dataclass

import boto3

from recflow.offline.clock import SimClock, WallClock
from recflow.offline.etl import load_glue_script, run_etl
from recflow.offline.moto_extensions import GlueOutcome
from recflow.offline.template import REGION
from recflow.progress import NO_PROGRESS, Progress


@dataclass
class GlueRun:
    run_id: str
    state: str
    wall_seconds: float
    started_at: float  # simulated


class GlueLocal:
    def __init__(self, clock: SimClock | WallClock, fault: str | None = None, progress: Progress = NO_PROGRESS) -> None:
        self.clock = clock
        self.fault = fault
        self.progress = progress
        self.runs: list[GlueRun] = []

    def run(self, job_name: str, arguments: dict[str, str]) -> GlueOutcome:
        run_id = arguments.get("--run_id", "")
        started, wall = self.clock.now(), time.perf_counter()
        outcome = self._outcome(job_name, arguments)
        self.runs.append(GlueRun(run_id, outcome.state, time.perf_counter() - wall, started))
        return outcome

    def _outcome(self, job_name: str, arguments: dict[str, str]) -> GlueOutcome:
        if self.fault == "fail":
            return GlueOutcome("FAILED", f"{job_name}: injected fault (--fault etl:fail)")
        if self.fault == "stop":
            return GlueOutcome("STOPPED", f"{job_name}: stopped (--fault etl:stop)")
        if self.fault == "stall":
            return GlueOutcome("RUNNING")
        try:
            self._transform(arguments)
        except Exception as exc:  # a Glue job run fails with the script's error message
            return GlueOutcome("FAILED", f"{type(exc).__name__}: {exc}")
        return GlueOutcome("SUCCEEDED")

    def _transform(self, arguments: dict[str, str]) -> None:
        glue = load_glue_script()  # the job's own argument handling and listing, then its SQL on DuckDB
        s3 = boto3.client("s3", region_name=REGION)
        bucket, run_id = arguments["--bucket"], arguments["--run_id"]
        keys = glue.list_raw_keys(s3, bucket, arguments.get("--raw_prefix", "raw/"))
        raw = [(key, s3.get_object(Bucket=bucket, Key=key)["Body"].read()) for key in keys]
        # One SQL transform over every file (text, gzip or Parquet): the count moves when it ends.
        with self.progress.step("ETL: raw files transformed", total=len(raw)) as advance:
            result = run_etl(raw, min_rating=None, run_id=run_id, options=glue.parse_options(arguments))
            advance(len(raw))
        for key, body in result.objects().items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
