"""``lorchestra migrate`` on BigQuery (issue 16, item 4): never while a run streams, archives by query."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import uuid
from pathlib import Path

from lorchestra_testing.bigquery import BigQueryUnderTest
from lorchestra_testing.target import run_target

LORCHESTRA = str(Path(sys.executable).parent / "lorchestra")


def migrate(bq: BigQueryUnderTest, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    config = tmp_path / "migrate-config.json"
    config.write_text(json.dumps({"warehouse": "bigquery", "bigquery": bq.config()["bigquery"]}))
    return subprocess.run(
        [LORCHESTRA, "migrate", "--config", str(config), "--tables", "production", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def stream_job_event(bq: BigQueryUnderTest, event_type: str, correlation_id: str) -> None:
    errors = bq.client.insert_rows_json(
        bq.ref("event_log"),
        [
            {
                "event_id": str(uuid.uuid4()),
                "event_type": event_type,
                "source_system": "lorchestra",
                "correlation_id": correlation_id,
                "created_at": dt.datetime.now(dt.UTC).isoformat(),
                "status": "success",
            }
        ],
    )
    assert errors == []


def test_migrate_refuses_while_a_run_is_in_progress_then_archives_by_query(bq, tmp_path):
    assert run_target(bq, "emails_initial.singer", tmp_path=tmp_path).returncode == 0
    running = str(uuid.uuid4())
    stream_job_event(bq, "job.started", running)  # a run that has started and not completed
    events_before = len(bq.events())

    refused = migrate(bq, tmp_path, "--yes")
    assert refused.returncode == 1
    assert f"1 target run(s) started in the last 6 hours have not completed (correlation_id {running}" in (
        refused.stderr
    )
    assert "Pause the schedules" in refused.stderr
    assert bq.tables() == ["event_log", "raw_objects"]  # nothing archived, dropped or recreated
    assert len(bq.raw_objects()) == 3

    stream_job_event(bq, "job.completed", running)  # the run ends
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    done = migrate(bq, tmp_path, "--yes")
    assert done.returncode == 0, done.stderr
    assert bq.tables() == ["event_log", "event_log_legacy", "raw_objects", "raw_objects_legacy"]
    assert bq.raw_objects() == []
    assert bq.events() == []
    archived = [dict(r) for r in bq.client.query(f"SELECT COUNT(*) AS n FROM `{bq.ref('event_log_legacy')}`").result()]
    assert archived == [{"n": events_before + 1}]  # every streamed event, the newest too

    # Archived with CREATE TABLE ... AS SELECT: a copy job can miss rows still in the streaming buffer.
    # The emulator is shared by the tests of a worker (and may not honour min_creation_time): only this
    # test's dataset counts.
    jobs = list(bq.client.list_jobs(min_creation_time=since, all_users=True))
    assert not [j for j in jobs if j.job_type == "copy" and j.destination.dataset_id == bq.dataset]
    archive_of_this_dataset = f"AS SELECT * FROM `{bq.project}.{bq.dataset}."
    ctas = [j for j in jobs if j.job_type == "query" and archive_of_this_dataset in (j.query or "")]
    assert len(ctas) == 2
    assert all(j.query.startswith("CREATE TABLE") for j in ctas)
