"""End-to-end fixtures: the four sandboxes, and an isolated Meltano system database and warehouse per module.

The sandboxes listen on free ports (so the tests can run beside `scripts/demo` and on several xdist
workers); Meltano's environment variables aim the `sandbox` environment's endpoints at them.
"""

from __future__ import annotations

import importlib
import os

import pytest
from lorchestra_sandbox import serve
from lorchestra_testing.e2e import MELTANO

SANDBOXES = {
    "gmail": "lorchestra_sandbox.gmail",
    "exchange": "lorchestra_sandbox.graph",
    "dataverse": "lorchestra_sandbox.dataverse",
    "google_forms": "lorchestra_sandbox.forms",
}


def endpoint_overrides(urls: dict[str, str]) -> dict[str, str]:
    """Meltano env vars (plugin namespace + setting) that aim every connection of a tap at its sandbox."""
    gmail, graph, dataverse, forms = (urls[provider] for provider in SANDBOXES)
    return {
        "TAP_GMAIL_API_URL": gmail,
        "TAP_GMAIL_BATCH_URL": f"{gmail}/batch/gmail/v1",
        "TAP_GMAIL_TOKEN_URL": f"{gmail}/token",
        "TAP_EXCHANGE_API_URL": f"{graph}/v1.0",
        "TAP_EXCHANGE_AUTHORITY_URL": graph,
        "TAP_DATAVERSE_ENVIRONMENT_URL": dataverse,
        "TAP_DATAVERSE_AUTHORITY_URL": dataverse,
        "TAP_GOOGLE_FORMS_API_URL": forms,
        "TAP_GOOGLE_FORMS_TOKEN_URL": f"{forms}/token",
    }


@pytest.fixture(scope="module")
def running_sandboxes():
    """Fresh, in-process sandboxes on free ports (so tests can change upstream data between runs)."""
    running = {name: serve(importlib.import_module(module).create_app()) for name, module in SANDBOXES.items()}
    yield running
    for r in running.values():
        r.stop()


@pytest.fixture(scope="module")
def sandboxes(running_sandboxes):
    """The sandbox apps by provider, to change upstream data from a test."""
    return {name: r.app for name, r in running_sandboxes.items()}


@pytest.fixture(scope="module")
def meltano_env(tmp_path_factory, running_sandboxes):
    """Environment for `meltano`: the sandboxes' endpoints; state and warehouse kept out of the project."""
    assert MELTANO.exists(), "Meltano is missing: run scripts/bootstrap --meltano (scripts/test does)"
    work = tmp_path_factory.mktemp("meltano")
    return {
        **os.environ,
        **endpoint_overrides({name: r.url for name, r in running_sandboxes.items()}),
        "MELTANO_DATABASE_URI": f"sqlite:///{work / 'meltano.db'}",
        "TARGET_LORCHESTRA_DUCKDB_PATH": str(work / "warehouse.duckdb"),
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
    }
