"""Warehouse back ends: one behaviour (see ARCHITECTURE.md, "MERGE semantics"), two engines.

A back end takes a ``RawBatch`` (one stream's records as columns) and MERGEs it into ``raw_objects``:
duplicates of an idem_key within the batch collapse to the newest (latest ``seen_at``, then latest
arrival); a new key is inserted with ``first_seen = last_seen = seen_at``; a known key whose stored
``last_seen`` is not newer than the incoming ``seen_at`` gets the new payload, schema_ref and last_seen
and keeps first_seen; an older replay changes nothing. With ``last_seen_refresh_hours`` (off by default) a
copy equal to the stored row (payload and schema_ref) whose stored ``last_seen`` is at most that old changes
nothing either: it is counted ``unchanged``. It returns exact counts.
"""

from __future__ import annotations

import array
import re
import typing as t
from dataclasses import dataclass, field

import pyarrow as pa

from target_lorchestra.errors import ConfigError

if t.TYPE_CHECKING:
    from target_lorchestra.provenance import Provenance

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_TABLE_PLACEHOLDER = re.compile(r"\{(raw_objects|event_log)\}")

#: Arrow schema of a staged batch. Provenance columns are constants of the batch, passed as parameters.
BATCH_SCHEMA = pa.schema(
    [
        pa.field("idem_key", pa.string(), nullable=False),
        pa.field("external_id", pa.string(), nullable=False),
        pa.field("payload", pa.string(), nullable=False),  # JSON text, exactly as received
        pa.field("seen_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("seq", pa.int64(), nullable=False),  # arrival order: the tie-breaker for "newest"
    ]
)


def checked_identifier(value: str, what: str) -> str:
    """``value`` if it is a plain SQL identifier; anything else never reaches SQL text."""
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        raise ConfigError(
            f"{what} must be a plain identifier (letters, digits, underscore; not starting with a digit), got {value!r}"
        )
    return value


def with_tables(sql: str, names: t.Mapping[str, str]) -> str:
    """``sql`` with ``{raw_objects}`` and ``{event_log}`` replaced by ``names`` (checked identifiers, or
    engine paths built from them). Other braces are left alone: values never go here, they are ``@name``
    query parameters (``Warehouse.query``)."""
    return _TABLE_PLACEHOLDER.sub(lambda m: names[m.group(1)], sql)


@dataclass
class RawBatch:
    """One stream's pending records, kept as columns (never as a list of dicts).

    Payloads are appended to one contiguous UTF-8 buffer with Arrow-style offsets, so ``to_arrow`` hands
    the bytes to Arrow without copying or re-encoding them, and no Python object per payload is kept.
    """

    provenance: Provenance
    idem_keys: list[str] = field(default_factory=list)
    external_ids: list[str] = field(default_factory=list)
    seen_at_us: array.array = field(default_factory=lambda: array.array("q"))
    _payload_data: bytearray = field(default_factory=bytearray)
    _payload_offsets: array.array = field(default_factory=lambda: array.array("i", [0]))

    def append(self, idem_key: str, external_id: str, payload: bytes, seen_at_us: int) -> None:
        """Add one record; ``payload`` is its JSON text (UTF-8), stored byte for byte."""
        self.idem_keys.append(idem_key)
        self.external_ids.append(external_id)
        self._payload_data += payload
        self._payload_offsets.append(len(self._payload_data))
        self.seen_at_us.append(seen_at_us)

    @property
    def nbytes(self) -> int:
        """Payload bytes collected so far."""
        return len(self._payload_data)

    @property
    def payloads(self) -> list[bytes]:
        """Each record's payload bytes (a copy; the warehouses read ``to_arrow()`` instead)."""
        data, offsets = self._payload_data, self._payload_offsets
        return [bytes(data[offsets[i] : offsets[i + 1]]) for i in range(len(self))]

    def __len__(self) -> int:
        return len(self.idem_keys)

    def newest_per_key(self) -> list[int] | None:
        """Row numbers of the newest record of each idem_key, or ``None`` when no key repeats.

        Newest means the latest ``seen_at``, then the latest arrival. Done here, on two small columns,
        so a warehouse never has to sort the payloads to deduplicate them.
        """
        keys, seen = self.idem_keys, self.seen_at_us
        if len(set(keys)) == len(keys):
            return None
        newest: dict[str, int] = {}
        for row, key in enumerate(keys):
            best = newest.get(key)
            if best is None or seen[row] >= seen[best]:
                newest[key] = row
        return sorted(newest.values())

    def to_arrow(self) -> pa.Table:
        n = len(self.idem_keys)
        payloads = pa.StringArray.from_buffers(n, pa.py_buffer(self._payload_offsets), pa.py_buffer(self._payload_data))
        payloads.validate(full=True)  # UTF-8 checked once per batch, in C++
        return pa.Table.from_arrays(
            [
                pa.array(self.idem_keys, pa.string()),
                pa.array(self.external_ids, pa.string()),
                payloads,
                pa.array(self.seen_at_us, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
                pa.array(range(n), pa.int64()),
            ],
            schema=BATCH_SCHEMA,
        )


@dataclass(frozen=True)
class MergeCounts:
    """Exact outcome of one MERGE: ``rows`` staged, ``distinct`` idem_keys among them."""

    rows: int
    distinct: int
    inserted: int
    updated: int
    unchanged: int = 0  # stored copies left alone under last_seen_refresh_hours
    retries: int = 0

    @property
    def skipped_stale(self) -> int:
        return self.distinct - self.inserted - self.updated - self.unchanged


class Warehouse(t.Protocol):
    """What the target needs from a warehouse."""

    def open(self) -> None:
        """Connect and make sure both tables exist with the expected columns."""

    def connect(self) -> None:
        """Connect only (operations that repair tables must not trip over their schema check)."""

    def merge(self, batch: RawBatch) -> MergeCounts:
        """MERGE one batch into raw_objects, atomically, and return exact counts."""

    def append_events(self, rows: list[dict]) -> None:
        """Append event_log rows (no DML that would compete with MERGEs)."""

    def query(self, sql: str, params: t.Mapping[str, t.Any] | None = None) -> list[dict]:
        """Rows of a read query (operations and validation), in one style on both engines:
        ``{raw_objects}``/``{event_log}`` name the tables, ``@name`` is the parameter ``params[name]``
        (BigQuery's named parameters; the DuckDB back end translates them). Values never enter the SQL text."""

    def close(self) -> None:
        """Release connections and per-run resources."""


class WarehouseAdmin(t.Protocol):
    """Table administration for ``lorchestra migrate`` (names are checked identifiers)."""

    @property
    def type_names(self) -> dict[str, str]:
        """How this engine names the BigQuery types of tables.py in ``describe`` output."""

    def describe(self, name: str) -> list[tuple[str, str, str]] | None:
        """(column, type, nullable YES/NO) of table ``name`` in order, or None when it does not exist."""

    def copy_table(self, source: str, destination: str) -> int:
        """Create ``destination`` as a full copy of ``source``; return its row count."""

    def drop_table(self, name: str) -> None:
        """Drop table ``name``."""

    def create_table(self, kind: str, name: str) -> None:
        """Create table ``name`` from the definition of ``kind`` (raw_objects or event_log)."""

    def row_count(self, name: str) -> int:
        """Rows in table ``name``."""


class WarehouseEngine(Warehouse, WarehouseAdmin, t.Protocol):
    """One engine (DuckDB or BigQuery): what the target needs and the table administration."""


def open_warehouse(config: t.Mapping[str, t.Any], *, check_tables: bool = True) -> WarehouseEngine:
    """The configured warehouse, connected and (unless ``check_tables`` is off, for migrations) with its
    tables created or checked."""
    tables = {
        "raw_objects": checked_identifier(config.get("raw_objects_table") or "raw_objects", "raw_objects_table"),
        "event_log": checked_identifier(config.get("event_log_table") or "event_log", "event_log_table"),
    }
    kind = config.get("warehouse") or "duckdb"
    warehouse: WarehouseEngine
    if kind == "duckdb":
        from target_lorchestra.warehouse.duckdb import DuckDBWarehouse

        warehouse = DuckDBWarehouse(
            path=config.get("duckdb_path") or DEFAULT_DUCKDB_PATH,
            tables=tables,
            lock_timeout_seconds=float(config.get("lock_timeout_seconds", 30)),
            memory_limit=config.get("duckdb_memory_limit") or DEFAULT_DUCKDB_MEMORY_LIMIT,
            last_seen_refresh_us=last_seen_refresh_us(config),
        )
    elif kind == "bigquery":
        from target_lorchestra.warehouse.bigquery import BigQueryWarehouse

        warehouse = BigQueryWarehouse.from_config(config, tables)
    else:
        raise ConfigError(f"warehouse must be 'duckdb' or 'bigquery', got {kind!r}")
    if check_tables:
        warehouse.open()
    else:
        warehouse.connect()
    return warehouse


#: A year (366 days): the target's settings schema and ``lorchestra``'s unvalidated config share this bound.
MAX_LAST_SEEN_REFRESH_HOURS = 24 * 366


def last_seen_refresh_us(config: t.Mapping[str, t.Any]) -> int:
    """``last_seen_refresh_hours`` in microseconds (0: every copy rewrites the stored row)."""
    hours = config.get("last_seen_refresh_hours") or 0
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 <= hours <= MAX_LAST_SEEN_REFRESH_HOURS:
        raise ConfigError(
            f"last_seen_refresh_hours must be a number of hours from 0 to {MAX_LAST_SEEN_REFRESH_HOURS}, got {hours!r}"
        )
    return round(hours * 3_600_000_000)


DEFAULT_DUCKDB_PATH = "output/lorchestra.duckdb"
DEFAULT_DUCKDB_MEMORY_LIMIT = "256MB"
