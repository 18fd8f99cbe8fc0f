"""``lorchestra reingest``: run every Meltano job with fresh state and report counts.

Each job runs as ``meltano run --full-refresh JOB`` (a full backfill that ignores, then replaces, the job's
saved state) with ``MELTANO_RUN_ID`` set to a new UUID per attempt: Meltano uses it as its run id and the target
uses it as the ``correlation_id`` of its events, so the counts of each job are read back from event_log
exactly (run_counts.py). Every run id of one re-ingest carries the re-ingest's id (``job_run_id``), so
``--resume`` finds the latest re-ingest and the jobs that completed in it from event_log alone, on any
machine and on either warehouse. The warehouse the report reads (``--duckdb-path`` or ``--config``) is
handed to every job as the target's ``TARGET_LORCHESTRA_*`` environment variables, which Meltano puts
above meltano.yml, so the jobs write where the report reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import typing as t
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from target_lorchestra.errors import LorchestraError
from target_lorchestra.tables import event_row

if t.TYPE_CHECKING:
    from target_lorchestra.warehouse import Warehouse

#: Where scripts/bootstrap installs Meltano, relative to the project.
PROJECT_MELTANO = Path(".venv-meltano/bin/meltano")

#: A re-ingest's job run id: a UUID of version 8 (RFC 9562's custom layout; Meltano's own run ids are
#: version 4) holding the re-ingest id (48 bits), the attempt of the job in it (12 bits) and a hash of the
#: job name (60 bits): ``rrrrrrrr-rrrr-8aaa-8jjj-jjjjjjjjjjjj``.
RUN_ID = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4})-8([0-9a-f]{3})-(8[0-9a-f]{3}-[0-9a-f]{12})$")

LATEST_REINGEST = """
SELECT correlation_id FROM {event_log}
WHERE event_type = 'job.started' AND correlation_id LIKE '________-____-8___-8___-____________'
ORDER BY created_at DESC LIMIT 1
"""

REINGEST_RUNS = """
SELECT correlation_id, event_type, status FROM {event_log}
WHERE STARTS_WITH(correlation_id, @prefix) AND event_type IN ('job.started', 'job.completed', 'ingest.failed')
"""


@dataclass
class JobReport:
    job: str
    run_id: str
    returncode: int
    seconds: float
    streams: dict[str, dict] = field(default_factory=dict)
    done_earlier: bool = False  # --resume: completed in an earlier attempt of this re-ingest, not run again

    @property
    def records(self) -> int:
        return sum(s.get("records", 0) or 0 for s in self.streams.values())


def find_meltano(given: str | None, project: Path) -> str:
    """``given``, else the project's ``.venv-meltano``, else ``meltano`` on PATH (as an absolute path)."""
    if given:
        found = shutil.which(given)
        if not found:
            raise LorchestraError(f"--meltano {given}: no such program")
        return str(Path(found).absolute())
    local = project / PROJECT_MELTANO
    if local.is_file() and os.access(local, os.X_OK):
        return str(local.absolute())
    on_path = shutil.which("meltano")
    if on_path:
        return on_path
    raise LorchestraError(
        f"no Meltano found (looked for {local} and meltano on PATH): run scripts/bootstrap --meltano, "
        "or pass --meltano PATH"
    )


def target_env(config: dict) -> dict[str, str]:
    """The target settings in ``config`` as the environment variables Meltano maps to them."""
    env = {}
    for key, value in config.items():
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for sub, v in items:
            if v is not None:
                name = f"TARGET_LORCHESTRA_{key}" + (f"_{sub}" if sub else "")
                env[name.upper()] = str(Path(v).absolute()) if key == "duckdb_path" and v != ":memory:" else str(v)
    return env


def list_jobs(meltano: str, project: Path) -> list[str]:
    """Job names from ``meltano job list --format json``, in meltano.yml order."""
    proc = subprocess.run(
        [meltano, "job", "list", "--format", "json"], cwd=project, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise LorchestraError(f"meltano job list failed in {project} (exit {proc.returncode}): {last}")
    out = proc.stdout
    return [job["job_name"] for job in json.loads(out[out.index("{") :])["jobs"]]


def new_reingest_id() -> str:
    return uuid.uuid4().hex[:12]


def job_run_id(reingest_id: str, job: str, attempt: int = 0) -> str:
    """The ``MELTANO_RUN_ID`` (the events' correlation_id) of one attempt of ``job`` in a re-ingest."""
    job_hash = hashlib.sha256(job.encode()).hexdigest()[:15]
    return str(uuid.UUID(f"{reingest_id}8{attempt:03x}8{job_hash}"))


@dataclass
class PreviousReingest:
    reingest_id: str
    done: dict[str, str]  # job -> run id of the attempt that completed
    attempts: dict[str, int]  # job -> the number its next attempt gets


def previous_reingest(warehouse: Warehouse, jobs: list[str]) -> PreviousReingest | None:
    """The latest re-ingest recorded in event_log and which of ``jobs`` completed in it, or ``None``.

    A job completed when one of its attempts has the target's successful ``job.completed``, no
    ``ingest.failed`` and no failed ``job.completed`` (``record_failure``: a tap that failed midway leaves
    the target to end normally on the records it was given).
    """
    latest = warehouse.query(LATEST_REINGEST)
    match = RUN_ID.match(latest[0]["correlation_id"]) if latest else None
    if not match:
        return None
    prefix = match.group(1)
    by_suffix = {job_run_id(prefix.replace("-", ""), job)[19:]: job for job in jobs}
    outcome: dict[str, set[tuple[str, str]]] = {}
    for row in warehouse.query(REINGEST_RUNS, {"prefix": f"{prefix}-8"}):
        outcome.setdefault(row["correlation_id"], set()).add((row["event_type"], row["status"]))
    done: dict[str, str] = {}
    attempts: dict[str, int] = {}
    for run_id, events in sorted(outcome.items()):
        run = RUN_ID.match(run_id)
        job = by_suffix.get(run.group(3)) if run else None
        if run is None or job is None:
            continue  # a job not asked for this time
        attempts[job] = max(attempts.get(job, 0), int(run.group(2), 16) + 1)
        failed = ("job.completed", "failed") in events or any(kind == "ingest.failed" for kind, _ in events)
        if ("job.completed", "success") in events and not failed:
            done[job] = run_id
    return PreviousReingest(prefix.replace("-", ""), done, attempts)


def record_failure(warehouse: Warehouse, run_id: str, job: str, returncode: int, seconds: float) -> None:
    """A failed ``job.completed`` for a run whose ``meltano run`` failed, whatever the target reported."""
    warehouse.append_events(
        [
            event_row(
                "job.completed",
                correlation_id=run_id,
                status="failed",
                error_message=f"meltano run {job} exited {returncode} (a tap or Meltano failed; see the job's log)",
                payload={"streams": 0, "records": 0, "duration_seconds": round(seconds, 3)},
            )
        ]
    )


def run_job(
    meltano: str,
    project: Path,
    job: str,
    log_dir: Path,
    env: dict[str, str] | None = None,
    *,
    run_id: str | None = None,
) -> tuple[str, int, float]:
    """Run one job with full refresh (``env``: extra variables); its output goes to ``log_dir/<job>.log``."""
    run_id = run_id or str(uuid.uuid4())
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with (log_dir / f"{job}.log").open("w") as log:
        proc = subprocess.run(
            [meltano, "run", "--full-refresh", job],
            cwd=project,
            env={**os.environ, **(env or {}), "MELTANO_RUN_ID": run_id},
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    return run_id, proc.returncode, time.monotonic() - started


def render(reports: list[JobReport]) -> str:
    rows = [("job", "connection", "object_type", "records", "inserted", "updated", "seconds", "result")]
    for r in reports:
        for object_type, s in sorted(r.streams.items()) or [("-", {})]:
            ok = r.returncode == 0 and s.get("status", "success") == "success"
            result = "ok" if ok else f"FAILED (exit {r.returncode}, see log)"
            rows.append((
                r.job, str(s.get("connection_name", "-")), object_type, str(s.get("records", 0)),
                str(s.get("inserted", 0)), str(s.get("updated", 0)), f"{r.seconds:.1f}",
                "done earlier" if r.done_earlier else result,
            ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    total = sum(r.records for r in reports)
    failed = [r.job for r in reports if r.returncode != 0]
    lines.append(
        f"\n{len(reports)} jobs, {total} records, {len(failed)} failed" + (f": {', '.join(failed)}" if failed else "")
    )
    return "\n".join(lines)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
