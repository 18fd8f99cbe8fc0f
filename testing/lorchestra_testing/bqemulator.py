"""The one launcher of the local BigQuery emulator (bqemulator), for the tests, ``reliability/`` and ``benchmarks/``.

The emulator is the repository's ``.venv-bqemulator`` (``scripts/bootstrap --bqemulator``; the recipe is
``setup/bigquery-emulator.md``), or the executable ``LORCHESTRA_BQEMULATOR`` names. ``LORCHESTRA_BQ_ENDPOINT``
names an emulator that is already running instead: then nothing is started. Standard library only, so the
scripts can use it without pytest; ``client_for`` imports the BigQuery client when it is called.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
import typing as t
import urllib.error
import urllib.request
from pathlib import Path

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from google.cloud import bigquery

PROJECT = "test-project"
#: Where the DuckDB inside the emulator looks for its spatial extension (see the install recipe).
SPATIAL = Path.home() / ".duckdb" / "extensions" / "v1.5.5" / "linux_amd64" / "spatial.duckdb_extension"
_VENV_EXE = Path(".venv-bqemulator") / "bin" / "bqemulator"


class EmulatorError(RuntimeError):
    """The emulator is missing, or did not come up (the message says which, and how to fix it)."""


def emulator_path() -> Path:
    """``LORCHESTRA_BQEMULATOR``, else ``.venv-bqemulator`` of the checkout this package or the cwd is in."""
    given = os.environ.get("LORCHESTRA_BQEMULATOR")
    if given:
        return Path(given)
    # The workspace installs this package editable, so its own location names the checkout; the cwd is
    # the fallback for a non-editable install run from the repository root.
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for directory in (start, *start.parents):
            if (directory / _VENV_EXE).exists():
                return directory / _VENV_EXE
    return Path.cwd() / _VENV_EXE


def answers(endpoint: str) -> bool:
    """Whether a BigQuery REST API answers at ``endpoint`` (a dataset listing of the test project)."""
    try:
        url = f"{endpoint}/bigquery/v2/projects/{PROJECT}/datasets"
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - a loopback endpoint of ours
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def client_for(endpoint: str) -> bigquery.Client:
    """The official client aimed at the emulator (anonymous credentials)."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(
        project=PROJECT, credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=endpoint)
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_emulator(*, port: int | None = None, log_dir: Path | None = None, timeout: float = 90) -> Iterator[str]:
    """The endpoint of a running emulator for the duration of the block.

    ``LORCHESTRA_BQ_ENDPOINT`` if set (it must answer); else an emulator already answering on ``port``, left
    running; else one started here on ``port`` (free ports when None), logging to ``log_dir``, stopped on exit.
    """
    given = os.environ.get("LORCHESTRA_BQ_ENDPOINT")
    if given:
        if not answers(given):
            raise EmulatorError(f"LORCHESTRA_BQ_ENDPOINT={given} does not answer")
        yield given
        return
    if port is not None and answers(f"http://127.0.0.1:{port}"):
        yield f"http://127.0.0.1:{port}"
        return
    exe = emulator_path()
    if not exe.exists():
        raise EmulatorError(
            f"bqemulator not found at {exe}; install it with scripts/bootstrap --bqemulator "
            "(recipe: setup/bigquery-emulator.md), or set LORCHESTRA_BQEMULATOR / LORCHESTRA_BQ_ENDPOINT"
        )
    if not SPATIAL.exists():
        _install_spatial_extension(exe)
    rest = port or _free_port()
    grpc = _free_port()
    endpoint = f"http://127.0.0.1:{rest}"
    log = Path(log_dir or tempfile.mkdtemp(prefix="bqemulator-")) / "bqemulator.log"
    args = [str(exe), "start", "--rest-port", str(rest), "--grpc-port", str(grpc), "--project", PROJECT]
    with log.open("wb") as out:
        proc = subprocess.Popen([*args, "--log-level", "warning"], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not answers(endpoint):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise EmulatorError(f"bqemulator did not start; the end of its log ({log}):\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _install_spatial_extension(exe: Path) -> None:
    """Copy DuckDB's spatial extension from the emulator's venv (the recipe's offline step)."""
    found = subprocess.run(
        [
            str(exe.parent / "python"),
            "-c",
            "import duckdb_extension_spatial, os; print(os.path.dirname(duckdb_extension_spatial.__file__))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    source = Path(found.stdout.strip()) / "extensions" / "v1.5.5" / "spatial.duckdb_extension"
    if found.returncode != 0 or not source.exists():
        raise EmulatorError(f"duckdb-extension-spatial missing from the emulator venv: {found.stderr[-500:]}")
    SPATIAL.parent.mkdir(parents=True, exist_ok=True)
    SPATIAL.write_bytes(source.read_bytes())
