"""The Dagster webserver, started here on the code location, lists the fourteen schedules over GraphQL, and
`lorchestra-schedules` pauses and resumes them through the same API (what a migration does)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from lorchestra_dagster import schedules_cli

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def webserver(project_env, tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(ROOT / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    log = (home / "webserver.log").open("w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-webserver"), "-m", "lorchestra_dagster.definitions",
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env={**project_env, "DAGSTER_HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            if requests.get(f"{url}/server_info", timeout=2).ok and schedules_cli.schedules(url):
                break
        except (requests.RequestException, schedules_cli.GraphQLError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("dagster-webserver did not come up:\n" + (home / "webserver.log").read_text()[-3000:])
        time.sleep(1)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_graphql_lists_the_schedules_of_meltano_yml(webserver):
    declared = {s["name"]: s["interval"] for s in yaml.safe_load((ROOT / "meltano.yml").read_text())["schedules"]}
    listed = {s["name"]: s for s in schedules_cli.schedules(webserver)}
    assert {name: s["cronSchedule"] for name, s in listed.items()} == declared
    assert {s["scheduleState"]["status"] for s in listed.values()} == {"RUNNING"}  # unattended by default


def test_pause_and_resume_every_schedule(webserver, capsys):
    assert schedules_cli.main(["pause", "--url", webserver]) == 0
    assert {s["scheduleState"]["status"] for s in schedules_cli.schedules(webserver)} == {"STOPPED"}
    assert "paused 14 schedules" in capsys.readouterr().out
    assert schedules_cli.main(["resume", "--url", webserver]) == 0
    assert {s["scheduleState"]["status"] for s in schedules_cli.schedules(webserver)} == {"RUNNING"}
