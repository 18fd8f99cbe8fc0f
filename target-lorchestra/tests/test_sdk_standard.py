"""singer-sdk's standard target tests, against an in-memory DuckDB warehouse, down both record paths.

The SDK's runner feeds text lines to ``process_lines``, which only the general (SDK) record path takes.
``FastPathRunner`` feeds the same files as bytes through ``listen`` (as the CLI does), so RECORDs take
the fast path of ``records.py``; every standard test runs once per runner.
"""

from __future__ import annotations

import io
import typing as t

import pytest
from singer_sdk.testing import TargetTestRunner, get_target_test_class
from target_lorchestra.errors import BadInputError
from target_lorchestra.target import TargetLorchestra

# The SDK's sample streams declare no provenance, as a third-party tap would: the config supplies it.
SAMPLE_CONFIG = {
    "duckdb_path": ":memory:",
    "source_system": "sdk_samples",
    "connection_name": "sdk-standard-suite",
}

#: Why three standard tests are expected to fail: lorchestra refuses keyless streams by design.
KEYLESS = "declares no key_properties"


class FastPathRunner(TargetTestRunner):
    """The standard runner, but the input goes in as bytes through ``listen``: the CLI's fast path."""

    fast_records = 0

    def new_target(self) -> TargetLorchestra:
        target = super().new_target()
        handler = target._process_raw_record

        def counting(message: t.Any) -> bool:
            taken = handler(message)
            FastPathRunner.fast_records += taken
            return taken

        target._process_raw_record = counting  # type: ignore[method-assign]
        return target

    def _execute_sync(self, target: t.Any, target_input: t.IO[str] | None, *, finalize: bool = True) -> t.Any:
        data = io.BytesIO(target_input.read().encode() if target_input is not None else b"")
        stdout, stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8"), io.TextIOWrapper(io.BytesIO())
        from contextlib import redirect_stderr, redirect_stdout

        with redirect_stdout(stdout), redirect_stderr(stderr):
            if finalize:
                target.listen(data)
            else:
                target.message_reader.record_handler = target._process_raw_record
                target.process_lines(data)
        stdout.seek(0), stderr.seek(0)
        return stdout, stderr


_StandardTests = get_target_test_class(TargetLorchestra, config=SAMPLE_CONFIG)


class TestTargetLorchestraStandard(_StandardTests):
    """The whole standard suite, on both paths. Three tests feed streams without key_properties, which
    lorchestra refuses on purpose (every row's idem_key needs an external id; the fix is a stream map with
    ``__key_properties__``): they are replaced by assertions of that refusal."""

    @pytest.fixture(params=["sdk-path", "fast-path"])
    def runner(self, request: pytest.FixtureRequest) -> TargetTestRunner:
        runner_class = FastPathRunner if request.param == "fast-path" else TargetTestRunner
        return runner_class(target_class=TargetLorchestra, config=SAMPLE_CONFIG, suite_config=None)

    def test_target_no_primary_keys(self, config, resource, runner) -> None:
        """Refused by design: streams with empty key_properties (the error names the stream-map fix)."""
        with pytest.raises(BadInputError, match=KEYLESS):
            super().test_target_no_primary_keys(config, resource, runner)

    def test_target_schema_no_properties(self, config, resource, runner) -> None:
        """Refused by design: its streams declare key_properties []."""
        with pytest.raises(BadInputError, match=KEYLESS):
            super().test_target_schema_no_properties(config, resource, runner)

    def test_target_special_chars_in_attributes(self, config, resource, runner) -> None:
        """Refused by design: its stream name 'test:SpecialChars...' holds a ':', which would make idem_keys
        ambiguous (object_type is the stream name); a stream map with ``__alias__`` renames such a stream."""
        with pytest.raises(BadInputError, match="contains ':'"):
            super().test_target_special_chars_in_attributes(config, resource, runner)

    def test_target_pk_updates(self, config, resource, runner) -> None:
        """Refused by design: its SCHEMA puts key_properties inside the schema object, so the stream has none."""
        with pytest.raises(BadInputError, match=KEYLESS):
            super().test_target_pk_updates(config, resource, runner)


def test_fast_path_runner_takes_the_fast_path() -> None:
    """The fast-path runs are real: a standard sample's records go down the fast path."""
    import importlib.resources

    from singer_sdk.testing import target_test_streams

    before = FastPathRunner.fast_records
    runner = FastPathRunner(
        target_class=TargetLorchestra,
        config=SAMPLE_CONFIG,
        input_filepath=importlib.resources.files(target_test_streams) / "camelcase.singer",
    )
    runner.sync_all()
    assert FastPathRunner.fast_records > before
