"""State that survives the machine: with Meltano's Cloud Storage state backend (`MELTANO_STATE_BACKEND_URI=gs://…`,
as a prod deployment sets it), a job run from a second, fresh copy of the project (its own `.meltano/`, no system
database carried over) continues from the first copy's state instead of starting a full backfill.

Offline: gcp-storage-emulator (PyPI), started here, reached through STORAGE_EMULATOR_HOST as Google's client
library documents; the taps hit the sandboxes, the target writes DuckDB."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import pytest
import requests
from lorchestra_testing.e2e import MELTANO, ROOT

BUCKET = "lorchestra-state"
PREFIX = "meltano"
JOB = "dataverse_ingest_contacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gcs_emulator(tmp_path_factory):
    port = free_port()
    log = (tmp_path_factory.mktemp("gcs") / "emulator.log").open("w")
    exe = Path(sys.executable).parent / "gcp-storage-emulator"
    proc = subprocess.Popen(
        [str(exe), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory", "--default-bucket", BUCKET],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if requests.get(f"{url}/storage/v1/b/{BUCKET}", timeout=1).ok:
                break
        except requests.ConnectionError:
            pass
        assert proc.poll() is None, Path(log.name).read_text()
        time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def fresh_copy(root: Path) -> Path:
    """The project as a new machine or container has it: meltano.yml and the installed plugins, no state.

    Only the plugins' virtualenvs are shared (symlinks, to skip a reinstall); the system database and every
    other file under `.meltano/` start empty.
    """
    root.mkdir()
    shutil.copy(ROOT / "meltano.yml", root / "meltano.yml")
    for kind in ("extractors", "loaders"):
        (root / ".meltano").mkdir(exist_ok=True)
        (root / ".meltano" / kind).symlink_to(ROOT / ".meltano" / kind, target_is_directory=True)
    return root


def run_job(project: Path, env: dict) -> int:
    """`meltano run JOB` in `project`; returns the records the target took in that run (from event_log)."""
    run_id = str(uuid.uuid4())
    result = subprocess.run(
        [str(MELTANO), "run", JOB], cwd=project, env={**env, "MELTANO_RUN_ID": run_id},
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    with duckdb.connect(env["TARGET_LORCHESTRA_DUCKDB_PATH"], read_only=True) as con:
        [(records,)] = con.execute(
            "SELECT CAST(json_extract(payload, '$.records') AS BIGINT) FROM event_log "
            "WHERE correlation_id = ? AND event_type = 'ingest.completed'",
            [run_id],
        ).fetchall()
    return records


def test_state_in_cloud_storage_survives_a_fresh_copy_of_the_project(sandboxes, meltano_env, gcs_emulator, tmp_path):
    env = {k: v for k, v in meltano_env.items() if k not in {"MELTANO_DATABASE_URI", "MELTANO_PROJECT_ROOT"}}
    env.update(
        MELTANO_STATE_BACKEND_URI=f"gs://{BUCKET}/{PREFIX}",
        STORAGE_EMULATOR_HOST=gcs_emulator,
        GOOGLE_CLOUD_PROJECT="lorchestra-test",
    )
    first = run_job(fresh_copy(tmp_path / "machine-a"), env)
    assert first == 120  # every contact: a full backfill

    stored = requests.get(f"{gcs_emulator}/storage/v1/b/{BUCKET}/o", timeout=5).json()
    assert f"{PREFIX}/sandbox:tap-dataverse--contacts-to-target-lorchestra/state.json" in {
        o["name"] for o in stored.get("items", [])
    }

    second = run_job(fresh_copy(tmp_path / "machine-b"), env)
    assert second < 10  # incremental: from the first machine's bookmark, not the 120 contacts again
