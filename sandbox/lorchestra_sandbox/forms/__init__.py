"""Google Forms API v1 sandbox: ``forms.get``, ``forms.responses.list/get`` and Google's OAuth token endpoint.

Wire format follows the public reference (developers.google.com/workspace/forms/api/reference/rest/v1):

* ``GET /v1/forms/{formId}`` returns the ``Form`` resource (``info``, ``settings``, ``items``, ``revisionId``,
  ``responderUri``, ``publishSettings``).
* ``GET /v1/forms/{formId}/responses?filter=&pageSize=&pageToken=`` returns ``{"responses": [...],
  "nextPageToken": "..."}`` (``{}`` when nothing matches). ``formId`` is left out of listed responses, as the
  reference says. ``filter`` accepts only ``timestamp > T`` / ``timestamp >= T`` (RFC 3339 Zulu, up to nine
  fractional digits); ``pageSize`` unspecified or 0 means 5000 (and larger sizes are capped at 5000); a
  ``pageToken`` is only valid with the filter of the request that produced it. Listing order is by
  ``responseId`` (not by time), so a client cannot rely on it. Times carry 0, 3, 6 or 9 fractional digits.
* ``POST /token``: Google's OAuth 2.0 token endpoint (``lorchestra_sandbox.google_oauth``, shared with Gmail).
* Errors on the API use ``{"error": {"code", "message", "status", "details"?}}``: 401 UNAUTHENTICATED,
  403 PERMISSION_DENIED (no access to the form, or insufficient scopes), 404 NOT_FOUND, 400 INVALID_ARGUMENT,
  429 RESOURCE_EXHAUSTED.

Sandbox-only switches: the generic ones of ``core`` (429 storms, 503s, token expiry...) plus
``{"expire_sync": true}``, which invalidates every outstanding page token (the API then answers 400), and
``POST /_sandbox/forms/faults`` with ``{"expire_tokens_after": N, "expire_page_tokens_after": N}`` (either,
right after the next N successful API calls, to hit a run in the middle) or ``{"filter_time": "createTime"}``:
the reference only says ``timestamp > N`` selects responses "submitted after" N, so the sandbox can compare
either ``lastSubmittedTime`` (default) or ``createTime`` (then an edited response never matches again).
Tests and scripts add (``{"count": N}`` for many), edit (``{"lastSubmittedTime": T}`` for a given time) and
delete responses with methods on the app or over ``/_sandbox/forms/...``.

Modules: ``model`` (responses, forms, timestamps), ``people`` and ``questionnaires`` (fake data), ``seed``
(the connections and their credentials), ``app`` (the API), ``controls`` (the sandbox's own routes).
"""

from __future__ import annotations

from lorchestra_sandbox.forms.app import BODY_SCOPES, MAX_PAGE_SIZE, RESPONSE_SCOPES, FormsApp, create_app
from lorchestra_sandbox.forms.model import StoredForm, StoredResponse, format_timestamp, parse_timestamp
from lorchestra_sandbox.forms.seed import (
    ADMIN,
    ADMIN_REFRESH_TOKEN,
    CATALOG,
    CONNECTION_AUTH,
    INTAKE,
    INTAKE_REFRESH_TOKEN,
    NO_ACCESS_REFRESH_TOKEN,
    OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRET,
    READONLY_SCOPES,
    REFRESH_TOKENS,
    SEED_END,
    SEED_START,
    SERVICE_ACCOUNT,
    add_response,
    seed_form,
)
from lorchestra_sandbox.google_oauth import JWT_BEARER

#: Kept for callers of the single-module sandbox (benchmarks): the sandbox's own response generator.
_add = add_response

__all__ = [
    "ADMIN",
    "ADMIN_REFRESH_TOKEN",
    "BODY_SCOPES",
    "CATALOG",
    "CONNECTION_AUTH",
    "INTAKE",
    "INTAKE_REFRESH_TOKEN",
    "JWT_BEARER",
    "MAX_PAGE_SIZE",
    "NO_ACCESS_REFRESH_TOKEN",
    "OAUTH_CLIENT_ID",
    "OAUTH_CLIENT_SECRET",
    "READONLY_SCOPES",
    "REFRESH_TOKENS",
    "RESPONSE_SCOPES",
    "SEED_END",
    "SEED_START",
    "SERVICE_ACCOUNT",
    "FormsApp",
    "StoredForm",
    "StoredResponse",
    "add_response",
    "create_app",
    "format_timestamp",
    "parse_timestamp",
    "seed_form",
]
