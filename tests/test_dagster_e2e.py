"""One Meltano job run through Dagster's in-process API against the sandboxes: its rows land in DuckDB and
its counts (read from event_log by the run's correlation id) come back as Dagster metadata. A job whose
`meltano run` fails fails the Dagster run, after the retry policy's attempts."""

from __future__ import annotations

import dataclasses

import duckdb
import pytest
from dagster import DagsterEventType, instance_for_test
from lorchestra_dagster.definitions import build_definitions
from lorchestra_dagster.jobs import build_job
from lorchestra_dagster.meltano import MeltanoProject
from lorchestra_dagster.settings import Settings

JOB = "google_forms_ingest_ipip120"


@pytest.fixture(scope="module")
def dagster_env(meltano_env):
    """os.environ as the code location sees it on a machine running the sandbox environment."""
    env = {**meltano_env, "MELTANO_ENVIRONMENT": "sandbox", "LORCHESTRA_RETRY_MAX": "1",
           "LORCHESTRA_RETRY_DELAY_SECONDS": "0"}  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        yield env


@pytest.fixture(scope="module")
def settings(dagster_env):
    return Settings.from_env(dagster_env)


def test_a_job_run_lands_its_rows_and_reports_its_counts(settings, dagster_env):
    defs = build_definitions(settings)
    with instance_for_test() as instance:
        result = defs.get_job_def(JOB).execute_in_process(instance=instance)
    assert result.success
    with duckdb.connect(dagster_env["TARGET_LORCHESTRA_DUCKDB_PATH"], read_only=True) as con:
        landed = dict(
            con.execute(
                "SELECT object_type, count(*) FROM raw_objects WHERE connection_name = 'google-forms-ipip120' "
                "GROUP BY object_type"
            ).fetchall()
        )
        correlation = con.execute(
            "SELECT DISTINCT correlation_id FROM event_log WHERE connection_name = 'google-forms-ipip120'"
        ).fetchall()
    assert landed == {"form": 1, "form_response": 60}
    assert correlation == [(result.run_id,)]  # the Dagster run id is the events' correlation id

    materialized = {
        tuple(m.asset_key.path): {k: v.value for k, v in m.metadata.items()}
        for m in result.asset_materializations_for_node(f"{JOB}__meltano_run")
    }
    assert set(materialized) == {
        ("raw_objects", "google-forms-ipip120", "form"),
        ("raw_objects", "google-forms-ipip120", "form_response"),
    }
    responses = materialized[("raw_objects", "google-forms-ipip120", "form_response")]
    assert (responses["records"], responses["inserted"], responses["updated"]) == (60, 60, 0)
    [output] = [e for e in result.all_node_events if e.event_type == DagsterEventType.STEP_OUTPUT]
    totals = {k: v.value for k, v in output.step_output_data.metadata.items()}
    assert (totals["records"], totals["inserted"], totals["updated"]) == (61, 61, 0)
    assert totals["correlation_id"] == result.run_id


def test_a_failed_meltano_run_fails_the_dagster_run_after_its_retries(settings, dagster_env, tmp_path):
    # A `meltano` that always fails: what is under test is the Dagster side (failure, retry policy).
    failing = tmp_path / "meltano"
    failing.write_text("#!/bin/sh\necho 'Run invocation could not be completed' >&2\nexit 1\n")
    failing.chmod(0o755)
    project = MeltanoProject(dataclasses.replace(settings, meltano=str(failing)))
    spec = next(s for s in MeltanoProject(settings).scheduled_jobs() if s.job == JOB)
    loader_config = {"warehouse": "duckdb", "duckdb_path": dagster_env["TARGET_LORCHESTRA_DUCKDB_PATH"]}
    job_def = build_job(spec, project, loader_config)
    with instance_for_test() as instance:
        result = job_def.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    types = [e.event_type for e in result.all_node_events]
    assert types.count(DagsterEventType.STEP_UP_FOR_RETRY) == 1  # LORCHESTRA_RETRY_MAX=1
    [failure] = [e for e in result.all_node_events if e.event_type == DagsterEventType.STEP_FAILURE]
    reported = failure.step_failure_data.user_failure_data
    assert reported.description == f"meltano run {JOB} failed (exit 1)"
    assert reported.metadata["output_tail"].value == "Run invocation could not be completed"
