"""Helpers that run the real tap against the Gmail sandbox (the fixture itself is in conftest.py).

A uniquely named module rather than ``tests.conftest``: several test folders of this repository are
named ``tests``, so that package path is ambiguous when they run in one session."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import requests
from lorchestra_sandbox.core import RunningApp
from lorchestra_sandbox.gmail import ACCOUNTS, CLIENT_ID, CLIENT_SECRET, GmailApp, service_account_info
from tap_gmail.tap import TapGmail

TAP_EXE = str(Path(sys.executable).with_name("tap-gmail"))


def app_of(running: RunningApp) -> GmailApp:
    return t.cast("GmailApp", running.app)


def tap_config(running: RunningApp, connection: str = "gmail-acct1", **overrides: t.Any) -> dict[str, t.Any]:
    """Config for one connection of the product spec, aimed at the sandbox, with fast test backoff."""
    account = next(a for a in ACCOUNTS if a.connection_name == connection)
    config: dict[str, t.Any] = {
        "connection_name": connection,
        "api_url": running.url,
        "batch_url": f"{running.url}/batch/gmail/v1",
        "token_url": f"{running.url}/token",
        "quota_units_per_second": 1_000_000,
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 2,
        "max_attempts": 5,
    }
    if account.refresh_token:
        config |= {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": account.refresh_token}
    else:
        config |= {"service_account_info": json.dumps(service_account_info()), "delegated_user": account.email}
    return config | overrides


@dataclass
class Run:
    """What one tap run wrote to stdout."""

    messages: list[dict[str, t.Any]]
    error: BaseException | None = None
    tap: TapGmail | None = None
    stderr: str = ""
    returncode: int = 0

    @property
    def records(self) -> list[dict[str, t.Any]]:
        return [m["record"] for m in self.messages if m["type"] == "RECORD"]

    @property
    def by_id(self) -> dict[str, dict[str, t.Any]]:
        return {r["id"]: r for r in self.records}

    @property
    def schemas(self) -> list[dict[str, t.Any]]:
        return [m for m in self.messages if m["type"] == "SCHEMA"]

    @property
    def state(self) -> dict[str, t.Any] | None:
        states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        return states[-1] if states else None

    @property
    def bookmark(self) -> dict[str, t.Any]:
        return (self.state or {}).get("bookmarks", {}).get("email", {})

    @property
    def stream(self) -> t.Any:
        assert self.tap is not None
        return self.tap.streams["email"]


def run_tap(
    config: dict[str, t.Any], state: dict | None = None, *, expect_error: type[BaseException] | bool = False
) -> Run:
    """Run the tap in-process (the SDK's own sync loop), collecting its Singer messages.

    A crash fails the test (the exception propagates) unless the test expects an error: ``expect_error=True``
    or the exception class it expects; then a run that does not fail, or fails otherwise, fails the test.
    """
    tap = TapGmail(config=config, state=state, parse_env_config=False)
    out = io.StringIO()
    error: BaseException | None = None
    with contextlib.redirect_stdout(out):
        try:
            tap.sync_all()
        except Exception as exc:
            error = exc
    messages = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    if error is not None and not expect_error:
        raise error
    if expect_error:
        assert error is not None, "the run was expected to fail"
        if expect_error is not True:
            assert isinstance(error, expect_error), f"expected {expect_error.__name__}, got {error!r}"
    return Run(messages, error, tap)


def run_cli(config: dict[str, t.Any], tmp_path: Path, state: dict | None = None) -> Run:
    """Run the installed ``tap-gmail`` executable, as Meltano does."""
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    args = [TAP_EXE, "--config", str(config_file)]
    if state is not None:
        state_file = tmp_path / "state.json"
        state_file.write_text(json.dumps(state))
        args += ["--state", str(state_file)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    messages = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return Run(messages, stderr=proc.stderr, returncode=proc.returncode)


def set_faults(running: RunningApp, **faults: t.Any) -> None:
    requests.post(f"{running.url}/_sandbox/faults", json=faults, timeout=5).raise_for_status()


@dataclass
class Calls:
    """The sandbox's request log, split the way the tests count round trips."""

    entries: list[t.Any] = field(default_factory=list)

    @classmethod
    def of(cls, running: RunningApp) -> Calls:
        with running.app.lock:
            return cls(list(running.app.requests))

    @property
    def api(self) -> list[t.Any]:
        return [e for e in self.entries if e.kind == "api"]

    @property
    def batch_items(self) -> list[t.Any]:
        return [e for e in self.entries if e.kind == "batch_item"]

    @property
    def tokens(self) -> list[t.Any]:
        return [e for e in self.entries if e.kind == "token"]

    def paths(self, suffix: str) -> list[t.Any]:
        return [e for e in self.api if e.path.endswith(suffix)]
