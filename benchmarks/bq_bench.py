"""The BigQuery section of the benchmark: target-lorchestra into the local emulator (bqemulator).

It runs the real target CLI in a child process through ``bq_driver.py``, which counts the BigQuery
API calls the target makes (load jobs, query jobs, and among those the MERGE statements) and the
flushes (``Warehouse.merge`` calls). The goal: one load job and one MERGE per flush, whatever the
record count; so it runs two sizes with two batch sizes and prints the counts per flush.

The emulator is started from ``.venv-bqemulator`` (install: ``setup/bigquery-emulator.md``)
on free loopback ports and stopped at the end.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMULATOR = ROOT / ".venv-bqemulator" / "bin" / "bqemulator"
DRIVER = Path(__file__).resolve().parent / "bq_driver.py"
PROJECT = "test-project"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/bigquery/v2/projects/{PROJECT}/datasets", timeout=2) as resp:  # noqa: S310 - loopback
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_emulator(work: Path) -> tuple[subprocess.Popen, str]:
    rest, grpc = _free_port(), _free_port()
    endpoint = f"http://127.0.0.1:{rest}"
    log = (work / "bqemulator.log").open("wb")
    cmd = [str(EMULATOR), "start", "--rest-port", str(rest), "--grpc-port", str(grpc), "--project", PROJECT]
    proc = subprocess.Popen([*cmd, "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not _answers(endpoint):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"bqemulator did not start; see {work / 'bqemulator.log'}")
        time.sleep(0.5)
    return proc, endpoint


def create_dataset(endpoint: str) -> str:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    client = bigquery.Client(
        project=PROJECT, credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=endpoint)
    )
    dataset = f"bench_{uuid.uuid4().hex[:8]}"
    client.create_dataset(dataset)
    return dataset


def run_bigquery(args, work: Path, inp) -> None:
    if not EMULATOR.exists():
        print(f"\n## bigquery: skipped, {EMULATOR} is not installed (see setup/bigquery-emulator.md)")
        return
    print(f"\n## bigquery (emulator): {inp.nbytes / 1e6:.0f} MB, {inp.records:,} records\n")
    print("| batch_size_rows | flushes | load jobs | MERGE statements | other queries | wall |")
    print("|-----------------|---------|-----------|------------------|---------------|------|")
    proc, endpoint = start_emulator(work)
    try:
        for batch_rows in (10_000, 1_000):
            dataset = create_dataset(endpoint)
            config = work / "bq-config.json"
            counts = work / "bq-counts.json"
            config.write_text(
                json.dumps(
                    {
                        "warehouse": "bigquery",
                        "bigquery": {"project_id": PROJECT, "dataset": dataset, "api_endpoint": endpoint},
                        "batch_size_rows": batch_rows,
                    }
                )
            )
            started = time.perf_counter()
            with inp.path.open("rb") as source, (work / "bq-target.log").open("wb") as log:
                result = subprocess.run(
                    [sys.executable, str(DRIVER), str(counts), "--config", str(config)],
                    stdin=source,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    check=False,
                )
            seconds = time.perf_counter() - started
            if result.returncode != 0:
                tail = (work / "bq-target.log").read_text(errors="replace").splitlines()[-5:]
                print(f"| {batch_rows} | run failed ({result.returncode}): {' / '.join(tail)[:300]} |")
                continue
            c = json.loads(counts.read_text())
            print(
                f"| {batch_rows:>15,} | {c['flushes']:>7} | {c['load_jobs']:>9} | {c['merge_statements']:>16} | "
                f"{c['other_queries']:>13} | {seconds:.1f} s |"
            )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
