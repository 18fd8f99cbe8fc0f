"""The Graph sandbox speaks Graph's and Entra ID's wire format."""

from __future__ import annotations

import threading

import pytest
import requests
from lorchestra_sandbox.core import serve
from lorchestra_sandbox.graph import CONNECTIONS, TENANTS, create_app

MENSIO = TENANTS["mensio"]
BEN = "ben@mensio.example"
IMMUTABLE = 'IdType="ImmutableId"'


@pytest.fixture
def graph():
    running = serve(create_app())
    yield running
    threading.Thread(target=running.stop, daemon=True).start()


def token(url: str, tenant: dict = MENSIO, **overrides) -> requests.Response:
    form = {
        "grant_type": "client_credentials",
        "client_id": tenant["client_id"],
        "client_secret": tenant["client_secret"],
        "scope": "https://graph.microsoft.com/.default",
        **overrides,
    }
    return requests.post(f"{url}/{tenant['tenant_id']}/oauth2/v2.0/token", data=form, timeout=5)


def headers(url: str, prefer: str | None = None) -> dict[str, str]:
    out = {"Authorization": "Bearer " + token(url).json()["access_token"]}
    if prefer:
        out["Prefer"] = prefer
    return out


def drain(url: str, first: str, hdrs: dict) -> tuple[list[dict], str]:
    """All items of a delta round and its deltaLink."""
    items, link = [], first
    while True:
        body = requests.get(link, headers=hdrs, timeout=5).json()
        items += body["value"]
        if "@odata.nextLink" in body:
            link = body["@odata.nextLink"]
            continue
        return items, body["@odata.deltaLink"]


def test_seed_is_deterministic_and_covers_every_connection():
    first, second = create_app(), create_app()
    for _, mailbox, _, count in CONNECTIONS.values():
        assert len(first.messages(mailbox)) == count
        assert first.messages(mailbox) == second.messages(mailbox)


def test_token_endpoint(graph):
    ok = token(graph.url)
    assert ok.status_code == 200
    assert set(ok.json()) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    bad = token(graph.url, client_secret="wrong")
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"
    assert bad.json()["error_codes"] == [7000215]
    assert "wrong" not in bad.text
    assert token(graph.url, scope="Mail.Read").json()["error"] == "invalid_scope"
    unknown = requests.post(f"{graph.url}/not-a-tenant/oauth2/v2.0/token", data={}, timeout=5)
    assert (unknown.status_code, unknown.json()["error_codes"]) == (400, [90002])


def test_errors_have_graph_shape(graph):
    url = f"{graph.url}/v1.0/users/{BEN}/mailFolders"
    unauth = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=5)
    assert unauth.status_code == 401
    assert unauth.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert set(unauth.json()["error"]["innerError"]) == {"date", "request-id", "client-request-id"}
    other_tenant = requests.get(
        f"{graph.url}/v1.0/users/ben@efs.example/mailFolders", headers=headers(graph.url), timeout=5
    )
    assert (other_tenant.status_code, other_tenant.json()["error"]["code"]) == (404, "ErrorInvalidUser")
    graph.app.deny(BEN)
    denied = requests.get(url, headers=headers(graph.url), timeout=5)
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "ErrorAccessDenied")


def test_folders_page_with_skip_and_list_children(graph):
    hdrs = headers(graph.url)
    first = requests.get(f"{graph.url}/v1.0/users/{BEN}/mailFolders?$top=3", headers=hdrs, timeout=5).json()
    assert len(first["value"]) == 3
    assert "%24skip=3" in first["@odata.nextLink"]
    names, link = [], f"{graph.url}/v1.0/users/{BEN}/mailFolders?$top=3"
    while link:
        body = requests.get(link, headers=hdrs, timeout=5).json()
        names += [f["displayName"] for f in body["value"]]
        link = body.get("@odata.nextLink")
    assert "Inbox" in names
    assert "Clipboard" not in names  # hidden unless includeHiddenFolders=true
    inbox = requests.get(f"{graph.url}/v1.0/users/{BEN}/mailFolders/inbox", headers=hdrs, timeout=5).json()
    assert inbox["childFolderCount"] == 2
    children = requests.get(
        f"{graph.url}/v1.0/users/{BEN}/mailFolders/{inbox['id']}/childFolders", headers=hdrs, timeout=5
    ).json()
    assert {c["displayName"] for c in children["value"]} == {"Intake", "Billing"}


def test_delta_rounds_pages_changes_and_removals(graph):
    app = graph.app
    hdrs = headers(graph.url, f"odata.maxpagesize=4, {IMMUTABLE}")
    first_url = f"{graph.url}/v1.0/users/{BEN}/mailFolders/inbox/messages/delta"
    page = requests.get(first_url, headers=hdrs, timeout=5)
    assert page.headers["Preference-Applied"] == f"odata.maxpagesize=4, {IMMUTABLE}"
    assert len(page.json()["value"]) == 4
    assert "$skiptoken=" in requests.utils.unquote(page.json()["@odata.nextLink"])
    items, delta = drain(graph.url, first_url, hdrs)
    assert sorted(i["id"] for i in items) == sorted(m["id"] for m in app.messages(BEN, ["inbox"]))
    assert "$deltatoken=" in requests.utils.unquote(delta)

    assert drain(graph.url, delta, hdrs)[0] == []  # nothing changed
    moved, deleted = items[0]["id"], items[1]["id"]
    new = app.add_message(BEN, "inbox")
    app.move_message(BEN, moved, "archive")
    app.delete_message(BEN, deleted)
    changes, _ = drain(graph.url, delta, hdrs)
    assert [c["id"] for c in changes if "@removed" not in c] == [new]
    removed = [c for c in changes if "@removed" in c]
    assert sorted(c["id"] for c in removed) == sorted([moved, deleted])
    assert all(c["@removed"] == {"reason": "deleted"} for c in removed)


def test_moves_change_default_ids_but_not_immutable_ids(graph):
    app = graph.app
    message = app.messages(BEN, ["inbox"])[0]
    plain, immutable = headers(graph.url), headers(graph.url, IMMUTABLE)
    url = f"{graph.url}/v1.0/users/{BEN}/messages/{message['id']}"
    rest_id = requests.get(url, headers=plain, timeout=5).json()["id"]
    assert rest_id != message["id"]
    app.move_message(BEN, message["id"], "archive")
    after = requests.get(url, headers=plain, timeout=5).json()
    assert after["id"] != rest_id  # the default id changed with the folder
    assert requests.get(url, headers=immutable, timeout=5).json()["id"] == message["id"]


def test_expired_sync_state_answers_410(graph):
    hdrs = headers(graph.url, IMMUTABLE)
    _, delta = drain(graph.url, f"{graph.url}/v1.0/users/{BEN}/mailFolders/inbox/messages/delta", hdrs)
    requests.post(f"{graph.url}/_sandbox/faults", json={"expire_sync": True}, timeout=5).raise_for_status()
    gone = requests.get(delta, headers=hdrs, timeout=5)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "syncStateNotFound"


def test_mailbox_concurrency_limit(graph):
    hdrs = headers(graph.url)
    requests.post(f"{graph.url}/_sandbox/faults", json={"delay": 0.3, "retry_after": 1}, timeout=5)
    results: list[requests.Response] = []

    def call():
        results.append(requests.get(f"{graph.url}/v1.0/users/{BEN}/mailFolders", headers=hdrs, timeout=5))

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    throttled = [r for r in results if r.status_code == 429]
    assert len(throttled) == 2
    assert throttled[0].json()["error"]["code"] == "ApplicationThrottled"
    assert "MailboxConcurrency" in throttled[0].json()["error"]["message"]
    assert throttled[0].headers["Retry-After"] == "1"
    assert graph.app.peak_concurrency[BEN] == 4


def test_control_routes_and_token_revocation_countdown(graph):
    created = requests.post(
        f"{graph.url}/_sandbox/graph/{BEN}/messages",
        json={"folder": "billing", "subject": "Rechnung 2025-03"},
        timeout=5,
    )
    assert created.status_code == 201
    message = graph.app.message_resource(BEN, created.json()["id"])
    assert message["subject"] == "Rechnung 2025-03"
    hdrs = headers(graph.url)
    requests.post(f"{graph.url}/_sandbox/faults", json={"expire_tokens_after": 1}, timeout=5)
    url = f"{graph.url}/v1.0/users/{BEN}/mailFolders"
    assert requests.get(url, headers=hdrs, timeout=5).status_code == 200
    assert requests.get(url, headers=hdrs, timeout=5).status_code == 401


def test_filtered_delta_returns_at_most_5000_messages(graph):
    app = graph.app
    app.add_messages(BEN, "billing", 5010)
    hdrs = headers(graph.url, f"odata.maxpagesize=1000, {IMMUTABLE}")
    base = f"{graph.url}/v1.0/users/{BEN}/mailFolders/{app.folder_ids(BEN)['Inbox/Billing']}/messages/delta"
    unfiltered, _ = drain(graph.url, base, hdrs)
    filtered, delta = drain(graph.url, f"{base}?$filter=receivedDateTime ge 2020-01-01T00:00:00Z", hdrs)
    assert len(unfiltered) == len(app.messages(BEN, ["billing"])) > 5000
    assert len(filtered) == 5000  # "applying $filter in a delta query returns only up to 5,000 messages"
    new = app.add_message(BEN, "billing")
    assert [m["id"] for m in drain(graph.url, delta, hdrs)[0]] == [new]  # the filter rides in the link


def test_select_is_honoured_and_carried_in_the_links(graph):
    hdrs = headers(graph.url, f"odata.maxpagesize=5, {IMMUTABLE}")
    url = f"{graph.url}/v1.0/users/{BEN}/mailFolders/inbox/messages/delta?$select=subject,internetMessageHeaders"
    items, delta = drain(graph.url, url, hdrs)
    assert len(items) > 5  # more than one page, every page with the selection
    for item in items:
        assert set(item) == {"@odata.type", "@odata.etag", "id", "subject", "internetMessageHeaders"}
    graph.app.add_message(BEN, "inbox")
    (change,) = drain(graph.url, delta, hdrs)[0]
    assert set(change) == {"@odata.type", "@odata.etag", "id", "subject", "internetMessageHeaders"}
    folders = requests.get(
        f"{graph.url}/v1.0/users/{BEN}/mailFolders?$select=id,childFolderCount", headers=hdrs, timeout=5
    ).json()["value"]
    assert all(set(f) == {"id", "childFolderCount"} for f in folders)
    bad = requests.get(
        f"{graph.url}/v1.0/users/{BEN}/mailFolders/inbox/messages/delta?$select=nope", headers=hdrs, timeout=5
    )
    assert bad.status_code == 400
    assert "nope" in bad.json()["error"]["message"]


@pytest.mark.parametrize(
    ("status", "code", "inner"), [(400, "resyncRequired", True), (404, "syncStateNotFound", False)]
)
def test_expired_sync_state_shapes(graph, status, code, inner):
    hdrs = headers(graph.url, IMMUTABLE)
    _, delta = drain(graph.url, f"{graph.url}/v1.0/users/{BEN}/mailFolders/inbox/messages/delta", hdrs)
    shape = {"expire_sync": True, "sync_error_status": status, "sync_error_code": code, "sync_error_inner": inner}
    requests.post(f"{graph.url}/_sandbox/faults", json=shape, timeout=5).raise_for_status()
    refused = requests.get(delta, headers=hdrs, timeout=5)
    assert refused.status_code == status
    error = refused.json()["error"]
    assert (error["innerError"].get("code") if inner else error["code"]) == code
    requests.post(f"{graph.url}/_sandbox/reset", timeout=5).raise_for_status()
    gone = requests.get(delta, headers=hdrs, timeout=5)  # the default shape: 410 with a Location header
    assert gone.status_code == 410
    assert gone.headers["Location"].endswith("?$deltatoken=")
