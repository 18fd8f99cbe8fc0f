"""Dataverse Web API sandbox: the clinic's environment, plus its Microsoft Entra ID token endpoint.

Speaks the wire format of ``{environment_url}/api/data/v9.2/``:

* ``GET /api/data/v9.2/EntityDefinitions?$filter=EntitySetName eq 'contacts'&$select=...`` and
  ``GET /api/data/v9.2/EntityDefinitions(LogicalName='contact')/Attributes`` (table metadata, with the
  ``DateTimeBehavior`` and ``Format`` of date and time columns);
* ``GET /api/data/v9.2/{entity_set}?$select=...&$filter=modifiedon ge ...&$orderby=modifiedon asc`` with
  ``Prefer: odata.maxpagesize=N`` (echoed in ``Preference-Applied``), formatted-value annotations and
  ``@odata.nextLink`` whose ``$skiptoken`` carries a Dataverse paging cookie (keyset on the ordered
  columns plus the primary id, so rows modified while a client pages move behind it, never lost; with
  the ``arbitrary_ties`` switch an order that is not unique pages as Dataverse warns it may);
* service-protection limits: 429 with ``Retry-After`` and a ``0x80072322`` body, and the
  ``x-ms-ratelimit-*-xrm-requests`` headers on every answer;
* ``POST /{tenant}/oauth2/v2.0/token`` (:mod:`lorchestra_sandbox.entra_oauth`, scope
  ``{environment_url}/.default``).

Connection of the product spec: ``dataverse-clinic`` (tables ``contacts``, ``cr8a1_sessions``,
``cr8a1_reports``). Tests change data between runs with :meth:`DataverseApp.update`,
:meth:`DataverseApp.create` and :meth:`DataverseApp.delete`.

Modules: ``seed`` (credentials, tables, rows), ``model`` (columns and metadata), ``odata`` (query
options and paging cookies), ``rows`` (changes and rendering), ``app`` (the HTTP surface).
"""

from __future__ import annotations

from lorchestra_sandbox.dataverse.app import DataverseApp, DataverseFaults
from lorchestra_sandbox.dataverse.model import Attribute, Table
from lorchestra_sandbox.dataverse.odata import API, FORMATTED
from lorchestra_sandbox.dataverse.seed import CLIENT_ID, CLIENT_SECRET, ORG_ID, TENANT_ID


def create_app() -> DataverseApp:
    """The ``dataverse-clinic`` environment with its seeded clinic data."""
    return DataverseApp()


__all__ = [
    "API",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "FORMATTED",
    "ORG_ID",
    "TENANT_ID",
    "Attribute",
    "DataverseApp",
    "DataverseFaults",
    "Table",
    "create_app",
]
