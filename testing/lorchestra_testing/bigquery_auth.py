"""Local stand-ins for what BigQuery authentication talks to: an OAuth token endpoint and an API front.

* ``token_server``: the token endpoint a credential's ``token_uri`` / ``token_url`` names. ``refuse`` answers as
  Google does for a revoked key (``invalid_grant``); ``echo`` refuses too but quotes the refresh token and client
  secret it was sent (as some providers' error descriptions quote the grant), so the client library raises an
  error whose text holds the secret; ``grant_once`` grants the first request and echoes on every later one.
* ``api_front``: a pass-through to the BigQuery emulator that answers one MERGE job with HTTP 401, as BigQuery
  does when an access token is revoked mid-run, so the client refreshes its credential in the middle of a run.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import threading
import typing as t
import urllib.parse

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

if t.TYPE_CHECKING:
    from collections.abc import Iterator

#: A refresh token and client secret long enough to straddle a 300-character cut (realistic lengths).
REFRESH_TOKEN = "1//0gREFRESH-" + "r7Hk2LpQ9zXw4Vn8" * 7
CLIENT_SECRET = "GOCSPX-SECRET-" + "c5Jm3Tq1Yb6Ds0Fa" * 4


def service_account_key(token_uri: str) -> dict:
    """A service-account key made here (never a real one) whose token endpoint is ``token_uri``."""
    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    return {
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "5e1f0c2d9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d",
        "private_key": pem,
        "client_email": "lorchestra-loader@test-project.iam.gserviceaccount.com",
        "client_id": "104729104729104729104",
        "token_uri": token_uri,
    }


def federated_user_credential(token_url: str) -> dict:
    """A workforce-identity user credential (``gcloud auth login --login-config``): refresh token + client secret."""
    return {
        "type": "external_account_authorized_user",
        "audience": "//iam.googleapis.com/locations/global/workforcePools/clinic/providers/idp",
        "refresh_token": REFRESH_TOKEN,
        "token_url": token_url,
        "client_id": "lorchestra-loader",
        "client_secret": CLIENT_SECRET,
    }


def _json_response(handler: http.server.BaseHTTPRequestHandler, status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


@contextlib.contextmanager
def _serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free loopback port in a thread; yields the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def token_server(mode: str, *, padding: int = 0) -> Iterator[str]:
    """A token endpoint (see the module docstring); yields its URL. ``padding`` characters of explanation
    precede the quoted grant in ``echo`` mode."""
    calls: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()))
            calls.append(1)
            if mode == "grant_once" and len(calls) == 1:
                _json_response(self, 200, {"access_token": "ya29.test", "expires_in": 3600, "token_type": "Bearer"})
                return
            if mode == "refuse":
                _json_response(self, 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
                return
            basic = self.headers.get("Authorization", "").removeprefix("Basic ")
            client = base64.b64decode(basic).decode() if basic else ""
            description = (
                "x" * padding + f" refresh token {form.get('refresh_token')} of client {client} is revoked"
            ).strip()
            _json_response(self, 400, {"error": "invalid_grant", "error_description": description})

        def log_message(self, *args: t.Any) -> None:
            pass

    with _serving(Handler) as url:
        yield f"{url}/token"


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length", "host"}


@contextlib.contextmanager
def api_front(emulator: str) -> Iterator[str]:
    """A pass-through to ``emulator`` that answers the first MERGE job request with 401; yields its URL."""
    unauthorized: list[int] = []
    session = requests.Session()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if b"lorchestra_merge_" in body and not unauthorized:
                unauthorized.append(1)
                message = "Request had invalid authentication credentials."
                _json_response(self, 401, {"error": {"code": 401, "message": message, "status": "UNAUTHENTICATED"}})
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream = session.request(self.command, emulator + self.path, headers=headers, data=body, timeout=60)
            self.send_response(upstream.status_code)
            for key, value in upstream.headers.items():
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(upstream.content)))
            self.end_headers()
            self.wfile.write(upstream.content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward  # noqa: N815 - http.server's names

        def log_message(self, *args: t.Any) -> None:
            pass

    try:
        with _serving(Handler) as url:
            yield url
    finally:
        session.close()
