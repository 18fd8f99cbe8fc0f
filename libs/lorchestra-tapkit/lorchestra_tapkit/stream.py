"""Stream mixins every tap of the family puts before ``RESTStream``: retries, provenance, the API URL.

class GraphStream(RetryMixin, ProvenanceMixin, ApiUrlMixin, RESTStream):
    source_system = "exchange"
"""

from __future__ import annotations

import dataclasses
import typing as t
from functools import cached_property

from typing_extensions import override

from lorchestra_tapkit.retry import RetryPolicy

if t.TYPE_CHECKING:
    from collections.abc import Generator

    from backoff.types import Details
    from singer_sdk import RESTStream, Stream
    from singer_sdk.singerlib import SchemaMessage

    # The type checker sees each mixin as the singer-sdk class it is mixed into (so ``@override`` and
    # ``super()`` are checked against it); at run time the mixins stay plain classes.
    _RESTStreamBase = RESTStream[t.Any]
    _StreamBase = Stream
else:
    _RESTStreamBase = _StreamBase = object

#: The JSON Schema keyword target-lorchestra reads a stream's provenance from (see ARCHITECTURE.md).
PROVENANCE_KEYWORD = "x-lorchestra"


class RetryMixin(_RESTStreamBase):
    """singer-sdk's backoff hooks and request timeout from the family's settings (``RetryPolicy``)."""

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


class ApiUrlMixin(_RESTStreamBase):
    """``url_base`` from the ``api_url`` setting (its default the provider's; a proxy, another cloud, the sandbox)."""

    @property
    @override
    def url_base(self) -> str:
        return str(self.config["api_url"]).rstrip("/")


class ProvenanceMixin(_StreamBase):
    """Adds ``x-lorchestra`` (source_system, connection_name, schema_ref) to each emitted SCHEMA message.

    Only the emitted message carries it, not the catalog. Subclasses set ``source_system``.
    """

    source_system: t.ClassVar[str]

    @property
    def provenance(self) -> dict[str, t.Any]:
        return {
            "source_system": self.source_system,
            "connection_name": self.config["connection_name"],
            "schema_ref": self.config.get("schema_ref"),
        }

    @override
    def _generate_schema_messages(self) -> Generator[SchemaMessage, None, None]:
        provenance = self.provenance
        for message in super()._generate_schema_messages():
            yield dataclasses.replace(message, schema={**message.schema, PROVENANCE_KEYWORD: provenance})
