"""What AWS limits that an in-process run would not: a Lambda function's memory and time, a state's payload.

Memory. Handlers run in this process, next to moto and the local Personalize, so the process's memory says
little about one invocation. An invocation's memory is measured as AWS reports "Max Memory Used", resident
memory: the Python Lambda runtime with the handlers' imports (measured once, in a child process:
`runtime_baseline_mb`) plus the peak growth of this process's resident set while the handler runs (sampled
every 5 ms by a thread). What an AWS call does inside this process (moto storing an object, the local
Personalize training inside a DescribeSolutionVersion) happens on AWS's side, not in the function:
`InvocationMeter.aws_call` takes it out, in memory and in time. tracemalloc would count exactly what the
handler allocates, but it traces every allocation in the process, AWS calls included, and made the small
offline run three times slower; sampling costs nothing measurable.

Time. A handler cannot be interrupted safely in-process (a thread cannot be killed, and an asynchronous
exception would leave moto's locks held), so it runs to the end and is judged when it returns: over its
Timeout it fails as `Sandbox.Timedout` and its result is dropped. Unlike AWS, what it did before the
timeout is not cut short; the handlers are idempotent, as a retried Lambda must be anyway.

Payload. Step Functions counts a state's input and output as UTF-8 JSON, at most 256 KiB each.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import resource
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recflow.offline.cache import cache_dir, read_json, write_json
from recflow.run_summary import LambdaUsage, LargestPayload  # the models live with the summary, moto-free

PAYLOAD_LIMIT_BYTES = 262_144  # 256 KiB: Step Functions' limit on a state's input or output and a task's result
MB = 1024 * 1024
HANDLER_PACKAGE = "recflow_lambda.handlers"  # what the runtime baseline imports


def payload_bytes(value: Any) -> int:
    """A state's payload as Step Functions counts it: the UTF-8 bytes of its JSON (a string as it is)."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8"))


# --- the runtime's own memory ------------------------------------------------------------------

_BASELINE_SCRIPT = """
import importlib, os, pkgutil, resource, sys
package = importlib.import_module(sys.argv[1])
for module in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
    importlib.import_module(module.name)
if os.path.exists("/proc/self/status"):  # Linux: the peak resident set, as Lambda's Max Memory Used
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    print(int(status["VmHWM"].split()[0]) * 1024)
else:  # getrusage's peak is in bytes on macOS, kilobytes elsewhere
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024))
"""

_baseline_lock = threading.Lock()
_baseline_mb: float | None = None


def runtime_baseline_mb() -> float:
    """MB a Python Lambda runtime holds before the first event: a fresh interpreter after importing every
    handler module (they share boto3, Powertools and pydantic, which are most of it). Measured in a child
    process (this one has moto and everything else loaded), once per interpreter, dependency versions and
    handler sources: kept in the user's cache directory, since the imports take seconds."""
    global _baseline_mb
    with _baseline_lock:
        if _baseline_mb is None:
            key = _baseline_key()
            cached = _read_cache().get(key)
            _baseline_mb = cached if isinstance(cached, float) else _measure_baseline_mb()
            if cached is None:
                _write_cache({**_read_cache(), key: _baseline_mb})
        return _baseline_mb


_BASELINE_DISTRIBUTIONS = ("boto3", "botocore", "pydantic", "pydantic-core", "aws-lambda-powertools")


def _baseline_key() -> str:
    spec = importlib.util.find_spec(HANDLER_PACKAGE.split(".")[0])
    roots = [Path(location) for location in (spec.submodule_search_locations or [])] if spec else []
    sources = sorted(
        f"{path.relative_to(root)}:{path.stat().st_size}:{path.stat().st_mtime_ns}"
        for root in roots
        for path in root.rglob("*.py")
    )
    versions = []
    for name in _BASELINE_DISTRIBUTIONS:
        try:
            versions.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} missing")
    text = "\n".join([sys.executable, sys.version, *versions, *sources])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _cache_file() -> Path:
    return cache_dir() / "lambda-runtime-baseline.json"


def _read_cache() -> dict[str, Any]:
    found = read_json(_cache_file())
    return found if isinstance(found, dict) else {}


def _write_cache(entries: dict[str, Any]) -> None:
    write_json(_cache_file(), dict(list(entries.items())[-20:]))


def prefetch_runtime_baseline() -> None:
    """Measure the baseline in the background (a few seconds: the imports) while the stack deploys."""
    threading.Thread(target=runtime_baseline_mb, name="lambda-runtime-baseline", daemon=True).start()


def _measure_baseline_mb() -> float:
    done = subprocess.run(
        [sys.executable, "-c", _BASELINE_SCRIPT, HANDLER_PACKAGE], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"could not measure the Lambda runtime's memory by importing {HANDLER_PACKAGE}: {last}")
    return int(done.stdout.split()[-1]) / MB


# --- one invocation's memory and time --------------------------------------------------------------


def resident_bytes() -> int:
    """This process's resident set now (Linux: /proc/self/statm, ~20 µs). Elsewhere the peak so far, which
    only grows: an invocation then counts only what takes the process past its earlier peak."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


def _release_free_heap() -> None:
    """Give the memory malloc keeps free back to the system (glibc's malloc_trim, a few ms): otherwise a
    handler reusing what moto or the trainer freed would grow nothing resident and measure as nothing."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


SAMPLE_SECONDS = 0.005


class _Sampler:
    """One daemon thread that samples the resident set while a segment of an invocation runs: the kernel's
    own peak (VmHWM) could be reset for each segment, but that would also reset getrusage's ru_maxrss for
    whoever else reads it (bench/pipeline_bench.py does)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sampling = threading.Event()
        self._peak = 0
        threading.Thread(target=self._run, name="lambda-memory-sampler", daemon=True).start()

    def _run(self) -> None:
        while True:
            self._sampling.wait()
            rss = resident_bytes()
            with self._lock:
                self._peak = max(self._peak, rss)
            time.sleep(SAMPLE_SECONDS)

    def start(self) -> int:
        """Start a segment; returns the resident bytes at its start."""
        _release_free_heap()
        rss = resident_bytes()
        with self._lock:
            self._peak = rss
        self._sampling.set()
        return rss

    def stop(self) -> int:
        """End the segment; returns its peak resident bytes."""
        self._sampling.clear()
        rss = resident_bytes()
        with self._lock:
            return max(self._peak, rss)


_sampler_lock = threading.Lock()
_sampler: _Sampler | None = None
_meters = threading.local()  # each thread's stack of invocations being measured (a handler may invoke another)


def _the_sampler() -> _Sampler:
    global _sampler
    with _sampler_lock:
        if _sampler is None:
            _sampler = _Sampler()
        return _sampler


class InvocationMeter:
    """Peak resident growth and seconds of one invocation on this thread, AWS calls left out.

    Between AWS calls the growth of the resident set over its start is the invocation's; around a call
    the peak so far is kept, and what the call leaves resident (moto's stored objects, a trained model)
    is set aside. Like Lambda's Max Memory Used this is resident memory, so memory Python frees but keeps
    for reuse counts until the process returns it; what the process already held free and the handler
    reuses does not count (a handler that needs much more than that shows), nor does a peak built and freed
    within one call that holds the GIL (the sampling thread cannot run meanwhile)."""

    def __init__(self) -> None:
        self._sampler = _the_sampler()
        self._start = time.perf_counter()
        self._base = self._sampler.start()
        self._set_aside = 0
        self._peak = 0
        self._aws_seconds = 0.0
        self._depth = 0
        self._call_rss = 0
        self._call_start = 0.0
        self.result: tuple[int, float] | None = None  # set by finish()

    def _fold_peak(self) -> None:
        self._peak = max(self._peak, self._sampler.stop() - self._base - self._set_aside)

    @contextmanager
    def aws_call(self) -> Iterator[None]:
        if self._depth == 0:
            self._fold_peak()
            self._call_rss = resident_bytes()
            self._call_start = time.perf_counter()
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._aws_seconds += time.perf_counter() - self._call_start
                self._set_aside += self._sampler.start() - self._call_rss

    def finish(self) -> tuple[int, float]:
        """(peak bytes, own seconds) of the invocation, read once."""
        if self.result is None:
            self._fold_peak()
            self.result = (max(0, self._peak), time.perf_counter() - self._start - self._aws_seconds)
        return self.result


@contextmanager
def measured_invocation() -> Iterator[InvocationMeter]:
    """Measure the block as one invocation on this thread."""
    stack: list[InvocationMeter] = _meters.__dict__.setdefault("stack", [])
    meter = InvocationMeter()  # one inside another's AWS call: the outer one is not sampling meanwhile
    stack.append(meter)
    try:
        yield meter
    finally:
        meter.finish()
        stack.pop()


@contextmanager
def aws_call() -> Iterator[None]:
    """Around an AWS call made on this thread: left out of the measuring invocation, if there is one."""
    stack: list[InvocationMeter] = _meters.__dict__.get("stack", [])
    if not stack:
        yield
        return
    with stack[-1].aws_call():
        yield


# --- the verdict -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    """One handler invocation, measured against its function's configuration."""

    function_name: str
    memory_mb: float
    memory_limit_mb: int
    seconds: float
    timeout_seconds: int
    error_type: str | None = None  # the function error it ended with, its own or a limit's
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def limit_error(self) -> dict[str, str] | None:
        """The error AWS Lambda would answer the invocation with for a limit it exceeded, as the Invoke
        payload of a current Python runtime carries it (Step Functions names the error after errorType)."""
        if self.memory_mb > self.memory_limit_mb:
            return {
                "errorType": "Runtime.OutOfMemory",
                "errorMessage": f"RequestId: {self.request_id} Error: Runtime exited with error: signal: killed",
            }
        if self.seconds > self.timeout_seconds:
            return {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {self.request_id} Error: Task timed out after "
                f"{self.timeout_seconds:.2f} seconds",
            }
        return None


def measure(function_name: str, memory_limit_mb: int, timeout_seconds: int, meter: InvocationMeter) -> Invocation:
    peak, seconds = meter.finish()
    return Invocation(
        function_name=function_name,
        memory_mb=round(runtime_baseline_mb() + peak / MB, 1),
        memory_limit_mb=memory_limit_mb,
        seconds=round(seconds, 3),
        timeout_seconds=timeout_seconds,
    )


# --- in the run summary ------------------------------------------------------------------------------


def lambda_usage(invocations: Iterable[Invocation]) -> dict[str, LambdaUsage]:
    by_function: dict[str, list[Invocation]] = {}
    for invocation in invocations:
        by_function.setdefault(invocation.function_name, []).append(invocation)
    return {
        name: LambdaUsage(
            invocations=len(calls),
            errors=sum(call.error_type is not None for call in calls),
            max_memory_mb=max(call.memory_mb for call in calls),
            memory_limit_mb=calls[-1].memory_limit_mb,
            max_seconds=max(call.seconds for call in calls),
            timeout_seconds=calls[-1].timeout_seconds,
        )
        for name, calls in sorted(by_function.items())
    }


_PAYLOAD_FIELDS = {  # history event details holding a payload, and what it is to the state
    "stateEnteredEventDetails": ("input", "input"),
    "stateExitedEventDetails": ("output", "output"),
    "lambdaFunctionScheduledEventDetails": ("input", "input"),
    "lambdaFunctionSucceededEventDetails": ("output", "result"),
    "taskScheduledEventDetails": ("parameters", "input"),
    "taskSucceededEventDetails": ("output", "result"),
}


def largest_payload(history: Iterable[dict[str, Any]]) -> LargestPayload | None:
    """The largest input, output or task result in an execution history, with the state it belongs to
    (the pipeline's states run one at a time, so an event belongs to the state entered last)."""
    largest: LargestPayload | None = None
    state = ""
    for event in history:
        if "stateEnteredEventDetails" in event:
            state = event["stateEnteredEventDetails"]["name"]
        for details, (key, kind) in _PAYLOAD_FIELDS.items():
            text = (event.get(details) or {}).get(key)
            if not isinstance(text, str):
                continue
            size = payload_bytes(json.loads(text)) if text else 0  # moto's history is not always compact JSON
            if largest is None or size > largest.bytes:
                largest = LargestPayload(state=state, kind=kind, bytes=size, limit_bytes=PAYLOAD_LIMIT_BYTES)
    return largest
