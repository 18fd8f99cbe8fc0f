"""The Dataverse sandbox speaks the Web API's and Entra ID's wire format."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from lorchestra_sandbox import dataverse
from lorchestra_sandbox.core import serve

API = "/api/data/v9.2"
FORMATTED = "@OData.Community.Display.V1.FormattedValue"


@pytest.fixture
def sandbox():
    running = serve(dataverse.create_app(), port=0)
    yield running
    threading.Thread(target=running.stop, daemon=True).start()


def _token(url, **overrides):
    form = {
        "grant_type": "client_credentials",
        "client_id": dataverse.CLIENT_ID,
        "client_secret": dataverse.CLIENT_SECRET,
        "scope": f"{url}/.default",
        **overrides,
    }
    return requests.post(f"{url}/{dataverse.TENANT_ID}/oauth2/v2.0/token", data=form, timeout=5)


@pytest.fixture
def session(sandbox):
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + _token(sandbox.url).json()["access_token"]
    return s


def test_seed_is_deterministic_and_sized():
    a, b = dataverse.create_app(), dataverse.create_app()
    assert a.records("contacts") == b.records("contacts")
    assert [len(a.tables[n].rows) for n in ("contacts", "cr8a1_sessions", "cr8a1_reports")] == [120, 240, 160]


def test_token_endpoint_answers_like_entra(sandbox):
    ok = _token(sandbox.url).json()
    assert set(ok) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    bad_secret = _token(sandbox.url, client_secret="nope")
    assert bad_secret.status_code == 401
    assert bad_secret.json()["error"] == "invalid_client"
    assert bad_secret.json()["error_codes"] == [7000215]
    bad_scope = _token(sandbox.url, scope="https://other.crm.dynamics.com/.default")
    assert bad_scope.status_code == 400
    assert bad_scope.json()["error_description"].startswith("AADSTS500011")


def test_metadata(sandbox, session):
    found = session.get(
        f"{sandbox.url}{API}/EntityDefinitions",
        params={"$filter": "EntitySetName eq 'cr8a1_sessions'", "$select": "LogicalName,PrimaryIdAttribute"},
    ).json()["value"]
    assert found == [{"LogicalName": "cr8a1_session", "PrimaryIdAttribute": "cr8a1_sessionid"}]
    attrs = session.get(f"{sandbox.url}{API}/EntityDefinitions(LogicalName='contact')/Attributes").json()["value"]
    by_name = {a["LogicalName"]: a for a in attrs}
    assert by_name["gendercode"]["@odata.type"] == "#Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
    assert by_name["createdbyname"]["AttributeOf"] == "createdby"
    dates = session.get(
        f"{sandbox.url}{API}/EntityDefinitions(LogicalName='contact')/Attributes/"
        "Microsoft.Dynamics.CRM.DateTimeAttributeMetadata"
    ).json()["value"]
    assert {a["LogicalName"]: a["Format"] for a in dates}["birthdate"] == "DateOnly"


def test_paging_by_next_link_with_a_paging_cookie(sandbox, session):
    prefer = f'odata.include-annotations="{FORMATTED[1:]}",odata.maxpagesize=40'
    url, params, ids = f"{sandbox.url}{API}/contacts", {"$orderby": "modifiedon asc"}, []
    first = session.get(url, params=params, headers={"Prefer": prefer})
    assert first.headers["Preference-Applied"] == prefer
    assert first.headers["OData-Version"] == "4.0"
    body = first.json()
    assert body["@odata.context"].endswith("$metadata#contacts")
    assert f"gendercode{FORMATTED}" in body["value"][0] or body["value"][0]["gendercode"] is None
    skiptoken = parse_qs(urlsplit(body["@odata.nextLink"]).query)["$skiptoken"][0]
    assert skiptoken.startswith('<cookie pagenumber="2" pagingcookie="%3Ccookie%20page%3D%221%22%3E')
    # A row modified while paging moves behind the cursor: seen once, later.
    moved = body["value"][0]["contactid"]
    sandbox.app.update("contacts", moved, telephone1="+1 971 555 0100")
    while True:
        ids += [r["contactid"] for r in body["value"]]
        if "@odata.nextLink" not in body:
            break
        body = session.get(body["@odata.nextLink"], headers={"Prefer": prefer}).json()
    assert len(ids) == 121
    assert ids.count(moved) == 2
    assert ids[-1] == moved
    (plain,) = session.get(url, params={"$top": 1}).json()["value"]
    assert not [k for k in plain if k.endswith(FORMATTED)]  # annotations only when asked for


def test_filter_on_modifiedon(sandbox, session):
    rows = session.get(
        f"{sandbox.url}{API}/cr8a1_reports",
        params={"$filter": "modifiedon ge 2025-10-01T00:00:00Z", "$orderby": "modifiedon asc"},
    ).json()["value"]
    assert rows
    assert all(r["modifiedon"] >= "2025-10-01T00:00:00Z" for r in rows)
    bad = session.get(f"{sandbox.url}{API}/contacts", params={"$filter": "nosuchcolumn eq 1"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "0x80060888"


def test_errors_and_service_protection(sandbox, session):
    missing = session.get(f"{sandbox.url}{API}/cr8a1_notes")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "0x80060888")
    ok = session.get(f"{sandbox.url}{API}/contacts")
    remaining = int(ok.headers["x-ms-ratelimit-burst-remaining-xrm-requests"])
    assert float(ok.headers["x-ms-ratelimit-time-remaining-xrm-requests"]) > 0
    requests.post(f"{sandbox.url}/_sandbox/faults", json={"throttle": 1, "retry_after": 7}, timeout=5)
    throttled = session.get(f"{sandbox.url}{API}/contacts")
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "7"
    assert throttled.json()["error"]["code"] == "0x80072322"
    assert int(throttled.headers["x-ms-ratelimit-burst-remaining-xrm-requests"]) == remaining - 1
    requests.post(f"{sandbox.url}/_sandbox/faults", json={"forbid": ["contacts"]}, timeout=5)
    forbidden = session.get(f"{sandbox.url}{API}/contacts")
    assert (forbidden.status_code, forbidden.json()["error"]["code"]) == (403, "0x80040220")
    requests.post(f"{sandbox.url}/_sandbox/faults", json={"expire_tokens": True}, timeout=5)
    expired = session.get(f"{sandbox.url}{API}/cr8a1_sessions")
    assert expired.status_code == 401
    assert expired.content == b""
    assert expired.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")


def test_records_can_be_edited_over_http(sandbox, session):
    base = f"{sandbox.url}/_sandbox/records/contacts"
    created = requests.post(base, json={"firstname": "Ada", "lastname": "Ngata"}, timeout=5).json()
    changed = requests.patch(f"{base}/{created['contactid']}", json={"firstname": "Adah"}, timeout=5).json()
    assert changed["modifiedon"] > created["modifiedon"]
    assert requests.delete(f"{base}/{created['contactid']}", timeout=5).ok
    assert created["contactid"] not in sandbox.app.tables["contacts"].rows


def test_select_returns_only_the_selected_columns(sandbox, session):
    prefer = {"Prefer": f'odata.include-annotations="{FORMATTED[1:]}"'}
    rows = session.get(
        f"{sandbox.url}{API}/contacts", params={"$select": "fullname,gendercode", "$top": 3}, headers=prefer
    ).json()["value"]
    assert len(rows) == 3
    for row in rows:  # the primary id and the etag always come back; annotations only for selected columns
        assert set(row) <= {"@odata.etag", "contactid", "fullname", "gendercode", f"gendercode{FORMATTED}"}
        assert {"@odata.etag", "contactid", "fullname", "gendercode"} <= set(row)
    bad = session.get(f"{sandbox.url}{API}/contacts", params={"$select": "fullname,nosuchcolumn"})
    assert bad.status_code == 400
    assert "nosuchcolumn" in bad.json()["error"]["message"]


def test_date_time_columns_carry_their_behaviour_and_format(sandbox, session):
    dates = session.get(
        f"{sandbox.url}{API}/EntityDefinitions(LogicalName='contact')/Attributes/"
        "Microsoft.Dynamics.CRM.DateTimeAttributeMetadata",
        params={"$select": "LogicalName,Format,DateTimeBehavior"},
    ).json()["value"]
    by_name = {a["LogicalName"]: (a["DateTimeBehavior"]["Value"], a["Format"]) for a in dates}
    assert by_name["birthdate"] == ("DateOnly", "DateOnly")
    assert by_name["cr8a1_intakedate"] == ("UserLocal", "DateOnly")
    assert by_name["modifiedon"] == ("UserLocal", "DateAndTime")
    row = session.get(f"{sandbox.url}{API}/contacts", params={"$top": 1}).json()["value"][0]
    assert len(row["birthdate"]) == 10  # an Edm.Date
    assert row["cr8a1_intakedate"].endswith("T08:00:00Z")  # midnight in the user's zone (UTC-8), in UTC


def _all_ids(session, url, params, prefer):
    ids, body = [], session.get(url, params=params, headers=prefer).json()
    while True:
        ids += [r["contactid"] for r in body["value"]]
        if "@odata.nextLink" not in body:
            return ids
        body = session.get(body["@odata.nextLink"], headers=prefer).json()


def test_arbitrary_ties_break_a_non_unique_order_but_not_a_unique_one(sandbox, session):
    requests.post(f"{sandbox.url}/_sandbox/faults", json={"arbitrary_ties": True, "tie_seed": 7}, timeout=5)
    url, prefer = f"{sandbox.url}{API}/contacts", {"Prefer": "odata.maxpagesize=10"}
    every = sorted(sandbox.app.tables["contacts"].rows)

    loose = _all_ids(session, url, {"$orderby": "modifiedon asc", "$select": "fullname"}, prefer)
    assert len(loose) == 120
    assert sorted(loose) != every  # the 25 tied contacts overlapped or were skipped across pages
    exact = _all_ids(session, url, {"$orderby": "modifiedon asc,contactid asc", "$select": "fullname"}, prefer)
    assert sorted(exact) == every
