"""Stream mixins every tap of the family puts before ``RESTStream``: retries and provenance.

class GraphStream(RetryMixin, ProvenanceMixin, RESTStream):
    source_system = "exchange"
"""

from __future__ import annotations

import dataclasses
import typing as t
from functools import cached_property

from typing_extensions import override

from lorchestra_tapkit.retry import RetryPolicy

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Generator, Iterable, Mapping

    from backoff.types import Details
    from singer_sdk.singerlib import SchemaMessage

#: The JSON Schema keyword target-lorchestra reads a stream's provenance from (see ARCHITECTURE.md).
PROVENANCE_KEYWORD = "x-lorchestra"


class RetryMixin:
    """singer-sdk's backoff hooks and request timeout from the family's settings (``RetryPolicy``)."""

    config: Mapping[str, t.Any]
    logger: logging.Logger

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy.from_config(self.config)

    @override
    def backoff_wait_generator(self) -> Generator[float, t.Any, None]:
        return self.retry_policy.wait_generator()

    @override
    def backoff_max_tries(self) -> int:
        return self.retry_policy.max_attempts

    @override
    def backoff_jitter(self, value: float) -> float:
        return value  # the policy jitters its exponential waits; a Retry-After is honoured as given

    @override
    def backoff_handler(self, details: Details) -> None:
        self.retry_policy.log_retry(self.logger, details)

    @property
    @override
    def timeout(self) -> int:
        return int(self.config.get("request_timeout") or 300)


class ProvenanceMixin:
    """Adds ``x-lorchestra`` (source_system, connection_name, schema_ref) to each emitted SCHEMA message.

    Only the emitted message carries it, not the catalog. Subclasses set ``source_system``.
    """

    source_system: t.ClassVar[str]
    config: Mapping[str, t.Any]

    @property
    def provenance(self) -> dict[str, t.Any]:
        return {
            "source_system": self.source_system,
            "connection_name": self.config["connection_name"],
            "schema_ref": self.config.get("schema_ref"),
        }

    @override
    def _generate_schema_messages(self) -> Iterable[SchemaMessage]:
        provenance = self.provenance
        for message in super()._generate_schema_messages():  # type: ignore[misc]
            yield dataclasses.replace(message, schema={**message.schema, PROVENANCE_KEYWORD: provenance})
