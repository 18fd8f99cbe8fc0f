"""Microsoft Graph mail (v1.0) and the Entra ID token endpoint, on one port.

Wire format follows the Graph reference: ``/v1.0/users/{id|upn}/mailFolders`` (``$top``/``$skip``,
``@odata.nextLink``), ``/mailFolders/{id}/childFolders``, ``/mailFolders/{id}/messages/delta``
(``$skiptoken`` pages, ``$deltatoken`` rounds, ``@removed`` entries, ``$filter=receivedDateTime ge``
capped at 5,000 messages, ``$select`` carried in the links), the ``Prefer`` header
(``odata.maxpagesize=N`` and ``IdType="ImmutableId"``), Graph error bodies
(``{"error": {"code", "message", "innerError"}}``) and the v2.0 client-credentials token endpoint
(:mod:`lorchestra_sandbox.entra_oauth`).

Provider-specific behaviour and switches (beyond core's faults), see :class:`GraphFaults`:

* an expired sync state (``{"expire_sync": true}``) answers ``410 Gone`` / ``syncStateNotFound``, or
  the shape the ``sync_error_status`` / ``sync_error_code`` / ``sync_error_inner`` switches choose;
* more than :data:`MAILBOX_CONCURRENCY` requests in flight for one mailbox answer
  ``429 ApplicationThrottled`` ("MailboxConcurrency"); the peak is kept in ``peak_concurrency``;
* ``deny(mailbox)`` makes a mailbox answer ``403 ErrorAccessDenied`` (missing application permission);
* ``add_message`` / ``update_message`` / ``move_message`` / ``delete_message`` change a mailbox
  between runs; ``message_resource`` renders what Graph would return.

Modules: ``seed`` (tenants, mailboxes, fake mail), ``model`` (data), ``wire`` (parsing and rendering),
``edits`` (changes between runs), ``app`` (the HTTP surface).
"""

from __future__ import annotations

from lorchestra_sandbox.graph.app import MAILBOX_CONCURRENCY, GraphApp, GraphFaults
from lorchestra_sandbox.graph.model import Mailbox
from lorchestra_sandbox.graph.seed import CONNECTIONS, TENANTS, connection_config, seed_mailbox
from lorchestra_sandbox.graph.wire import FILTERED_DELTA_CAP


def create_app() -> GraphApp:
    """The Graph sandbox seeded with the four Exchange mailboxes of the product spec."""
    app = GraphApp()
    for tenant, upn, display_name, count in CONNECTIONS.values():
        seed_mailbox(app, tenant, upn, display_name, count)
    return app


__all__ = [
    "CONNECTIONS",
    "FILTERED_DELTA_CAP",
    "MAILBOX_CONCURRENCY",
    "TENANTS",
    "GraphApp",
    "GraphFaults",
    "Mailbox",
    "connection_config",
    "create_app",
    "seed_mailbox",
]
