"""BigQuery under test: the local emulator (bqemulator), started for the session, one fresh dataset per test.

The emulator is started from the repository's ``.venv-bqemulator`` (override with ``LORCHESTRA_BQEMULATOR``)
on a free port, unless ``LORCHESTRA_BQ_ENDPOINT`` names one that already answers. It is never optional:
if it cannot be started the tests fail with the reason, they are not skipped. Install it with the
recipe in ``setup/bigquery-emulator.md``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from google.api_core.client_options import ClientOptions
from google.api_core.exceptions import NotFound
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

PROJECT = "test-project"
REPO = Path(__file__).resolve().parents[2]
EMULATOR = Path(os.environ.get("LORCHESTRA_BQEMULATOR", REPO / ".venv-bqemulator" / "bin" / "bqemulator"))
#: Where the DuckDB inside the emulator looks for its spatial extension (see the install recipe).
SPATIAL = Path.home() / ".duckdb" / "extensions" / "v1.5.5" / "linux_amd64" / "spatial.duckdb_extension"


def client_for(endpoint: str) -> bigquery.Client:
    return bigquery.Client(
        project=PROJECT, credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=endpoint)
    )


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/bigquery/v2/projects/{PROJECT}/datasets", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def bigquery_emulator(tmp_path_factory: pytest.TempPathFactory):
    """The endpoint of a running emulator: an existing one, or one started (and stopped) here."""
    given = os.environ.get("LORCHESTRA_BQ_ENDPOINT")
    if given:
        if not _answers(given):
            pytest.fail(f"LORCHESTRA_BQ_ENDPOINT={given} does not answer", pytrace=False)
        yield given
        return
    if not EMULATOR.exists():
        pytest.fail(
            f"bqemulator not found at {EMULATOR}; install it per setup/bigquery-emulator.md "
            "(or set LORCHESTRA_BQEMULATOR / LORCHESTRA_BQ_ENDPOINT)",
            pytrace=False,
        )
    if not SPATIAL.exists():
        _install_spatial_extension()
    rest, grpc = _free_port(), _free_port()
    endpoint = f"http://127.0.0.1:{rest}"
    log = tmp_path_factory.mktemp("bqemulator") / "bqemulator.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(EMULATOR),
                "start",
                "--rest-port",
                str(rest),
                "--grpc-port",
                str(grpc),
                "--project",
                PROJECT,
                "--log-level",
                "warning",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while not _answers(endpoint):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"bqemulator did not start; its log:\n{log.read_text()[-3000:]}", pytrace=False)
            time.sleep(0.3)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _install_spatial_extension() -> None:
    """Copy DuckDB's spatial extension from the emulator's venv (the recipe's offline step)."""
    python = EMULATOR.parent / "python"
    found = subprocess.run(
        [
            str(python),
            "-c",
            "import duckdb_extension_spatial, os; print(os.path.dirname(duckdb_extension_spatial.__file__))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    source = Path(found.stdout.strip()) / "extensions" / "v1.5.5" / "spatial.duckdb_extension"
    if found.returncode != 0 or not source.exists():
        pytest.fail(f"duckdb-extension-spatial missing from the emulator venv: {found.stderr[-500:]}", pytrace=False)
    SPATIAL.parent.mkdir(parents=True, exist_ok=True)
    SPATIAL.write_bytes(source.read_bytes())


class BigQueryUnderTest:
    kind = "bigquery"
    project = PROJECT

    def __init__(self, endpoint: str, test_name: str, *, test_tables: bool = False) -> None:
        self.endpoint = endpoint
        self.client = self._client()
        slug = re.sub(r"[^A-Za-z0-9_]", "_", test_name)[:60]
        self.dataset = f"t_{slug}_{uuid.uuid4().hex[:8]}"
        self._create_dataset()
        self.raw_table = "test_raw_objects" if test_tables else "raw_objects"
        self.event_table = "test_event_log" if test_tables else "event_log"
        #: external_ids of the rows make_merge_fail_on had to put in raw_objects (none on DuckDB).
        self.merge_trap_ids: list[str] = []

    def _client(self) -> bigquery.Client:
        return client_for(self.endpoint)

    def _create_dataset(self) -> None:
        self.client.create_dataset(self.dataset)

    def config(self) -> dict:
        return {
            "warehouse": "bigquery",
            "bigquery": {"project_id": PROJECT, "dataset": self.dataset, "api_endpoint": self.endpoint},
            "raw_objects_table": self.raw_table,
            "event_log_table": self.event_table,
        }

    def ref(self, table: str) -> str:
        return f"{self.project}.{self.dataset}.{table}"

    def _query(self, sql: str) -> list[dict]:
        # The client already returns TIMESTAMP as aware UTC datetimes and JSON parsed into Python values.
        # Row.items() deep-copies each value: JSON nested up to BigQuery's 500 levels needs more frames.
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 5000))
        try:
            return [dict(row.items()) for row in self.client.query(sql).result()]
        finally:
            sys.setrecursionlimit(limit)

    def _exists(self, table: str) -> bool:
        try:
            self.client.get_table(self.ref(table))
        except NotFound:  # only "not found" means absent; any other error fails the test
            return False
        return True

    def raw_objects(self) -> list[dict]:
        if not self._exists(self.raw_table):
            return []
        return self._query(f"SELECT * FROM `{self.ref(self.raw_table)}` ORDER BY idem_key")

    def events(self) -> list[dict]:
        if not self._exists(self.event_table):
            return []
        return self._query(f"SELECT * FROM `{self.ref(self.event_table)}` ORDER BY created_at, event_id")

    def execute(self, sql: str) -> None:
        sql = sql.format(raw_objects=f"`{self.ref(self.raw_table)}`", event_log=f"`{self.ref(self.event_table)}`")
        self.client.query(sql).result()

    def tables(self) -> list[str]:
        return sorted(t.table_id for t in self.client.list_tables(self.dataset))

    def make_merge_fail_on(
        self, external_id: str, *, provenance: tuple[str, str, str] = ("gmail", "gmail-acct1", "email")
    ) -> None:
        """Make BigQuery itself refuse the MERGE of a batch carrying ``external_id`` (no mock).

        BigQuery has no CHECK constraints, and the emulator enforces no column constraint at all, so the
        only state that makes a real MERGE fail for one key is in ``raw_objects`` itself: two rows with
        that key's idem_key, which the MERGE transaction refuses (it would update both). The table is
        created exactly as the target creates it, so the schema check accepts it. Unlike DuckDB's CHECK
        constraint those two rows are visible: they are listed in ``merge_trap_ids``.
        """
        from target_lorchestra.tables import RAW_OBJECTS
        from target_lorchestra.warehouse.bigquery_schema import table_definition

        ref = bigquery.TableReference.from_string(self.ref(self.raw_table))
        with contextlib.suppress(Exception):
            self.client.create_table(table_definition(RAW_OBJECTS, ref))
        idem_key = ":".join((*provenance, external_id))
        sql = (
            f"INSERT INTO `{self.ref(self.raw_table)}` (idem_key, source_system, connection_name, object_type, "
            "external_id, payload, first_seen, last_seen) "
            "SELECT @k, @s, @c, @o, @e, JSON '{}', TIMESTAMP '2000-01-01', TIMESTAMP '2000-01-01' "
            "FROM UNNEST([1, 2])"
        )
        params = [
            bigquery.ScalarQueryParameter(name, "STRING", value)
            for name, value in zip("kscoe", (idem_key, *provenance, external_id), strict=True)
        ]
        self.client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params)).result()
        self.merge_trap_ids += [external_id, external_id]

    def drop(self) -> None:
        with contextlib.suppress(Exception):
            self.client.delete_dataset(self.dataset, delete_contents=True, not_found_ok=True)
        self.client.close()


#: The live suite: a real project, when these are set (credentials: Application Default Credentials).
LIVE_PROJECT = os.environ.get("LORCHESTRA_BQ_LIVE_PROJECT", "")
LIVE_LOCATION = os.environ.get("LORCHESTRA_BQ_LIVE_LOCATION", "US")
#: (test, step, statement type, bytes billed, slot ms) of every job the live suite ran, for the summary.
LIVE_JOBS: list[tuple[str, str, str, int, int]] = []


class LiveBigQueryUnderTest(BigQueryUnderTest):
    """The same behavioural tests against a real BigQuery project: one dataset per test, dropped after.

    On teardown it records what each of the target's jobs cost (bytes billed, slot time) for the summary
    ``conftest.py`` prints; the flush's jobs carry a ``lorchestra_step`` label (stage, key_check, merge).
    """

    kind = "bigquery"

    def __init__(self, test_name: str, *, test_tables: bool = False) -> None:
        self.project = LIVE_PROJECT
        self.test_name = test_name
        self.started = dt.datetime.now(dt.UTC)
        super().__init__("", test_name, test_tables=test_tables)

    def _client(self) -> bigquery.Client:
        return bigquery.Client(project=LIVE_PROJECT, location=LIVE_LOCATION)

    def _create_dataset(self) -> None:
        dataset = bigquery.Dataset(f"{LIVE_PROJECT}.{self.dataset}")
        dataset.location = LIVE_LOCATION
        dataset.default_table_expiration_ms = 24 * 3600 * 1000  # a crashed run cleans up after itself
        self.client.create_dataset(dataset)

    def config(self) -> dict:
        config = super().config()
        config["bigquery"] = {"project_id": LIVE_PROJECT, "dataset": self.dataset}
        return config

    def drop(self) -> None:
        with contextlib.suppress(Exception):
            for job in self.client.list_jobs(min_creation_time=self.started, all_users=False):
                step = (job.labels or {}).get("lorchestra_step")
                if step and job.job_type == "query" and self.dataset in (job.query or ""):
                    LIVE_JOBS.append(
                        (
                            self.test_name,
                            step,
                            job.statement_type or "",
                            int(job.total_bytes_billed or 0),
                            int(job.slot_millis or 0),
                        )
                    )
        super().drop()


def live_summary() -> list[str]:
    """Lines of the live suite's cost report: per step, the statements and what they billed."""
    if not LIVE_JOBS:
        return []
    lines = [
        f"{'step':<10} {'statement':<12} {'jobs':>5} {'MiB billed (max)':>17} {'MiB billed (sum)':>17} {'slot s':>8}"
    ]
    steps = sorted({(j[1], j[2]) for j in LIVE_JOBS})
    for step, statement in steps:
        jobs = [j for j in LIVE_JOBS if (j[1], j[2]) == (step, statement)]
        billed = [j[3] for j in jobs]
        lines.append(
            f"{step:<10} {statement:<12} {len(jobs):>5} {max(billed) / 2**20:>17.1f} {sum(billed) / 2**20:>17.1f} "
            f"{sum(j[4] for j in jobs) / 1000:>8.1f}"
        )
    return lines


__all__ = ["BigQueryUnderTest", "LiveBigQueryUnderTest", "bigquery_emulator", "client_for", "live_summary"]
