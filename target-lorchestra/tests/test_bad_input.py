"""Bad Singer input: every kind in ``data/bad/`` against its declared outcome, on every warehouse.

``data/bad/catalogue.json`` declares, next to each ``.singer`` file, what must happen:

* ``fails``: exit 1, one clear stderr line naming the input line (and the stream when known) and the problem,
  no traceback, no STATE, an ``ingest.failed`` and a failed ``job.completed`` event, nothing already
  committed changed, and no record contents anywhere in stderr or event_log;
* ``accepted``: exit 0, the declared rows added (payload as sent), the declared STATE, nothing committed lost.

Every kind runs in-process on DuckDB (the CLI's own ``listen``; 80 ms a run instead of 1 s, its logs captured
at DEBUG). Two flags widen that: ``every_warehouse`` runs the kind in-process on every warehouse (kinds that
reach the MERGE or test what is kept), ``cli`` runs it through the real executable on every warehouse (the
first generation of these tests, and kinds that depend on how stdin is read). Cases that need more than a
file (a second stream failing, a MERGE that fails, an unwritable DuckDB path, huge records) are tests of
their own. Records only a warehouse cannot hold are set aside, not refused: ``test_json_limits.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from lorchestra_testing.inprocess import run_in_process
from lorchestra_testing.target import DATA, TARGET, failure_line, run_target, singer

BAD = DATA / "bad"
CATALOGUE: dict[str, dict] = json.loads((BAD / "catalogue.json").read_text())
#: Record contents planted in the bad files: clinic data that must never reach logs, errors or events.
RECORD_CONTENTS = ("Patient X", "new-2", "t-secret-subject")
SEED_IDS = ["18c5a7b2e3f4d5c6", "18c5a7b2e3f4d5c7", "18c5a7b2e3f4d5c8"]


def kinds(outcome: str | None = None, flag: str | None = None) -> list[str]:
    """The catalogue's kinds with this outcome and flag (any when None), sorted."""
    return sorted(
        name
        for name, c in CATALOGUE.items()
        if (outcome is None or c["outcome"] == outcome) and (flag is None or c.get(flag))
    )


@pytest.fixture(scope="session")
def seed_file(tmp_path_factory) -> Path:
    """A DuckDB file holding ``emails_initial.singer``, committed by the real target (made once, copied per test)."""
    from lorchestra_testing.warehouses import DuckDBUnderTest

    tmp = tmp_path_factory.mktemp("seed")
    wh = DuckDBUnderTest(tmp)
    assert run_target(wh, "emails_initial.singer", tmp_path=tmp).returncode == 0
    return wh.path


def seed(wh, seed_file: Path):
    """``wh`` holding the three committed e-mails of ``emails_initial.singer``."""
    if wh.kind == "duckdb":
        shutil.copy(seed_file, wh.path)
    else:
        assert run_in_process(wh, DATA / "emails_initial.singer").returncode == 0
    assert [r["external_id"] for r in wh.raw_objects()] == SEED_IDS
    return wh


@pytest.fixture
def seeded(duckdb_wh, seed_file):
    return seed(duckdb_wh, seed_file)


@pytest.fixture
def seeded_wh(wh, seed_file):
    return seed(wh, seed_file)


def this_run(events: list[dict]) -> list[dict]:
    """The events of the last run (its correlation id)."""
    return [e for e in events if e["correlation_id"] == events[-1]["correlation_id"]]


def error_lines(stderr: str) -> list[str]:
    return [s for s in stderr.splitlines() if "target-lorchestra failed:" in s]


def assert_no_record_contents(text: str) -> None:
    for secret in RECORD_CONTENTS:
        assert secret not in text


def test_catalogue_is_complete():
    files = {p.stem for p in BAD.glob("*.singer")}
    assert files == set(CATALOGUE)
    assert {c["outcome"] for c in CATALOGUE.values()} == {"fails", "accepted"}
    assert len(kinds("fails")) >= 30


@pytest.mark.parametrize("name", kinds("fails"))
def test_bad_input_fails_clearly(seeded, name):
    check_fails_clearly(seeded, name)


@pytest.mark.parametrize("name", kinds(flag="every_warehouse"))
def test_catalogue_on_every_warehouse(seeded_wh, name):
    if CATALOGUE[name]["outcome"] == "fails":
        check_fails_clearly(seeded_wh, name)
    else:
        check_accepted(seeded_wh, name)


def check_fails_clearly(seeded, name: str) -> None:
    expected = CATALOGUE[name]
    before = seeded.raw_objects()

    result = run_in_process(seeded, BAD / f"{name}.singer")

    assert result.returncode == 1
    assert result.error is not None, f"not a clear error: {result.exception!r}"
    assert result.states == []  # nothing of this run was committed, so no STATE
    assert f"input line {expected['line']}" in result.error
    if expected["stream"]:
        assert f"stream '{expected['stream']}'" in result.error
    assert expected["error"] in result.error
    assert_no_record_contents(result.error + result.logs)
    assert_failed_cleanly(seeded, before, expected)


def assert_failed_cleanly(wh, before: list[dict], expected: dict) -> None:
    """Nothing committed changed; the run's events say it failed and quote no record contents."""
    assert wh.raw_objects() == before
    events = this_run(wh.events())
    assert_no_record_contents(json.dumps(events, default=str))
    failed = [e for e in events if e["event_type"] == "ingest.failed"]
    assert failed, [e["event_type"] for e in events]
    assert all(e["status"] == "failed" and e["error_message"] for e in failed)
    assert any(expected["error"] in e["error_message"] for e in failed)
    if expected["stream"]:
        culprit = [e for e in failed if e["target_object_type"] == expected["stream"]]
        assert len(culprit) == 1
        assert expected["error"] in culprit[0]["error_message"]
    assert events[-1]["event_type"] == "job.completed"
    assert events[-1]["status"] == "failed"
    assert expected["error"] in events[-1]["error_message"]


@pytest.mark.parametrize("name", kinds("fails", "cli"))
def test_bad_input_through_the_cli(seeded_wh, tmp_path, name):
    """stdin read as bytes by the real executable: one clear stderr line, no traceback, exit 1, no STATE."""
    seeded = seeded_wh
    expected = CATALOGUE[name]
    before = seeded.raw_objects()
    config = tmp_path / "config.json"
    config.write_text(json.dumps(seeded.config()))
    proc = subprocess.run(
        [TARGET, "--config", str(config)],
        input=(BAD / f"{name}.singer").read_bytes(),
        capture_output=True,
        env=os.environ,
        timeout=120,
        check=False,
    )
    stderr = proc.stderr.decode(errors="replace")
    assert proc.returncode == 1
    assert proc.stdout == b""
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr[-3000:]
    assert f"input line {expected['line']}" in lines[0]
    if expected["stream"]:
        assert f"stream '{expected['stream']}'" in lines[0]
    assert expected["error"] in lines[0]
    assert "Traceback" not in stderr
    assert_no_record_contents(stderr)
    assert_failed_cleanly(seeded, before, expected)


def test_second_stream_failing_aborts_the_first(seeded_wh):
    result = run_in_process(seeded_wh, BAD / "second_stream_fails_first_aborted.singer")
    assert result.returncode == 1
    failed = {e["target_object_type"]: e for e in this_run(seeded_wh.events()) if e["event_type"] == "ingest.failed"}
    assert set(failed) == {"email", "contact"}
    assert failed["email"]["error_message"].startswith("run aborted before this stream was committed")
    assert (failed["contact"]["source_system"], failed["contact"]["connection_name"]) == (
        "dataverse",
        "dataverse-clinic",
    )


@pytest.mark.parametrize("name", kinds("accepted"))
def test_odd_but_valid_input_is_accepted(seeded, name):
    check_accepted(seeded, name)


def check_accepted(seeded, name: str) -> None:
    expected = CATALOGUE[name]
    before = {r["idem_key"]: r for r in seeded.raw_objects()}

    result = run_in_process(seeded, BAD / f"{name}.singer", config=expected.get("config"))

    assert result.returncode == 0, result.error or repr(result.exception)
    assert result.states == ([expected["state"]] if expected["state"] else [])
    after = {r["idem_key"]: r for r in seeded.raw_objects()}
    for key, row in before.items():
        assert after[key] == row  # committed rows untouched
    added = {r["external_id"]: r for k, r in after.items() if k not in before}
    assert {k: r["payload"] for k, r in added.items()} == expected["new_rows"]
    if "last_seen" in expected:
        (row,) = added.values()
        assert row["last_seen"] == dt.datetime.fromisoformat(expected["last_seen"])
    events = this_run(seeded.events())
    assert events[-1]["event_type"] == "job.completed"
    assert events[-1]["status"] == "success"
    assert not [e for e in events if e["status"] != "success"]


def test_huge_records_are_stored_whole_across_batches(wh):
    """Three 6 MB records with batch_size_mb=8: two MERGEs, every payload byte-for-byte."""
    schema = {
        "type": "SCHEMA",
        "stream": "email",
        "key_properties": ["id"],
        "schema": {
            "type": "object",
            "properties": {},
            "x-lorchestra": {"source_system": "gmail", "connection_name": "c"},
        },
    }
    body = "x" * (6 * 1024 * 1024)
    records = [
        {"type": "RECORD", "stream": "email", "record": {"id": f"big-{i}", "raw": f"{i}{body}"}} for i in range(3)
    ]
    state = {"type": "STATE", "value": {"bookmarks": {"email": {"historyId": "9"}}}}
    result = run_in_process(wh, singer(schema, *records, state), config={"batch_size_mb": 8})

    assert result.returncode == 0, result.error or repr(result.exception)
    assert result.states == [state["value"]]
    rows = wh.raw_objects()
    assert [r["external_id"] for r in rows] == ["big-0", "big-1", "big-2"]
    assert all(r["payload"]["raw"] == f"{i}{body}" for i, r in enumerate(rows))
    completed = next(e for e in wh.events() if e["event_type"] == "upsert.completed")["payload"]
    assert completed["batch_count"] == 2
    assert completed["inserted"] == 3


def test_failed_merge_writes_upsert_failed_and_no_state(wh, tmp_path):
    wh.make_merge_fail_on("poison")
    result = run_target(wh, "merge_failure.singer", config={"batch_size_rows": 2}, tmp_path=tmp_path)

    assert result.returncode == 1
    assert result.states == []  # STATE 2 covers the failed batch; STATE 1 is only written by a full drain
    assert "MERGE" in result.stderr
    # The first batch was committed before the failure and stays (plus any rows the trap itself needed).
    assert sorted(r["external_id"] for r in wh.raw_objects()) == sorted(["ok-1", "ok-2", *wh.merge_trap_ids])
    events = wh.events()
    failed = [e for e in events if e["event_type"] == "upsert.failed"]
    assert len(failed) == 1
    assert failed[0]["status"] == "failed"
    assert failed[0]["payload"] == {"batch_number": 2, "batch_records": 1}
    assert (failed[0]["source_system"], failed[0]["connection_name"], failed[0]["target_object_type"]) == (
        "gmail",
        "gmail-acct1",
        "email",
    )
    assert [e["event_type"] for e in events if e["event_type"].endswith(".failed")] == [
        "upsert.failed",
        "ingest.failed",
    ]
    assert events[-1]["status"] == "failed"


def test_unwritable_duckdb_path_is_a_clear_error(duckdb_wh, tmp_path):
    locked_dir = tmp_path / "readonly"
    locked_dir.mkdir()
    locked_dir.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(locked_dir, os.W_OK):  # root ignores permissions: use a path under a regular file instead
            blocker = tmp_path / "not-a-dir"
            blocker.write_text("")
            path = blocker / "wh.duckdb"
        else:
            path = locked_dir / "wh.duckdb"
        result = run_target(duckdb_wh, "emails_initial.singer", config={"duckdb_path": str(path)}, tmp_path=tmp_path)
    finally:
        locked_dir.chmod(stat.S_IRWXU)
    assert result.returncode == 1
    assert result.states == []
    line = failure_line(result)
    assert "duckdb_path" in line
    assert str(path.parent.name) in line
    # The warehouse is what failed, so the failure events go to the log instead.
    assert "event_log unavailable" in result.stderr
    assert '"event_type":"job.completed"' in result.stderr
