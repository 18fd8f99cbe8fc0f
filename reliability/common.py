"""Shared pieces of the reliability scripts: a deterministic fake tap, warehouses to run against, read-back.

The fake tap is what a real tap looks like to the target: SCHEMA per stream, RECORDs with
``time_extracted``, and a STATE every few records whose bookmark is the position of the next record, so a
rerun from a STATE resumes exactly where the STATE says everything before it was sent.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import typing as t
import uuid
from dataclasses import dataclass
from pathlib import Path

from lorchestra_testing.bqemulator import PROJECT, EmulatorError, client_for, running_emulator

if t.TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = REPO / ".venv" / "bin"
TARGET = VENV_BIN / "target-lorchestra"

STREAMS = {
    "email": ("id", "gmail", "gmail-acct1"),
    "contact": ("contactid", "dataverse", "dataverse-clinic"),
}


@dataclass(frozen=True)
class Obj:
    """One upstream object: its stream and id."""

    stream: str
    external_id: str

    @property
    def idem_key(self) -> str:
        _, source_system, connection = STREAMS[self.stream]
        return f"{source_system}:{connection}:{self.stream}:{self.external_id}"


def objects(count: int, *, prefix: str = "obj") -> list[Obj]:
    """``count`` objects alternating over the two streams (deterministic ids)."""
    names = sorted(STREAMS)
    return [Obj(names[i % len(names)], f"{prefix}-{i:06d}") for i in range(count)]


def tap_lines(
    objs: list[Obj], *, start: int, version: int, extracted_at: str, state_every: int, pad: int = 200
) -> list[bytes]:
    """The Singer lines a tap sends for ``objs[start:]``: SCHEMAs, RECORDs, a STATE ``{"pos": n}`` every
    ``state_every`` records (n = index of the next record) and a final STATE."""
    lines = []
    for stream, (key, source_system, connection) in STREAMS.items():
        schema = {
            "type": "object",
            "properties": {key: {"type": "string"}},
            "x-lorchestra": {"source_system": source_system, "connection_name": connection},
        }
        lines.append({"type": "SCHEMA", "stream": stream, "key_properties": [key], "schema": schema})
    filler = "x" * pad
    for pos in range(start, len(objs)):
        obj = objs[pos]
        record = {STREAMS[obj.stream][0]: obj.external_id, "version": version, "body": filler}
        lines.append({"type": "RECORD", "stream": obj.stream, "record": record, "time_extracted": extracted_at})
        if (pos + 1) % state_every == 0:
            lines.append({"type": "STATE", "value": {"bookmarks": {"fake": {"pos": pos + 1}}}})
    lines.append({"type": "STATE", "value": {"bookmarks": {"fake": {"pos": len(objs)}}}})
    return [json.dumps(m).encode() + b"\n" for m in lines]


def state_pos(state: dict | None) -> int:
    return 0 if not state else int(state["bookmarks"]["fake"]["pos"])


def target_command(drain_seconds: float | None) -> list[str]:
    """The target CLI; with ``drain_seconds``, the SDK's max record age (5 min) is cut so that it drains
    all sinks and writes STATE every ``drain_seconds`` during the run, as a long run would."""
    if drain_seconds is None:
        return [str(TARGET)]
    code = (
        "from target_lorchestra.target import TargetLorchestra as T; "
        f"T._MAX_RECORD_AGE_IN_MINUTES = {drain_seconds / 60!r}; T.cli()"
    )
    return [str(VENV_BIN / "python"), "-c", code]


def run_target(config_file: Path, lines: list[bytes], *, drain_seconds: float | None = None) -> tuple[int, list, str]:
    """A complete run: every line, stdin closed. Returns (exit status, STATE values, stderr)."""
    proc = subprocess.run(
        [*target_command(drain_seconds), "--config", str(config_file)],
        input=b"".join(lines),
        capture_output=True,
        timeout=600,
        check=False,
    )
    states = [json.loads(s) for s in proc.stdout.decode().splitlines() if s.strip()]
    return proc.returncode, states, proc.stderr.decode(errors="replace")


# -- warehouses -------------------------------------------------------------------------------------

#: What ``rows()`` returns per raw_objects row (timestamps in microseconds since the epoch).
COLUMNS = ("idem_key", "first_seen", "last_seen", "version", "object_type")


class Warehouse(t.Protocol):
    kind: str

    def config(self) -> dict: ...

    def rows(self) -> list[dict]:
        """idem_key, first_seen, last_seen (microseconds since the epoch), payload version of every row."""

    def counts(self) -> tuple[int, int]:
        """(rows, distinct idem_keys) of raw_objects."""

    def cleanup(self) -> None: ...


class DuckDBWarehouse:
    kind = "duckdb"

    def __init__(self, workdir: Path) -> None:
        self.path = workdir / "warehouse.duckdb"

    def config(self) -> dict:
        return {"warehouse": "duckdb", "duckdb_path": str(self.path), "lock_timeout_seconds": 30}

    def _query(self, sql: str) -> list[tuple]:
        import duckdb

        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.execute(sql).fetchall()

    def rows(self) -> list[dict]:
        result = self._query(
            "SELECT idem_key, epoch_us(first_seen), epoch_us(last_seen), "
            "CAST(json_extract(payload, '$.version') AS INTEGER), object_type FROM raw_objects"
        )
        return [dict(zip(COLUMNS, r, strict=True)) for r in result]

    def counts(self) -> tuple[int, int]:
        ((rows, distinct),) = self._query("SELECT count(*), count(DISTINCT idem_key) FROM raw_objects")
        return rows, distinct

    def snapshot_from(self, other: DuckDBWarehouse) -> None:
        shutil.copy(other.path, self.path)
        wal = Path(f"{other.path}.wal")
        if wal.exists():
            shutil.copy(wal, f"{self.path}.wal")

    def cleanup(self) -> None:
        for path in (self.path, Path(f"{self.path}.wal")):
            path.unlink(missing_ok=True)


class BigQueryEmulatorWarehouse:
    """A fresh dataset on the local BigQuery emulator (bqemulator), read back with the official client."""

    kind = "bigquery"

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.project = PROJECT
        self.dataset = f"reliability_{uuid.uuid4().hex[:12]}"
        self._client().create_dataset(self.dataset)  # the target expects its dataset to exist

    def config(self) -> dict:
        return {
            "warehouse": "bigquery",
            "bigquery": {"project_id": self.project, "dataset": self.dataset, "api_endpoint": self.endpoint},
        }

    def _client(self) -> t.Any:
        return client_for(self.endpoint)

    def _query(self, sql: str) -> list[tuple]:
        return [tuple(r.values()) for r in self._client().query(sql).result()]

    def rows(self) -> list[dict]:
        result = self._query(
            f"SELECT idem_key, UNIX_MICROS(first_seen), UNIX_MICROS(last_seen), "
            f"CAST(JSON_VALUE(payload, '$.version') AS INT64), object_type "
            f"FROM `{self.project}.{self.dataset}.raw_objects`"
        )
        return [dict(zip(COLUMNS, r, strict=True)) for r in result]

    def counts(self) -> tuple[int, int]:
        ((rows, distinct),) = self._query(
            f"SELECT count(*), count(DISTINCT idem_key) FROM `{self.project}.{self.dataset}.raw_objects`"
        )
        return rows, distinct

    def cleanup(self) -> None:
        try:
            self._client().delete_dataset(self.dataset, delete_contents=True, not_found_ok=True)
        except Exception as exc:  # noqa: BLE001 - best effort
            print(f"  (could not drop dataset {self.dataset}: {type(exc).__name__})", file=sys.stderr)


@contextlib.contextmanager
def bigquery_emulator(port: int) -> Iterator[str]:
    """The BigQuery emulator's endpoint (the workspace's one launcher, ``lorchestra_testing.bqemulator``): one
    already answering on ``port``, else one started there and stopped at the end."""
    try:
        with running_emulator(port=port) as endpoint:
            yield endpoint
    except EmulatorError as exc:
        raise SystemExit(str(exc)) from exc
