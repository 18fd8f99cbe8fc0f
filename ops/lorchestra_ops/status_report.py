"""``lorchestra status``: freshness, volumes and failures per connection and object type.

Computed from ``event_log`` (``ingest.completed`` / ``ingest.failed`` mark each run of a stream,
``upsert.completed`` carries its inserted/updated counts) and ``raw_objects`` (totals), with the SQL
that DuckDB and BigQuery share, and from the schedules in ``meltano.yml`` (status_schedules.py).
Everything is judged against one clock, ``now``: events after it are ignored, so a test (or an
incident review) can look at the warehouse as it was at any instant.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import asdict, dataclass, field

from lorchestra_ops.status_schedules import Expectation

if t.TYPE_CHECKING:
    from target_lorchestra.warehouse import Warehouse

FRESH, LATE, FAILING, NEVER_RUN = "fresh", "late", "failing", "never run"
DEFAULT_LATE_FACTOR = 2.0
#: How far back the page's charts (and the per-run rows behind them) reach.
HISTORY = dt.timedelta(days=30)

# ``@now`` and ``@since`` are TIMESTAMP parameters: aware datetimes in UTC.
LAST_RUNS = """
SELECT source_system, connection_name, target_object_type AS object_type, event_type,
       MAX(created_at) AS last_at, COUNT(*) AS n
FROM {event_log}
WHERE event_type IN ('ingest.completed', 'ingest.failed') AND connection_name IS NOT NULL
  AND created_at <= @now
GROUP BY 1, 2, 3, 4
"""
LAST_ERRORS = """
SELECT e.connection_name, e.target_object_type AS object_type, e.created_at, e.error_message
FROM {event_log} e
JOIN (SELECT connection_name, target_object_type, MAX(created_at) AS last_at
      FROM {event_log}
      WHERE event_type = 'ingest.failed' AND connection_name IS NOT NULL AND created_at <= @now
      GROUP BY 1, 2) m
  ON e.connection_name = m.connection_name AND e.target_object_type = m.target_object_type
 AND e.created_at = m.last_at
WHERE e.event_type = 'ingest.failed'
"""
# One row per event of the last 30 days (not aggregated per day in SQL: the day boundary of a
# TIMESTAMPTZ depends on DuckDB's session time zone, so days are cut in Python, in UTC).
RECENT_EVENTS = """
SELECT connection_name, target_object_type AS object_type, event_type, created_at, correlation_id,
       error_message,
       CAST(JSON_VALUE(payload, '$.records') AS INT64) AS records,
       CAST(JSON_VALUE(payload, '$.inserted') AS INT64) AS inserted,
       CAST(JSON_VALUE(payload, '$.updated') AS INT64) AS updated,
       CAST(JSON_VALUE(payload, '$.duration_seconds') AS NUMERIC) AS duration_seconds
FROM {event_log}
WHERE event_type IN ('ingest.completed', 'ingest.failed', 'upsert.completed') AND connection_name IS NOT NULL
  AND created_at > @since AND created_at <= @now
"""
# A run that failed before any stream started (e.g. unreadable input) names no connection.
FAILED_JOBS = """
SELECT created_at, correlation_id, error_message
FROM {event_log}
WHERE event_type = 'job.completed' AND status = 'failed' AND created_at > @since AND created_at <= @now
"""
TOTALS = """
SELECT source_system, connection_name, object_type, COUNT(*) AS n
FROM {raw_objects} GROUP BY 1, 2, 3
"""


@dataclass
class Run:
    """One run of one stream: when it ended, whether it failed, what it read and how long it took."""

    at: dt.datetime
    failed: bool
    records: int
    duration_seconds: float
    error: str | None = None


@dataclass
class Row:
    """The status of one connection and object type."""

    connection_name: str
    object_type: str | None
    source_system: str | None = None
    job: str | None = None
    schedule: str | None = None  # the interval as written in meltano.yml
    every_seconds: float | None = None  # the longest gap between two scheduled runs
    last_success: dt.datetime | None = None
    last_failure: dt.datetime | None = None
    age_seconds: float | None = None  # now - last_success
    state: str = NEVER_RUN
    error: str | None = None  # first line of the last failure's error, when failing
    runs_ok_30d: int = 0
    runs_failed_30d: int = 0
    inserted_24h: int = 0
    updated_24h: int = 0
    inserted_7d: int = 0
    updated_7d: int = 0
    total_objects: int = 0
    runs: list[Run] = field(default_factory=list, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.connection_name, self.object_type or "")


@dataclass
class Report:
    now: dt.datetime
    late_factor: float
    rows: list[Row]
    #: Failed runs that never reached a stream, so no connection can be named: (time, error first line).
    unattributed_failures: list[tuple[dt.datetime, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.state == FRESH for r in self.rows)

    def counts(self) -> dict[str, int]:
        return {s: sum(r.state == s for r in self.rows) for s in (FRESH, LATE, FAILING, NEVER_RUN)}

    def to_json(self) -> dict:
        rows = []
        for row in self.rows:
            data = asdict(row)
            data.pop("runs")
            rows.append({k: _iso(v) for k, v in data.items()})
        return {
            "now": _iso(self.now),
            "late_factor": self.late_factor,
            "ok": self.ok,
            "counts": self.counts(),
            "rows": rows,
            "unattributed_failures": [{"at": _iso(at), "error": err} for at, err in self.unattributed_failures],
        }


def build_report(
    warehouse: Warehouse,
    expectations: list[Expectation],
    *,
    now: dt.datetime,
    late_factor: float = DEFAULT_LATE_FACTOR,
) -> Report:
    """Query the warehouse and judge every expected or observed connection/object type at ``now``."""
    now = now.astimezone(dt.UTC)
    until = {"now": now}
    window = {"now": now, "since": now - HISTORY}
    rows: dict[tuple[str, str], Row] = {}

    def row_for(connection: str, object_type: str | None) -> Row:
        key = (connection, object_type or "")
        if key not in rows:
            # An expectation without a named stream covers whatever that connection sends.
            wildcard = rows.pop((connection, ""), None)
            rows[key] = wildcard or Row(connection, object_type)
            rows[key].object_type = object_type
        return rows[key]

    for exp in expectations:
        row = row_for(exp.connection_name, exp.object_type)
        row.job, row.schedule = exp.job, exp.interval
        row.every_seconds = exp.every.total_seconds() if exp.every else None
    scheduled = {k: (r.job, r.schedule, r.every_seconds) for k, r in rows.items()}

    for r in warehouse.query(LAST_RUNS, until):
        row = _observed(row_for(r["connection_name"], r["object_type"]), scheduled, r["connection_name"])
        row.source_system = r["source_system"]
        if r["event_type"] == "ingest.completed":
            row.last_success = _utc(r["last_at"])
        else:
            row.last_failure = _utc(r["last_at"])
    for r in warehouse.query(LAST_ERRORS, until):
        failed_row = rows.get((r["connection_name"], r["object_type"] or ""))
        if failed_row is not None:
            failed_row.error = _first_line(r["error_message"])

    attributed = set()
    day, week = now - dt.timedelta(days=1), now - dt.timedelta(days=7)
    for r in warehouse.query(RECENT_EVENTS, window):
        row = _observed(row_for(r["connection_name"], r["object_type"]), scheduled, r["connection_name"])
        at = _utc(r["created_at"])
        if r["event_type"] == "upsert.completed":
            for since, suffix in ((day, "24h"), (week, "7d")):
                if at > since:
                    setattr(row, f"inserted_{suffix}", getattr(row, f"inserted_{suffix}") + (r["inserted"] or 0))
                    setattr(row, f"updated_{suffix}", getattr(row, f"updated_{suffix}") + (r["updated"] or 0))
            continue
        failed = r["event_type"] == "ingest.failed"
        if failed:
            attributed.add(r["correlation_id"])
        run = Run(at, failed, r["records"] or 0, float(r["duration_seconds"] or 0), _first_line(r["error_message"]))
        row.runs.append(run)
    for r in warehouse.query(TOTALS):
        judged = rows.get((r["connection_name"], r["object_type"]))
        if judged is not None:  # objects of a connection neither scheduled nor run here are not ours to judge
            judged.total_objects = r["n"]
            judged.source_system = judged.source_system or r["source_system"]
    unattributed = sorted(
        (_utc(r["created_at"]), _first_line(r["error_message"]) or "")
        for r in warehouse.query(FAILED_JOBS, window)
        if r["correlation_id"] not in attributed
    )

    for row in rows.values():
        row.runs.sort(key=lambda run: run.at)
        row.runs_failed_30d = sum(run.failed for run in row.runs)
        row.runs_ok_30d = len(row.runs) - row.runs_failed_30d
        _judge(row, now, late_factor)
    ordered = sorted(rows.values(), key=lambda r: r.key)
    return Report(now, late_factor, ordered, unattributed)


def _observed(row: Row, scheduled: dict, connection: str) -> Row:
    """A row seen in the events inherits the schedule of its connection's stream-less expectation."""
    if row.job is None and (connection, "") in scheduled:
        row.job, row.schedule, row.every_seconds = scheduled[(connection, "")]
    return row


def _judge(row: Row, now: dt.datetime, late_factor: float) -> None:
    if row.last_success is not None:
        row.age_seconds = (now - row.last_success).total_seconds()
    if row.last_failure is not None and (row.last_success is None or row.last_failure > row.last_success):
        row.state = FAILING
    elif row.last_success is None:
        row.state, row.error = NEVER_RUN, None
    elif row.every_seconds and row.age_seconds is not None and row.age_seconds > late_factor * row.every_seconds:
        row.state, row.error = LATE, None
    else:
        row.state, row.error = FRESH, None


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _first_line(text: str | None) -> str | None:
    if not text:
        return None
    return text.strip().splitlines()[0] if text.strip() else None


def _iso(value: t.Any) -> t.Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


# -- the terminal table ---------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    """``5400`` -> ``1h 30m``; the two largest units, never more."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{max(0.0, seconds):.1f}s"
    seconds = int(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2])


def table_rows(report: Report) -> list[dict[str, str]]:
    """The report as display strings, one dict per row (shared by the terminal and the page)."""
    out = []
    for r in report.rows:
        out.append(
            {
                "connection": r.connection_name,
                "object": r.object_type or "-",
                "state": r.state,
                "last success (UTC)": r.last_success.strftime("%Y-%m-%d %H:%M") if r.last_success else "-",
                "age": duration(r.age_seconds),
                "every": duration(r.every_seconds) if r.every_seconds else ("-" if not r.schedule else r.schedule),
                "ins/upd 24h": f"{r.inserted_24h}/{r.updated_24h}",
                "ins/upd 7d": f"{r.inserted_7d}/{r.updated_7d}",
                "objects": str(r.total_objects),
            }
        )
    return out


def render_text(report: Report) -> str:
    rows = table_rows(report)
    lines = [
        f"lorchestra status at {report.now:%Y-%m-%d %H:%M:%S} UTC"
        f" (late: last success older than {report.late_factor:g}x the schedule's interval)"
    ]
    if rows:
        headers = list(rows[0])
        widths = [max(len(h), *(len(r[h]) for r in rows)) for h in headers]
        fmt = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()  # noqa: E731
        lines += [fmt(headers), fmt(["-" * w for w in widths]), *(fmt([r[h] for h in headers]) for r in rows)]
    else:
        lines.append("no connection is scheduled in meltano.yml or recorded in event_log")
    for r in report.rows:
        if r.state == FAILING:
            where = f"{r.connection_name}/{r.object_type or '-'}"
            lines.append(f"FAILING {where} since {r.last_failure:%Y-%m-%d %H:%M}: {r.error}")
    for at, error in report.unattributed_failures[-5:]:
        lines.append(f"failed run naming no connection (it failed before any stream) at {at:%Y-%m-%d %H:%M}: {error}")
    counts = report.counts()
    lines.append(", ".join(f"{n} {state}" for state, n in counts.items()) + f" ({len(report.rows)} rows)")
    return "\n".join(lines)
