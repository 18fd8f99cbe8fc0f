"""Shared by the taps' ``test_reliability.py``: land a tap's output in the real target, check exactly-once.

Each tap's fault tests check what the tap emits; these helpers carry the output on into target-lorchestra
(in-process, DuckDB) so the tests can assert on the warehouse: one row per upstream object, payload equal
to the provider's resource, nothing delivered twice within a run, no secret in event_log.
"""

from __future__ import annotations

import json
import threading
import time
import typing as t

import requests

from lorchestra_testing.inprocess import run_in_process

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import pytest
    from singer_sdk import RESTStream

    from lorchestra_testing.warehouses import DuckDBUnderTest


def count_timeouts(monkeypatch: pytest.MonkeyPatch, stream_class: type[RESTStream[t.Any]]) -> list[str]:
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


#: Two 429s (Retry-After 0), two 503s and two truncated bodies: what every sandbox does under ``set_faults``.
STORM = {"throttle": 2, "retry_after": 0, "server_errors": 2, "truncate": 2}


def slow_then_storm(
    run_tap: Callable[[dict], t.Any],
    config: dict,
    set_faults: Callable[..., t.Any],
    timeouts: list[str],
    then: Callable[[], t.Any] | None = None,
    **token_faults: t.Any,
) -> t.Any:
    """Run the tap while its upstream answers slower than the request timeout (the caller makes that 1 s).

    Once one request has timed out (``timeouts``, from ``count_timeouts``) the upstream recovers into a storm
    while the run goes on: ``STORM``, the sandbox's ``token_faults`` (each sandbox spells token expiry its own
    way) and ``then()``, for faults set elsewhere. Returns ``run_tap``'s result.
    """
    set_faults(delay=3)  # every request times out ...

    def then_storm() -> None:
        wait_for(timeouts)  # ... until one has timed out; then the upstream recovers, into a storm
        set_faults(delay=0, **STORM, **token_faults)
        if then is not None:
            then()

    thread = threading.Thread(target=then_storm, daemon=True)
    thread.start()
    run = run_tap(config)
    thread.join()
    assert timeouts  # the slow responses did run past the timeout, and were retried
    return run


def land(wh: DuckDBUnderTest, messages: list[dict]) -> dict | None:
    """Feed the tap's messages to the target; return the STATE the target emitted."""
    result = run_in_process(wh, "".join(json.dumps(m) + "\n" for m in messages))
    assert result.returncode == 0, result.error or repr(result.exception)
    return result.states[-1] if result.states else None


def assert_exactly_once(wh: DuckDBUnderTest, expected: dict[str, dict], secrets: Iterable[str | None]) -> list[dict]:
    """One row per expected object with its exact payload, no secret in event_log.

    Returns the ``upsert.completed`` payloads of the last run, for the caller's own count checks.
    """
    rows = wh.raw_objects()
    assert len(rows) == len({r["idem_key"] for r in rows})
    assert {r["external_id"]: r["payload"] for r in rows} == expected
    events = wh.events()
    text = json.dumps(events, default=str)
    for secret in secrets:
        assert not secret or secret not in text
    last_run = [e for e in events if e["correlation_id"] == events[-1]["correlation_id"]]
    return [e["payload"] for e in last_run if e["event_type"] == "upsert.completed"]
