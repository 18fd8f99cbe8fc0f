"""What ``lorchestra status`` expects from meltano.yml: connections, object types and intervals."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from lorchestra_ops.status_schedules import expected_interval, load_expectations
from target_lorchestra.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
MONDAY = dt.datetime(2025, 6, 2, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("interval", "every"),
    [
        ("@hourly", dt.timedelta(hours=1)),
        ("*/30 * * * *", dt.timedelta(minutes=30)),
        ("0 */2 * * *", dt.timedelta(hours=2)),
        ("@daily", dt.timedelta(days=1)),
        ("0 9 * * 1-5", dt.timedelta(days=3)),  # weekdays only: Friday 09:00 -> Monday 09:00
        ("@once", None),
        ("@manual", None),
    ],
)
def test_expected_interval(interval, every):
    assert expected_interval(interval, MONDAY) == every


def test_a_malformed_interval_is_named():
    with pytest.raises(ConfigError, match=r"schedule interval '0 \* \*' is not a cron expression"):
        expected_interval("0 * *", MONDAY)


def test_the_projects_fourteen_jobs():
    """Every connection of meltano.yml with its job's schedule; dataverse and the forms have several streams."""
    found = {(e.connection_name, e.object_type): e for e in load_expectations(REPO / "meltano.yml", MONDAY)}
    assert len(found) == 18
    assert len({e.job for e in found.values()}) == 14
    assert found[("gmail-acct1", "email")].every == dt.timedelta(hours=1)
    assert found[("exchange-ben-efs", "email")].job == "exchange_ingest_ben_efs"
    for object_type in ("contact", "session", "report"):
        assert found[("dataverse-clinic", object_type)].every == dt.timedelta(hours=2)
    assert found[("dataverse-clinic", "report")].job == "dataverse_ingest_reports"
    for object_type in ("form", "form_response"):
        assert found[("google-forms-intake-01", object_type)].every == dt.timedelta(minutes=30)


def test_no_project_file_means_no_expectations(tmp_path):
    assert load_expectations(tmp_path / "meltano.yml", MONDAY) == []


def test_elt_schedules_and_unselected_extractors(tmp_path):
    """A schedule that names its extractor directly, and an extractor with no select (any stream)."""
    (tmp_path / "meltano.yml").write_text(
        "plugins:\n  extractors:\n    - name: tap-x\n      config: {connection_name: x-main}\n"
        "schedules:\n  - name: x_daily\n    extractor: tap-x\n    loader: target-lorchestra\n"
        "    transform: skip\n    interval: '@daily'\n"
    )
    [expectation] = load_expectations(tmp_path / "meltano.yml", MONDAY)
    assert (expectation.connection_name, expectation.object_type) == ("x-main", None)
    assert (expectation.schedule, expectation.every) == ("x_daily", dt.timedelta(days=1))
