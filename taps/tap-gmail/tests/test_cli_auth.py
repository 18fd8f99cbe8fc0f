"""The installed executable: discovery, catalog selection, auth failures, and secrets kept out of output."""

from __future__ import annotations

import json
import subprocess

from lorchestra_sandbox.gmail import service_account_info
from lorchestra_tapkit.tokens import TokenRequestError
from lorchestra_testing import Calls
from lorchestra_testing.taps import executable
from singer_sdk.exceptions import ConfigValidationError
from tap_gmail.tap import TapGmail


def secrets_of(config: dict) -> list[str]:
    values = [config.get(k) for k in ("client_secret", "refresh_token")]
    if config.get("service_account_info"):
        info = json.loads(config["service_account_info"])
        key_body = info["private_key"].splitlines()[1:-1]
        values += [info["private_key_id"], *key_body]
    return [v for v in values if v]


def assert_no_secret(text: str, config: dict) -> None:
    for secret in secrets_of(config):
        assert secret not in text


def test_about_and_discover(tmp_path):
    about = subprocess.run(
        [executable(TapGmail), "--about", "--format=json"], capture_output=True, text=True, check=True
    )
    settings = json.loads(about.stdout)["settings"]["properties"]
    assert settings["connection_name"]  # required
    assert {k for k, v in settings.items() if v.get("secret")} >= {"client_secret", "refresh_token"}
    assert settings["api_url"]["default"] == "https://gmail.googleapis.com"
    assert settings["batch_url"]["default"] == "https://gmail.googleapis.com/batch/gmail/v1"
    assert settings["token_url"]["default"] == "https://oauth2.googleapis.com/token"

    config = tmp_path / "config.json"
    config.write_text(json.dumps({"connection_name": "gmail-acct1"}))
    discovered = subprocess.run(
        [executable(TapGmail), "--config", str(config), "--discover"], capture_output=True, text=True, check=True
    )
    (entry,) = json.loads(discovered.stdout)["streams"]
    assert entry["tap_stream_id"] == "email"
    assert entry["key_properties"] == ["id"]
    assert {"id", "threadId", "labelIds", "payload", "raw", "historyId"} <= set(entry["schema"]["properties"])


def test_deselected_stream_emits_nothing_and_makes_no_api_call(sandbox, tmp_path, make_config):
    config = make_config()
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    catalog = TapGmail(config=config, parse_env_config=False).catalog_dict
    for meta in catalog["streams"][0]["metadata"]:
        if meta["breadcrumb"] == []:
            meta["metadata"]["selected"] = False
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(json.dumps(catalog))
    proc = subprocess.run(
        [executable(TapGmail), "--config", str(config_file), "--catalog", str(catalog_file)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"type":"RECORD"' not in proc.stdout.replace(" ", "")
    assert Calls.of(sandbox).api == []


def test_bad_refresh_token_fails_clearly_without_leaking_secrets(sandbox, tmp_path, make_config, run_cli):
    config = make_config(refresh_token="1//this-refresh-token-was-revoked-SECRET")
    run = run_cli(config)
    assert run.returncode != 0
    assert "invalid_grant" in run.stderr
    assert "refused to issue an access token" in run.stderr
    assert_no_secret(run.stderr + json.dumps(run.messages), config)
    assert Calls.of(sandbox).api == []


def test_successful_run_keeps_secrets_out_of_logs_and_state(capfd, caplog, make_config, app, set_faults, run_tap):
    for connection in ("gmail-acct1", "gmail-acct3"):
        config = make_config(connection)
        set_faults(throttle=1, retry_after=0, expire_tokens=True)  # log a retry and a refresh too
        run = run_tap(config)
        logs = capfd.readouterr().err + caplog.text
        caplog.clear()
        assert "Retrying" in logs  # the logs were captured, so the checks below mean something
        assert "METRIC" in logs
        assert len(run.records()) == len(app.resources(connection))
        assert_no_secret(logs, config)
        assert_no_secret(json.dumps(run.messages), config)  # records, SCHEMA and STATE messages
        # clinic data stays out of the logs too
        sample = run.records()[0]
        assert sample["snippet"][:40] not in logs
        assert sample["id"] not in logs


def test_service_account_refused_for_a_mailbox_outside_the_domain(make_config, run_tap):
    config = make_config("gmail-acct3", delegated_user="mensio.frontdesk@gmail.com")
    run = run_tap(config, expect_error=TokenRequestError)
    assert "Invalid email or User ID" in str(run.error)
    assert_no_secret(str(run.error), config)


def test_service_account_without_gmail_scope_is_unauthorized(make_config, run_tap):
    config = make_config("gmail-acct3", scopes=["https://www.googleapis.com/auth/drive.readonly"])
    run = run_tap(config, expect_error=TokenRequestError)
    assert "unauthorized_client" in str(run.error)


def test_incomplete_credentials_are_a_config_error(make_config, run_tap):
    config = make_config("gmail-acct1")
    del config["refresh_token"]
    run = run_tap(config, expect_error=ConfigValidationError)
    assert "missing: refresh_token" in str(run.error)


def test_service_account_file_setting(tmp_path, make_config, app, run_tap):
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(service_account_info()))
    config = make_config("gmail-acct3")
    del config["service_account_info"]
    run = run_tap(config | {"service_account_file": str(key_file)})
    assert run.by_id() == app.resources("gmail-acct3")
