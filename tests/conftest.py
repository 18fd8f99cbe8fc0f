"""End-to-end fixtures: the four sandboxes on the ports meltano.yml's sandbox environment names,
and an isolated Meltano system database and warehouse per test module."""

from __future__ import annotations

import importlib
import os
import socket

import pytest
from lorchestra_bigquery import bigquery_emulator  # noqa: F401 - session fixture: the emulator, started once
from lorchestra_e2e import MELTANO
from lorchestra_sandbox import serve

#: provider -> (module, port): the sandbox environment of meltano.yml points at these.
SANDBOXES = {
    "gmail": ("lorchestra_sandbox.gmail", 8701),
    "exchange": ("lorchestra_sandbox.graph", 8702),
    "dataverse": ("lorchestra_sandbox.dataverse", 8703),
    "google_forms": ("lorchestra_sandbox.forms", 8704),
}


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(scope="module")
def sandboxes():
    """Fresh, in-process sandboxes (so tests can change upstream data between runs)."""
    busy = [p for _, p in SANDBOXES.values() if not _port_free(p)]
    if busy:
        pytest.fail(f"ports {busy} are taken (is `lorchestra-sandbox` or scripts/demo running?); stop it first")
    running = {
        name: serve(importlib.import_module(mod).create_app(), port=port) for name, (mod, port) in SANDBOXES.items()
    }
    yield {name: r.app for name, r in running.items()}
    for r in running.values():
        r.stop()


@pytest.fixture(scope="module")
def meltano_env(tmp_path_factory):
    """Environment for `meltano` that keeps state and warehouse out of the developer's project."""
    assert MELTANO.exists(), "Meltano is missing: run scripts/bootstrap --meltano (scripts/test does)"
    work = tmp_path_factory.mktemp("meltano")
    return {
        **os.environ,
        "MELTANO_DATABASE_URI": f"sqlite:///{work / 'meltano.db'}",
        "TARGET_LORCHESTRA_DUCKDB_PATH": str(work / "warehouse.duckdb"),
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
    }
