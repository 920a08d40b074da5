"""start_run: turn an upload or a schedule into exactly one pipeline execution."""

from recflow_lambda import naming, workflow
from recflow_lambda.errors import InvalidEvent
from recflow_lambda.models import ObjectCreatedEvent, ScheduledEvent, StartRunResult, Trigger
from recflow_lambda.settings import StartRunSettings

RAW_PREFIX = "raw/"


def start_run(
    event: ObjectCreatedEvent | ScheduledEvent, settings: StartRunSettings, request_id: str
) -> StartRunResult:
    """Start the state machine under the run id (= execution name); a duplicate delivery starts nothing.

    ``request_id`` (the Lambda request id) goes into the trigger. Step Functions answers a second
    StartExecution with the same name AND the same input, while the first runs, with the first execution
    instead of ExecutionAlreadyExists; a duplicate delivery is another Lambda request, so its input
    differs and it is reported as started=false. A retry of the same request still gets the execution.
    """
    if isinstance(event, ScheduledEvent):
        run_id = naming.scheduled_run_id(event.time)
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
        bucket, obj = event.detail.bucket.name, event.detail.object
        # Every PUT of a key gets a new version id (the bucket is versioned) and sequencer; a duplicate
        # delivery of the same PUT carries the same ones.
        marker = "/".join(filter(None, (obj.version_id, obj.sequencer))) or obj.etag
        if not marker:
            raise InvalidEvent(
                f"The Object Created event for {obj.key} has no version-id, sequencer or etag to tell uploads apart."
            )
        run_id = naming.upload_run_id(bucket, obj.key, marker)
        trigger = Trigger(
            type="upload",
            time=event.time.isoformat() if event.time else None,
            bucket=bucket,
            key=obj.key,
            etag=obj.etag,
            sequencer=obj.sequencer,
            request_id=request_id,
        )
    execution_input = {"run_id": run_id, "trigger": trigger.model_dump(exclude_none=True)}
    arn, started = workflow.start_execution_once(settings.state_machine_arn, run_id, execution_input)
    reason = None if started else f"run {run_id} was already started (duplicate delivery)"
    return StartRunResult(run_id=run_id, execution_arn=arn, started=started, reason=reason)


def _skip_reason(event: ObjectCreatedEvent, data_bucket: str) -> str | None:
    bucket, key = event.detail.bucket.name, event.detail.object.key
    if bucket != data_bucket:
        return f"s3://{bucket}/{key} is not in the data bucket {data_bucket}"
    if key.endswith("/"):
        return f"{key} is a folder marker, not a data file"
    if not key.startswith(RAW_PREFIX):
        return f"{key} is outside {RAW_PREFIX}"
    return None
