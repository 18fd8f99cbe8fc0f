"""Secrets stay out of stderr, logs, STATE and error messages when a token endpoint echoes them (issue 20).

Each tap's token endpoint is made to answer 400 with an error description that repeats the request body
(client secret, refresh token or signed JWT assertion), as a careless or hostile endpoint might.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import requests
from lorchestra_sandbox import dataverse, forms, gmail, graph
from lorchestra_sandbox.core import serve
from lorchestra_testing.connections import gmail as gmail_config

BIN = Path(sys.executable).parent


def _dataverse(url: str) -> dict[str, t.Any]:
    return {
        "connection_name": "dataverse-clinic",
        "environment_url": url,
        "authority_url": url,
        "tenant_id": dataverse.TENANT_ID,
        "client_id": dataverse.CLIENT_ID,
        "client_secret": dataverse.CLIENT_SECRET,
    }


CASES: dict[str, tuple[t.Callable[[], t.Any], t.Callable[[t.Any], dict[str, t.Any]]]] = {
    "tap-gmail": (gmail.create_app, lambda r: gmail_config(r, "gmail-acct1")),
    "tap-gmail--service-account": (gmail.create_app, lambda r: gmail_config(r, "gmail-acct3")),
    "tap-exchange": (graph.create_app, lambda r: graph.connection_config("exchange-ben-mensio", r.url)),
    "tap-dataverse": (dataverse.create_app, lambda r: _dataverse(r.url)),
    "tap-google-forms": (forms.create_app, lambda r: r.app.tap_config("google-forms-intake-01", r.url)),
    "tap-google-forms--service-account": (forms.create_app, lambda r: r.app.tap_config("google-forms-ipip120", r.url)),
}


def _secrets(config: dict[str, t.Any]) -> list[str]:
    values = [config.get(k) for k in ("client_secret", "refresh_token")]
    if config.get("service_account_info"):
        key = json.loads(config["service_account_info"])
        values += [key["private_key_id"], *(line for line in key["private_key"].splitlines() if "-----" not in line)]
    return [v for v in values if v]


@pytest.mark.parametrize("case", sorted(CASES))
def test_echoed_secrets_are_redacted(case, tmp_path):
    create_app, make_config = CASES[case]
    running = serve(create_app())
    try:
        config = make_config(running) | {"max_attempts": 2, "backoff_base_seconds": 0.01}
        requests.post(f"{running.url}/_sandbox/faults", json={"token_faults": ["echo"]}, timeout=5).raise_for_status()
        (tmp_path / "config.json").write_text(json.dumps(config))
        env = {**os.environ, "LOGLEVEL": "DEBUG", f"{case.split('--')[0].upper().replace('-', '_')}_LOG_LEVEL": "DEBUG"}
        tap = BIN / case.split("--")[0]
        command = [tap, "--config", tmp_path / "config.json"]
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    finally:
        running.stop()

    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert [r.status for r in running.app.requests if r.kind == "token"] == [400]  # the echo was served
    assert "[redacted]" in done.stderr  # the echoed body reached the message, scrubbed
    assert "Malformed request" in done.stderr
    leaked = [s for s in _secrets(config) if s in output]
    assert leaked == []
    assert "assertion=ey" not in output  # a service account's signed JWT is a credential too
