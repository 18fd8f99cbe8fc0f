"""Under fire, through the target: every row lands in raw_objects exactly once.

``test_faults.py`` checks what the tap emits under each fault; these runs go on into target-lorchestra
(in-process, DuckDB) and check the warehouse: one row per Dataverse row, payload equal to the Web API
resource, no record delivered twice within a run, no tap secret in event_log. Dataverse has no sync token
(the tap reads incrementally by ``modifiedon``), so the resume case is a dying upstream instead.
"""

from __future__ import annotations

from lorchestra_testing.under_fire import assert_exactly_once, count_timeouts, land, slow_then_storm
from lorchestra_testing.warehouses import DuckDBUnderTest
from singer_sdk.exceptions import RetriableAPIError

PRIMARY_KEYS = {"contacts": "contactid", "cr8a1_sessions": "cr8a1_sessionid", "cr8a1_reports": "cr8a1_reportid"}


def expected_rows(app) -> dict[str, dict]:
    return {r[key]: r for entity_set, key in PRIMARY_KEYS.items() for r in app.records(entity_set)}


def test_storm_timeouts_and_token_expiry_land_every_row_once(app, config, run_tap, set_faults, tmp_path, monkeypatch):
    """Responses slower than request_timeout, then 429s, 503s, truncated bodies and an invalidated token."""
    from tap_dataverse import client

    timeouts = count_timeouts(monkeypatch, client.DataverseStream)
    config = {**config, "request_timeout": 1, "max_attempts": 12}
    run = slow_then_storm(run_tap, config, set_faults, timeouts, expire_tokens_after=12)

    assert run.error is None, run.error
    assert {429, 503, 401} <= {c.status for c in app.api_calls()}
    wh = DuckDBUnderTest(tmp_path)
    assert land(wh, run.messages) == run.last_state
    completed = assert_exactly_once(wh, expected_rows(app), (config["client_secret"],))
    assert sum(p["duplicates_collapsed"] for p in completed) == 0  # no row delivered twice


def test_dying_upstream_then_resume_from_the_targets_state_lands_every_row_once(
    app, config, run_tap, set_faults, tmp_path
):
    """The upstream dies mid-run (the target commits what it got and its last STATE); the rerun from that
    STATE, after an edit upstream, completes the table: nothing missing, nothing twice."""
    set_faults(fail_after=12, retry_after=0)
    broken = run_tap({**config, "max_attempts": 2}, expect_error=RetriableAPIError)
    wh = DuckDBUnderTest(tmp_path)
    state = land(wh, broken.messages)
    landed_first = len(wh.raw_objects())
    assert 0 < landed_first < len(expected_rows(app))

    set_faults(fail_after=None)
    contact = app.records("contacts")[0]["contactid"]
    app.update("contacts", contact, address1_city="Salem")
    resumed = run_tap(config, state=state)
    assert resumed.error is None
    land(wh, resumed.messages)

    assert_exactly_once(wh, expected_rows(app), (config["client_secret"],))
