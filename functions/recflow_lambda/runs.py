"""start_run: turn uploads and schedules into pipeline executions, at most one in flight per stack.

Every run's ETL reads all of raw/, so one run covers every upload made before it started. The function
runs one invocation at a time (template.yaml: ReservedConcurrentExecutions 1) and keeps the run in flight
in state/run-lock.json (run_lock.py), with the triggers that arrived while it runs:

- an upload or a schedule while the lock's execution is RUNNING waits in ``pending`` (a trigger already
  covered or pending is a duplicate delivery and changes nothing);
- otherwise it starts a run as before (run id from the upload's version and sequencer), which becomes the
  run in flight;
- when the run in flight ends (the Step Functions status change event, any of SUCCEEDED, FAILED,
  TIMED_OUT, ABORTED), one follow-up run starts for the pending triggers, named from their markers, so a
  redelivered end event starts nothing; without pending triggers the lock is released.

The lock's execution is asked for its status (DescribeExecution) rather than trusted: a run whose end
event never arrives (lost after EventBridge's retries) blocks nothing, since the next trigger finds it
ended and starts a run that also covers what was pending.
"""

import hashlib
from datetime import UTC, datetime

from recflow_lambda import naming, run_lock, workflow
from recflow_lambda.errors import InvalidEvent
from recflow_lambda.models import (
    ExecutionStatusChangeEvent,
    ObjectCreatedEvent,
    PendingTrigger,
    RunLock,
    ScheduledEvent,
    StartRunResult,
    Trigger,
)
from recflow_lambda.settings import StartRunSettings

RAW_PREFIX = "raw/"
FOLLOW_UP_PREFIX = "followup-"
# Markers of earlier runs kept to refuse late duplicate deliveries (EventBridge retries for up to 24 h; a
# duplicate older than these is still refused by its execution name when it had a run of its own).
RECENT_MARKERS = 1000


def start_run(
    event: ObjectCreatedEvent | ScheduledEvent | ExecutionStatusChangeEvent, settings: StartRunSettings, request_id: str
) -> StartRunResult:
    """Start a run for the trigger, queue it behind the run in flight, or start the follow-up of a run that ended.

    ``request_id`` (the Lambda request id) goes into the trigger. Step Functions answers a second
    StartExecution with the same name AND the same input, while the first runs, with the first execution
    instead of ExecutionAlreadyExists: a Lambda retry of the request that started a run gets that run, while
    a duplicate delivery (another request, so another input) starts nothing.
    """
    if isinstance(event, ExecutionStatusChangeEvent):
        return _after_run(event, settings, request_id)
    if isinstance(event, ScheduledEvent):
        marker = naming.scheduled_run_id(event.time)
        trigger = Trigger(
            type="schedule",
            time=event.time.isoformat(),
            rule=next(iter(event.resources), None),
            request_id=request_id,
        )
    else:
        skipped = _skip_reason(event, settings.data_bucket)
        if skipped:
            return StartRunResult(run_id=None, execution_arn=None, started=False, reason=skipped)
        marker, trigger = _upload(event, request_id)
    return _start_or_queue(marker, trigger, settings)


def _upload(event: ObjectCreatedEvent, request_id: str) -> tuple[str, Trigger]:
    bucket, obj = event.detail.bucket.name, event.detail.object
    # Every PUT of a key gets a new version id (the bucket is versioned) and sequencer; a duplicate
    # delivery of the same PUT carries the same ones.
    version_marker = "/".join(filter(None, (obj.version_id, obj.sequencer))) or obj.etag
    if not version_marker:
        raise InvalidEvent(
            f"The Object Created event for {obj.key} has no version-id, sequencer or etag to tell uploads apart."
        )
    trigger = Trigger(
        type="upload",
        time=event.time.isoformat() if event.time else None,
        bucket=bucket,
        key=obj.key,
        etag=obj.etag,
        sequencer=obj.sequencer,
        request_id=request_id,
    )
    return naming.upload_run_id(bucket, obj.key, version_marker), trigger


def _start_or_queue(marker: str, trigger: Trigger, settings: StartRunSettings) -> StartRunResult:
    lock, etag = run_lock.read_lock(settings.data_bucket)
    in_flight = lock.execution_arn if _running(lock.execution_arn, settings.state_machine_arn) else None
    if in_flight:
        if lock.knows(marker):
            reason = f"trigger {marker} is already covered by the run in flight or waits for it (duplicate delivery)"
            return StartRunResult(run_id=None, execution_arn=in_flight, started=False, reason=reason)
        lock.pending.append(PendingTrigger(marker=marker, trigger=trigger))
        run_lock.write_lock(settings.data_bucket, _touched(lock), etag)
        reason = f"run {_name(in_flight)} is in flight: its follow-up run covers trigger {marker}"
        return StartRunResult(run_id=None, execution_arn=in_flight, started=False, queued=True, reason=reason)
    if lock.pending:
        # The run in flight ended but its end event has not been handled (or was lost): one run covers the
        # triggers that waited for it, and this one unless it is a duplicate.
        waiting = [*lock.pending, *([] if lock.knows(marker) else [PendingTrigger(marker=marker, trigger=trigger)])]
        return _start_follow_up(lock, etag, waiting, lock.execution_arn, trigger.time, trigger.request_id, settings)
    if lock.knows(marker):
        reason = f"run {marker} was already started or covered (duplicate delivery)"
        return StartRunResult(run_id=None, execution_arn=None, started=False, reason=reason)
    execution_input = {"run_id": marker, "trigger": trigger.model_dump(exclude_none=True)}
    arn, started = workflow.start_execution_once(settings.state_machine_arn, marker, execution_input)
    if not started:
        return StartRunResult(
            run_id=marker,
            execution_arn=arn,
            started=False,
            reason=f"run {marker} was already started (duplicate delivery)",
        )
    run_lock.write_lock(settings.data_bucket, _in_flight(lock, arn, [marker]), etag)
    return StartRunResult(run_id=marker, execution_arn=arn, started=True)


def _after_run(event: ExecutionStatusChangeEvent, settings: StartRunSettings, request_id: str) -> StartRunResult:
    ended = event.detail
    if ended.state_machine_arn != settings.state_machine_arn:
        reason = f"execution {ended.name} is not of the pipeline {settings.state_machine_arn}"
        return StartRunResult(run_id=None, execution_arn=None, started=False, reason=reason)
    if ended.status in ("RUNNING", "PENDING_REDRIVE"):
        return StartRunResult(
            run_id=None, execution_arn=None, started=False, reason=f"run {ended.name} has not ended ({ended.status})"
        )
    lock, etag = run_lock.read_lock(settings.data_bucket)
    if lock.execution_arn != ended.execution_arn:
        reason = f"run {ended.name} is not the run in flight (its end was already handled)"
        return StartRunResult(run_id=None, execution_arn=None, started=False, reason=reason)
    if not lock.pending:
        run_lock.write_lock(settings.data_bucket, _in_flight(lock, None, []), etag)
        reason = f"run {ended.name} ended {ended.status}; no trigger arrived meanwhile"
        return StartRunResult(run_id=None, execution_arn=None, started=False, reason=reason)
    when = event.time.isoformat() if event.time else None
    return _start_follow_up(lock, etag, lock.pending, ended.execution_arn, when, request_id, settings)


def _start_follow_up(
    lock: RunLock,
    etag: str | None,
    waiting: list[PendingTrigger],
    after: str | None,
    time: str | None,
    request_id: str,
    settings: StartRunSettings,
) -> StartRunResult:
    """One run for every trigger in ``waiting``, named from their markers: whoever starts it again finds it."""
    markers = [pending.marker for pending in _ordered(waiting)]
    run_id = follow_up_run_id(markers)
    trigger = Trigger(
        type="follow-up",
        time=time,  # the event's: a Lambda retry of the request sends the same input, and gets the same run
        after=after,
        covers=len(markers),
        request_id=request_id,
    )
    execution_input = {"run_id": run_id, "trigger": trigger.model_dump(exclude_none=True)}
    arn, started = workflow.start_execution_once(settings.state_machine_arn, run_id, execution_input)
    # Started by an earlier attempt that failed before writing the lock, the run still covers these triggers.
    run_lock.write_lock(settings.data_bucket, _in_flight(lock, arn, markers), etag)
    reason = None if started else f"follow-up run {run_id} was already started (duplicate delivery)"
    return StartRunResult(run_id=run_id, execution_arn=arn, started=started, reason=reason)


def follow_up_run_id(markers: list[str]) -> str:
    """``followup-<sha256 of the sorted markers, 12 hex>``: the same set of triggers, the same run."""
    digest = hashlib.sha256("\n".join(sorted(markers)).encode()).hexdigest()[: naming.HASH_LENGTH]
    return f"{FOLLOW_UP_PREFIX}{digest}"


def _ordered(waiting: list[PendingTrigger]) -> list[PendingTrigger]:
    seen: dict[str, PendingTrigger] = {}
    for pending in waiting:
        seen.setdefault(pending.marker, pending)
    return list(seen.values())


def _in_flight(lock: RunLock, execution_arn: str | None, covers: list[str]) -> RunLock:
    """The lock once ``execution_arn`` (None: no run) is the run in flight covering ``covers``."""
    recent = [m for m in [*lock.recent, *lock.covers, *(p.marker for p in lock.pending)] if m not in covers]
    return _touched(RunLock(execution_arn=execution_arn, covers=covers, recent=recent[-RECENT_MARKERS:]))


def _touched(lock: RunLock) -> RunLock:
    lock.updated_at = datetime.now(UTC).isoformat()
    return lock


def _running(execution_arn: str | None, state_machine_arn: str) -> bool:
    """Whether the lock's execution still runs. An execution of another state machine (a lock restored into
    another stack, or a pipeline replaced by an update) is not this pipeline's run: it holds nothing."""
    if execution_arn is None or execution_arn.rsplit(":", 1)[0] != _execution_prefix(state_machine_arn):
        return False
    return workflow.execution_status(execution_arn) == "RUNNING"


def _execution_prefix(state_machine_arn: str) -> str:
    return naming.execution_arn(state_machine_arn, "x").rsplit(":", 1)[0]


def _name(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1]


def _skip_reason(event: ObjectCreatedEvent, data_bucket: str) -> str | None:
    bucket, key = event.detail.bucket.name, event.detail.object.key
    if bucket != data_bucket:
        return f"s3://{bucket}/{key} is not in the data bucket {data_bucket}"
    if key.endswith("/"):
        return f"{key} is a folder marker, not a data file"
    if not key.startswith(RAW_PREFIX):
        return f"{key} is outside {RAW_PREFIX}"
    return None
