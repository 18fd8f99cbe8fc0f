"""``lorchestra reingest --resume``: continue the latest re-ingest, skipping the jobs that completed in it.

A stand-in ``meltano`` lists three jobs and runs each by piping its Singer input into the real
target-lorchestra. While ``quota-exhausted`` exists, job 2's tap fails midway (the target still ends
normally on the first half, Meltano exits 1) and job 3 fails before the target starts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
from lorchestra_testing.target import TARGET, singer

LORCHESTRA = shutil.which("lorchestra", path=str(Path(sys.executable).parent)) or "lorchestra"
JOBS = {"job_one": 2, "job_two": 4, "job_three": 3}  # records per job


def job_input(job: str, count: int) -> str:
    schema = {"type": "object", "properties": {"id": {"type": "string"}}, "x-lorchestra": {
        "source_system": "files", "connection_name": job}}  # fmt: skip
    return singer(
        {"type": "SCHEMA", "stream": job, "schema": schema, "key_properties": ["id"]},
        *({"type": "RECORD", "stream": job, "record": {"id": str(i)}} for i in range(count)),
    )


def project_with_meltano(project: Path) -> None:
    for job, count in JOBS.items():
        (project / f"{job}.singer").write_text(job_input(job, count))
    meltano = project / ".venv-meltano" / "bin" / "meltano"
    meltano.parent.mkdir(parents=True)
    meltano.write_text(
        textwrap.dedent(f"""\
        #!{sys.executable}
        import json, os, subprocess, sys
        jobs = {list(JOBS)!r}
        if sys.argv[1:3] == ["job", "list"]:
            print(json.dumps({{"jobs": [{{"job_name": j, "tasks": ["tap target-lorchestra"]}} for j in jobs]}}))
            sys.exit(0)
        job = sys.argv[-1]
        with open("runs.log", "a") as log:
            log.write(" ".join(sys.argv[1:]) + " " + os.environ["MELTANO_RUN_ID"] + "\\n")
        quota = os.path.exists("quota-exhausted")
        if quota and job == "job_three":
            sys.exit(1)
        lines = open(job + ".singer").read().splitlines(keepends=True)
        if quota and job == "job_two":
            lines = lines[:3]  # the tap stops after two records
        with open("target.json", "w") as f:
            json.dump({{"duckdb_path": os.environ["TARGET_LORCHESTRA_DUCKDB_PATH"]}}, f)
        code = subprocess.run([{TARGET!r}, "--config", "target.json"], input="".join(lines), text=True).returncode
        sys.exit(code or (1 if quota and job == "job_two" else 0))
        """)
    )
    meltano.chmod(0o755)


def reingest(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LORCHESTRA, "reingest", "--duckdb-path", str(project / "w.duckdb"), "--log-dir", str(project / "logs"), *args],
        cwd=project, capture_output=True, text=True, check=False,
        env={**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + "/usr/bin:/bin"},
    )  # fmt: skip


def runs(project: Path) -> list[tuple[str, str]]:
    """(job, run id) of each stand-in ``meltano run``, then forgotten."""
    log = project / "runs.log"
    lines = log.read_text().splitlines()
    log.unlink()
    assert all(line.startswith("run --full-refresh ") for line in lines)  # every job from scratch
    return [(line.split()[-2], line.split()[-1]) for line in lines]


def rows_per_job(project: Path) -> dict[str, int]:
    with duckdb.connect(str(project / "w.duckdb"), read_only=True) as con:
        return dict(con.execute("SELECT connection_name, COUNT(*) FROM raw_objects GROUP BY 1").fetchall())


def test_resume_runs_only_the_jobs_that_did_not_complete(tmp_path: Path) -> None:
    project_with_meltano(tmp_path)
    (tmp_path / "quota-exhausted").touch()
    first = reingest(tmp_path)
    assert first.returncode == 1, first.stderr
    first_runs = runs(tmp_path)
    assert [job for job, _ in first_runs] == list(JOBS)
    assert rows_per_job(tmp_path) == {"job_one": 2, "job_two": 2}  # job_two's tap stopped midway

    (tmp_path / "quota-exhausted").unlink()
    resumed = reingest(tmp_path, "--resume")
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    resumed_runs = runs(tmp_path)
    assert [job for job, _ in resumed_runs] == ["job_two", "job_three"]
    # Same re-ingest (its id prefixes every run id), new attempts (new run ids) for the jobs run again.
    first_ids, resumed_ids = dict(first_runs), dict(resumed_runs)
    assert {run_id[:13] for run_id in [*first_ids.values(), *resumed_ids.values()]} == {first_ids["job_one"][:13]}
    assert resumed_ids["job_two"] != first_ids["job_two"]
    assert rows_per_job(tmp_path) == JOBS  # every row, nothing twice
    report = {line.split()[0]: line for line in resumed.stdout.splitlines() if line.startswith("job_")}
    assert "done earlier" in report["job_one"]
    assert report["job_one"].split()[3] == "2"  # its records, read back from event_log
    assert report["job_two"].split()[3] == "4"
    assert report["job_three"].endswith("ok")

    again = reingest(tmp_path, "--resume")  # everything completed: nothing runs
    assert again.returncode == 0, again.stderr
    assert not (tmp_path / "runs.log").exists()
    assert again.stdout.count("done earlier") == 3


def test_resume_without_an_earlier_reingest_is_one_clear_line(tmp_path: Path) -> None:
    project_with_meltano(tmp_path)
    target_config = tmp_path / "t.json"
    target_config.write_text(json.dumps({"duckdb_path": str(tmp_path / "w.duckdb")}))
    # A warehouse with ordinary (non re-ingest) runs only.
    subprocess.run([TARGET, "--config", str(target_config)], input=job_input("job_one", 1), text=True, check=True)
    result = reingest(tmp_path, "--resume")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "no earlier re-ingest" in result.stderr
    assert not (tmp_path / "runs.log").exists()


def test_previous_reingest_is_read_from_event_log_on_either_warehouse(wh) -> None:
    from lorchestra_ops import reingest as ops
    from target_lorchestra.events import Telemetry
    from target_lorchestra.warehouse import open_warehouse

    reingest_id = ops.new_reingest_id()
    warehouse = open_warehouse(wh.config())
    try:

        def target_run(run_id: str, error: str | None = None) -> None:
            telemetry = Telemetry(warehouse, correlation_id=run_id, trace_id=None)
            telemetry.job_started({"target": "target-lorchestra"})
            telemetry.job_completed(error=error)

        target_run(ops.job_run_id(reingest_id, "job_one"))
        target_run(ops.job_run_id(reingest_id, "job_two"))  # the target ended normally, but the tap failed
        ops.record_failure(warehouse, ops.job_run_id(reingest_id, "job_two"), "job_two", 1, 2.0)
        target_run(ops.job_run_id(reingest_id, "job_three"), error="boom")
        target_run(ops.job_run_id(reingest_id, "job_three", 1))
        target_run("9b2f6c1e-4d3a-4f5b-8c7d-0e1f2a3b4c5d")  # an ordinary scheduled run, later
        previous = ops.previous_reingest(warehouse, list(JOBS))
    finally:
        warehouse.close()
    assert previous is not None
    assert previous.reingest_id == reingest_id
    assert previous.done == {
        "job_one": ops.job_run_id(reingest_id, "job_one"),
        "job_three": ops.job_run_id(reingest_id, "job_three", 1),
    }
    assert previous.attempts == {"job_one": 1, "job_two": 1, "job_three": 2}
