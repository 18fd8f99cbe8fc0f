"""``lorchestra validate``: the five checks of the product spec (step 7), on either warehouse.

The SQL is the subset DuckDB and BigQuery share (CONCAT, JSON_VALUE, GROUP BY ordinals).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    from target_lorchestra.warehouse import Warehouse

COUNTS_BY_SOURCE = """
SELECT source_system, connection_name, object_type, COUNT(*) AS n
FROM {raw_objects} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
EVENT_COUNTS = """
SELECT event_type, source_system, connection_name, target_object_type, COUNT(*) AS n
FROM {event_log} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
"""
UPSERT_COMPLETED = """
SELECT source_system, connection_name, target_object_type,
       COUNT(*) AS runs,
       SUM(CAST(JSON_VALUE(payload, '$.total_records') AS INT64)) AS total_records,
       SUM(CAST(JSON_VALUE(payload, '$.inserted') AS INT64)) AS inserted,
       SUM(CAST(JSON_VALUE(payload, '$.updated') AS INT64)) AS updated
FROM {event_log} WHERE event_type = 'upsert.completed'
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
# The idem_key is never parsed: we rebuild it from the row's own columns and compare.
IDEM_KEY_MISMATCHES = """
SELECT COUNT(*) AS mismatches FROM {raw_objects}
WHERE idem_key IS DISTINCT FROM CONCAT(source_system, ':', connection_name, ':', object_type, ':', external_id)
"""
IDEM_KEY_SAMPLE = "SELECT idem_key FROM {raw_objects} ORDER BY idem_key LIMIT 5"
EXAMPLE_QUERIES = {
    "all Gmail emails": (
        "SELECT COUNT(*) AS n FROM {raw_objects} WHERE source_system = 'gmail' AND object_type = 'email'"
    ),
    "one connection (gmail-acct1)": "SELECT COUNT(*) AS n FROM {raw_objects} WHERE connection_name = 'gmail-acct1'",
    "all emails across providers": (
        "SELECT COUNT(*) AS n FROM {raw_objects} WHERE object_type = 'email' AND source_system IN ('gmail', 'exchange')"
    ),
}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    rows: list[dict] = field(default_factory=list)


def run_checks(warehouse: Warehouse) -> list[Check]:
    """The five checks; each says whether it passed and what it saw."""
    checks = []
    counts = warehouse.query(COUNTS_BY_SOURCE)
    total = sum(r["n"] for r in counts)
    checks.append(
        Check(
            "raw_objects by source_system / connection_name / object_type",
            total > 0,
            f"{total} rows in {len(counts)} groups",
            counts,
        )
    )
    events = warehouse.query(EVENT_COUNTS)
    checks.append(
        Check(
            "event_log by event_type / source_system / connection_name / target_object_type",
            bool(events),
            f"{sum(r['n'] for r in events)} events in {len(events)} groups",
            events,
        )
    )
    upserts = warehouse.query(UPSERT_COMPLETED)
    counted = all(r["total_records"] is not None and r["inserted"] is not None for r in upserts)
    checks.append(
        Check(
            "upsert.completed events with counts",
            bool(upserts) and counted,
            f"{sum(r['runs'] for r in upserts)} upsert.completed events",
            upserts,
        )
    )
    mismatches = warehouse.query(IDEM_KEY_MISMATCHES)[0]["mismatches"]
    sample = warehouse.query(IDEM_KEY_SAMPLE)
    checks.append(
        Check(
            "idem_key = source_system:connection_name:object_type:external_id",
            mismatches == 0,
            f"{mismatches} rows whose idem_key differs from their own columns",
            sample,
        )
    )
    examples = [{"query": name, "n": warehouse.query(sql)[0]["n"]} for name, sql in EXAMPLE_QUERIES.items()]
    checks.append(Check("example queries", total > 0, "plain column filters", examples))
    return checks


def render(checks: list[Check]) -> str:
    """A readable report: one block per check, its rows as an aligned table."""
    out = []
    for i, check in enumerate(checks, 1):
        out.append(f"{'PASS' if check.ok else 'FAIL'}  {i}. {check.name}: {check.detail}")
        out.extend("      " + line for line in _table(check.rows))
        out.append("")
    passed = sum(c.ok for c in checks)
    out.append(f"{passed}/{len(checks)} checks passed")
    return "\n".join(out)


def _table(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    headers = list(rows[0])
    cells = [[("NULL" if r[h] is None else str(r[h])) for h in headers] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()  # noqa: E731
    return [line(headers), line(["-" * w for w in widths]), *(line(c) for c in cells)]
