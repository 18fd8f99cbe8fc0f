"""The `lorchestra` CLI as an operator meets it: paths, the Meltano it runs, --version, plain help."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from lorchestra_testing.target import TARGET, singer

LORCHESTRA = shutil.which("lorchestra", path=str(Path(sys.executable).parent)) or "lorchestra"
SCHEMA = {"type": "object", "properties": {"id": {"type": "string"}}, "x-lorchestra": {
    "source_system": "files", "connection_name": "files-1"}}  # fmt: skip
INPUT = singer(
    {"type": "SCHEMA", "stream": "things", "schema": SCHEMA, "key_properties": ["id"]},
    {"type": "RECORD", "stream": "things", "record": {"id": "1"}},
    {"type": "RECORD", "stream": "things", "record": {"id": "2"}},
)


def lorchestra(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LORCHESTRA, *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
    )


@pytest.mark.parametrize("command", [["validate"], ["migrate"], ["migrate", "--yes"]])
def test_mistyped_duckdb_path_is_an_error_and_creates_nothing(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "typo" / "lorchestra.duckdb"
    result = lorchestra(*command, "--duckdb-path", str(missing), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert str(missing) in result.stderr
    assert not missing.exists()
    assert not missing.parent.exists()


def test_version(tmp_path: Path) -> None:
    result = lorchestra("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip().startswith("lorchestra ")
    assert result.stdout.strip().split()[-1][0].isdigit()


@pytest.mark.parametrize("command", [[], ["ddl"], ["validate"], ["migrate"], ["reingest"]])
def test_help_is_plain_words(tmp_path: Path, command: list[str]) -> None:
    text = lorchestra(*command, "--help", cwd=tmp_path).stdout
    assert text
    assert "``" not in text
    assert "spec step" not in text.lower()


def test_reingest_without_meltano_is_one_clear_line(tmp_path: Path) -> None:
    bare_path = {"PATH": str(Path(sys.executable).parent) + os.pathsep + "/usr/bin:/bin"}
    if shutil.which("meltano", path=bare_path["PATH"]):
        pytest.fail("a meltano on the bare PATH would hide the case under test")
    result = lorchestra("reingest", "--duckdb-path", str(tmp_path / "w.duckdb"), cwd=tmp_path, env=bare_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "Meltano" in result.stderr


def _project_with_meltano(project: Path) -> Path:
    """A project whose .venv-meltano/bin/meltano lists one job and runs it by piping Singer input into the
    real target-lorchestra, whose settings come from Meltano's TARGET_LORCHESTRA_* variables as they would."""
    (project / "input.singer").write_text(INPUT)
    meltano = project / ".venv-meltano" / "bin" / "meltano"
    meltano.parent.mkdir(parents=True)
    meltano.write_text(
        textwrap.dedent(f"""\
        #!{sys.executable}
        import json, os, subprocess, sys
        if sys.argv[1:3] == ["job", "list"]:
            print(json.dumps({{"jobs": [{{"job_name": "files_job", "tasks": ["tap target-lorchestra"]}}]}}))
            sys.exit(0)
        config = {{"duckdb_path": os.environ.get("TARGET_LORCHESTRA_DUCKDB_PATH", "output/lorchestra.duckdb")}}
        with open("target.json", "w") as f:
            json.dump(config, f)
        with open("input.singer") as stdin:
            sys.exit(subprocess.run([{TARGET!r}, "--config", "target.json"], stdin=stdin).returncode)
        """)
    )
    meltano.chmod(0o755)
    return meltano


def test_reingest_finds_the_project_meltano_and_jobs_write_where_the_report_reads(tmp_path: Path) -> None:
    _project_with_meltano(tmp_path)
    chosen = tmp_path / "elsewhere" / "chosen.duckdb"
    chosen.parent.mkdir()
    result = lorchestra(
        "reingest", "--duckdb-path", str(chosen), "--log-dir", str(tmp_path / "logs"), cwd=tmp_path,
        env={"PATH": str(Path(sys.executable).parent) + os.pathsep + "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + (tmp_path / "logs" / "files_job.log").read_text()
    assert not (tmp_path / "output" / "lorchestra.duckdb").exists()
    with duckdb.connect(str(chosen), read_only=True) as con:
        assert con.execute("SELECT COUNT(*) FROM raw_objects").fetchone()[0] == 2
    assert "2 records" in result.stdout


def test_reingest_with_config_hands_its_settings_to_the_jobs(tmp_path: Path) -> None:
    _project_with_meltano(tmp_path)
    chosen = tmp_path / "from-config.duckdb"
    config = tmp_path / "target-config.json"
    config.write_text(json.dumps({"warehouse": "duckdb", "duckdb_path": str(chosen)}))
    result = lorchestra("reingest", "--config", str(config), "--log-dir", str(tmp_path / "logs"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2 records" in result.stdout
    assert chosen.exists()
