"""The Meltano project end to end: plugins installed by Meltano, real jobs against the sandboxes, DuckDB."""

from __future__ import annotations

import json

import duckdb
import pytest
from lorchestra_e2e import MELTANO, lorchestra, meltano

pytestmark = pytest.mark.xdist_group("meltano")  # one worker: the sandboxes use fixed ports

#: What the sandboxes are seeded with, per connection and object type (deterministic seeds).
EXPECTED = {
    ("gmail", "gmail-acct1", "email"): 166,
    ("gmail", "gmail-acct2", "email"): 111,
    ("gmail", "gmail-acct3", "email"): 184,
    ("exchange", "exchange-ben-mensio", "email"): 90,
    ("exchange", "exchange-booking-mensio", "email"): 70,
    ("exchange", "exchange-info-mensio", "email"): 60,
    ("exchange", "exchange-ben-efs", "email"): 50,
    ("dataverse", "dataverse-clinic", "contact"): 120,
    ("dataverse", "dataverse-clinic", "session"): 240,
    ("dataverse", "dataverse-clinic", "report"): 160,
    ("google_forms", "google-forms-ipip120", "form"): 1,
    ("google_forms", "google-forms-ipip120", "form_response"): 60,
    ("google_forms", "google-forms-intake-01", "form"): 1,
    ("google_forms", "google-forms-intake-01", "form_response"): 150,
    ("google_forms", "google-forms-intake-02", "form"): 1,
    ("google_forms", "google-forms-intake-02", "form_response"): 90,
    ("google_forms", "google-forms-followup", "form"): 1,
    ("google_forms", "google-forms-followup", "form_response"): 240,
}
JOBS = [
    "gmail_ingest_acct1", "gmail_ingest_acct2", "gmail_ingest_acct3",
    "exchange_ingest_ben_mensio", "exchange_ingest_booking_mensio", "exchange_ingest_info_mensio",
    "exchange_ingest_ben_efs",
    "dataverse_ingest_contacts", "dataverse_ingest_sessions", "dataverse_ingest_reports",
    "google_forms_ingest_ipip120", "google_forms_ingest_intake_01", "google_forms_ingest_intake_02",
    "google_forms_ingest_followup",
]  # fmt: skip


def query(env: dict, sql: str) -> list[tuple]:
    with duckdb.connect(env["TARGET_LORCHESTRA_DUCKDB_PATH"], read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def reingested(sandboxes, meltano_env, tmp_path_factory):
    """`lorchestra reingest`: all fourteen jobs, fresh state, into an empty DuckDB."""
    logs = tmp_path_factory.mktemp("logs")
    result = lorchestra(
        meltano_env, "reingest", "--meltano", str(MELTANO),
        "--duckdb-path", meltano_env["TARGET_LORCHESTRA_DUCKDB_PATH"], "--log-dir", str(logs),
    )  # fmt: skip
    return result, logs


def test_meltano_lists_the_fourteen_jobs_with_schedules(meltano_env):
    jobs = meltano(meltano_env, "job", "list", "--format", "json")
    assert jobs.returncode == 0, jobs.stderr
    listed = json.loads(jobs.stdout[jobs.stdout.index("{") :])["jobs"]
    assert [j["job_name"] for j in listed] == JOBS
    schedules = meltano(meltano_env, "schedule", "list", "--format", "json")
    assert schedules.returncode == 0, schedules.stderr
    scheduled = {
        s["job"]["name"] for s in json.loads(schedules.stdout[schedules.stdout.index("{") :])["schedules"]["job"]
    }
    assert scheduled == set(JOBS)


def test_reingest_runs_every_job_and_lands_every_object(reingested, meltano_env):
    result, logs = reingested
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"14 jobs, {sum(EXPECTED.values())} records, 0 failed" in result.stdout
    counts = {tuple(r[:3]): r[3] for r in query(meltano_env,
        "SELECT source_system, connection_name, object_type, count(*) FROM raw_objects GROUP BY 1, 2, 3")}  # fmt: skip
    assert counts == EXPECTED
    bad_keys = query(
        meltano_env,
        "SELECT count(*) FROM raw_objects WHERE idem_key <> "
        "source_system || ':' || connection_name || ':' || object_type || ':' || external_id",
    )
    assert bad_keys == [(0,)]
    # Every job ran under its own correlation id, with upsert.completed counts matching what landed.
    upserts = query(
        meltano_env,
        "SELECT connection_name, target_object_type, "
        "CAST(json_extract(payload, '$.inserted') AS INT) FROM event_log WHERE event_type = 'upsert.completed'",
    )
    assert {(c, o): n for c, o, n in upserts} == {(c, o): n for (_, c, o), n in EXPECTED.items()}
    runs = query(meltano_env, "SELECT count(DISTINCT correlation_id) FROM event_log WHERE event_type = 'job.started'")
    assert runs == [(14,)]
    assert sorted(p.name for p in logs.iterdir()) == sorted(f"{j}.log" for j in JOBS)


def test_validate_reports_all_checks_passing(reingested, meltano_env):
    result = lorchestra(meltano_env, "validate", "--duckdb-path", meltano_env["TARGET_LORCHESTRA_DUCKDB_PATH"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5/5 checks passed" in result.stdout
    assert "all emails across providers   731" in result.stdout


def test_second_run_of_a_job_pulls_only_what_changed(reingested, sandboxes, meltano_env):
    """Incremental state per job: after the backfill, `meltano run` sees only the new and changed objects."""
    gmail = sandboxes["gmail"]
    new_id = gmail.add_message("gmail-acct1", "Reschedule request", "Could we move Thursday's session?")
    result = meltano(meltano_env, "run", "gmail_ingest_acct1")
    assert result.returncode == 0, result.stderr[-3000:]
    [(payload,)] = query(
        meltano_env,
        "SELECT payload FROM event_log WHERE event_type = 'upsert.completed' "
        "AND connection_name = 'gmail-acct1' ORDER BY created_at DESC LIMIT 1",
    )
    counts = json.loads(payload)
    assert (counts["total_records"], counts["inserted"], counts["updated"]) == (1, 1, 0)
    assert query(meltano_env, f"SELECT count(*) FROM raw_objects WHERE external_id = '{new_id}'") == [(1,)]

    dataverse = sandboxes["dataverse"]
    contact_id = next(iter(dataverse.tables["contacts"].rows))
    dataverse.update("contacts", contact_id, description="Prefers evening sessions")
    result = meltano(meltano_env, "run", "dataverse_ingest_contacts")
    assert result.returncode == 0, result.stderr[-3000:]
    [(payload,)] = query(
        meltano_env,
        "SELECT payload FROM event_log WHERE event_type = 'upsert.completed' "
        "AND target_object_type = 'contact' ORDER BY created_at DESC LIMIT 1",
    )
    counts = json.loads(payload)
    assert counts["updated"] >= 1
    assert counts["inserted"] == 0
    assert counts["total_records"] < 10  # only the changed page, not the 120 contacts
    [(stored,)] = query(
        meltano_env, f"SELECT payload->>'description' FROM raw_objects WHERE external_id = '{contact_id}'"
    )
    assert stored == "Prefers evening sessions"
    # The other jobs' states were not touched by these runs.
    states = meltano(meltano_env, "state", "list")
    assert "sandbox:tap-gmail--acct2-to-target-lorchestra" in states.stdout + states.stderr
