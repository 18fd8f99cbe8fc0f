"""Settings renamed to the family's vocabulary (issue 14) keep working for one release, with a warning."""

from __future__ import annotations

import contextlib
import io
import logging

import pytest
from lorchestra_sandbox import forms
from lorchestra_sandbox.core import serve
from singer_sdk.exceptions import ConfigValidationError
from tap_dataverse.tap import TapDataverse
from tap_exchange.tap import TapExchange
from tap_gmail.tap import TapGmail
from tap_google_forms.tap import TapGoogleForms

ENTRA = {"tenant_id": "t", "client_id": "c", "client_secret": "s"}
CASES = [
    (TapGmail, {"connection_name": "x", "max_retries": 3}, {"max_attempts": 4}),
    (TapExchange, {"connection_name": "x", "mailbox": "m", **ENTRA, "max_request_tries": 5}, {"max_attempts": 5}),
    (
        TapDataverse,
        {"connection_name": "x", "environment_url": "https://e", **ENTRA, "authority_host": "https://a",
         "retry_backoff_seconds": 0.5},
        {"authority_url": "https://a", "backoff_base_seconds": 0.5},
    ),
    (
        TapGoogleForms,
        {"connection_name": "x", "form_id": "f", "token_uri": "https://t", "max_tries": 2, "max_backoff_seconds": 9,
         "oauth_credentials": {"client_id": "ci", "client_secret": "cs", "refresh_token": "rt"},
         "service_account": {"subject": "u@example.com"}},
        {"token_url": "https://t", "max_attempts": 2, "backoff_max_seconds": 9, "client_id": "ci",
         "client_secret": "cs", "refresh_token": "rt", "delegated_user": "u@example.com"},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("tap_class", "old", "new"), CASES, ids=[c[0].name for c in CASES])
def test_old_names_are_moved_to_new_names_with_a_warning(tap_class, old, new, caplog):
    with caplog.at_level(logging.WARNING):
        tap = tap_class(config=old, parse_env_config=False, setup_mapper=False)
    for name, value in new.items():
        assert tap.config[name] == value
    renamed = set(old) - set(tap.config)
    assert renamed  # the old names are gone from the config the tap uses
    for name in renamed:
        assert f"Setting '{name}" in caplog.text
    assert "deprecated and will be removed in the next release" in caplog.text


def test_old_and_new_name_with_different_values_is_a_config_error():
    with pytest.raises(ConfigValidationError, match=r"Both 'max_retries' .* and 'max_attempts' are set"):
        TapGmail(config={"connection_name": "x", "max_retries": 3, "max_attempts": 9}, parse_env_config=False)


def test_a_run_with_the_old_google_forms_settings_still_syncs(caplog):
    running = serve(forms.create_app())
    app = running.app
    try:
        # The sandbox hands out the new names; spell them the way configs written before issue 14 did.
        new = app.tap_config("google-forms-intake-02", running.url)
        oauth = {name: new.pop(name) for name in ("client_id", "client_secret", "refresh_token")}
        token_url = new.pop("token_url")
        old = new | {"token_uri": token_url, "oauth_credentials": oauth, "max_tries": 3}
        with caplog.at_level(logging.WARNING), contextlib.redirect_stdout(io.StringIO()) as out:
            TapGoogleForms(config=old, parse_env_config=False).sync_all()
    finally:
        running.stop()
    records = [line for line in out.getvalue().splitlines() if '"type":"RECORD"' in line.replace(" ", "")]
    assert len(records) == 1 + len(app.responses(app.form_id("google-forms-intake-02")))  # the form + responses
    assert "Setting 'oauth_credentials.refresh_token' is deprecated" in caplog.text
