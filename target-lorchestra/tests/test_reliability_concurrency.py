"""Two target runs against one DuckDB file: one writer at a time; the second waits, or fails clearly; never corrupts.

DuckDB lets one process open a file for writing. The target holds the file for its whole run, so a second
run waits up to ``lock_timeout_seconds`` for it and then fails with one clear line, having written nothing
(its events go to stderr, the warehouse being what it cannot reach). BigQuery's concurrent-MERGE conflicts
are retried by the warehouse itself: see ``test_bigquery.py`` (the emulator never reports one).
``reliability/concurrency.py`` repeats these races with random timing for the figures in RELIABILITY.md.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import typing as t
from pathlib import Path

import duckdb
import pytest
from lorchestra_testing.target import DATA, TARGET, failure_line, run_target, singer

HOLDER_SCHEMA = {
    "type": "SCHEMA",
    "stream": "contact",
    "key_properties": ["contactid"],
    "schema": {
        "type": "object",
        "properties": {},
        "x-lorchestra": {"source_system": "dataverse", "connection_name": "dataverse-clinic"},
    },
}


def holder_lines(n: int) -> str:
    records = [{"type": "RECORD", "stream": "contact", "record": {"contactid": f"c-{i}"}} for i in range(n)]
    return singer(HOLDER_SCHEMA, *records, {"type": "STATE", "value": {"bookmarks": {"contact": {"n": n}}}})


def locked(path: Path) -> bool:
    """Whether another process holds the file (DuckDB refuses even a read-only connection then)."""
    try:
        duckdb.connect(str(path), read_only=True).close()
    except duckdb.IOException as exc:
        return "lock" in str(exc).lower()
    return False


@pytest.fixture
def holder(duckdb_wh, tmp_path):
    """A target run that has opened the file and is waiting for more input (stdin still open)."""
    config = tmp_path / "holder.json"
    config.write_text(json.dumps(duckdb_wh.config()))
    proc = subprocess.Popen(
        [TARGET, "--config", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    proc.stdin.write(holder_lines(50))  # all but the end of input: the run goes on until stdin closes
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while not locked(duckdb_wh.path):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the holder never opened the warehouse"
        time.sleep(0.1)
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


class StderrWatch:
    """Reads a run's stderr on a thread, so a test can wait for a line instead of sleeping."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self.ended = False  # the run closed its stderr (it exited)
        self._changed = threading.Condition()
        stream, proc.stderr = proc.stderr, None  # this thread alone reads it (communicate must not)
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: t.IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.ended = True
            self._changed.notify_all()

    def wait_for(self, text: str, timeout: float = 60) -> None:
        """Return once a line contains ``text``; fail if the run ends or ``timeout`` passes first."""
        with self._changed:
            self._changed.wait_for(lambda: self.ended or any(text in line for line in self.lines), timeout)
            found = any(text in line for line in self.lines)
        assert found, f"no {text!r} (ended: {self.ended}); stderr:\n{''.join(self.lines)[-3000:]}"

    def text(self) -> str:
        self._thread.join(timeout=120)
        return "".join(self.lines)


def finish(proc: subprocess.Popen, stderr: StderrWatch | None = None) -> tuple[int, list[dict], str]:
    """Close the run's stdin (end of input) and collect its exit status, STATE lines and stderr."""
    if proc.stdin is not None and proc.stdin.closed:
        proc.stdin = None
    out, err = proc.communicate(timeout=120)
    if stderr is not None:  # stderr was read by the watch, not by communicate
        err = stderr.text()
    return proc.returncode, [json.loads(s) for s in out.splitlines() if s.strip()], err


def test_second_run_fails_clearly_after_its_lock_timeout(duckdb_wh, holder, tmp_path):
    started = time.monotonic()
    second = run_target(duckdb_wh, "emails_initial.singer", config={"lock_timeout_seconds": 1}, tmp_path=tmp_path)
    waited = time.monotonic() - started

    assert second.returncode == 1
    assert second.states == []
    error = failure_line(second)
    assert "is locked by another process (waited 1s); DuckDB allows one writer at a time" in error
    assert "Traceback" not in second.stderr
    assert "is locked by another process; waiting up to 1s for it" in second.stderr  # it did wait
    assert 1.0 <= waited < 20  # the configured 1 s, not the default 30 s (20: a loaded machine's margin)
    assert '"event_type":"job.completed"' in second.stderr  # its events, logged since the warehouse is locked

    rc, states, err = finish(holder)  # the first run is unaffected and commits everything
    assert rc == 0, err[-2000:]
    assert states == [{"bookmarks": {"contact": {"n": 50}}}]
    rows = duckdb_wh.raw_objects()
    assert len(rows) == 50
    assert {r["object_type"] for r in rows} == {"contact"}  # nothing of the failed run
    assert {e["status"] for e in duckdb_wh.events()} == {"success"}


def test_second_run_waits_for_the_lock_then_commits(duckdb_wh, holder, tmp_path):
    config = tmp_path / "second.json"
    config.write_text(json.dumps({**duckdb_wh.config(), "lock_timeout_seconds": 60}))
    second = subprocess.Popen(
        [TARGET, "--config", str(config)],
        stdin=(DATA / "emails_initial.singer").open(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr = StderrWatch(second)
    stderr.wait_for("is locked by another process; waiting up to 60s for it")  # it found the lock and waits
    assert second.poll() is None
    assert holder.stdin is not None
    holder.stdin.close()

    rc1, states1, err1 = finish(holder)
    rc2, states2, err2 = finish(second, stderr)
    assert (rc1, rc2) == (0, 0), (err1[-1500:], err2[-1500:])
    assert states1 == [{"bookmarks": {"contact": {"n": 50}}}]
    assert states2 == [{"bookmarks": {"email": {"historyId": "100"}}}]
    rows = duckdb_wh.raw_objects()
    assert sorted({r["object_type"] for r in rows}) == ["contact", "email"]
    assert len(rows) == 53
    jobs = [e for e in duckdb_wh.events() if e["event_type"] == "job.completed"]
    assert [e["status"] for e in jobs] == ["success", "success"]
