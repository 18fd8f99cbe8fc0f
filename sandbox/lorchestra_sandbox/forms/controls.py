"""Sandbox controls of the Forms app: change responses between runs, fault switches, tap configs.

Python methods for in-process tests and the same over ``/_sandbox/forms/...`` for scripts.
"""

from __future__ import annotations

import json
import time
import typing as t

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from lorchestra_sandbox.forms.model import parse_timestamp
from lorchestra_sandbox.forms.people import person
from lorchestra_sandbox.forms.seed import (
    CONNECTION_AUTH,
    OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRET,
    SERVICE_ACCOUNT,
    add_response,
)

if t.TYPE_CHECKING:
    import random
    import threading

    from lorchestra_sandbox.core import TokenBook
    from lorchestra_sandbox.forms.model import StoredForm
    from lorchestra_sandbox.google_oauth import GoogleOAuth

_SWITCHES = {"expire_tokens_after", "expire_page_tokens_after", "filter_time"}


class FormsControls:
    """Mixed into ``FormsApp`` (which provides the attributes below)."""

    lock: threading.RLock
    forms: dict[str, StoredForm]
    by_connection: dict[str, str]
    oauth: GoogleOAuth
    tokens: TokenBook
    countdowns: dict[str, int]
    filter_time: str
    _rng: random.Random

    json: t.Callable[..., Response]
    on_expire_sync: t.Callable[[], None]

    def control_routes(self) -> list[Rule]:
        return [
            Rule("/_sandbox/forms/config/<connection>", endpoint=self._config_route, methods=["GET"]),
            Rule("/_sandbox/forms/faults", endpoint=self._faults_route, methods=["POST"]),
            Rule("/_sandbox/forms/<form_id>/responses", endpoint=self._submit_route, methods=["POST"]),
            Rule("/_sandbox/forms/<form_id>/responses/<response_id>/edit", endpoint=self._edit_route, methods=["POST"]),
            Rule("/_sandbox/forms/<form_id>/responses/<response_id>", endpoint=self._delete_route, methods=["DELETE"]),
        ]

    # -- switches -------------------------------------------------------------------------------

    def _count_down(self) -> None:
        """After a successful API answer: run the switches whose countdown ends with it."""
        for switch in list(self.countdowns):
            self.countdowns[switch] -= 1
            if self.countdowns[switch] > 0:
                continue
            del self.countdowns[switch]
            if switch == "expire_tokens_after":
                self.tokens.expire_all()
            else:
                self.on_expire_sync()

    def schedule(self, *, expire_tokens_after: int | None = None, expire_page_tokens_after: int | None = None) -> None:
        """Expire every access token / page token right after the next N successful API calls."""
        with self.lock:
            for switch, value in (
                ("expire_tokens_after", expire_tokens_after),
                ("expire_page_tokens_after", expire_page_tokens_after),
            ):
                if value is not None:
                    self.countdowns[switch] = int(value)

    def compare_filter_on(self, field: str) -> None:
        """Which time ``filter=timestamp > N`` compares: ``lastSubmittedTime`` (default) or ``createTime``."""
        if field not in ("lastSubmittedTime", "createTime"):
            msg = f"filter_time must be lastSubmittedTime or createTime, not {field!r}"
            raise ValueError(msg)
        with self.lock:
            self.filter_time = field

    # -- data -----------------------------------------------------------------------------------

    def form_id(self, connection: str) -> str:
        return self.by_connection[connection]

    def form(self, form_id: str) -> dict:
        with self.lock:
            return json.loads(json.dumps(self.forms[form_id].form))

    def responses(self, form_id: str) -> list[dict]:
        """Every response of the form as ``responses.list`` renders it, in listing order."""
        with self.lock:
            stored = self.forms[form_id]
            return [stored.responses[k].resource() for k in sorted(stored.responses)]

    def submit_response(self, form_id: str) -> dict:
        """A respondent submits the form now; returns the new response."""
        return self.submit_responses(form_id, 1)[0]

    def submit_responses(self, form_id: str, count: int) -> list[dict]:
        """``count`` respondents submit the form, one microsecond apart, ending a millisecond ago."""
        with self.lock:
            stored = self.forms[form_id]
            start = max(_just_before() - count * 1000, *(r.last_ns + 1000 for r in stored.responses.values()))
            return [
                add_response(stored, self._rng, start + i * 1000, start + i * 1000).resource() for i in range(count)
            ]

    def edit_response(self, form_id: str, response_id: str, at: str | None = None) -> dict:
        """The respondent edits their response: new answers and a newer ``lastSubmittedTime`` (now, or ``at``)."""
        with self.lock:
            stored = self.forms[form_id]
            response = stored.responses[response_id]
            fresh = stored.answer_maker.answers(self._rng, person(self._rng))
            response.answers = {**response.answers, **dict(list(fresh.items())[:3])}
            when = parse_timestamp(at) if at is not None else max(_just_before(), response.last_ns + 1000)
            if when is None:
                msg = f"not an RFC 3339 Zulu timestamp: {at!r}"
                raise ValueError(msg)
            response.last_ns = when
            return response.resource()

    def delete_response(self, form_id: str, response_id: str) -> None:
        """The form owner deletes a response (the API has no tombstones: it simply disappears)."""
        with self.lock:
            del self.forms[form_id].responses[response_id]

    def revoke_refresh_token(self, refresh_token: str) -> None:
        with self.lock:
            self.oauth.revoke(refresh_token)

    # -- tap configs ----------------------------------------------------------------------------

    def credentials(self, connection: str) -> dict:
        """The tap settings that authenticate ``connection`` against this sandbox (the family's names)."""
        kind = CONNECTION_AUTH[connection]
        if kind == "service_account":
            # The key file keeps Google's own ``token_uri``; the tap's ``token_url`` overrides it.
            key = self.oauth.service_accounts[SERVICE_ACCOUNT].key_file
            return {"service_account_info": json.dumps(key)}
        return {"client_id": OAUTH_CLIENT_ID, "client_secret": OAUTH_CLIENT_SECRET, "refresh_token": kind}

    def tap_config(self, connection: str, base_url: str) -> dict:
        """A complete tap-google-forms config for ``connection`` served at ``base_url``."""
        base = base_url.rstrip("/")
        return {
            "connection_name": connection,
            "form_id": self.form_id(connection),
            "api_url": base,
            "token_url": f"{base}/token",
            **self.credentials(connection),
        }

    # -- routes ---------------------------------------------------------------------------------

    def _faults_route(self, request: Request) -> Response:
        body = request.get_json(force=True) or {}
        unknown = set(body) - _SWITCHES
        if unknown:
            return self.json({"error": f"unknown switch {sorted(unknown)}"}, 400)
        try:
            if "filter_time" in body:
                self.compare_filter_on(body.pop("filter_time"))
        except ValueError as exc:
            return self.json({"error": str(exc)}, 400)
        self.schedule(**body)
        return self.json({"ok": True})

    def _config_route(self, request: Request, connection: str) -> Response:
        if connection not in self.by_connection:
            return self.json({"error": f"unknown connection {connection!r}"}, 404)
        return self.json(self.tap_config(connection, request.host_url))

    def _submit_route(self, request: Request, form_id: str) -> Response:
        if form_id not in self.forms:
            return self.json({"error": "unknown form"}, 404)
        count = int((request.get_json(silent=True) or {}).get("count", 1))
        submitted = self.submit_responses(form_id, count)
        return self.json(submitted[0] if count == 1 else {"responses": submitted})

    def _known(self, form_id: str, response_id: str) -> bool:
        with self.lock:
            return form_id in self.forms and response_id in self.forms[form_id].responses

    def _edit_route(self, request: Request, form_id: str, response_id: str) -> Response:
        if not self._known(form_id, response_id):
            return self.json({"error": "unknown response"}, 404)
        at = (request.get_json(silent=True) or {}).get("lastSubmittedTime")
        try:
            return self.json(self.edit_response(form_id, response_id, at))
        except ValueError as exc:
            return self.json({"error": str(exc)}, 400)

    def _delete_route(self, request: Request, form_id: str, response_id: str) -> Response:
        if not self._known(form_id, response_id):
            return self.json({"error": "unknown response"}, 404)
        self.delete_response(form_id, response_id)
        return self.json({})


def _just_before() -> int:
    """Now less a millisecond, in nanoseconds. singer-sdk stamps a run's start in whole milliseconds and caps
    the bookmark there; a response submitted in the same millisecond as a tap started right after it would
    be capped and read again next run (safe, but a test's expected bookmark would be off by under 1 ms)."""
    return time.time_ns() - 1_000_000
