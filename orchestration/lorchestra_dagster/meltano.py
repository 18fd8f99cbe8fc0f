"""The Meltano project as the code location sees it: its scheduled jobs, its loader's config, `meltano run`.

Everything is read through Meltano's own CLI (`meltano schedule list --format json`, `meltano config print`),
so `meltano.yml` stays the one place where jobs and schedules are declared, with Meltano's own resolution of
environments, inheritance and `@hourly`-style intervals.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import typing as t
from dataclasses import dataclass, field
from urllib.parse import urlparse

from dotenv import dotenv_values

if t.TYPE_CHECKING:
    from lorchestra_dagster.settings import Settings

#: State backends that outlive the machine (Meltano's built-in cloud backends).
REMOTE_STATE_SCHEMES = {"gs", "s3", "azure"}


class MeltanoError(RuntimeError):
    """Meltano could not tell us what the project holds (the message carries its last output lines)."""


@dataclass(frozen=True)
class ScheduledJob:
    """One entry of `schedules:` with the job it runs."""

    schedule: str
    job: str
    cron: str
    tasks: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


def _json_tail(out: str) -> dict:
    # Meltano may print log lines before the document.
    return json.loads(out[out.index("{") :])


@dataclass
class MeltanoProject:
    settings: Settings

    def command(self, *args: str) -> list[str]:
        return [self.settings.meltano, "--environment", self.settings.environment, *args]

    def _read(self, *args: str) -> str:
        proc = subprocess.run(
            self.command(*args), cwd=self.settings.project_root, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
            raise MeltanoError(f"`meltano {' '.join(args)}` failed (exit {proc.returncode}): {tail}")
        return proc.stdout

    def scheduled_jobs(self) -> list[ScheduledJob]:
        """Every job schedule, in meltano.yml order."""
        listed = _json_tail(self._read("schedule", "list", "--format", "json"))["schedules"]
        if listed.get("elt"):
            names = ", ".join(s["name"] for s in listed["elt"])
            raise MeltanoError(f"only job schedules can run on Dagster; these are elt schedules: {names}")
        return [
            ScheduledJob(
                schedule=s["name"],
                job=s["job"]["name"],
                cron=s["cron_interval"],
                tasks=tuple(s["job"]["tasks"]),
                env={k: str(v) for k, v in (s.get("env") or {}).items()},
            )
            for s in listed["job"]
        ]

    def loader_config(self, loader: str = "target-lorchestra") -> dict:
        """The loader's resolved config in this environment (may hold secrets: never log it)."""
        return json.loads(self._read("config", "print", loader, "--format", "json"))

    def describe(self) -> tuple[list[ScheduledJob], dict]:
        """Schedules and loader config. One after the other: on a fresh system database each `meltano` would
        run its migrations, and two at once collide."""
        return self.scheduled_jobs(), self.loader_config()

    def state_backend_uri(self) -> str:
        """`state_backend.uri` as Meltano will see it from the process environment or the project's `.env`.

        Meltano settings cannot differ per environment in meltano.yml (Meltano decided so: meltano/meltano#6846),
        so a deployment sets `MELTANO_STATE_BACKEND_URI`; meltano.yml itself keeps the default, `systemdb`.
        """
        dotenv = dotenv_values(self.settings.project_root / ".env")
        return os.environ.get("MELTANO_STATE_BACKEND_URI") or dotenv.get("MELTANO_STATE_BACKEND_URI") or "systemdb"

    def state_is_remote(self) -> bool:
        return urlparse(self.state_backend_uri()).scheme in REMOTE_STATE_SCHEMES

    def run(self, job: str, run_id: str, env: t.Mapping[str, str]) -> tuple[int, list[str]]:
        """`meltano run JOB` with `MELTANO_RUN_ID` (the events' correlation id); output goes to our stdout.

        Returns the exit status and the output's last lines (for the failure message).
        """
        tail: collections.deque[str] = collections.deque(maxlen=15)
        with subprocess.Popen(
            self.command("run", job),
            cwd=self.settings.project_root,
            env={**os.environ, **env, "MELTANO_RUN_ID": run_id},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                sys.stdout.write(line)  # Dagster keeps the step's stdout as its compute log
                tail.append(line.rstrip())
        sys.stdout.flush()
        return proc.returncode, list(tail)
