"""`recflow local serve` as a user runs it, for the end-to-end tests: a subprocess on a free port with no AWS
credentials, reached over real HTTP by boto3, the AWS CLI and `recflow aws`.

    with serving(tmp_path / "lake", tmp_path / "home") as served:    # or "--parameter", "Recipe=aws-sims"
        execution = run_pipeline(served, ratings_file)                # upload to raw/, wait for the run
        lines = out_lines(served, execution["name"])                  # the run's batch output, parsed
        subprocess.run([str(AWS_CLI), "s3", "ls"], env=client_env(home, served.url))
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

RECFLOW = Path(sys.executable).with_name("recflow")
AWS_CLI = Path(sys.executable).with_name("aws")
START_SECONDS = 120  # a cold start measures ~12 s here; a loaded CI machine gets ten times that
RUN_SECONDS = 120  # a small run through the server measures ~6 s
REGION = "us-east-1"


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_env(home: Path) -> dict[str, str]:
    """The environment without any AWS_* variable, and a HOME without ~/.aws: the server needs no credentials."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.update(HOME=str(home), PYTHONUNBUFFERED="1", COLUMNS="200")
    return env


def client_env(home: Path, url: str, key: str = "cli") -> dict[str, str]:
    """What a user's shell has when pointing the AWS CLI (or `recflow aws`) at the server: any credentials."""
    return {
        **clean_env(home),
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": key,
        "AWS_DEFAULT_REGION": REGION,
    }


@dataclass
class Served:
    """A running `recflow local serve`: its process, port, lake and what it printed so far."""

    process: subprocess.Popen[str]
    port: int
    lake: Path
    stack_name: str = "recflow"
    lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def client(self, service: str, config: Config | None = None) -> Any:
        """A boto3 client for the server, with any credentials."""
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="anything",
            aws_secret_access_key="anything",
            config=config,
        )

    def outputs(self) -> dict[str, str]:
        """The deployed stack's Outputs, from CloudFormation."""
        (stack,) = self.client("cloudformation").describe_stacks(StackName=self.stack_name)["Stacks"]
        return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    def stop(self) -> int:
        """Ctrl-C, as a user stops it; returns the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)


def serve(port: int, lake: Path, home: Path, *options: str) -> Served:
    """Start `recflow local serve --port PORT --lake LAKE [options]` and wait until it serves (its
    "Serving on" line); a server that does not start fails the test with what it printed."""
    args = ["local", "serve", "--port", str(port), "--time-scale", "0.001", "--lake", str(lake), *options]
    process = subprocess.Popen(
        [str(RECFLOW), *args], env=clean_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    stack_name = options[options.index("--stack-name") + 1] if "--stack-name" in options else "recflow"
    served = Served(process, port, lake, stack_name)
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            served.lines.append(line)
            if line.startswith("Serving on"):
                ready.set()
        ready.set()  # the process ended: stop waiting

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(START_SECONDS) or process.poll() is not None:
        process.kill()
        pytest.fail(f"recflow local serve did not start:\n{served.output}")
    return served


@contextmanager
def serving(lake: Path, home: Path, *options: str) -> Iterator[Served]:
    """A server on a free port for the block (for a module-scoped fixture); killed at the end if the block
    did not stop it."""
    served = serve(free_port(), lake, home, *options)
    try:
        yield served
    finally:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait()


def executions(served: Served) -> list[dict[str, Any]]:
    """The state machine's executions, newest first."""
    machine = served.outputs()["StateMachineArn"]
    pages = served.client("stepfunctions").get_paginator("list_executions").paginate(stateMachineArn=machine)
    return [execution for page in pages for execution in page["executions"]]


def wait_for_new_run(served: Served, before: set[str], seconds: float = RUN_SECONDS) -> dict[str, Any]:
    """The execution started since `before` (execution ARNs), once it appears."""
    deadline = time.monotonic() + seconds
    while not (new := [e for e in executions(served) if e["executionArn"] not in before]):
        assert time.monotonic() < deadline, f"no run started within {seconds} s"
        time.sleep(0.2)
    (execution,) = new
    return execution


def wait_for_end(served: Served, execution_arn: str, seconds: float = RUN_SECONDS) -> dict[str, Any]:
    """describe_execution once the run is no longer RUNNING."""
    sfn, deadline = served.client("stepfunctions"), time.monotonic() + seconds
    while (described := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{execution_arn} still RUNNING after {seconds} s"
        time.sleep(0.3)
    return dict(described)


def run_pipeline(served: Served, raw_file: Path, key: str | None = None) -> dict[str, Any]:
    """Upload `raw_file` to raw/ (the template's rule starts a run) and wait for that run to end; returns
    its describe_execution. The status is the caller's to assert."""
    before = {e["executionArn"] for e in executions(served)}
    served.client("s3").upload_file(str(raw_file), served.outputs()["DataBucketName"], key or f"raw/{raw_file.name}")
    return wait_for_end(served, wait_for_new_run(served, before)["executionArn"])


def out_lines(served: Served, run_id: str) -> list[dict[str, Any]]:
    """The lines of the run's batch output (its one .out file under recommendations/<run-id>/), parsed."""
    s3, bucket = served.client("s3"), served.outputs()["DataBucketName"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"recommendations/{run_id}/")["Contents"]]
    (key,) = [k for k in keys if k.endswith(".out")]
    return [json.loads(line) for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()]
