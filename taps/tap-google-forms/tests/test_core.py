"""The singer-sdk standard tap tests, run against the sandbox; and the CLI entry points."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lorchestra_sandbox.forms import create_app
from lorchestra_testing import connections
from lorchestra_testing.standard import standard_tap_tests
from tap_google_forms.tap import TapGoogleForms

TestTapGoogleForms = standard_tap_tests(
    TapGoogleForms,
    create_app,
    # The follow-up form is a graded quiz: its responses carry totalScore, so every attribute test has data.
    lambda running: connections.google_forms(running, "google-forms-followup", page_size=25),
    # All 240 responses plus the form: small enough to sync whole, once, for the class.
    max_records_limit=None,
    unfilled_fields_reason="respondentEmail is only on forms that collect emails; formId is left out of "
    "responses.list results (the API reference says so, and the sandbox models it)",
)

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
