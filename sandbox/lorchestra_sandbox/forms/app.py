"""The Forms API v1 app: ``forms.get``, ``forms.responses.list/get``, Google's errors and page tokens."""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
import typing as t

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from lorchestra_sandbox.core import ProviderApp
from lorchestra_sandbox.forms.controls import FormsControls
from lorchestra_sandbox.forms.model import parse_timestamp
from lorchestra_sandbox.forms.seed import (
    ADMIN,
    CATALOG,
    INTAKE,
    OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRET,
    RECEPTION,
    REFRESH_TOKENS,
    SCOPE,
    SERVICE_ACCOUNT,
    seed_form,
)
from lorchestra_sandbox.google_oauth import GoogleOAuth, ServiceAccount, b64url_decode

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from lorchestra_sandbox.forms.model import StoredForm, StoredResponse

#: Scopes that allow reading responses / the form body (from the reference's "Authorization scopes").
RESPONSE_SCOPES = frozenset(SCOPE + s for s in ("forms.responses.readonly", "drive", "drive.file", "drive.readonly"))
BODY_SCOPES = frozenset(
    SCOPE + s for s in ("forms.body", "forms.body.readonly", "drive", "drive.file", "drive.readonly")
)
#: forms.responses.list: "If unspecified or zero, at most 5000 responses are returned." The reference gives
#: no maximum; "the service may return fewer than this value", so larger sizes are capped here too.
MAX_PAGE_SIZE = 5000
#: Which time ``filter=timestamp > N`` compares. The reference only says responses "submitted after" N.
FILTER_TIMES = ("lastSubmittedTime", "createTime")

_FILTER = re.compile(r"^\s*timestamp\s*(>=|>)\s*(\S+)\s*$")


class FormsApp(FormsControls, ProviderApp):
    """Google Forms API v1 for the four forms of the product spec."""

    name = "google_forms"
    token_paths = ("/token",)

    def __init__(self) -> None:
        self.forms: dict[str, StoredForm] = {}
        for connection in CATALOG:
            stored = seed_form(connection)
            self.forms[stored.form_id] = stored
        self.by_connection = {f.connection: f.form_id for f in self.forms.values()}
        self.oauth = GoogleOAuth(
            clients={OAUTH_CLIENT_ID: OAUTH_CLIENT_SECRET},
            refresh_tokens=REFRESH_TOKENS,
            # No domain-wide delegation: the form must be shared with the service account itself.
            service_accounts=[
                ServiceAccount.generate(SERVICE_ACCOUNT, f"{random.Random(7).getrandbits(160):040x}")  # noqa: S311
            ],
            workspace_users=(ADMIN, INTAKE, RECEPTION),
        )
        self.page_token_generation = 0
        #: Sandbox switch: the time ``timestamp > N`` compares (see FILTER_TIMES).
        self.filter_time = "lastSubmittedTime"
        #: Mid-run switches: after N more successful API calls, expire access tokens / page tokens.
        self.countdowns: dict[str, int] = {}
        self._rng = random.Random(2024)  # noqa: S311 - deterministic fake data
        super().__init__()

    @property
    def grants(self) -> dict[str, t.Any]:
        """Access tokens issued so far (for tests that check none of them leaks)."""
        return self.oauth.grants

    def routes(self) -> list[Rule]:
        return [
            Rule("/v1/forms/<form_id>", endpoint=self.get_form, methods=["GET"]),
            Rule("/v1/forms/<form_id>/responses", endpoint=self.list_responses, methods=["GET"]),
            Rule("/v1/forms/<form_id>/responses/<response_id>", endpoint=self.get_response, methods=["GET"]),
        ]

    def token_response(self, request: Request) -> Response:
        return self.oauth.token_response(self, request)

    # -- errors in Google's shape ---------------------------------------------------------------

    def error(self, status: int, code: str, message: str, details: list | None = None) -> Response:
        if status == 429:
            message = (
                "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' "
                "of service 'forms.googleapis.com' for consumer 'project_number:406822316870'."
            )
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "RATE_LIMIT_EXCEEDED",
                    "domain": "googleapis.com",
                    "metadata": {
                        "service": "forms.googleapis.com",
                        "quota_metric": "forms.googleapis.com/read_requests",
                        "quota_limit": "ReadRequestsPerMinutePerUser",
                    },
                }
            ]
        body: dict = {"code": status, "message": message, "status": code}
        if details:
            body["details"] = details
        return self.json({"error": body}, status)

    # -- API endpoints --------------------------------------------------------------------------

    def _authorize(self, request: Request, form_id: str, needed: frozenset[str]) -> StoredForm | Response:
        grant = self.oauth.grant_of(request)
        if grant is None or not grant.scopes & needed:
            return self.error(
                403,
                "PERMISSION_DENIED",
                "Request had insufficient authentication scopes.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                        "domain": "googleapis.com",
                        "metadata": {"service": "forms.googleapis.com", "method": "google.apps.forms.v1.FormsService"},
                    }
                ],
            )
        stored = self.forms.get(form_id)
        if stored is None:
            return self.error(404, "NOT_FOUND", "Requested entity was not found.")
        if grant.principal not in stored.readers:
            return self.error(403, "PERMISSION_DENIED", "The caller does not have permission")
        return stored

    def get_form(self, request: Request, form_id: str) -> Response:
        with self.lock:
            stored = self._authorize(request, form_id, BODY_SCOPES)
            if isinstance(stored, Response):
                return stored
            self._count_down()
            return self.json(stored.form)

    def get_response(self, request: Request, form_id: str, response_id: str) -> Response:
        with self.lock:
            stored = self._authorize(request, form_id, RESPONSE_SCOPES)
            if isinstance(stored, Response):
                return stored
            response = stored.responses.get(response_id)
            if response is None:
                return self.error(404, "NOT_FOUND", "Requested entity was not found.")
            self._count_down()
            return self.json(response.resource(form_id))

    def list_responses(self, request: Request, form_id: str) -> Response:
        with self.lock:
            stored = self._authorize(request, form_id, RESPONSE_SCOPES)
            if isinstance(stored, Response):
                return stored
            filter_text = request.args.get("filter", "")
            bound = self._parse_filter(filter_text)
            if isinstance(bound, Response):
                return bound
            try:
                page_size = int(request.args.get("pageSize", "0") or 0)
            except ValueError:
                return self.error(400, "INVALID_ARGUMENT", "Invalid value at 'page_size' (TYPE_INT32)")
            if page_size < 0:
                return self.error(400, "INVALID_ARGUMENT", "page_size must not be negative")
            page_size = min(page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
            after = ""
            if token := request.args.get("pageToken"):
                decoded = self._decode_page_token(token, form_id, filter_text)
                if isinstance(decoded, Response):
                    return decoded
                after = decoded
            compared = self._filter_clock()
            matching = sorted(
                (r for r in stored.responses.values() if bound(compared(r)) and r.response_id > after),
                key=lambda r: r.response_id,
            )
            page = matching[:page_size]
            body: dict = {}
            if page:
                body["responses"] = [r.resource() for r in page]
            if len(matching) > page_size:
                body["nextPageToken"] = self._encode_page_token(form_id, filter_text, page[-1].response_id)
            self._count_down()
            return self.json(body)

    def _filter_clock(self) -> Callable[[StoredResponse], int]:
        if self.filter_time == "createTime":
            return lambda r: r.create_ns
        return lambda r: r.last_ns

    def _parse_filter(self, text: str) -> Callable[[int], bool] | Response:
        if not text:
            return lambda _ns: True
        match = _FILTER.match(text)
        when = parse_timestamp(match.group(2)) if match else None
        if match is None or when is None:
            return self.error(
                400,
                "INVALID_ARGUMENT",
                f"Invalid filter: {text!r}. Supported filters are 'timestamp > N' and 'timestamp >= N' "
                'with N an RFC3339 UTC "Zulu" timestamp.',
            )
        if match.group(1) == ">":
            return lambda ns: ns > when
        return lambda ns: ns >= when

    # -- page tokens: only valid with the filter of the request that produced them ---------------

    def _encode_page_token(self, form_id: str, filter_text: str, after: str) -> str:
        raw = json.dumps({"f": form_id, "q": filter_text, "a": after, "g": self.page_token_generation})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def _decode_page_token(self, token: str, form_id: str, filter_text: str) -> str | Response:
        try:
            data = json.loads(b64url_decode(token))
            ok = isinstance(data, dict) and data.get("f") == form_id and data.get("g") == self.page_token_generation
        except (ValueError, binascii.Error):
            ok = False
        if not ok:
            return self.error(400, "INVALID_ARGUMENT", "Invalid page token.")
        if data.get("q") != filter_text:
            return self.error(
                400,
                "INVALID_ARGUMENT",
                "The filter must be the same as in the request that returned the page token.",
            )
        return str(data["a"])

    def on_expire_sync(self) -> None:
        self.page_token_generation += 1


def create_app() -> FormsApp:
    """The Forms sandbox seeded with the four forms of the product spec (deterministic data)."""
    return FormsApp()
