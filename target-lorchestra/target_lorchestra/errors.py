"""Errors the target raises on purpose. Messages name the problem, never a record's contents."""

from __future__ import annotations

import typing as t

from singer_sdk.exceptions import MissingKeyPropertiesError, RecordsWithoutSchemaException
from typing_extensions import override

if t.TYPE_CHECKING:
    from target_lorchestra.events import Telemetry


class LorchestraError(Exception):
    """Base class: an expected failure with a message fit for the user."""

    #: The failed run's events that no warehouse took (logged after the one-line error).
    unsent_events: Telemetry | None = None


class BadInputError(LorchestraError):
    """A Singer message the target cannot accept. Carries the input line number and stream when known."""

    def __init__(self, problem: str, *, stream: str | None = None, line: int | None = None) -> None:
        self.problem = problem
        self.stream = stream
        self.line = line
        super().__init__(problem)

    def located(self, *, line: int | None, stream: str | None) -> BadInputError:
        """The same error with the input position filled in where it was not known yet."""
        if self.line is None:
            self.line = line
        if self.stream is None:
            self.stream = stream
        self.args = (str(self),)
        return self

    @override
    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"input line {self.line}")
        if self.stream is not None:
            where.append(f"stream {self.stream!r}")
        return f"{', '.join(where)}: {self.problem}" if where else self.problem


class MissingKeyError(BadInputError, MissingKeyPropertiesError):
    """A record without a usable key property (also the SDK's MissingKeyPropertiesError)."""


class RecordBeforeSchemaError(BadInputError, RecordsWithoutSchemaException):
    """A RECORD for a stream whose SCHEMA has not been seen (also the SDK's exception)."""


class WarehouseError(LorchestraError):
    """The warehouse refused or failed an operation (connection, lock, schema, MERGE)."""


class SchemaMismatchError(WarehouseError):
    """An existing table's columns differ from the definition in tables.py."""


class ConfigError(LorchestraError):
    """A setting is invalid (for example an identifier that is not a plain name)."""
