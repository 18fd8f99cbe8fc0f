"""Under fire, through the target: every form and response lands in raw_objects exactly once.

``test_faults.py`` checks what the tap emits under each fault; these runs go on into target-lorchestra
(in-process, DuckDB) and check the warehouse: one row per object, payload equal to the API resource, and no
tap secret in event_log. Where the tap must re-send (a refused page token restarts the listing: at least
once), the target's MERGE makes it exactly once in the warehouse.
"""

from __future__ import annotations

from lorchestra_testing.under_fire import assert_exactly_once, count_timeouts, land, slow_then_storm
from lorchestra_testing.warehouses import DuckDBUnderTest

INTAKE = "google-forms-intake-01"


def expected_rows(app) -> dict[str, dict]:
    form_id = app.form_id(INTAKE)
    return {form_id: app.form(form_id)} | {r["responseId"]: r for r in app.responses(form_id)}


def test_storm_timeouts_and_token_expiry_land_every_response_once(
    app, make_config, run_tap, set_faults, tmp_path, monkeypatch
):
    """Responses slower than the request timeout, then 429s, 503s, truncated bodies and an expired token."""
    from tap_google_forms import client

    monkeypatch.setattr(client.GoogleFormsStream, "timeout", property(lambda self: 1), raising=False)
    timeouts = count_timeouts(monkeypatch, client.GoogleFormsStream)
    config = make_config(max_attempts=12)
    run = slow_then_storm(
        run_tap, config, set_faults, timeouts, then=lambda: set_faults("/_sandbox/forms/faults", expire_tokens_after=3)
    )

    assert run.error is None, run.error
    assert {429, 503, 401} <= {c.status for c in app.api_calls()}
    assert len(run.ids("form_response")) == len(set(run.ids("form_response")))
    wh = DuckDBUnderTest(tmp_path)
    assert land(wh, run.messages) == run.states[-1]
    completed = assert_exactly_once(wh, expected_rows(app), _oauth_values(config))
    assert sum(p["duplicates_collapsed"] for p in completed) == 0


def test_refused_page_tokens_resend_pages_but_land_each_response_once(app, make_config, run_tap, set_faults, tmp_path):
    set_faults("/_sandbox/forms/faults", expire_page_tokens_after=3)  # two pages in, every page token is refused
    config = make_config()
    run = run_tap(config)
    assert run.error is None
    assert len(run.ids("form_response")) == 150 + 2 * 40  # the tap restarts the listing: the first two pages come twice

    wh = DuckDBUnderTest(tmp_path)
    land(wh, run.messages)
    completed = assert_exactly_once(wh, expected_rows(app), _oauth_values(config))
    responses = next(p for p in completed if p["total_records"] == 230)
    assert (responses["inserted"], responses["duplicates_collapsed"]) == (150, 80)


def _oauth_values(config: dict) -> list[str]:
    return [config[k] for k in ("client_id", "client_secret", "refresh_token")]
