"""The code location's settings: environment variables, read once when the definitions load."""

from __future__ import annotations

import os
import typing as t
from dataclasses import dataclass
from pathlib import Path


class SettingError(ValueError):
    """A setting that cannot be used as given (the message names the variable)."""


def _int(environ: t.Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    project_root: Path
    environment: str
    meltano: str
    retry_max: int
    retry_delay_seconds: int
    timezone: str
    schedules_running: bool

    @classmethod
    def from_env(cls, environ: t.Mapping[str, str] = os.environ) -> Settings:
        root = Path(environ.get("MELTANO_PROJECT_ROOT") or Path.cwd()).resolve()
        if not (root / "meltano.yml").is_file():
            raise SettingError(f"MELTANO_PROJECT_ROOT: no meltano.yml in {root}")
        bundled = root / ".venv-meltano" / "bin" / "meltano"
        meltano = environ.get("LORCHESTRA_MELTANO") or (str(bundled) if bundled.exists() else "meltano")
        schedules = environ.get("LORCHESTRA_SCHEDULES", "running").strip().lower()
        if schedules not in {"running", "stopped"}:
            raise SettingError(f"LORCHESTRA_SCHEDULES must be 'running' or 'stopped', got {schedules!r}")
        return cls(
            project_root=root,
            # Meltano's own variable: the same name selects the environment for a plain `meltano run`.
            environment=environ.get("MELTANO_ENVIRONMENT") or "sandbox",
            meltano=meltano,
            retry_max=_int(environ, "LORCHESTRA_RETRY_MAX", 2),
            retry_delay_seconds=_int(environ, "LORCHESTRA_RETRY_DELAY_SECONDS", 300),
            timezone=environ.get("LORCHESTRA_SCHEDULE_TIMEZONE") or "UTC",
            schedules_running=schedules == "running",
        )
