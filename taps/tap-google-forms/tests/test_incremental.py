"""The bookmark as an instant, the overlap window, the periodic full listing, and paging past 5,000."""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest
from lorchestra_sandbox.forms import MAX_PAGE_SIZE, format_timestamp, parse_timestamp

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from lorchestra_sandbox.forms import FormsApp

INTAKE = "google-forms-intake-01"
HOUR = 3600 * 1_000_000_000


def _recent_second(hours_ago: float) -> int:
    """A whole second some hours before now (before the run starts, so the bookmark may reach it)."""
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours_ago)
    return int(moment.timestamp()) * 1_000_000_000


def _list_calls(app: FormsApp, connection: str = INTAKE) -> list[t.Any]:
    return [c for c in app.api_calls(f"/v1/forms/{app.form_id(connection)}") if c.path.endswith("/responses")]


def _aged(state: dict[str, t.Any], hours: float) -> dict[str, t.Any]:
    """``state`` as if its last full listing had started ``hours`` earlier."""
    stream = state["bookmarks"]["form_response"]
    moved = parse_timestamp(stream["full_listing_at"]) - int(hours * HOUR)
    return {"bookmarks": {"form_response": {**stream, "full_listing_at": format_timestamp(moved)}}}


def test_bookmark_is_the_newest_instant_whatever_the_precision(
    app: FormsApp, make_config: Callable, run_tap: Callable
) -> None:
    """Google renders 0, 3, 6 or 9 fractional digits: as text '...:25Z' sorts after '...:25.500Z'."""
    form_id = app.form_id(INTAKE)
    older, newer = sorted(r["responseId"] for r in app.responses(form_id))[:2]
    second = _recent_second(hours_ago=1)
    assert "." not in app.edit_response(form_id, older, at=format_timestamp(second))["lastSubmittedTime"]
    assert app.edit_response(form_id, newer, at=format_timestamp(second + 500_000_000))["lastSubmittedTime"].endswith(
        ".500Z"
    )

    first = run_tap(make_config())
    # The newest instant, stored in one fixed form (UTC, nine fractional digits) whatever Google rendered.
    assert first.replication_key_value("form_response") == format_timestamp(second)[:-1] + ".500000000Z"

    second_run = run_tap(make_config(), state=first.states[-1])
    # Only the response sitting on the bookmark (the filter is >=), not the older one of the same second.
    assert second_run.ids("form_response") == [newer]
    assert [c.query["filter"] for c in _list_calls(app)[-1:]] == [
        [f"timestamp >= {first.replication_key_value('form_response')}"]
    ]


@pytest.mark.parametrize("compared", ["lastSubmittedTime", "createTime"])
def test_an_edit_is_found_within_one_full_listing_period_whichever_time_the_filter_compares(
    app: FormsApp, make_config: Callable, run_tap: Callable, compared: str
) -> None:
    """The reference only says ``timestamp > N`` means "submitted after" N: it may compare createTime."""
    app.compare_filter_on(compared)
    form_id = app.form_id(INTAKE)
    config = make_config(full_listing_every_hours=24)
    first = run_tap(config)
    old = sorted(first.ids("form_response"))[30]  # created and last submitted months before the bookmark
    edited = app.edit_response(form_id, old)

    soon = run_tap(config, state=first.states[-1])
    # Within the period only the incremental listing runs: it finds the edit if the filter compares
    # lastSubmittedTime; with createTime it cannot (the response was created long before the bookmark).
    assert (old in soon.ids("form_response")) is (compared == "lastSubmittedTime")
    assert all("filter" in c.query for c in _list_calls(app)[-1:])

    calls_before = len(_list_calls(app))
    later = run_tap(config, state=_aged(soon.states[-1], hours=24))
    # One period after the last full listing: everything is listed again, so the edit arrives either way.
    assert {r["responseId"]: r for r in later.records("form_response")}[old] == edited
    assert len(later.ids("form_response")) == len(app.responses(form_id))
    assert [c.query.get("filter") for c in _list_calls(app)[calls_before:]] == [None] * 4  # 150 responses / 40
    listed_at = parse_timestamp(later.states[-1]["bookmarks"]["form_response"]["full_listing_at"])
    assert listed_at > parse_timestamp(soon.states[-1]["bookmarks"]["form_response"]["full_listing_at"])


def test_the_overlap_window_picks_up_recent_edits_even_when_the_filter_compares_create_time(
    app: FormsApp, make_config: Callable, run_tap: Callable
) -> None:
    app.compare_filter_on("createTime")
    form_id = app.form_id(INTAKE)
    recent, newest = (r["responseId"] for r in app.submit_responses(form_id, 2))
    config = make_config(filter_overlap_seconds=3600)
    first = run_tap(config)
    assert parse_timestamp(first.replication_key_value("form_response")) == parse_timestamp(_last(app, newest))
    edited = app.edit_response(form_id, recent)  # created before the bookmark (newest), edited after it

    second = run_tap(config, state=first.states[-1])

    assert {r["responseId"]: r for r in second.records("form_response")}[recent] == edited
    window_start = format_timestamp(parse_timestamp(first.replication_key_value("form_response")) - HOUR)
    assert [c.query["filter"] for c in _list_calls(app)[-1:]] == [[f"timestamp >= {window_start}"]]


def test_the_overlap_window_never_reaches_before_start_date(
    app: FormsApp, make_config: Callable, run_tap: Callable
) -> None:
    start = "2026-06-01T00:00:00Z"
    config = make_config(start_date=start, filter_overlap_seconds=400 * 86400, full_listing_every_hours=24)
    first = run_tap(config)
    run_tap(config, state=first.states[-1])
    filters = {c.query["filter"][0] for c in _list_calls(app)}
    assert filters == {f"timestamp >= {start[:-1]}.000000000Z"}


def test_more_than_5000_responses_are_all_listed_at_the_default_page_size(
    app: FormsApp, make_config: Callable, run_tap: Callable
) -> None:
    form_id = app.form_id("google-forms-followup")
    app.submit_responses(form_id, 5000)
    config = make_config("google-forms-followup")
    del config["page_size"]  # the tap's default: the API's documented default page size

    run = run_tap(config)

    expected = {r["responseId"] for r in app.responses(form_id)}
    assert len(expected) == 5240 > MAX_PAGE_SIZE
    assert len(run.ids("form_response")) == len(set(run.ids("form_response"))) == len(expected)
    assert set(run.ids("form_response")) == expected
    calls = _list_calls(app, "google-forms-followup")
    assert [c.query["pageSize"] for c in calls] == [["5000"], ["5000"]]
    assert "pageToken" in calls[1].query


def _last(app: FormsApp, response_id: str) -> str:
    form_id = app.form_id(INTAKE)
    return next(r["lastSubmittedTime"] for r in app.responses(form_id) if r["responseId"] == response_id)
