"""The Forms sandbox speaks the Forms API v1's and Google OAuth's wire format."""

from __future__ import annotations

import json
import threading

import pytest
import requests
from lorchestra_sandbox.core import serve
from lorchestra_sandbox.forms import (
    ADMIN_REFRESH_TOKEN,
    CATALOG,
    NO_ACCESS_REFRESH_TOKEN,
    OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRET,
    create_app,
    format_timestamp,
    parse_timestamp,
)


@pytest.fixture
def forms():
    running = serve(create_app())
    yield running
    threading.Thread(target=running.stop, daemon=True).start()


def token(url: str, **overrides: str) -> requests.Response:
    form = {
        "grant_type": "refresh_token",
        "client_id": OAUTH_CLIENT_ID,
        "client_secret": OAUTH_CLIENT_SECRET,
        "refresh_token": ADMIN_REFRESH_TOKEN,
        **overrides,
    }
    return requests.post(f"{url}/token", data=form, timeout=5)


def get(url: str, path: str, access_token: str, **params: str) -> requests.Response:
    return requests.get(url + path, params=params, headers={"Authorization": f"Bearer {access_token}"}, timeout=5)


def test_token_endpoint(forms) -> None:
    ok = token(forms.url)
    assert ok.status_code == 200
    assert ok.json()["token_type"] == "Bearer"
    assert set(ok.json()) == {"access_token", "expires_in", "scope", "token_type"}
    assert token(forms.url, refresh_token="1//nope").json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    assert token(forms.url, client_secret="x").status_code == 401
    assert token(forms.url, client_secret="x").json()["error"] == "invalid_client"
    assert token(forms.url, grant_type="password").json()["error"] == "unsupported_grant_type"
    assert token(forms.url, scope="https://www.googleapis.com/auth/drive").json()["error"] == "invalid_scope"


def test_seeded_deterministically_for_every_connection() -> None:
    one, two = create_app(), create_app()
    assert set(one.by_connection) == set(CATALOG)
    for connection, (_, _, count, _) in CATALOG.items():
        form_id = one.form_id(connection)
        assert form_id == two.form_id(connection)
        assert one.responses(form_id) == two.responses(form_id)
        assert len(one.responses(form_id)) == count
    ipip = one.form(one.form_id("google-forms-ipip120"))
    rows = [q for item in ipip["items"] if "questionGroupItem" in item for q in item["questionGroupItem"]["questions"]]
    assert len(rows) == 120


def test_list_paging_filter_and_wire_shapes(forms) -> None:
    app = forms.app
    access = token(forms.url).json()["access_token"]
    form_id = app.form_id("google-forms-intake-02")
    path = f"/v1/forms/{form_id}/responses"
    since = "timestamp >= 2026-01-01T00:00:00Z"
    expected = [r for r in app.responses(form_id) if r["lastSubmittedTime"] >= "2026-01-01T00:00:00Z"]

    seen, page_token, pages = [], None, 0
    while True:
        params = {"filter": since, "pageSize": "10", **({"pageToken": page_token} if page_token else {})}
        body = get(forms.url, path, access, **params).json()
        pages += 1
        seen += body["responses"]
        page_token = body.get("nextPageToken")
        if not page_token:
            break
    assert seen == expected
    assert pages == -(-len(expected) // 10)
    assert all("formId" not in r for r in seen)  # the reference: list results leave formId out
    one = get(forms.url, f"{path}/{seen[0]['responseId']}", access).json()
    assert one == {"formId": form_id, **seen[0]}

    # The page token is only valid with the filter that produced it, and expire_sync invalidates it.
    first = get(forms.url, path, access, filter=since, pageSize="10").json()
    wrong = get(forms.url, path, access, filter="timestamp > 2026-01-01T00:00:00Z", pageToken=first["nextPageToken"])
    assert wrong.status_code == 400
    assert wrong.json()["error"]["status"] == "INVALID_ARGUMENT"
    requests.post(f"{forms.url}/_sandbox/faults", json={"expire_sync": True}, timeout=5)
    expired = get(forms.url, path, access, filter=since, pageToken=first["nextPageToken"])
    assert expired.json()["error"] == {"code": 400, "message": "Invalid page token.", "status": "INVALID_ARGUMENT"}
    assert get(forms.url, path, access, filter="lastSubmittedTime > 1").status_code == 400
    after_all = get(forms.url, path, access, filter="timestamp > 2030-01-01T00:00:00Z")
    assert after_all.json() == {}


def test_errors_in_googles_shape(forms) -> None:
    app = forms.app
    admin = token(forms.url).json()["access_token"]
    nobody = token(forms.url, refresh_token=NO_ACCESS_REFRESH_TOKEN).json()["access_token"]
    form_id = app.form_id("google-forms-followup")

    assert get(forms.url, f"/v1/forms/{form_id}", admin).json()["formId"] == form_id
    assert get(forms.url, f"/v1/forms/{form_id}", nobody).json()["error"] == {
        "code": 403,
        "message": "The caller does not have permission",
        "status": "PERMISSION_DENIED",
    }
    assert get(forms.url, "/v1/forms/nope", admin).json()["error"]["status"] == "NOT_FOUND"
    assert get(forms.url, f"/v1/forms/{form_id}", "made-up").json()["error"]["status"] == "UNAUTHENTICATED"
    requests.post(f"{forms.url}/_sandbox/faults", json={"throttle": 1, "retry_after": 0}, timeout=5)
    throttled = get(forms.url, f"/v1/forms/{form_id}", admin)
    assert throttled.status_code == 429
    assert throttled.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert throttled.json()["error"]["details"][0]["reason"] == "RATE_LIMIT_EXCEEDED"


def test_edits_submissions_and_config_over_http(forms) -> None:
    app = forms.app
    form_id = app.form_id("google-forms-intake-01")
    before = {r["responseId"]: r for r in app.responses(form_id)}
    target = next(iter(before))

    edited = requests.post(f"{forms.url}/_sandbox/forms/{form_id}/responses/{target}/edit", timeout=5).json()
    assert edited["responseId"] == target
    assert parse_timestamp(edited["lastSubmittedTime"]) > parse_timestamp(before[target]["lastSubmittedTime"])
    assert edited["createTime"] == before[target]["createTime"]
    new = requests.post(f"{forms.url}/_sandbox/forms/{form_id}/responses", timeout=5).json()
    assert new["responseId"] not in before
    requests.delete(f"{forms.url}/_sandbox/forms/{form_id}/responses/{target}", timeout=5).raise_for_status()
    assert {r["responseId"] for r in app.responses(form_id)} == set(before) - {target} | {new["responseId"]}

    config = requests.get(f"{forms.url}/_sandbox/forms/config/google-forms-intake-01", timeout=5).json()
    assert config["form_id"] == form_id
    assert config["api_url"] == forms.url
    assert config["token_url"] == f"{forms.url}/token"
    assert {"client_id", "client_secret", "refresh_token"} <= set(config)  # the family's setting names (issue 14)
    assert not {"token_uri", "oauth_credentials", "service_account"} & set(config)
    service = requests.get(f"{forms.url}/_sandbox/forms/config/google-forms-ipip120", timeout=5).json()
    assert json.loads(service["service_account_info"])["type"] == "service_account"


def test_timestamps_use_0_3_6_or_9_fractional_digits() -> None:
    base = parse_timestamp("2026-03-01T10:00:00Z")
    assert base is not None
    assert format_timestamp(base) == "2026-03-01T10:00:00Z"
    assert format_timestamp(base + 5_000_000) == "2026-03-01T10:00:00.005Z"
    assert format_timestamp(base + 5_000) == "2026-03-01T10:00:00.000005Z"
    assert format_timestamp(base + 5) == "2026-03-01T10:00:00.000000005Z"
    assert parse_timestamp("2026-03-01T10:00:00.5Z") == base + 500_000_000
    assert parse_timestamp("2026-03-01 10:00:00") is None


def test_filter_time_switch_chooses_which_time_the_filter_compares(forms) -> None:
    app = forms.app
    access = token(forms.url).json()["access_token"]
    form_id = app.form_id("google-forms-intake-01")
    path = f"/v1/forms/{form_id}/responses"
    old = app.responses(form_id)[0]
    edited = requests.post(
        f"{forms.url}/_sandbox/forms/{form_id}/responses/{old['responseId']}/edit",
        json={"lastSubmittedTime": "2030-01-01T00:00:00.5Z"},
        timeout=5,
    ).json()
    assert edited["lastSubmittedTime"] == "2030-01-01T00:00:00.500Z"
    since = {"filter": "timestamp >= 2029-01-01T00:00:00Z"}
    assert [r["responseId"] for r in get(forms.url, path, access, **since).json()["responses"]] == [old["responseId"]]

    switch = requests.post(f"{forms.url}/_sandbox/forms/faults", json={"filter_time": "createTime"}, timeout=5)
    switch.raise_for_status()
    assert get(forms.url, path, access, **since).json() == {}  # created long before: never matches again
    bad = requests.post(f"{forms.url}/_sandbox/forms/faults", json={"filter_time": "updateTime"}, timeout=5)
    assert bad.status_code == 400


def test_more_than_5000_responses_page_at_the_documented_default(forms) -> None:
    app = forms.app
    access = token(forms.url).json()["access_token"]
    form_id = app.form_id("google-forms-followup")
    added = requests.post(f"{forms.url}/_sandbox/forms/{form_id}/responses", json={"count": 4900}, timeout=30).json()
    assert len(added["responses"]) == 4900
    path = f"/v1/forms/{form_id}/responses"
    first = get(forms.url, path, access).json()  # pageSize unspecified: at most 5000
    assert len(first["responses"]) == 5000
    rest = get(forms.url, path, access, pageToken=first["nextPageToken"], pageSize="0").json()
    assert len(rest["responses"]) == 240 + 4900 - 5000
    assert "nextPageToken" not in rest
    capped = get(forms.url, path, access, pageSize="9000").json()
    assert len(capped["responses"]) == 5000
