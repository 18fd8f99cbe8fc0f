"""Run the real target on a ``.singer`` scenario and read back what landed, on either warehouse.

A ``WarehouseUnderTest`` gives the target config for a fresh, empty warehouse and reads
``raw_objects`` / ``event_log`` back as plain dicts (payloads parsed, timestamps as aware datetimes),
so every behavioural test is written once and runs against DuckDB and BigQuery alike. ``run_target`` runs
the CLI in a child process; ``run_in_process`` (``inprocess.py``) the same ``listen`` in this one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from lorchestra_testing.workspace import scenarios

#: The target's Singer scenarios: ``run_target`` takes a bare file name as one of these.
DATA = scenarios()
TARGET = shutil.which("target-lorchestra", path=str(Path(sys.executable).parent)) or "target-lorchestra"


class WarehouseUnderTest(t.Protocol):
    kind: str

    def config(self) -> dict:
        """Target config pointing at this (empty) warehouse."""

    def raw_objects(self) -> list[dict]:
        """Every raw_objects row, ordered by idem_key."""

    def events(self) -> list[dict]:
        """Every event_log row, in creation order."""

    def execute(self, sql: str) -> None:
        """Run a statement (test setup only); table names as in config()."""


@dataclass
class RunResult:
    returncode: int
    stdout: str
    stderr: str
    states: list[dict] = field(default_factory=list)


def run_target(
    wh: WarehouseUnderTest,
    scenario: str | Path,
    *,
    config: dict | None = None,
    env: dict | None = None,
    tmp_path: Path,
) -> RunResult:
    """Pipe a scenario (a file name under ``DATA``, a Path, or literal Singer lines) through the CLI."""
    if isinstance(scenario, Path):
        text = scenario.read_text()
    elif "\n" in scenario or scenario.lstrip().startswith("{"):
        text = scenario
    else:
        text = (DATA / scenario).read_text()
    cfg = {**wh.config(), **(config or {})}
    config_file = tmp_path / f"target-config-{os.getpid()}-{len(list(tmp_path.iterdir()))}.json"
    config_file.write_text(json.dumps(cfg))
    proc = subprocess.run(
        [TARGET, "--config", str(config_file)],
        input=text,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )
    states = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return RunResult(proc.returncode, proc.stdout, proc.stderr, states)


def failure_line(result: RunResult) -> str:
    """The one ``target-lorchestra failed:`` line of a failed run's stderr."""
    lines = [s for s in result.stderr.splitlines() if "target-lorchestra failed:" in s]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


#: A gmail ``email`` stream keyed by ``id`` with an integer ``v``: the small scenarios' SCHEMA message.
EMAIL_SCHEMA = {
    "type": "SCHEMA",
    "stream": "email",
    "key_properties": ["id"],
    "schema": {
        "type": "object",
        "properties": {"id": {"type": "string"}, "v": {"type": "integer"}},
        "x-lorchestra": {"source_system": "gmail", "connection_name": "gmail-acct1"},
    },
}


def singer(*messages: dict) -> str:
    """Literal Singer input from message dicts."""
    return "".join(json.dumps(m) + "\n" for m in messages)
