"""Under fire, through the target: every message lands in raw_objects exactly once.

``test_faults.py`` / ``test_sync.py`` check what the tap emits under each fault; these runs go on into
target-lorchestra (in-process, DuckDB) and check the warehouse: one row per message, payload equal to the
Graph resource, no record delivered twice within a run, no tap secret in event_log.
"""

from __future__ import annotations

from lorchestra_testing.under_fire import assert_exactly_once, count_timeouts, land, slow_then_storm
from lorchestra_testing.warehouses import DuckDBUnderTest
from singer_sdk.exceptions import RetriableAPIError


def test_storm_timeouts_and_token_expiry_land_every_message_once(
    app, make_config, run_tap, expected, set_faults, tmp_path, monkeypatch
):
    """A slow upstream past the request timeout, then 429s, 503s, truncated bodies and a revoked token."""
    from tap_exchange import client

    monkeypatch.setattr(client.GraphStream, "timeout", property(lambda self: 1), raising=False)
    timeouts = count_timeouts(monkeypatch, client.GraphStream)
    config = make_config(max_attempts=12)
    run = slow_then_storm(run_tap, config, set_faults, timeouts, expire_tokens_after=6)

    assert run.error is None
    assert {429, 503, 401} <= {c.status for c in app.api_calls()}
    wh = DuckDBUnderTest(tmp_path)
    assert land(wh, run.messages) == run.states[-1]
    [completed] = assert_exactly_once(wh, expected(), (config["client_secret"],))
    assert completed["duplicates_collapsed"] == 0  # no message delivered twice


def test_dying_upstream_then_expired_skiptoken_land_every_message_once(
    app, make_config, run_tap, expected, set_faults, tmp_path
):
    """The tap dies mid-run (the target commits what it got and its last STATE); the rerun's skiptoken has
    expired (410), so that folder starts over: the replayed messages are MERGEd, not duplicated."""
    config = make_config(max_attempts=2)
    set_faults(fail_after=9, retry_after=0)
    broken = run_tap(config, expect_error=RetriableAPIError)
    wh = DuckDBUnderTest(tmp_path)
    state = land(wh, broken.messages)  # what a pipe does when the tap exits non-zero: EOF, commit, STATE
    assert state == broken.states[-1]
    landed_first = len(wh.raw_objects())
    assert 0 < landed_first < len(expected())

    set_faults(fail_after=None, expire_sync=True)
    added = app.add_message("ben@mensio.example", "inbox")
    resumed = run_tap(config, state=state)
    assert resumed.error is None
    assert any(c.status == 410 for c in app.api_calls())
    land(wh, resumed.messages)

    want = expected()
    assert added in want
    [completed] = assert_exactly_once(wh, want, (config["client_secret"],))
    assert completed["inserted"] == len(want) - landed_first
