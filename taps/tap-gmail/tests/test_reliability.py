"""Under fire, through the target: every message lands in raw_objects exactly once.

``test_faults.py`` checks what the tap emits under each fault; these runs go on into target-lorchestra
(in-process, DuckDB) and check the warehouse: one row per message, payload equal to the API resource, and
the target's own counts (no record delivered twice), with no tap secret in the target's output or event_log.
"""

from __future__ import annotations

from lorchestra_testing import Calls
from lorchestra_testing.under_fire import assert_exactly_once, count_timeouts, land, slow_then_storm
from lorchestra_testing.warehouses import DuckDBUnderTest

CONNECTION = "gmail-acct2"


def test_storm_timeouts_and_token_expiry_land_every_message_once(
    sandbox, tmp_path, monkeypatch, make_config, app, set_faults, run_tap
):
    """A slow upstream past the request timeout, then 429s, 503s, truncated bodies and an expired token."""
    from tap_gmail import client

    monkeypatch.setattr(client.GmailStream, "timeout", property(lambda self: 1), raising=False)
    timeouts = count_timeouts(monkeypatch, client.GmailStream)
    config = make_config(CONNECTION, max_attempts=13)
    run = slow_then_storm(run_tap, config, set_faults, timeouts, expire_tokens=True)

    statuses = [e.status for e in Calls.of(sandbox).api]
    assert {429, 503, 401} <= set(statuses)
    wh = DuckDBUnderTest(tmp_path)
    assert land(wh, run.messages) == run.last_state
    completed = assert_exactly_once(wh, app.resources(CONNECTION), (config["client_secret"], config["refresh_token"]))
    assert sum(p["duplicates_collapsed"] for p in completed) == 0  # no message delivered twice


def test_expired_history_id_relists_and_lands_every_message_once(tmp_path, make_config, app, set_faults, run_tap):
    config = make_config(CONNECTION)
    wh = DuckDBUnderTest(tmp_path)
    state = land(wh, run_tap(config).messages)

    added = app.add_message(CONNECTION, "Superbill request", "Could you send a superbill?")
    changed = sorted(app.resources(CONNECTION))[0]
    app.modify_labels(CONNECTION, changed, add=["Label_9"])
    set_faults(expire_sync=True)
    second = run_tap(config, state=state)  # the historyId is refused: a full relist
    assert len(second.records()) == len(app.resources(CONNECTION))
    land(wh, second.messages)

    expected = app.resources(CONNECTION)
    assert added in expected
    completed = assert_exactly_once(wh, expected, (config["client_secret"], config["refresh_token"]))
    assert sum(p["duplicates_collapsed"] for p in completed) == 0
    completed = [e["payload"] for e in wh.events() if e["event_type"] == "upsert.completed"][-1]
    assert completed["inserted"] == 1  # the relist re-sent everything: only the new message is new
    assert completed["updated"] + completed["skipped_stale"] == len(expected) - 1
