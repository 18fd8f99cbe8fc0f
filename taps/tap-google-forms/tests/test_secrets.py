"""Secrets never reach stdout, stderr or STATE; clinic data never reaches the logs (real CLI, DEBUG logging)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lorchestra_sandbox.forms import OAUTH_CLIENT_SECRET, REFRESH_TOKENS

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from lorchestra_sandbox.forms import FormsApp

TAP = Path(sys.executable).with_name("tap-google-forms")


def _cli(config: dict[str, t.Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    env = {**os.environ, "LOGLEVEL": "DEBUG", "TAP_GOOGLE_FORMS_LOG_LEVEL": "DEBUG"}
    return subprocess.run([TAP, "--config", path], check=False, capture_output=True, text=True, env=env, timeout=120)


def _secrets(app: FormsApp) -> list[str]:
    key = json.loads(app.credentials("google-forms-ipip120")["service_account_info"])
    pem_lines = [line for line in key["private_key"].splitlines() if "-----" not in line]
    return [OAUTH_CLIENT_SECRET, *REFRESH_TOKENS, key["private_key_id"], *pem_lines, *app.grants]


def _assert_no_secret(app: FormsApp, result: subprocess.CompletedProcess[str], extra: tuple[str, ...] = ()) -> None:
    output = result.stdout + result.stderr
    leaked = [s for s in (*_secrets(app), *extra) if s and s in output]
    assert leaked == []


def test_successful_runs_leak_no_secret_and_log_no_clinic_data(
    app: FormsApp, make_config: Callable, tmp_path: Path
) -> None:
    results = [_cli(make_config(c), tmp_path) for c in ("google-forms-intake-01", "google-forms-ipip120")]

    assert [r.returncode for r in results] == [0, 0]
    assert len(app.grants) == 2  # both runs got an access token: those must not show either
    for result in results:
        _assert_no_secret(app, result)
        states = [json.loads(line) for line in result.stdout.splitlines() if '"STATE"' in line]
        assert states
        assert all("token" not in json.dumps(s).lower() for s in states)
    # Respondents' emails and answers go to stdout as records, never to the logs.
    for connection in ("google-forms-intake-01", "google-forms-ipip120"):
        for response in app.responses(app.form_id(connection))[:20]:
            assert response["respondentEmail"] not in results[0].stderr + results[1].stderr
    answers = [
        a["textAnswers"]["answers"][0]["value"]
        for r in app.responses(app.form_id("google-forms-intake-01"))[:10]
        for a in r["answers"].values()
        if "textAnswers" in a and len(a["textAnswers"]["answers"][0]["value"]) > 12
    ]
    assert answers
    assert not [a for a in answers if a in results[0].stderr]


@pytest.mark.parametrize(
    "breakage",
    ["wrong_client_secret", "revoked_refresh_token", "foreign_service_account_key", "garbled_key_json"],
)
def test_failing_auth_leaks_no_secret(app: FormsApp, make_config: Callable, tmp_path: Path, breakage: str) -> None:
    extra: tuple[str, ...] = ()
    if breakage == "wrong_client_secret":
        config = make_config("google-forms-intake-01")
        config["client_secret"] = extra_secret = "GOCSPX-not-the-right-one-7Hq2"
        extra = (extra_secret,)
    elif breakage == "revoked_refresh_token":
        config = make_config("google-forms-intake-01")
        app.revoke_refresh_token(config["refresh_token"])
    elif breakage == "foreign_service_account_key":
        config = make_config("google-forms-ipip120")
        key = json.loads(config["service_account_info"])
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key["private_key"] = other.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        config["service_account_info"] = json.dumps(key)
        extra = tuple(line for line in key["private_key"].splitlines() if "-----" not in line)
    else:
        config = make_config("google-forms-ipip120")
        config["service_account_info"] = '{"type": "service_account", "private_key": "MIIEvQ-s3cr3t-fragment"'
        extra = ("MIIEvQ-s3cr3t-fragment",)

    result = _cli(config, tmp_path)

    assert result.returncode != 0
    _assert_no_secret(app, result, extra)
    assert app.api_calls() == []  # no API request without a token
    expected = {
        "wrong_client_secret": "invalid_client",
        "revoked_refresh_token": "invalid_grant",
        "foreign_service_account_key": "Invalid JWT Signature",
        "garbled_key_json": "not a usable service account key",
    }[breakage]
    assert expected in result.stderr
