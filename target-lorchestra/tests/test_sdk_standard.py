"""singer-sdk's standard target tests, against an in-memory DuckDB warehouse."""

from __future__ import annotations

import pytest
from singer_sdk.testing import get_target_test_class
from target_lorchestra.errors import BadInputError
from target_lorchestra.target import TargetLorchestra

# The SDK's sample streams declare no provenance, as a third-party tap would: the config supplies it.
SAMPLE_CONFIG = {
    "duckdb_path": ":memory:",
    "source_system": "sdk_samples",
    "connection_name": "sdk-standard-suite",
}

_StandardTests = get_target_test_class(TargetLorchestra, config=SAMPLE_CONFIG)


class TestTargetLorchestraStandard(_StandardTests):
    """The whole standard suite. Three tests feed streams without key_properties, which lorchestra rejects
    on purpose (every row's idem_key needs an external id): they are replaced by assertions of that rejection."""

    def test_target_no_primary_keys(self, config, resource, runner) -> None:
        """Replaced: streams with empty key_properties are rejected, not appended."""
        with pytest.raises(BadInputError, match="declares no key_properties"):
            super().test_target_no_primary_keys(config, resource, runner)

    def test_target_schema_no_properties(self, config, resource, runner) -> None:
        """Replaced: its streams declare key_properties [], so they are rejected."""
        with pytest.raises(BadInputError, match="declares no key_properties"):
            super().test_target_schema_no_properties(config, resource, runner)

    def test_target_pk_updates(self, config, resource, runner) -> None:
        """Replaced: its SCHEMA puts key_properties inside the schema object, so the stream has none."""
        with pytest.raises(BadInputError, match="declares no key_properties"):
            super().test_target_pk_updates(config, resource, runner)
