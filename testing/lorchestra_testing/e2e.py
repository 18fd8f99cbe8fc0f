"""Running Meltano and the lorchestra CLI from the end-to-end tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lorchestra_testing.workspace import workspace_root

ROOT = workspace_root()
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"
LORCHESTRA = Path(sys.executable).parent / "lorchestra"


def meltano(env: dict, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(MELTANO), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def lorchestra(env: dict, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LORCHESTRA), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
