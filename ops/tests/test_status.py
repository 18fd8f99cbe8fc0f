"""``lorchestra status`` against warehouses whose events were written by real target runs, the clock moved.

Each step pipes a ``.singer`` scenario through the target-lorchestra executable, then asks the
``lorchestra`` CLI (``--json``, ``--now``) how the connection looks at a chosen instant.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import pytest
from lorchestra_ops.cli import main
from lorchestra_testing.target import run_target

HOUR = dt.timedelta(hours=1)
PROJECT = textwrap.dedent(
    """\
    plugins:
      extractors:
        - name: tap-gmail
          select: [email.*]
        - name: tap-gmail--acct1
          inherit_from: tap-gmail
          config: {connection_name: gmail-acct1}
        - name: tap-gmail--acct2
          inherit_from: tap-gmail
          config: {connection_name: gmail-acct2}
    jobs:
      - name: gmail_ingest_acct1
        tasks: [tap-gmail--acct1 target-lorchestra]
      - name: gmail_ingest_acct2
        tasks: [tap-gmail--acct2 target-lorchestra]
    schedules:
      - name: gmail_ingest_acct1_schedule
        interval: '@hourly'
        job: gmail_ingest_acct1
    """
)


def status(wh, tmp_path: Path, capsys, *args: str, project: str = PROJECT) -> tuple[int, dict]:
    """Run ``lorchestra status --json`` in-process; its exit status and parsed output."""
    project_dir = tmp_path / f"project-{abs(hash(project))}"
    project_dir.mkdir(exist_ok=True)
    (project_dir / "meltano.yml").write_text(project)
    config = tmp_path / "status-config.json"
    config.write_text(json.dumps(wh.config()))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(["status", "--config", str(config), "--project", str(project_dir), "--json", *args])
    return exited.value.code, json.loads(capsys.readouterr().out)


def row_of(report: dict, connection: str = "gmail-acct1", object_type: str = "email") -> dict:
    [row] = [r for r in report["rows"] if (r["connection_name"], r["object_type"]) == (connection, object_type)]
    return row


def at(instant: dt.datetime) -> tuple[str, str]:
    return ("--now", instant.isoformat())


def test_fresh_late_failing_fresh_again(wh, tmp_path, capsys):
    before_first = dt.datetime.now(dt.UTC)
    assert run_target(wh, "emails_initial.singer", tmp_path=tmp_path).returncode == 0
    first = dt.datetime.now(dt.UTC)

    # Ten minutes after a good run of an hourly job: fresh; every connection fresh, so exit 0.
    code, report = status(wh, tmp_path, capsys, *at(first + 10 * dt.timedelta(minutes=1)))
    row = row_of(report)
    assert (code, report["ok"], row["state"]) == (0, True, "fresh")
    assert row["source_system"] == "gmail"
    assert (row["job"], row["schedule"], row["every_seconds"]) == ("gmail_ingest_acct1", "@hourly", 3600)
    assert before_first <= dt.datetime.fromisoformat(row["last_success"]) <= first
    assert 600 <= row["age_seconds"] <= 600 + (first - before_first).total_seconds()
    assert (row["inserted_24h"], row["updated_24h"], row["inserted_7d"], row["total_objects"]) == (3, 0, 3, 3)
    assert (row["runs_ok_30d"], row["runs_failed_30d"], row["error"]) == (1, 0, None)

    # Three hours on, with no run since: late (older than 2x the hourly interval), exit 1 ...
    code, report = status(wh, tmp_path, capsys, *at(first + 3 * HOUR))
    assert (code, report["ok"], row_of(report)["state"]) == (1, False, "late")
    # ... unless lateness is judged more leniently.
    code, report = status(wh, tmp_path, capsys, *at(first + 3 * HOUR), "--late-factor", "4")
    assert (code, row_of(report)["state"]) == (0, "fresh")
    # A day on, the 24 h volumes are empty and the 7 day ones still count the run.
    _, report = status(wh, tmp_path, capsys, *at(first + 25 * HOUR))
    assert (row_of(report)["inserted_24h"], row_of(report)["inserted_7d"]) == (0, 3)

    # A run that fails for real (a record without its key): failing, with the error's first line.
    failed = run_target(wh, "bad/missing_key.singer", tmp_path=tmp_path)
    assert failed.returncode != 0
    after_failure = dt.datetime.now(dt.UTC)
    code, report = status(wh, tmp_path, capsys, *at(after_failure + 5 * dt.timedelta(minutes=1)))
    row = row_of(report)
    assert (code, row["state"]) == (1, "failing")
    assert row["error"].startswith("input line 3, stream 'email': record lacks")
    assert row["error"] in failed.stderr  # the target's own one-line error
    assert "\n" not in row["error"]
    assert first < dt.datetime.fromisoformat(row["last_failure"]) <= after_failure
    assert (row["runs_ok_30d"], row["runs_failed_30d"]) == (1, 1)
    # The clock set between the good run and the failure does not see the failure.
    _, report = status(wh, tmp_path, capsys, *at(first))
    assert row_of(report)["state"] == "fresh"

    # A good run again: fresh, and its upsert counts join the volumes (1 updated, 1 new).
    assert run_target(wh, "emails_later.singer", tmp_path=tmp_path).returncode == 0
    last = dt.datetime.now(dt.UTC)
    code, report = status(wh, tmp_path, capsys, *at(last + dt.timedelta(minutes=1)))
    row = row_of(report)
    assert (code, row["state"], row["error"]) == (0, "fresh", None)
    assert dt.datetime.fromisoformat(row["last_success"]) > dt.datetime.fromisoformat(row["last_failure"])
    assert (row["inserted_24h"], row["updated_24h"], row["total_objects"]) == (4, 1, 4)
    assert (row["runs_ok_30d"], row["runs_failed_30d"]) == (2, 1)


def test_never_run_and_unscheduled_connections(wh, tmp_path, capsys):
    """A scheduled connection without events is 'never run'; one that ran without a schedule is judged
    only on its last run (never late)."""
    assert run_target(wh, "multi_stream.singer", tmp_path=tmp_path).returncode == 0
    now = dt.datetime.now(dt.UTC) + 10 * 24 * HOUR
    code, report = status(wh, tmp_path, capsys, *at(now))
    assert code == 1
    states = {(r["connection_name"], r["object_type"]): r["state"] for r in report["rows"]}
    assert states[("gmail-acct1", "email")] == "never run"
    assert ("gmail-acct2", "email") not in states  # it has a job but no schedule, and never ran
    unscheduled = [r for r in report["rows"] if r["connection_name"] == "dataverse-clinic"]
    assert unscheduled
    assert {r["state"] for r in unscheduled} == {"fresh"}
    assert {r["job"] for r in unscheduled} == {None}
    assert report["counts"] == {"fresh": len(unscheduled), "late": 0, "failing": 0, "never run": 1}


def test_text_table_and_bad_clock(duckdb_wh, tmp_path, capsys):
    assert run_target(duckdb_wh, "emails_initial.singer", tmp_path=tmp_path).returncode == 0
    project = tmp_path / "meltano.yml"
    project.write_text(PROJECT)
    later = (dt.datetime.now(dt.UTC) + 3 * HOUR).isoformat()
    with pytest.raises(SystemExit) as exited:
        main(["status", "--duckdb-path", str(duckdb_wh.path), "--project", str(tmp_path), "--now", later])
    out = capsys.readouterr().out
    assert exited.value.code == 1
    [line] = [x for x in out.splitlines() if x.startswith("gmail-acct1")]
    assert line.split()[:3] == ["gmail-acct1", "email", "late"]
    assert "1 late" in out.splitlines()[-1]
    with pytest.raises(SystemExit) as exited:
        main(["status", "--duckdb-path", str(duckdb_wh.path), "--now", "yesterday"])
    assert exited.value.code == 2
    assert "not an ISO 8601 timestamp: 'yesterday'" in capsys.readouterr().err


def test_an_extractor_without_select_covers_every_stream_it_sends(duckdb_wh, tmp_path, capsys):
    project = textwrap.dedent(
        """\
        plugins:
          extractors:
            - name: tap-dataverse
              config: {connection_name: dataverse-clinic}
        schedules:
          - name: dataverse_every_two_hours
            extractor: tap-dataverse
            loader: target-lorchestra
            transform: skip
            interval: 0 */2 * * *
        """
    )
    code, report = status(duckdb_wh, tmp_path, capsys, project=project)
    assert code == 1
    assert [(r["connection_name"], r["object_type"], r["state"]) for r in report["rows"]] == [
        ("dataverse-clinic", None, "never run")
    ]
    assert run_target(duckdb_wh, "multi_stream.singer", tmp_path=tmp_path).returncode == 0
    code, report = status(duckdb_wh, tmp_path, capsys, *at(dt.datetime.now(dt.UTC) + 5 * HOUR), project=project)
    rows = [r for r in report["rows"] if r["connection_name"] == "dataverse-clinic"]
    assert len(rows) > 1
    assert all(r["object_type"] for r in rows)
    assert {(r["schedule"], r["every_seconds"], r["state"]) for r in rows} == {("0 */2 * * *", 7200, "late")}


def test_a_project_without_meltano_yml_is_refused(duckdb_wh, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["status", "--duckdb-path", str(duckdb_wh.path), "--project", str(tmp_path)])
    assert exited.value.code == 1
    assert capsys.readouterr().err.strip() == f"lorchestra status failed: --project {tmp_path}: no meltano.yml there"
