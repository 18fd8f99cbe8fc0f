"""Under fire, through the target: every message lands in raw_objects exactly once.

``test_faults.py`` checks what the tap emits under each fault; these runs go on into target-lorchestra
(in-process, DuckDB) and check the warehouse: one row per message, payload equal to the API resource, and
the target's own counts (no record delivered twice), with no tap secret in the target's output or event_log.
"""

from __future__ import annotations

import json
import threading
import time

import requests
from gmail_testkit import Calls, app_of, run_tap, set_faults, tap_config
from lorchestra_inprocess import run_in_process
from lorchestra_warehouses import DuckDBUnderTest

CONNECTION = "gmail-acct2"


def count_timeouts(monkeypatch, stream_class: type) -> list[str]:
    """Record every request of ``stream_class`` that timed out (the SDK then backs off and retries it)."""
    seen: list[str] = []
    request = stream_class._request

    def counting(self, *args, **kwargs):
        try:
            return request(self, *args, **kwargs)
        except requests.exceptions.Timeout as exc:
            seen.append(type(exc).__name__)
            raise

    monkeypatch.setattr(stream_class, "_request", counting)
    return seen


def wait_for(timeouts: list[str], seconds: float = 60) -> None:
    """Block until at least one request has timed out (or ``seconds`` pass: the test then fails on it)."""
    deadline = time.monotonic() + seconds
    while not timeouts and time.monotonic() < deadline:
        time.sleep(0.05)


def land(wh: DuckDBUnderTest, messages: list[dict]) -> dict | None:
    """Feed the tap's messages to the target; return the STATE the target emitted."""
    result = run_in_process(wh, "".join(json.dumps(m) + "\n" for m in messages))
    assert result.returncode == 0, result.error or repr(result.exception)
    return result.states[-1] if result.states else None


def assert_exactly_once(wh: DuckDBUnderTest, expected: dict[str, dict], config: dict) -> None:
    rows = wh.raw_objects()
    assert len(rows) == len({r["idem_key"] for r in rows})
    assert {r["external_id"]: r["payload"] for r in rows} == expected
    events = wh.events()
    last_run = [e for e in events if e["correlation_id"] == events[-1]["correlation_id"]]
    completed = [e["payload"] for e in last_run if e["event_type"] == "upsert.completed"]
    assert sum(p["duplicates_collapsed"] for p in completed) == 0  # no message delivered twice
    text = json.dumps(events, default=str)
    for secret in (config.get("client_secret"), config.get("refresh_token")):
        assert not secret or secret not in text


def test_storm_timeouts_and_token_expiry_land_every_message_once(gmail, tmp_path, monkeypatch):
    """A slow upstream past the request timeout, then 429s, 503s, truncated bodies and an expired token."""
    from tap_gmail import client

    monkeypatch.setattr(client.GmailStream, "timeout", property(lambda self: 1), raising=False)
    timeouts = count_timeouts(monkeypatch, client.GmailStream)
    config = tap_config(gmail, CONNECTION, max_retries=12)
    set_faults(gmail, delay=3)  # every request times out (1 s) ...

    def then_storm() -> None:
        wait_for(timeouts)  # ... until one has timed out; then the upstream recovers, into a storm
        set_faults(gmail, delay=0, throttle=2, retry_after=0, server_errors=2, truncate=2, expire_tokens=True)

    storm = threading.Thread(target=then_storm, daemon=True)
    storm.start()
    run = run_tap(config)
    storm.join()

    statuses = [e.status for e in Calls.of(gmail).api]
    assert {429, 503, 401} <= set(statuses)
    assert timeouts  # the slow responses did run past the timeout, and were retried
    wh = DuckDBUnderTest(tmp_path)
    assert land(wh, run.messages) == run.state
    assert_exactly_once(wh, app_of(gmail).resources(CONNECTION), config)


def test_expired_history_id_relists_and_lands_every_message_once(gmail, tmp_path):
    app = app_of(gmail)
    config = tap_config(gmail, CONNECTION)
    wh = DuckDBUnderTest(tmp_path)
    state = land(wh, run_tap(config).messages)

    added = app.add_message(CONNECTION, "Superbill request", "Could you send a superbill?")
    changed = sorted(app.resources(CONNECTION))[0]
    app.modify_labels(CONNECTION, changed, add=["Label_9"])
    set_faults(gmail, expire_sync=True)
    second = run_tap(config, state=state)  # the historyId is refused: a full relist
    assert len(second.records) == len(app.resources(CONNECTION))
    land(wh, second.messages)

    expected = app.resources(CONNECTION)
    assert added in expected
    assert_exactly_once(wh, expected, config)
    completed = [e["payload"] for e in wh.events() if e["event_type"] == "upsert.completed"][-1]
    assert completed["inserted"] == 1  # the relist re-sent everything: only the new message is new
    assert completed["updated"] + completed["skipped_stale"] == len(expected) - 1
