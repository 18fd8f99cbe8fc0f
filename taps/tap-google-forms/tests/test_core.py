"""The singer-sdk standard tap tests, run against the sandbox; and the CLI entry points."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lorchestra_sandbox.core import serve
from lorchestra_sandbox.forms import create_app
from singer_sdk.testing import SuiteConfig, get_tap_test_class
from tap_google_forms.tap import TapGoogleForms

# The standard suite needs its config when the class is built (at import), so this module serves its
# own sandbox for the session; a daemon thread on a free loopback port, gone with the test process.
_SANDBOX = serve(create_app())
_OLD = _SANDBOX.app.tap_config("google-forms-followup", _SANDBOX.url)  # type: ignore[attr-defined]  # pre-issue-14 names
SUITE_CONFIG = {
    # The follow-up form is a graded quiz: its responses carry totalScore, so every attribute test has data.
    **{k: v for k, v in _OLD.items() if k not in ("token_uri", "oauth_credentials", "service_account")},
    "token_url": _OLD["token_uri"],
    **_OLD.get("oauth_credentials", {}),
    **({"service_account_info": _OLD["service_account"]["key_json"]} if "service_account" in _OLD else {}),
    "page_size": 25,
    "backoff_base_seconds": 0.01,
}

TestTapGoogleForms = get_tap_test_class(
    TapGoogleForms,
    config=SUITE_CONFIG,
    # All 240 responses plus the form: small enough to sync whole, once, for the class.
    suite_config=SuiteConfig(max_records_limit=None),
)

#: A template test that found no records to check would pass without checking anything: make it fail.
pytestmark = pytest.mark.filterwarnings("error:No records were available to test:UserWarning")

TAP = Path(sys.executable).with_name("tap-google-forms")


def test_about_lists_capabilities_and_secret_settings() -> None:
    about = json.loads(subprocess.run([TAP, "--about", "--format=json"], capture_output=True, check=True).stdout)
    assert {"catalog", "discover", "state", "about", "stream-maps"} <= set(about["capabilities"])
    properties = about["settings"]["properties"]
    assert properties["client_secret"]["secret"] is True
    assert properties["refresh_token"]["secret"] is True
    assert properties["service_account_info"]["secret"] is True
    assert set(about["settings"]["required"]) == {"connection_name", "form_id"}
    assert properties["api_url"]["default"] == "https://forms.googleapis.com"
    assert properties["token_url"]["default"] == "https://oauth2.googleapis.com/token"


def test_discover_needs_no_credentials(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"connection_name": "google-forms-followup", "form_id": "x"}))
    result = subprocess.run([TAP, "--config", config, "--discover"], capture_output=True, check=True)
    streams = {s["tap_stream_id"]: s for s in json.loads(result.stdout)["streams"]}
    assert set(streams) == {"form", "form_response"}
    assert streams["form_response"]["key_properties"] == ["responseId"]
    assert streams["form_response"]["replication_key"] == "lastSubmittedTime"
    assert streams["form"]["key_properties"] == ["formId"]
