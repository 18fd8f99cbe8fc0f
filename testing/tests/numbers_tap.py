"""A minimal singer-sdk tap for the harness's tests: ``count`` records, failing at record ``fail_at``."""

from __future__ import annotations

import typing as t

from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError


class Numbers(Stream):
    name = "numbers"
    primary_keys: t.ClassVar[list[str]] = ["n"]
    replication_key = "n"
    schema = th.PropertiesList(th.Property("n", th.IntegerType)).to_dict()

    def get_records(self, context: dict | None) -> t.Iterable[dict[str, t.Any]]:
        for n in range(self.config.get("count", 3)):
            if n == self.config.get("fail_at"):
                msg = f"upstream refused record {n}"
                raise FatalAPIError(msg)
            yield {"n": n}


class TapNumbers(Tap):
    name = "tap-numbers"
    config_jsonschema = th.PropertiesList(
        th.Property("count", th.IntegerType),
        th.Property("fail_at", th.IntegerType),
    ).to_dict()

    def discover_streams(self) -> list[Stream]:
        return [Numbers(self)]
