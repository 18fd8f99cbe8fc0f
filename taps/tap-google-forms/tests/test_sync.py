"""Exact record sets for backfill, incremental, start_date, selection and resume after interruption."""

from __future__ import annotations

import math
import typing as t

import pytest
from lorchestra_sandbox.forms import parse_timestamp
from singer_sdk.exceptions import RetriableAPIError
from tap_google_forms.streams import rfc3339_zulu
from tap_google_forms.tap import TapGoogleForms

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from lorchestra_sandbox.forms import FormsApp

CONNECTIONS = ("google-forms-ipip120", "google-forms-intake-01", "google-forms-intake-02", "google-forms-followup")
INTAKE = "google-forms-intake-01"

LIST = "/responses"


def _ns(timestamp: str) -> int:
    value = parse_timestamp(rfc3339_zulu(timestamp))
    assert value is not None, timestamp
    return value


def _by_id(records: list[dict[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
    return {r["responseId"]: r for r in records}


def _changed_since(app: FormsApp, connection: str, bookmark: str) -> dict[str, dict[str, t.Any]]:
    """What ``timestamp >= bookmark`` selects in the sandbox right now."""
    responses = app.responses(app.form_id(connection))
    return {r["responseId"]: r for r in responses if _ns(r["lastSubmittedTime"]) >= _ns(bookmark)}


def _list_calls(app: FormsApp, connection: str) -> list[t.Any]:
    return [c for c in app.api_calls(f"/v1/forms/{app.form_id(connection)}") if c.path.endswith(LIST)]


@pytest.mark.parametrize("connection", CONNECTIONS)
def test_backfill_emits_every_response_and_the_form_exactly_as_the_api_returns_them(
    app: FormsApp, make_config: Callable[..., dict], connection: str, run_tap: Callable
) -> None:
    form_id = app.form_id(connection)
    run = run_tap(make_config(connection))

    assert run.error is None
    expected = app.responses(form_id)
    assert len(run.ids("form_response")) == len(set(run.ids("form_response"))) == len(expected)
    assert _by_id(run.records("form_response")) == _by_id(
        expected
    )  # payloads unchanged: no key added, dropped or altered
    assert run.records("form") == [app.form(form_id)]
    pages = math.ceil(len(expected) / 40)
    calls = _list_calls(app, connection)
    assert len(calls) == pages
    assert all("filter" not in c.query for c in calls)  # a first run without start_date lists everything
    # The bookmark is the newest lastSubmittedTime, as an instant, in one fixed form (nine digits, UTC).
    newest = max(_ns(r["lastSubmittedTime"]) for r in expected)
    assert _ns(run.replication_key_value("form_response")) == newest
    assert run.replication_key_value("form_response") == rfc3339_zulu(run.replication_key_value("form_response"))


def test_schema_messages_declare_provenance(make_config: Callable[..., dict], run_tap: Callable) -> None:
    run = run_tap(make_config(schema_ref="iglu:com.northside/form_response/jsonschema/1-0-0"))

    for stream in ("form", "form_response"):
        assert run.schema(stream)["schema"]["x-lorchestra"] == {
            "source_system": "google_forms",
            "connection_name": INTAKE,
            "schema_ref": "iglu:com.northside/form_response/jsonschema/1-0-0",
        }
    assert run.schema("form_response")["key_properties"] == ["responseId"]
    assert run.schema("form")["key_properties"] == ["formId"]
    assert run_tap(make_config()).schema("form")["schema"]["x-lorchestra"]["schema_ref"] is None


def test_incremental_run_pulls_only_new_and_edited_responses(
    app: FormsApp, make_config: Callable, run_tap: Callable
) -> None:
    form_id = app.form_id(INTAKE)
    first = run_tap(make_config())
    bookmark = first.replication_key_value("form_response")
    assert bookmark is not None

    new = [app.submit_response(form_id)["responseId"] for _ in range(3)]
    edited_id = sorted(_by_id(first.records("form_response")))[17]
    edited = app.edit_response(form_id, edited_id)
    deleted_id = sorted(_by_id(first.records("form_response")))[5]
    app.delete_response(form_id, deleted_id)
    calls_before = len(_list_calls(app, INTAKE))

    second = run_tap(make_config(), state=first.states[-1])

    assert second.error is None
    expected = _changed_since(app, INTAKE, bookmark)
    assert set(new) | {edited_id} <= set(expected)
    assert len(expected) <= len(new) + 1 + 2  # plus the response(s) sitting exactly on the bookmark
    assert _by_id(second.records("form_response")) == expected
    assert (
        _by_id(second.records("form_response"))[edited_id] == edited
    )  # the edit updates the row: newer lastSubmittedTime
    assert deleted_id not in second.ids("form_response")  # a deletion emits nothing (the stored payload stays)
    calls = _list_calls(app, INTAKE)[calls_before:]
    assert [c.query["filter"] for c in calls] == [[f"timestamp >= {rfc3339_zulu(bookmark)}"]]
    # The bookmark moved forward, but never past the run's start (the SDK signpost, millisecond precision):
    # a response edited within the same millisecond before the run is simply fetched once more next time.
    assert (
        _ns(bookmark)
        < _ns(second.replication_key_value("form_response"))
        <= max(_ns(r["lastSubmittedTime"]) for r in expected.values())
    )

    third = run_tap(make_config(), state=second.states[-1])
    assert _by_id(third.records("form_response")) == _changed_since(
        app, INTAKE, second.replication_key_value("form_response")
    )
    # Nothing changed since: the third run only repeats what sits at or after the second run's bookmark.
    assert set(third.ids("form_response")) <= set(second.ids("form_response"))
    assert len(third.ids("form_response")) < len(second.ids("form_response"))


def test_the_same_filter_goes_with_every_page_of_a_run(app: FormsApp, make_config: Callable, run_tap: Callable) -> None:
    form_id = app.form_id(INTAKE)
    first = run_tap(make_config())
    new = {app.submit_response(form_id)["responseId"] for _ in range(7)}
    calls_before = len(_list_calls(app, INTAKE))

    second = run_tap(make_config(page_size=2), state=first.states[-1])

    assert new <= set(second.ids("form_response"))
    calls = _list_calls(app, INTAKE)[calls_before:]
    assert len(calls) == math.ceil(len(second.ids("form_response")) / 2) >= 4
    assert len({tuple(c.query["filter"]) for c in calls}) == 1
    assert "pageToken" not in calls[0].query
    assert all("pageToken" in c.query and c.query["pageSize"] == ["2"] for c in calls[1:])
    assert all(c.status == 200 for c in calls)


def test_start_date_limits_the_first_run(app: FormsApp, make_config: Callable, run_tap: Callable) -> None:
    start = "2026-06-01T00:00:00Z"
    run = run_tap(make_config(start_date=start))

    expected = _changed_since(app, INTAKE, start)
    assert 0 < len(expected) < len(app.responses(app.form_id(INTAKE)))
    assert _by_id(run.records("form_response")) == expected
    assert {tuple(c.query["filter"]) for c in _list_calls(app, INTAKE)} == {
        ("timestamp >= 2026-06-01T00:00:00.000000000Z",)
    }


def test_an_interrupted_run_resumes_without_gaps(
    app: FormsApp, make_config: Callable, set_faults: Callable, run_tap: Callable
) -> None:
    form_id = app.form_id(INTAKE)
    first = run_tap(make_config())
    ids = sorted(first.ids("form_response"))
    changed = {app.submit_response(form_id)["responseId"] for _ in range(6)}
    changed |= {app.edit_response(form_id, i)["responseId"] for i in ids[40:44]}

    # Dies after the form and two pages of two responses: 503 on every request after that.
    set_faults(fail_after=3, retry_after=0)
    interrupted = run_tap(
        make_config(page_size=2, max_attempts=2), state=first.states[-1], expect_error=RetriableAPIError
    )
    assert interrupted.error is not None
    assert 0 < len(interrupted.ids("form_response")) < len(changed)
    # Whatever STATE reached the target, it does not claim progress past what was sent.
    resume_from = interrupted.states[-1] if interrupted.states else first.states[-1]
    assert resume_from["bookmarks"]["form_response"].get("replication_key_value") == first.replication_key_value(
        "form_response"
    )

    set_faults("/_sandbox/reset")
    resumed = run_tap(make_config(page_size=2), state=resume_from)

    assert resumed.error is None
    assert changed <= set(resumed.ids("form_response"))
    assert _by_id(resumed.records("form_response")) == _by_id(
        list(_changed_since(app, INTAKE, first.replication_key_value("form_response")).values())
    )


def test_an_interrupted_first_run_backfills_again(
    app: FormsApp, make_config: Callable, set_faults: Callable, run_tap: Callable
) -> None:
    set_faults(fail_after=2, retry_after=0)
    interrupted = run_tap(make_config(page_size=10, max_attempts=2), expect_error=RetriableAPIError)
    assert interrupted.error is not None
    assert all(s["bookmarks"].get("form_response", {}).get("replication_key_value") is None for s in interrupted.states)

    set_faults("/_sandbox/reset")
    state = interrupted.states[-1] if interrupted.states else None
    again = run_tap(make_config(), state=state)
    assert _by_id(again.records("form_response")) == _by_id(app.responses(app.form_id(INTAKE)))


def test_catalog_selection(app: FormsApp, make_config: Callable, run_tap: Callable, selected_catalog: Callable) -> None:
    config = make_config()
    only_responses = run_tap(config, catalog=selected_catalog(config, "form_response"))
    assert only_responses.records("form") == []
    assert len(only_responses.ids("form_response")) == 150
    assert [c.path for c in app.api_calls() if not c.path.endswith(LIST)] == []

    only_form = run_tap(config, catalog=selected_catalog(config, "form"))
    assert only_form.ids("form_response") == []
    assert len(only_form.records("form")) == 1
    assert len(_list_calls(app, INTAKE)) == 4  # the four pages of the first run only


@pytest.mark.parametrize("deselected", [("answers",), ("respondentEmail", "createTime")])
def test_property_selection(
    app: FormsApp, make_config: Callable, run_tap: Callable, selected_catalog: Callable, deselected: tuple[str, ...]
) -> None:
    """Deselected properties are dropped; the rest, the free-form ``answers`` included, is kept whole."""
    config = make_config()
    catalog = selected_catalog(config, "form_response")
    entry = next(e for e in catalog["streams"] if e["tap_stream_id"] == "form_response")
    for metadata in entry["metadata"]:
        if metadata["breadcrumb"] in [["properties", name] for name in deselected]:
            metadata["metadata"]["selected"] = False
    run = run_tap(config, catalog=catalog)

    assert run.error is None
    expected = {
        i: {k: v for k, v in r.items() if k not in deselected}
        for i, r in _by_id(app.responses(app.form_id(INTAKE))).items()
    }
    assert _by_id(run.records("form_response")) == expected


def test_selection_mask_remembers_inherited_lookups(make_config: Callable) -> None:
    """Answer fields (not in the catalog) inherit from ``answers``, looked up once; a new selection counts."""
    stream = TapGoogleForms(config=make_config(), parse_env_config=False).streams["form_response"]
    field = ("properties", "answers", "properties", "q1", "properties", "textAnswers")
    assert field not in stream.mask
    assert stream.mask[field] is True
    assert field in stream.mask
    stream.selected = False  # the SDK rebuilds the mask: nothing remembered from the old one
    assert stream.mask[field] is False


def test_rfc3339_zulu_normalises_precision_and_offsets() -> None:
    assert rfc3339_zulu("2026-01-02T03:04:05.123456789Z") == "2026-01-02T03:04:05.123456789Z"
    assert rfc3339_zulu("2026-01-02T03:04:05Z") == "2026-01-02T03:04:05.000000000Z"
    assert rfc3339_zulu("2026-01-02T05:04:05.5+02:00") == "2026-01-02T03:04:05.500000000Z"
    assert rfc3339_zulu("2026-01-02T03:04:05.000001+00:00") == "2026-01-02T03:04:05.000001000Z"
    assert rfc3339_zulu("2026-01-02") == "2026-01-02T00:00:00.000000000Z"
    # Fixed width: as text they sort as the instants they are ('...:05Z' > '...:05.5Z' would not).
    assert rfc3339_zulu("2026-01-02T03:04:05Z") < rfc3339_zulu("2026-01-02T03:04:05.5Z")
    with pytest.raises(ValueError, match="ISO 8601"):
        rfc3339_zulu("yesterday")
