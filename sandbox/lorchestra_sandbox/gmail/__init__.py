"""Sandbox of the Gmail API v1 (and Google's OAuth token endpoint) for the three clinic mailboxes.

Wire format follows the public reference (https://developers.google.com/gmail/api/reference/rest):

* ``GET /gmail/v1/users/{userId}/profile`` -> ``{emailAddress, messagesTotal, threadsTotal, historyId}``
* ``GET /gmail/v1/users/{userId}/labels`` -> ``{labels: [...]}``
* ``GET /gmail/v1/users/{userId}/messages`` (``q``, ``labelIds``, ``includeSpamTrash``, ``maxResults``,
  ``pageToken``) -> ``{messages: [{id, threadId}], nextPageToken, resultSizeEstimate}``, newest first
* ``GET /gmail/v1/users/{userId}/messages/{id}`` (``format`` = minimal | full | raw | metadata,
  ``metadataHeaders``) -> a ``Message`` resource built from a real RFC 822 message
* ``GET /gmail/v1/users/{userId}/history`` (``startHistoryId``, ``historyTypes``, ``labelId``, ...) ->
  ``{history: [...], nextPageToken, historyId}``; a ``startHistoryId`` older than the retained history is
  answered ``404 notFound`` exactly like Gmail does
* ``POST /gmail/v1/users/{userId}/messages`` (insert), ``.../messages/{id}/modify``, ``/trash``, ``/untrash``
  and ``DELETE .../messages/{id}``: the write calls tests use to change a mailbox between runs
* ``POST /batch/gmail/v1``: Google's ``multipart/mixed`` HTTP batch (at most 100 parts, see ``gmail.batch``)
  answered part by part, in request order, each with its own status line
* ``POST /token`` (``lorchestra_sandbox.google_oauth``, shared with Forms): ``refresh_token`` grant
  (gmail.com accounts) and the
  ``urn:ietf:params:oauth:grant-type:jwt-bearer`` grant of a service account with domain-wide delegation
  (the JWT's ``sub`` is the impersonated Workspace mailbox). ``userId=me`` resolves to the token's mailbox.

Errors use Google's body ``{"error": {"code", "message", "errors": [{"message", "domain", "reason"}],
"status"}}``. Gmail-specific fault switches (``POST /_sandbox/faults``) beside the generic ones:
``quota_403`` (next N requests answer 403 ``userRateLimitExceeded``, or ``quota_403_reason``),
``forbidden`` (next N answer 403 ``insufficientPermissions``), ``batch_item_throttle`` (next N batch
parts answer 429 ``rateLimitExceeded``), ``batch_item_unauthorized``, ``batch_expire_tokens_after_parts`` and
``batch_part_order`` (see ``gmail.batch``); ``{"expire_sync": true}`` expires every stored historyId.

Modules: ``content`` and ``seed`` (the mailboxes' fake data and credentials), ``model`` (messages, mailboxes,
search), ``batch`` (the HTTP batch endpoint), ``app`` (the API); the token endpoint is ``google_oauth``.
"""

from __future__ import annotations

from lorchestra_sandbox.gmail.app import API, GmailApp, GmailFaults, create_app
from lorchestra_sandbox.gmail.batch import parse_part, split_multipart
from lorchestra_sandbox.gmail.model import Mailbox, StoredMessage, matches
from lorchestra_sandbox.gmail.seed import (
    ACCOUNTS,
    CLIENT_ID,
    CLIENT_SECRET,
    READ_SCOPES,
    Account,
    compose,
    seed_mailbox,
    service_account_info,
)
from lorchestra_sandbox.google_oauth import JWT_BEARER

__all__ = [
    "ACCOUNTS",
    "API",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "JWT_BEARER",
    "READ_SCOPES",
    "Account",
    "GmailApp",
    "GmailFaults",
    "Mailbox",
    "StoredMessage",
    "compose",
    "create_app",
    "matches",
    "parse_part",
    "seed_mailbox",
    "service_account_info",
    "split_multipart",
]
