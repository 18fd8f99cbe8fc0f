"""The Gmail sandbox speaks Gmail's wire format."""

from __future__ import annotations

import base64
import json
import re

import pytest
import requests
from lorchestra_sandbox.core import serve
from lorchestra_sandbox.gmail import ACCOUNTS, CLIENT_ID, CLIENT_SECRET, GmailFaults, create_app


@pytest.fixture
def gmail():
    running = serve(create_app())
    yield running
    running.stop()


def refresh(running, refresh_token: str, client_secret: str = CLIENT_SECRET) -> requests.Response:
    """A refresh-token grant at the sandbox's token endpoint."""
    data = {"grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": client_secret}
    return requests.post(f"{running.url}/token", data={**data, "refresh_token": refresh_token}, timeout=5)


def token(running, account=ACCOUNTS[0]) -> str:
    response = refresh(running, account.refresh_token)
    response.raise_for_status()
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "https://www.googleapis.com/auth/gmail.readonly"
    return body["access_token"]


def get(running, path, access_token, **params):
    return requests.get(
        f"{running.url}{path}", params=params, headers={"Authorization": f"Bearer {access_token}"}, timeout=5
    )


def test_seed_is_deterministic_and_covers_every_connection():
    first, second = create_app(), create_app()
    for account in ACCOUNTS:
        assert first.resources(account.connection_name) == second.resources(account.connection_name)
        assert len(first.mailbox(account.connection_name).messages) == account.count


def test_me_is_the_token_owner_and_other_mailboxes_are_denied(gmail):
    access = token(gmail, ACCOUNTS[1])
    profile = get(gmail, "/gmail/v1/users/me/profile", access).json()
    assert profile["emailAddress"] == ACCOUNTS[1].email
    assert profile["historyId"].isdigit()
    denied = get(gmail, f"/gmail/v1/users/{ACCOUNTS[0].email}/profile", access)
    assert denied.status_code == 403
    assert denied.json()["error"]["errors"][0]["reason"] == "forbidden"


def test_token_endpoint_errors(gmail):
    bad_client = refresh(gmail, "y", client_secret="x")
    assert (bad_client.status_code, bad_client.json()["error"]) == (401, "invalid_client")
    bad_grant = refresh(gmail, "1//nope")
    assert (bad_grant.status_code, bad_grant.json()["error"]) == (400, "invalid_grant")
    assert get(gmail, "/gmail/v1/users/me/profile", "not-a-token").status_code == 401


def test_list_pages_newest_first_and_get_formats(gmail):
    access = token(gmail)
    seen, page_token = [], None
    while True:
        params = {"maxResults": 40, **({"pageToken": page_token} if page_token else {})}
        body = get(gmail, "/gmail/v1/users/me/messages", access, **params).json()
        seen += body["messages"]
        page_token = body.get("nextPageToken")
        if not page_token:
            break
    app = gmail.app
    assert [m["id"] for m in seen] == list(app.resources("gmail-acct1"))  # SPAM/TRASH excluded, newest first
    full = get(gmail, f"/gmail/v1/users/me/messages/{seen[0]['id']}", access).json()
    raw = get(gmail, f"/gmail/v1/users/me/messages/{seen[0]['id']}", access, format="raw").json()
    assert full["payload"]["partId"] == ""
    assert full["sizeEstimate"] == len(base64.urlsafe_b64decode(raw["raw"]))
    missing = get(gmail, "/gmail/v1/users/me/messages/0000000000000000", access)
    assert missing.status_code == 404
    assert missing.json()["error"]["errors"][0]["reason"] == "notFound"


def test_history_and_expired_history_id(gmail):
    access = token(gmail)
    start = get(gmail, "/gmail/v1/users/me/profile", access).json()["historyId"]
    mid = gmail.app.add_message("gmail-acct1", "Hello", "New message")
    body = get(gmail, "/gmail/v1/users/me/history", access, startHistoryId=start).json()
    assert body["history"][0]["messagesAdded"][0]["message"]["id"] == mid
    assert int(body["historyId"]) > int(start)
    requests.post(f"{gmail.url}/_sandbox/faults", json={"expire_sync": True}, timeout=5).raise_for_status()
    expired = get(gmail, "/gmail/v1/users/me/history", access, startHistoryId=start)
    assert expired.status_code == 404
    assert expired.json()["error"]["status"] == "NOT_FOUND"


def batch(running, access: str, ids: list[str]) -> requests.Response:
    boundary = "batch_test"
    parts = "".join(
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item{i}>\r\n\r\n"
        f"GET /gmail/v1/users/me/messages/{mid}?format=minimal HTTP/1.1\r\n\r\n"
        for i, mid in enumerate(ids)
    )
    return requests.post(
        f"{running.url}/batch/gmail/v1",
        data=parts + f"--{boundary}--\r\n",
        headers={"Authorization": f"Bearer {access}", "Content-Type": f"multipart/mixed; boundary={boundary}"},
        timeout=5,
    )


def part_order(response: requests.Response) -> list[str]:
    return re.findall(r"Content-ID: <response-(item\d+)>", response.text)


def test_batch_answers_each_part_and_caps_at_100(gmail):
    access = token(gmail)
    ids = list(gmail.app.resources("gmail-acct1"))[:3]
    boundary = "batch_test"
    response = batch(gmail, access, [*ids, "0000000000000000"])
    assert response.headers["Content-Type"].startswith("multipart/mixed; boundary=batch_")
    text = response.text
    assert text.count("HTTP/1.1 200 OK") == 3
    assert "HTTP/1.1 404 NOT FOUND" in text
    assert "Content-ID: <response-item3>" in text
    item0 = text.split("Content-ID: <response-item0>\r\n\r\n", 1)[1].split("\r\n--", 1)[0]
    assert json.loads(item0.split("\r\n\r\n", 1)[1])["id"] == ids[0]
    # The guide: parts come back "in the same order as the requests", each Content-ID prefixed "response-".
    assert part_order(response) == ["item0", "item1", "item2", "item3"]
    too_many = "".join(
        f"--{boundary}\r\nContent-Type: application/http\r\n\r\nGET /gmail/v1/users/me/profile HTTP/1.1\r\n\r\n"
        for _ in range(101)
    )
    rejected = requests.post(
        f"{gmail.url}/batch/gmail/v1",
        data=too_many + f"--{boundary}--\r\n",
        headers={"Authorization": f"Bearer {access}", "Content-Type": f"multipart/mixed; boundary={boundary}"},
        timeout=5,
    )
    assert rejected.status_code == 400


def test_gmail_faults_survive_reset(gmail):
    requests.post(f"{gmail.url}/_sandbox/faults", json={"quota_403": 1}, timeout=5).raise_for_status()
    access = token(gmail)
    limited = get(gmail, "/gmail/v1/users/me/profile", access)
    assert limited.status_code == 403
    assert limited.json()["error"]["errors"][0]["reason"] == "userRateLimitExceeded"
    requests.post(f"{gmail.url}/_sandbox/reset", timeout=5).raise_for_status()
    assert isinstance(gmail.app.faults, GmailFaults)


@pytest.mark.parametrize("order", ["reverse", "shuffle"])
def test_batch_part_order_switch_keeps_content_ids(gmail, order):
    access = token(gmail)
    ids = list(gmail.app.resources("gmail-acct1"))[:6]
    requests.post(f"{gmail.url}/_sandbox/faults", json={"batch_part_order": order}, timeout=5).raise_for_status()
    response = batch(gmail, access, ids)
    assert sorted(part_order(response)) == [f"item{i}" for i in range(6)]
    assert part_order(response) != [f"item{i}" for i in range(6)]
    for index, mid in enumerate(ids):  # each part still answers its own request
        part = response.text.split(f"Content-ID: <response-item{index}>\r\n\r\n", 1)[1].split("\r\n--", 1)[0]
        assert json.loads(part.split("\r\n\r\n", 1)[1])["id"] == mid


def test_a_token_expiring_mid_batch_answers_401_parts_inside_a_200(gmail):
    access = token(gmail)
    ids = list(gmail.app.resources("gmail-acct1"))[:5]
    switch = {"batch_expire_tokens_after_parts": 2}
    requests.post(f"{gmail.url}/_sandbox/faults", json=switch, timeout=5).raise_for_status()
    response = batch(gmail, access, ids)
    assert response.status_code == 200
    assert response.text.count("HTTP/1.1 200 OK") == 2
    assert response.text.count("HTTP/1.1 401 UNAUTHORIZED") == 3
    assert get(gmail, "/gmail/v1/users/me/profile", access).status_code == 401  # the token really expired
    fresh = token(gmail)
    assert batch(gmail, fresh, ids).text.count("HTTP/1.1 200 OK") == 5  # the switch fires once


def test_unauthorized_batch_parts_switch(gmail):
    access = token(gmail)
    ids = list(gmail.app.resources("gmail-acct1"))[:4]
    requests.post(f"{gmail.url}/_sandbox/faults", json={"batch_item_unauthorized": 3}, timeout=5).raise_for_status()
    first = batch(gmail, access, ids)
    assert (first.status_code, first.text.count("HTTP/1.1 401 UNAUTHORIZED")) == (200, 3)
    assert batch(gmail, access, ids).text.count("HTTP/1.1 200 OK") == 4
