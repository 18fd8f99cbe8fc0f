"""The code location mirrors meltano.yml: one job and one schedule per Meltano schedule, same cron strings."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import yaml
from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    RunRequest,
    build_schedule_context,
    instance_for_test,
)
from lorchestra_dagster.definitions import build_definitions
from lorchestra_dagster.jobs import JOB_TAG, WAREHOUSE_TAG, build_job
from lorchestra_dagster.meltano import MeltanoProject, ScheduledJob
from lorchestra_dagster.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


#: Meltano's interval aliases (its docs), as cron strings.
ALIASES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *"}


def meltano_yml_schedules() -> dict[str, tuple[str, str]]:
    """schedule name -> (job, interval), read straight from the file (not through the code under test)."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    return {s["name"]: (s["job"], s["interval"]) for s in project["schedules"]}


@pytest.fixture(scope="module")
def defs(patched_environ):
    return build_definitions(Settings.from_env(patched_environ))


def test_fourteen_jobs_and_schedules_with_meltano_yml_cron_strings(defs):
    repo = defs.get_repository_def()
    declared = meltano_yml_schedules()
    assert len(declared) == 14
    assert {j.name for j in repo.get_all_jobs()} == {job for job, _ in declared.values()}
    expected = {name: (job, ALIASES.get(interval, interval)) for name, (job, interval) in declared.items()}
    assert {s.name: (s.job_name, s.cron_schedule) for s in repo.schedule_defs} == expected
    for job_def in repo.get_all_jobs():
        assert job_def.tags[JOB_TAG] == job_def.name
        assert job_def.tags[WAREHOUSE_TAG] == "duckdb"  # the sandbox environment's loader


def minutes(field: str) -> set[int]:
    """Minutes of the hour a cron minute field names (the forms used in meltano.yml: N, a,b, */n, *)."""
    out: set[int] = set()
    for part in field.split(","):
        if part.startswith("*"):
            out |= set(range(0, 60, int(part[2:]) if "/" in part else 1))
        else:
            out.add(int(part))
    return out


def test_no_two_schedules_start_in_the_same_minute():
    """Jobs write the same tables; BigQuery cancels conflicting transactions, so starts are staggered."""
    taken: dict[int, str] = {}
    for name, (_, interval) in meltano_yml_schedules().items():
        assert not interval.startswith("@"), f"{name}: `{interval}` starts at minute 0 like the others"
        for minute in minutes(interval.split()[0]):
            assert minute not in taken, f"{name} and {taken[minute]} both start at minute {minute}"
            taken[minute] = name


def test_a_schedule_skips_while_its_job_is_queued_or_running(defs):
    repo = defs.get_repository_def()
    schedule = repo.get_schedule_def("dataverse_ingest_contacts_schedule")
    with instance_for_test() as instance:
        context = build_schedule_context(instance=instance)
        assert isinstance(schedule.evaluate_tick(context).run_requests[0], RunRequest)
        instance.add_run(DagsterRun(job_name="dataverse_ingest_contacts", status=DagsterRunStatus.STARTED))
        result = schedule.evaluate_tick(build_schedule_context(instance=instance))
        assert not result.run_requests
        assert "dataverse_ingest_contacts" in result.skip_message
        # Another job's run does not hold this one back.
        other = repo.get_schedule_def("dataverse_ingest_sessions_schedule")
        assert other.evaluate_tick(build_schedule_context(instance=instance)).run_requests


def test_the_instance_config_limits_runs_per_job_and_duckdb_writers(tmp_path):
    shutil.copy(ROOT / "orchestration" / "dagster.yaml", tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        queue = instance.get_concurrency_config().run_queue_config
        limits = {(lim["key"], str(lim.get("value"))): lim["limit"] for lim in queue.tag_concurrency_limits}
        assert limits[(JOB_TAG, "{'applyLimitPerUniqueValue': True}")] == 1
        assert limits[(WAREHOUSE_TAG, "duckdb")] == 1
        assert queue.max_concurrent_runs >= 2  # BigQuery runs go in parallel


def test_a_bigquery_run_refuses_state_that_stays_on_the_machine(patched_environ, monkeypatch, tmp_path):
    """Without a Cloud Storage state backend a new machine would re-run the full backfill: fail at once."""
    from dagster import DagsterEventType

    monkeypatch.delenv("MELTANO_STATE_BACKEND_URI", raising=False)
    ran = tmp_path / "meltano-ran"
    meltano = tmp_path / "meltano"
    meltano.write_text(f"#!/bin/sh\ntouch {ran}\n")
    meltano.chmod(0o755)
    settings = dataclasses.replace(Settings.from_env(patched_environ), meltano=str(meltano))
    spec = ScheduledJob("gmail_ingest_acct1_schedule", "gmail_ingest_acct1", "3 * * * *", ("tap-gmail--acct1 t",))
    job_def = build_job(spec, MeltanoProject(settings), {"warehouse": "bigquery"})
    with instance_for_test() as instance:
        result = job_def.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_node_events if e.event_type == DagsterEventType.STEP_FAILURE]
    assert "MELTANO_STATE_BACKEND_URI=gs://" in failure.step_failure_data.user_failure_data.description
    assert not any(e.event_type == DagsterEventType.STEP_UP_FOR_RETRY for e in result.all_node_events)
    assert not ran.exists()  # meltano was never started
