"""The clinic's object types, each read from a Dataverse table named by the ``entity_sets`` setting."""

from __future__ import annotations

from tap_dataverse.client import DataverseStream


class ContactStream(DataverseStream):
    """Clients: the standard ``contact`` table."""

    name = "contact"
    default_entity_set = "contacts"


class SessionStream(DataverseStream):
    """Therapy sessions: a custom table (e.g. ``cr8a1_sessions``), configured by entity set name."""

    name = "session"


class ReportStream(DataverseStream):
    """Clinical reports and notes: a custom table (e.g. ``cr8a1_reports``)."""

    name = "report"


STREAM_TYPES: tuple[type[DataverseStream], ...] = (ContactStream, SessionStream, ReportStream)
