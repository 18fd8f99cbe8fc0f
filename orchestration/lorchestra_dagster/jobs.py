"""One Dagster job and one schedule per Meltano job schedule.

A run executes `meltano run JOB` once (retried by the op's RetryPolicy), then reads the counts of its streams
from `event_log` by the correlation id it gave Meltano, and reports them: one AssetMaterialization per
(connection, object type) with records, inserted and updated, and the totals as the output's metadata.

Concurrency is the run queue's business (dagster.yaml): every run carries the tags `lorchestra/job` (at most
one run per job) and `lorchestra/warehouse` (DuckDB: one writer at a time). A schedule also skips its tick while
its job still has a run queued or in progress, so a slow job never piles up runs behind it.
"""

from __future__ import annotations

import typing as t
import uuid

from dagster import (
    AssetKey,
    AssetMaterialization,
    Backoff,
    DagsterRunStatus,
    DefaultScheduleStatus,
    Failure,
    JobDefinition,
    MetadataValue,
    Output,
    RetryPolicy,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    job,
    op,
)
from lorchestra_ops.run_counts import job_counts
from target_lorchestra.warehouse import open_warehouse

if t.TYPE_CHECKING:
    from lorchestra_dagster.meltano import MeltanoProject, ScheduledJob

JOB_TAG = "lorchestra/job"
WAREHOUSE_TAG = "lorchestra/warehouse"
ENVIRONMENT_TAG = "lorchestra/environment"
ACTIVE_STATUSES = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def correlation_id(dagster_run_id: str, retry_number: int) -> str:
    """The first attempt uses the Dagster run id itself, so event_log rows point straight at the run;
    each retry gets an id derived from it (Meltano wants a fresh run id per `meltano run`)."""
    if retry_number == 0:
        return str(uuid.UUID(dagster_run_id))
    return str(uuid.uuid5(uuid.UUID(dagster_run_id), f"retry-{retry_number}"))


def stream_metadata(streams: dict[str, dict], run_id: str) -> tuple[list[AssetMaterialization], dict]:
    """Per-stream materializations (successful streams) and the run's totals."""
    materializations = []
    totals = {"records": 0, "inserted": 0, "updated": 0}
    for object_type, s in sorted(streams.items()):
        counts = {k: int(s.get(k) or 0) for k in totals}
        for k, v in counts.items():
            totals[k] += v
        if s.get("status", "success") != "success":
            continue
        materializations.append(
            AssetMaterialization(
                asset_key=AssetKey(["raw_objects", s["connection_name"] or "unknown", object_type]),
                description=f"{s['connection_name']} {object_type} merged into raw_objects",
                metadata={**counts, "correlation_id": run_id, "source_system": s["source_system"]},
            )
        )
    return materializations, totals


def build_job(spec: ScheduledJob, project: MeltanoProject, loader_config: dict) -> JobDefinition:
    settings = project.settings
    warehouse = str(loader_config.get("warehouse") or "duckdb")

    @op(
        name=f"{spec.job}__meltano_run",
        description=f"`meltano --environment {settings.environment} run {spec.job}` ({'; '.join(spec.tasks)})",
        retry_policy=RetryPolicy(
            max_retries=settings.retry_max, delay=settings.retry_delay_seconds, backoff=Backoff.EXPONENTIAL
        ),
    )
    def meltano_run(context):  # unannotated: Dagster checks the hint, a string under __future__ annotations
        if warehouse == "bigquery" and not project.state_is_remote():
            # A warehouse that outlives this machine needs state that does too: otherwise a new machine or
            # container re-runs the full backfill (hours of Gmail quota). See setup/deploy.md.
            raise Failure(
                f"{spec.job}: the BigQuery warehouse needs Meltano state in Cloud Storage; set "
                "MELTANO_STATE_BACKEND_URI=gs://BUCKET/PREFIX (setup/deploy.md)",
                allow_retries=False,
            )
        run_id = correlation_id(context.run_id, context.retry_number)
        context.log.info(f"meltano run {spec.job} (environment {settings.environment}, MELTANO_RUN_ID={run_id})")
        returncode, tail = project.run(spec.job, run_id, spec.env)
        db = open_warehouse(loader_config)
        try:
            streams = job_counts(db, run_id)
        finally:
            db.close()
        materializations, totals = stream_metadata(streams, run_id)
        yield from materializations
        per_stream = {
            f"{s['connection_name']}/{object_type}": {k: s.get(k) for k in ("records", "inserted", "updated", "status")}
            for object_type, s in sorted(streams.items())
        }
        metadata = {**totals, "correlation_id": run_id, "streams": MetadataValue.json(per_stream)}
        if returncode != 0:
            errors = "; ".join(f"{o}: {s['error']}" for o, s in sorted(streams.items()) if s.get("error"))
            raise Failure(
                f"meltano run {spec.job} failed (exit {returncode})" + (f": {errors}" if errors else ""),
                metadata={**metadata, "output_tail": MetadataValue.text("\n".join(tail))},
            )
        yield Output(None, metadata=metadata)

    @job(
        name=spec.job,
        description=f"Meltano job {spec.job} in the {settings.environment} environment.",
        tags={JOB_TAG: spec.job, WAREHOUSE_TAG: warehouse, ENVIRONMENT_TAG: settings.environment},
    )
    def meltano_job():
        meltano_run()

    return meltano_job


def build_schedule(spec: ScheduledJob, job_def: JobDefinition, *, timezone: str, running: bool) -> ScheduleDefinition:
    def evaluate(context: ScheduleEvaluationContext) -> SkipReason | RunRequest:
        active = context.instance.get_run_records(
            filters=RunsFilter(job_name=spec.job, statuses=ACTIVE_STATUSES), limit=1
        )
        if active:
            return SkipReason(f"{spec.job} still has run {active[0].dagster_run.run_id} {active[0].dagster_run.status}")
        return RunRequest()

    return ScheduleDefinition(
        name=spec.schedule,
        cron_schedule=spec.cron,
        job=job_def,
        execution_fn=evaluate,
        execution_timezone=timezone,
        default_status=DefaultScheduleStatus.RUNNING if running else DefaultScheduleStatus.STOPPED,
        description=f"From meltano.yml: {spec.schedule} runs {spec.job} at `{spec.cron}`.",
    )
