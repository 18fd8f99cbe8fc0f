"""Run a real tap against a sandbox and read what it wrote: one runner, one result type for every tap."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import pytest

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from lorchestra_sandbox.core import ProviderApp, RequestLogEntry, RunningApp
    from singer_sdk import Tap

#: What a test names when it expects a run to fail: one exception class or several.
ExpectedError = type[BaseException] | tuple[type[BaseException], ...]


@dataclass(frozen=True)
class TapUnderTest:
    """What a tap's test folder declares (its ``tap_under_test`` fixture); the plugin derives the rest from it."""

    tap_class: type[Tap]
    #: A fresh, seeded provider app of the sandbox.
    create_app: Callable[[], ProviderApp]
    #: ``connection(running_sandbox, *args, **overrides) -> config``: one of ``lorchestra_testing.connections``.
    connection: Callable[..., dict[str, t.Any]]


@dataclass
class TapRun:
    """The Singer messages one tap run wrote to stdout, and how the run ended."""

    messages: list[dict[str, t.Any]]
    error: BaseException | None = None
    #: The tap object of an in-process run (None when the run was a subprocess, or the config was refused).
    tap: Tap | None = None
    #: Of a subprocess run (``run_cli``).
    stderr: str = ""
    returncode: int = 0

    def records(self, stream: str | None = None) -> list[dict[str, t.Any]]:
        """The records of ``stream`` (of every stream when None), in the order they were sent."""
        return [m["record"] for m in self._record_messages(stream)]

    def ids(self, stream: str | None = None) -> list[t.Any]:
        """The primary key of each record, as its stream's SCHEMA message declares it (one key property)."""
        keys = {m["stream"]: m["key_properties"] for m in self.schemas}
        ids = []
        for message in self._record_messages(stream):
            (key,) = keys[message["stream"]]
            ids.append(message["record"][key])
        return ids

    def by_id(self, stream: str | None = None) -> dict[t.Any, dict[str, t.Any]]:
        """primary key -> record (the last one sent, if a key came twice)."""
        return dict(zip(self.ids(stream), self.records(stream), strict=True))

    @property
    def schemas(self) -> list[dict[str, t.Any]]:
        return [m for m in self.messages if m["type"] == "SCHEMA"]

    def schema(self, stream: str) -> dict[str, t.Any]:
        """The first SCHEMA message of ``stream``."""
        return next(m for m in self.schemas if m["stream"] == stream)

    @property
    def states(self) -> list[dict[str, t.Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def last_state(self) -> dict[str, t.Any] | None:
        """The last STATE value, the one a target would keep; None when the run sent none."""
        return self.states[-1] if self.states else None

    def bookmark(self, stream: str) -> dict[str, t.Any]:
        """``stream``'s bookmark in the last STATE ({} when there is none)."""
        return (self.last_state or {}).get("bookmarks", {}).get(stream, {})

    def replication_key_value(self, stream: str) -> t.Any:
        """``stream``'s replication key bookmark in the last STATE (None when there is none)."""
        return self.bookmark(stream).get("replication_key_value")

    def partitions(self, stream: str, key: str) -> dict[t.Any, dict[str, t.Any]]:
        """context[key] -> partition state of ``stream`` in the last STATE."""
        return {p["context"][key]: p for p in self.bookmark(stream)["partitions"]}

    def _record_messages(self, stream: str | None) -> list[dict[str, t.Any]]:
        return [m for m in self.messages if m["type"] == "RECORD" and stream in (None, m["stream"])]


def _parse(stdout: str) -> list[dict[str, t.Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def run_tap(
    tap_class: type[Tap],
    config: dict[str, t.Any],
    state: dict[str, t.Any] | None = None,
    catalog: dict[str, t.Any] | None = None,
    *,
    expect_error: ExpectedError | None = None,
) -> TapRun:
    """Run the tap in this process (the SDK's own ``sync_all``), as ``<tap> --config --state --catalog`` would.

    A run that raises fails the test (the exception propagates), unless the test names the error it expects:
    then the run must end with that error, kept in ``run.error``, and a run that succeeds fails the test. So
    a test asserting "no records" cannot pass because the tap crashed.
    """
    out = io.StringIO()
    run = TapRun([])
    with contextlib.redirect_stdout(out):
        try:
            run.tap = tap_class(config=config, state=state, catalog=catalog, parse_env_config=False)
            run.tap.sync_all()
        except Exception as exc:
            if expect_error is None or not isinstance(exc, expect_error):
                raise
            run.error = exc
    run.messages = _parse(out.getvalue())
    if expect_error is not None and run.error is None:
        pytest.fail(f"the tap run was expected to fail with {expect_error} but succeeded")
    return run


def executable(tap_class: type[Tap]) -> Path:
    """The tap's console script, installed beside this interpreter."""
    return Path(sys.executable).with_name(tap_class.name)


def run_cli(
    tap_class: type[Tap], config: dict[str, t.Any], tmp_path: Path, state: dict[str, t.Any] | None = None
) -> TapRun:
    """Run the installed tap executable in a child process, as Meltano does (the exit status is the test's)."""
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    args = [str(executable(tap_class)), "--config", str(config_file)]
    if state is not None:
        state_file = tmp_path / "state.json"
        state_file.write_text(json.dumps(state))
        args += ["--state", str(state_file)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    return TapRun(_parse(proc.stdout), stderr=proc.stderr, returncode=proc.returncode)


@dataclass
class Calls:
    """A sandbox's request log, split the way the tests count round trips."""

    entries: list[RequestLogEntry] = field(default_factory=list)

    @classmethod
    def of(cls, running: RunningApp) -> Calls:
        with running.app.lock:
            return cls(list(running.app.requests))

    @property
    def api(self) -> list[RequestLogEntry]:
        return [e for e in self.entries if e.kind == "api"]

    @property
    def batch_items(self) -> list[RequestLogEntry]:
        return [e for e in self.entries if e.kind == "batch_item"]

    @property
    def tokens(self) -> list[RequestLogEntry]:
        return [e for e in self.entries if e.kind == "token"]

    def paths(self, suffix: str) -> list[RequestLogEntry]:
        return [e for e in self.api if e.path.endswith(suffix)]
