"""``lorchestra migrate`` (spec step 5): archive, drop and recreate raw_objects and event_log.

Re-ingest approach, not SQL surgery: each existing table is copied whole into ``<name>_legacy``, the copy's
row count is checked against the original, and only then is the table dropped and recreated from the
definitions in tables.py (the same ones ``ddl/`` is rendered from). A dry run (the default) prints the
plan and the before/after schemas and changes nothing.

On BigQuery the migration refuses to start while a target run is in progress (a ``job.started`` in the
last ``ACTIVE_RUN_HOURS`` without its ``job.completed``): rows streamed into a table that is being dropped
and recreated can land in the old table and be lost. Pause the schedules first (setup/bigquery-setup.md,
the migration runbook). On DuckDB a running target holds the file's writer lock, so the two cannot overlap.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from target_lorchestra.errors import LorchestraError
from target_lorchestra.tables import TABLE_SETS, TABLES

if t.TYPE_CHECKING:
    from target_lorchestra.warehouse import WarehouseAdmin


class MigrationRefusedError(LorchestraError):
    """The migration would destroy something (an existing legacy archive) without being told to."""


@dataclass
class TablePlan:
    kind: str
    name: str
    legacy: str
    before: list[tuple[str, str, str]] | None
    legacy_exists: bool
    rows: int

    def steps(self, *, replace_legacy: bool) -> list[str]:
        if self.before is None:
            return [f"create {self.name} from ddl/"]
        steps = []
        if self.legacy_exists and replace_legacy:
            steps.append(f"drop the existing archive {self.legacy}")
        steps += [
            f"archive {self.name} -> {self.legacy} ({self.rows} rows, count verified)",
            f"drop {self.name}",
            f"create {self.name} from ddl/",
        ]
        return steps


#: A run that started this recently and never logged ``job.completed`` counts as still running.
ACTIVE_RUN_HOURS = 6.0


def refuse_while_running(admin: WarehouseAdmin, table_sets: t.Iterable[str]) -> None:
    """Raise if a target run writing to one of ``table_sets`` looks in progress (warehouses that can tell)."""
    active_runs = getattr(admin, "active_runs", None)
    if active_runs is None:
        return  # DuckDB: the writer lock keeps a migration and a run apart
    for table_set in table_sets:
        event_log = TABLE_SETS[table_set]["event_log"]
        runs = active_runs(event_log, hours=ACTIVE_RUN_HOURS)
        if runs:
            raise MigrationRefusedError(
                f"{len(runs)} target run(s) started in the last {ACTIVE_RUN_HOURS:g} hours have not completed "
                f"(correlation_id {', '.join(runs[:3])}{', ...' if len(runs) > 3 else ''} in {event_log}). "
                "Nothing was changed. Pause the schedules, wait for the runs to end, then migrate."
            )


def plan(admin: WarehouseAdmin, table_sets: t.Iterable[str], *, replace_legacy: bool) -> list[TablePlan]:
    """What a migration of ``table_sets`` would do; refuses early if an archive would be overwritten or a
    run is in progress."""
    table_sets = list(table_sets)
    refuse_while_running(admin, table_sets)
    plans = []
    for table_set in table_sets:
        for kind, name in TABLE_SETS[table_set].items():
            legacy = f"{name}_legacy"
            before = admin.describe(name)
            legacy_exists = admin.describe(legacy) is not None
            rows = admin.row_count(name) if before is not None else 0
            plans.append(TablePlan(kind, name, legacy, before, legacy_exists, rows))
    blocked = [p.legacy for p in plans if p.before is not None and p.legacy_exists and not replace_legacy]
    if blocked:
        raise MigrationRefusedError(
            f"legacy archive(s) already exist: {', '.join(blocked)}. Nothing was changed. Inspect them, then "
            "rerun with --replace-legacy to overwrite them (their current contents will be lost)."
        )
    return plans


def execute(admin: WarehouseAdmin, plans: list[TablePlan], *, replace_legacy: bool) -> None:
    """Carry the plan out, table by table; stops before dropping anything whose archive is incomplete."""
    for p in plans:
        if p.before is not None:
            if p.legacy_exists and replace_legacy:
                admin.drop_table(p.legacy)
            copied = admin.copy_table(p.name, p.legacy)
            if copied != p.rows:
                raise LorchestraError(
                    f"archive of {p.name} holds {copied} rows, expected {p.rows}; {p.name} was NOT dropped"
                )
            admin.drop_table(p.name)
        admin.create_table(p.kind, p.name)


def render(
    plans: list[TablePlan],
    *,
    type_names: dict[str, str],
    replace_legacy: bool,
    after: t.Mapping[str, list[tuple[str, str, str]] | None] | None = None,
) -> str:
    """The plan and a before/after column comparison per table (``after``: as found after executing)."""
    out = []
    for p in plans:
        out.append(f"== {p.name}")
        out.extend(f"   - {step}" for step in p.steps(replace_legacy=replace_legacy))
        target = after.get(p.name) if after else _expected(p.kind, type_names)
        out.extend("   " + line for line in _compare(p.before or [], target or []))
        out.append("")
    return "\n".join(out)


def _expected(kind: str, type_names: dict[str, str]) -> list[tuple[str, str, str]]:
    return [(c.name, type_names.get(c.type, c.type), "YES" if c.nullable else "NO") for c in TABLES[kind].columns]


def _compare(before: list[tuple], after: list[tuple]) -> list[str]:
    fmt = lambda c: f"{c[1]}{'' if c[2] == 'YES' else ' NOT NULL'}" if c else "-"  # noqa: E731
    b = {c[0]: c for c in before}
    a = {c[0]: c for c in after}
    names = [c[0] for c in before] + [c[0] for c in after if c[0] not in b]
    width = max([len(n) for n in names] + [6])
    lines = [f"{'column'.ljust(width)}  {'before':<36}  after"]
    for n in names:
        mark = "  " if b.get(n) == a.get(n) else ("- " if n not in a else "+ " if n not in b else "~ ")
        lines.append(f"{n.ljust(width)}  {fmt(b.get(n)):<36}  {fmt(a.get(n))}  {mark}".rstrip())
    return lines
