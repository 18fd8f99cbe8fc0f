"""run_tap: a crash fails the test unless the test names the error it expects; one result type."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from lorchestra_testing import run_tap
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

_SPEC = importlib.util.spec_from_file_location("numbers_tap", Path(__file__).with_name("numbers_tap.py"))
assert _SPEC is not None
assert _SPEC.loader is not None
numbers_tap = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(numbers_tap)
TapNumbers = numbers_tap.TapNumbers


def test_a_run_reads_back_records_ids_and_state():
    run = run_tap(TapNumbers, {"count": 3})
    assert run.error is None
    assert run.records("numbers") == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert run.ids() == [0, 1, 2]  # the key comes from the SCHEMA message's key_properties
    assert run.by_id("numbers")[2] == {"n": 2}
    assert run.schema("numbers")["key_properties"] == ["n"]
    assert run.replication_key_value("numbers") == 2
    assert run.tap is not None


def test_a_crash_fails_the_test_when_no_error_is_expected():
    with pytest.raises(FatalAPIError, match="upstream refused record 1"):
        run_tap(TapNumbers, {"count": 3, "fail_at": 1})


def test_a_crash_of_another_kind_than_expected_fails_the_test():
    with pytest.raises(FatalAPIError):
        run_tap(TapNumbers, {"count": 3, "fail_at": 1}, expect_error=RetriableAPIError)


def test_the_expected_error_is_kept_with_what_was_sent_before_it():
    run = run_tap(TapNumbers, {"count": 3, "fail_at": 1}, expect_error=FatalAPIError)
    assert isinstance(run.error, FatalAPIError)
    assert run.ids("numbers") == [0]


def test_a_run_that_should_have_failed_but_succeeded_fails_the_test():
    with pytest.raises(pytest.fail.Exception, match="expected to fail"):
        run_tap(TapNumbers, {"count": 3}, expect_error=FatalAPIError)


def test_the_standard_suite_fails_when_it_finds_no_records(pytester: pytest.Pytester):
    pytester.makepyfile(numbers_tap=Path(__file__).with_name("numbers_tap.py").read_text())
    pytester.makepyfile(
        test_standard="""
        from lorchestra_sandbox.gmail import create_app
        from lorchestra_testing.standard import standard_tap_tests
        from numbers_tap import TapNumbers

        TestEmpty = standard_tap_tests(TapNumbers, create_app, lambda running: {"count": 0}, max_records_limit=5)
        TestFull = standard_tap_tests(TapNumbers, create_app, lambda running: {"count": 5}, max_records_limit=5)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:xdist", "-p", "no:cacheprovider", "-q")
    failed = [line for line in result.stdout.lines if line.startswith("FAILED")]
    # The attribute test found nothing to check: without the plugin's filter it would pass with a warning.
    assert any("TestEmpty::test_tap_stream_attribute_is_integer" in line for line in failed), failed
    result.stdout.fnmatch_lines(["E * UserWarning: No records were available to test*"])
    # Every failure is of the empty tap; the same suite over records passes whole.
    assert all("TestEmpty" in line for line in failed), failed
