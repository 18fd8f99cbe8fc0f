"""Run the real target in this process: the same ``listen`` the CLI runs, about 15x faster than a subprocess.

For suites with many runs (the bad-input catalogue, the property-based fuzz). It returns what the CLI would
show: the exit status, the STATE lines written to stdout, the one-line error ``invoke`` would log, and every
log record of the run (captured at DEBUG, so leak checks see everything the target could log).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from target_lorchestra.errors import LorchestraError
from target_lorchestra.target import TargetLorchestra, log_unsent_events

if t.TYPE_CHECKING:
    from lorchestra_testing.target import WarehouseUnderTest


@dataclass
class InProcessResult:
    returncode: int
    states: list[dict] = field(default_factory=list)
    error: str | None = None  # the line the CLI prints: "target-lorchestra failed: ..."
    exception: BaseException | None = None
    logs: str = ""


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name} {record.getMessage()}")
        if record.exc_info and record.exc_info[1] is not None:
            self.lines.append(repr(record.exc_info[1]))


def run_in_process(wh: WarehouseUnderTest, data: bytes | str | Path, *, config: dict | None = None) -> InProcessResult:
    """Feed ``data`` (Singer lines, or a file) to a fresh ``TargetLorchestra`` configured for ``wh``."""
    if isinstance(data, Path):
        data = data.read_bytes()
    if isinstance(data, str):
        data = data.encode()
    out = io.StringIO()
    collect = _Collect()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)
    result = InProcessResult(0)
    try:
        with contextlib.redirect_stdout(out):
            target = TargetLorchestra(config={**wh.config(), **(config or {})}, parse_env_config=False)
            try:
                # Bytes, as the CLI reads stdin (the fast path); the SDK's signature says text.
                target.listen(t.cast("t.IO[str]", io.BytesIO(data)))
            except LorchestraError as exc:
                result = InProcessResult(1, error=f"target-lorchestra failed: {exc}", exception=exc)
                log_unsent_events(exc)  # as invoke does, after the error line
            except Exception as exc:  # noqa: BLE001 - an unexpected failure: the CLI would print a traceback
                result = InProcessResult(1, error=None, exception=exc)
    finally:
        root.removeHandler(collect)
        root.setLevel(old_level)
    result.states = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    result.logs = "\n".join(collect.lines)
    return result
