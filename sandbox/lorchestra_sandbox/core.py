"""The machinery every provider sandbox shares: routing, bearer tokens, fault switches.

Each provider (Gmail, Graph, Dataverse, Forms) is one ``ProviderApp`` subclass served on its own
port, so its URLs are exactly the real API's paths under a different host. Tests and the README's
main command drive fault injection over HTTP (``/_sandbox/...``), which works the same whether the
sandbox runs in the test process or in another one.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
import typing as t
from dataclasses import dataclass, field

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

Handler = t.Callable[..., Response]


@dataclass
class Faults:
    """One-shot fault switches, each counting down as requests consume it.

    Attributes:
        throttle: next N API requests answer 429 (a "storm").
        retry_after: the Retry-After header of a 429/503: seconds, or an HTTP date (a string).
        server_errors: next N API requests answer 503.
        truncate: next N API responses are cut off mid-body.
        delay: seconds to sleep before answering each API request (slow upstream).
        expire_tokens: when set, every access token issued so far becomes invalid.
        expire_sync: when set, the provider's sync/delta/history cursors are expired.
        fail_after: answer normally N more API requests, then 503 every one (a dying upstream).
        token_faults: what the next token requests meet, one entry each, in order: ``"ok"`` (answered
            normally), ``"429"`` (throttled, with Retry-After), ``"503"`` (unavailable, with Retry-After),
            ``"drop"`` (the connection is closed before any answer) or ``"echo"`` (400 whose error
            description repeats the request body, secrets included, as a careless endpoint might).
            ``["ok", "429"]`` lets the first token through and throttles the refresh.
    """

    throttle: int = 0
    retry_after: int | str = 1
    server_errors: int = 0
    truncate: int = 0
    delay: float = 0.0
    fail_after: int | None = None
    expire_sync: bool = False
    token_faults: list[str] = field(default_factory=list)


@dataclass
class RequestLogEntry:
    """What the sandbox saw of one request (never its body: that may hold secrets)."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    kind: str  # "api", "token" or "control"


@dataclass
class TokenBook:
    """Access tokens issued by a provider's token endpoint."""

    lifetime: int = 3600
    valid: dict[str, float] = field(default_factory=dict)

    def issue(self) -> tuple[str, int]:
        token = "sbx-" + secrets.token_urlsafe(24)
        self.valid[token] = time.time() + self.lifetime
        return token, self.lifetime

    def check(self, token: str | None) -> bool:
        expiry = self.valid.get(token or "")
        return expiry is not None and expiry > time.time()

    def expire_all(self) -> None:
        self.valid.clear()


class ProviderApp:
    """Base WSGI app for one provider API.

    Subclasses set ``name`` and implement ``routes()`` (werkzeug ``Rule`` objects whose endpoint is a
    bound method), ``token_response()`` for their OAuth token endpoint and ``error()`` for their error
    body shape. Anything matching an API route goes through auth and fault injection first.
    """

    name: str = "provider"
    #: Paths (werkzeug rule strings) of OAuth token endpoints: no bearer auth, no faults.
    token_paths: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.faults = Faults()
        self.tokens = TokenBook()
        self.requests: list[RequestLogEntry] = []
        self.clients: dict[str, str] = {}  # client_id -> client_secret accepted by the token endpoint
        self._map = Map(
            [Rule(p, endpoint=self._token, methods=["POST"]) for p in self.token_paths]
            + [
                Rule("/_sandbox/faults", endpoint=self._set_faults, methods=["POST"]),
                Rule("/_sandbox/requests", endpoint=self._get_requests, methods=["GET"]),
                Rule("/_sandbox/reset", endpoint=self._reset, methods=["POST"]),
            ]
            + list(self.control_routes())
            + list(self.routes())
        )
        self._control_endpoints = {rule.endpoint for rule in self.control_routes()}

    # -- to implement -------------------------------------------------------------------------

    def routes(self) -> Iterable[Rule]:
        """The provider's API routes."""
        return ()

    def control_routes(self) -> Iterable[Rule]:
        """Provider-specific ``/_sandbox/...`` routes (seeding, editing records): no auth, no faults."""
        return ()

    def error(self, status: int, code: str, message: str) -> Response:
        """The provider's error body for ``status``."""
        return self.json({"error": {"code": status, "status": code, "message": message}}, status)

    def token_response(self, request: Request) -> Response:
        """Answer the OAuth token endpoint (the default: client credentials or refresh token)."""
        form = request.form
        if self.clients and self.clients.get(form.get("client_id", "")) != form.get("client_secret"):
            return self.json({"error": "invalid_client", "error_description": "Client authentication failed."}, 401)
        token, lifetime = self.tokens.issue()
        return self.json({"access_token": token, "token_type": "Bearer", "expires_in": lifetime})

    def on_expire_sync(self) -> None:
        """Expire the provider's sync cursors (history ids, delta links, ...)."""

    # -- helpers for subclasses ---------------------------------------------------------------

    @staticmethod
    def json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")

    def api_calls(self, path_prefix: str = "") -> list[RequestLogEntry]:
        """Requests to API routes (not token or control endpoints) whose path starts with the prefix."""
        with self.lock:
            return [r for r in self.requests if r.kind == "api" and r.path.startswith(path_prefix)]

    # -- WSGI ---------------------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        kind, response = self._dispatch(request)
        with self.lock:
            self.requests.append(
                RequestLogEntry(
                    request.method, request.path, request.args.to_dict(flat=False), response.status_code, kind
                )
            )
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> tuple[str, Response]:
        adapter = self._map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except NotFound:
            return "api", self.error(404, "NOT_FOUND", f"Requested entity was not found: {request.path}")
        except HTTPException as exc:
            return "api", self.error(exc.code or 400, "BAD_REQUEST", exc.description or "bad request")
        if endpoint == self._token:
            return "token", self._token_fault(request) or endpoint(request, **args)
        if endpoint in (self._set_faults, self._get_requests, self._reset, *self._control_endpoints):
            return "control", endpoint(request, **args)
        return "api", self._call_api(endpoint, request, args)

    def _call_api(self, endpoint: Handler, request: Request, args: dict) -> Response:
        injected = self._inject_fault()
        if injected is not None:
            return injected
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not self.tokens.check(auth.removeprefix("Bearer ")):
            return self.error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        response = endpoint(request, **args)
        return self._maybe_truncate(response)

    def _inject_fault(self) -> Response | None:
        with self.lock:
            f = self.faults
            delay = f.delay
            if f.throttle > 0:
                f.throttle -= 1
                return self._throttled(f.retry_after)
            if f.server_errors > 0:
                f.server_errors -= 1
                return self._unavailable(f.retry_after)
            if f.fail_after is not None:
                if f.fail_after <= 0:
                    return self._unavailable(f.retry_after)
                f.fail_after -= 1
        if delay:
            time.sleep(delay)
        return None

    def _token_fault(self, request: Request) -> Response | None:
        """The next ``token_faults`` entry, if any, in the OAuth error shape (RFC 6749 5.2)."""
        with self.lock:
            queue = self.faults.token_faults
            fault = queue.pop(0) if queue else "ok"
            retry_after = self.faults.retry_after
        if fault == "429":
            body = {"error": "temporarily_unavailable", "error_description": "Too many token requests."}
            return self.json(body, 429, {"Retry-After": str(retry_after)})
        if fault == "503":
            body = {"error": "temporarily_unavailable", "error_description": "The service is unavailable."}
            return self.json(body, 503, {"Retry-After": str(retry_after)})
        if fault == "drop":
            # Close the socket before any byte of an answer: the client sees the connection dropped.
            connection = request.environ.get("werkzeug.socket")
            if connection is not None:
                connection.shutdown(socket.SHUT_RDWR)
            return Response(status=500)
        if fault == "echo":
            echoed = request.get_data(as_text=True)
            body = {"error": "invalid_request", "error_description": f"Malformed request: {echoed}"}
            return self.json(body, 400)
        return None

    def _throttled(self, retry_after: int | str) -> Response:
        response = self.error(429, "RESOURCE_EXHAUSTED", "Too many requests. Retry after the interval.")
        response.headers["Retry-After"] = str(retry_after)
        return response

    def _unavailable(self, retry_after: int | str) -> Response:
        response = self.error(503, "UNAVAILABLE", "The service is currently unavailable.")
        response.headers["Retry-After"] = str(retry_after)
        return response

    def _maybe_truncate(self, response: Response) -> Response:
        with self.lock:
            if self.faults.truncate <= 0:
                return response
            self.faults.truncate -= 1
        body = response.get_data()
        response.set_data(body[: max(1, len(body) // 2)])
        return response

    # -- endpoints ----------------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        return self.token_response(request)

    def _set_faults(self, request: Request) -> Response:
        body = request.get_json(force=True) or {}
        with self.lock:
            if body.pop("expire_tokens", False):
                self.tokens.expire_all()
            if body.pop("expire_sync", False):
                self.on_expire_sync()
            if "token_lifetime" in body:
                self.tokens.lifetime = int(body.pop("token_lifetime"))
            for key, value in body.items():
                if not hasattr(self.faults, key):
                    return self.json({"error": f"unknown fault {key!r}"}, 400)
                setattr(self.faults, key, value)
        return self.json({"ok": True})

    def _get_requests(self, request: Request) -> Response:
        with self.lock:
            return self.json([r.__dict__ for r in self.requests])

    def _reset(self, request: Request) -> Response:
        with self.lock:
            self.faults = type(self.faults)()  # a provider's Faults subclass keeps its own switches
            self.requests.clear()
        return self.json({"ok": True})


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: object, **kwargs: object) -> None:
        """Do not log requests: query strings can carry record ids."""


@dataclass
class RunningApp:
    """A provider app served on a loopback port in a background thread."""

    app: ProviderApp
    server: t.Any
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()  # release the port: shutdown() only stops the accept loop


def serve(app: ProviderApp, port: int = 0, host: str = "127.0.0.1") -> RunningApp:
    """Serve ``app`` on ``host:port`` (0 picks a free port) from a daemon thread."""
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name=f"sandbox-{app.name}", daemon=True)
    thread.start()
    return RunningApp(app, server, thread)
