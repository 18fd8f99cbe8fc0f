"""Fixtures of the code location's tests: the repository's Meltano project, with a throw-away system database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"


@pytest.fixture(scope="module")
def project_env(tmp_path_factory) -> dict[str, str]:
    """Environment under which the code location loads the repository's project (sandbox environment)."""
    assert MELTANO.exists(), "Meltano is missing: run scripts/bootstrap --meltano (scripts/test does)"
    work = tmp_path_factory.mktemp("meltano")
    return {
        **os.environ,
        "MELTANO_PROJECT_ROOT": str(ROOT),
        "MELTANO_ENVIRONMENT": "sandbox",
        "MELTANO_DATABASE_URI": f"sqlite:///{work / 'meltano.db'}",
        "TARGET_LORCHESTRA_DUCKDB_PATH": str(work / "warehouse.duckdb"),
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
    }


@pytest.fixture(scope="module")
def patched_environ(project_env):
    """os.environ set to project_env for the module (the code location passes it on to `meltano`)."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in project_env.items():
            mp.setenv(key, value)
        yield project_env
