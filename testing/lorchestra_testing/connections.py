"""Tap configs for the sandboxes' connections of the product spec, in the taps' one settings vocabulary.

Used by the taps' ``make_config`` fixtures and by their standard suites (which need a config at import).
"""

from __future__ import annotations

import json
import typing as t

if t.TYPE_CHECKING:
    from lorchestra_sandbox.core import RunningApp


def gmail(running: RunningApp, connection: str = "gmail-acct1", **overrides: t.Any) -> dict[str, t.Any]:
    """A Gmail connection aimed at the sandbox, with fast test backoff."""
    from lorchestra_sandbox.gmail import ACCOUNTS, CLIENT_ID, CLIENT_SECRET, service_account_info

    account = next(a for a in ACCOUNTS if a.connection_name == connection)
    config: dict[str, t.Any] = {
        "connection_name": connection,
        "api_url": running.url,
        "batch_url": f"{running.url}/batch/gmail/v1",
        "token_url": f"{running.url}/token",
        "quota_units_per_second": 1_000_000,
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 2,
        "max_attempts": 5,
    }
    if account.refresh_token:
        config |= {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": account.refresh_token}
    else:
        config |= {"service_account_info": json.dumps(service_account_info()), "delegated_user": account.email}
    return config | overrides


def exchange(running: RunningApp, connection: str = "exchange-ben-mensio", **overrides: t.Any) -> dict[str, t.Any]:
    """A Graph mailbox connection aimed at the sandbox (small pages, short waits)."""
    from lorchestra_sandbox.graph import connection_config

    config = connection_config(connection, running.url)
    config.update(page_size=7, backoff_base_seconds=0.01, max_attempts=4)
    return config | overrides


def dataverse(running: RunningApp, **overrides: t.Any) -> dict[str, t.Any]:
    """The ``dataverse-clinic`` connection aimed at the sandbox (small pages, short waits)."""
    from lorchestra_sandbox import dataverse as sandbox

    return {
        "connection_name": "dataverse-clinic",
        "environment_url": running.url,
        "authority_url": running.url,
        "tenant_id": sandbox.TENANT_ID,
        "client_id": sandbox.CLIENT_ID,
        "client_secret": sandbox.CLIENT_SECRET,
        "entity_sets": {"session": "cr8a1_sessions", "report": "cr8a1_reports"},
        "page_size": 50,
        "max_attempts": 4,
        "backoff_base_seconds": 0.01,
        "ratelimit_pause_seconds": 0.0,
        **overrides,
    }


def google_forms(
    running: RunningApp, connection: str = "google-forms-intake-01", **overrides: t.Any
) -> dict[str, t.Any]:
    """A Forms connection aimed at the sandbox, with fast test backoff and no overlap window by default (so a
    test's expected record sets stay exact; tests of the window set it)."""
    config = dict(running.app.tap_config(connection, running.url))  # type: ignore[attr-defined]
    config.update(page_size=40, backoff_base_seconds=0.01, backoff_max_seconds=2, max_attempts=4)
    config.update(filter_overlap_seconds=0)
    return config | overrides
