"""finish_run: publish a successful run (manifest, latest pointer, notification)."""

from datetime import datetime
from pathlib import PurePosixPath

from recflow_lambda import notify, personalize, phase_history, storage
from recflow_lambda.errors import InputNotFound, InvalidEvent
from recflow_lambda.job_status import ACTIVE
from recflow_lambda.models import FinishRunEvent, LatestPointer, RunManifest
from recflow_lambda.settings import SolutionSettings

LATEST_KEY = "recommendations/latest.json"
SUCCESS_NAME = "_SUCCESS"


def output_prefix(run_id: str) -> str:
    return f"recommendations/{run_id}/"


def finish_run(event: FinishRunEvent, settings: SolutionSettings, now: datetime) -> RunManifest:
    """Record the jobs' durations in ``history/``, write ``recommendations/<run-id>/_SUCCESS``, then
    ``recommendations/latest.json``, then notify.

    The manifest is written only once the batch output is in place, and the pointer only after the
    manifest, so a reader following latest.json always finds a complete run. The history is written just
    before the manifest: a run that cannot record it fails before it publishes anything, not once published
    (a retried FinishRun replaces its own entry).
    """
    for job in (event.import_job, event.training, event.batch):
        if job.status != ACTIVE:
            raise InvalidEvent(
                f"finish_run needs every job ACTIVE, but the {job.phase} job {job.name} is {job.status}."
            )
    if event.campaign is not None and not event.campaign.ready:
        raise InvalidEvent(f"finish_run needs the campaign ready, but {event.campaign.arn} is {event.campaign.status}.")
    campaign_arn = event.campaign.arn if event.campaign else None
    bucket, run_id = settings.data_bucket, event.run_id
    prefix = output_prefix(run_id)
    expected = prefix + PurePosixPath(storage.split_s3_uri(event.batch_input.s3_uri)[1]).name + ".out"
    output_keys = [key for key in storage.list_keys(bucket, prefix) if key != prefix + SUCCESS_NAME]
    if expected not in output_keys:
        raise InputNotFound(
            f"The batch inference output {storage.s3_uri(bucket, expected)} does not exist although "
            f"job {event.batch.name} is ACTIVE."
        )
    manifest = RunManifest(
        run_id=run_id,
        finished_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        counts=event.data,
        metrics=personalize.solution_metrics(event.training.arn),
        recipe_arn=settings.recipe_arn,
        solution_arn=settings.solution_arn,
        jobs={job.phase: job.arn for job in (event.import_job, event.training, event.batch)},
        batch_input=event.batch_input,
        output_prefix=prefix,
        output_keys=output_keys,
        campaign_arn=campaign_arn,
    )
    phase_history.record_jobs(bucket, run_id, [event.import_job, event.training, event.batch])
    manifest_key = prefix + SUCCESS_NAME
    storage.put_json(bucket, manifest_key, manifest.model_dump())
    pointer = LatestPointer(
        run_id=run_id,
        prefix=prefix,
        manifest=manifest_key,
        finished_at=manifest.finished_at,
        campaign_arn=campaign_arn,
    )
    storage.put_json(bucket, LATEST_KEY, pointer.model_dump())
    scored = "items" if event.batch_input.kind == "itemId" else "users"
    notify.publish(
        settings.notification_topic_arn,
        f"recflow run {run_id} succeeded",
        f"recflow run {run_id} succeeded: recommendations for {event.batch_input.records} {scored} "
        f"are in {storage.s3_uri(bucket, prefix)} (manifest {storage.s3_uri(bucket, manifest_key)})."
        + (f" Campaign {campaign_arn} serves the run's solution version." if campaign_arn else ""),
    )
    return manifest
