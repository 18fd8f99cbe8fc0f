"""Rows of the Dataverse sandbox: changes tests make between runs, and records as the Web API renders them."""

from __future__ import annotations

import datetime as dt
import random
import threading
import typing as t
import uuid

from lorchestra_sandbox.dataverse.model import LOOKUPS
from lorchestra_sandbox.dataverse.odata import FORMATTED, iso, parse_instant
from lorchestra_sandbox.dataverse.seed import CLINIC_OFFSET, SYSTEM_USER, USD, USERS

if t.TYPE_CHECKING:
    from lorchestra_sandbox.dataverse.model import Attribute, Table


class TableRows:
    """Row changes a user would make (each bumps ``modifiedon`` and ``versionnumber``) and record rendering."""

    lock: threading.RLock
    tables: dict[str, Table]
    rng: random.Random
    clock: dt.datetime

    def stamp(self, table: Table, row: dict[str, t.Any], owner: str | None = None) -> None:
        """Fill system columns and store the row."""
        row.setdefault("_ownerid_value", owner or SYSTEM_USER)
        row.setdefault("_createdby_value", SYSTEM_USER)
        row["_modifiedby_value"] = SYSTEM_USER
        row["versionnumber"] = int(row.get("versionnumber") or 4_100_000) + 1 + self.rng.randint(0, 500)
        for attr in table.attributes:
            if attr.returned:
                row.setdefault(attr.property_name, None)
        table.rows[row[table.primary_id]] = row

    def _tick(self) -> str:
        self.clock += dt.timedelta(seconds=1)
        return iso(self.clock)

    def update(self, entity_set: str, record_id: str, **changes: t.Any) -> dict[str, t.Any]:
        """Change a row as a user would: bumps ``modifiedon`` and ``versionnumber``."""
        with self.lock:
            table = self.tables[entity_set]
            row = table.rows[record_id]
            row.update(changes)
            row["modifiedon"] = self._tick()
            self.stamp(table, row)
            return self.render(table, row, formatted=True)

    def create(self, entity_set: str, **values: t.Any) -> dict[str, t.Any]:
        """Insert a row; returns the record as the Web API renders it (with formatted values)."""
        with self.lock:
            table = self.tables[entity_set]
            now = self._tick()
            row = {table.primary_id: str(uuid.UUID(int=self.rng.getrandbits(128), version=4))}
            row |= {"statecode": 0, "statuscode": 1, "createdon": now, "modifiedon": now, **values}
            self.stamp(table, row)
            return self.render(table, row, formatted=True)

    def delete(self, entity_set: str, record_id: str) -> None:
        with self.lock:
            del self.tables[entity_set].rows[record_id]

    def records(self, entity_set: str, *, formatted: bool = True) -> list[dict[str, t.Any]]:
        """Every row of a table, rendered as the Web API returns it, in ``modifiedon`` order."""
        with self.lock:
            table = self.tables[entity_set]
            rows = sorted(table.rows.values(), key=lambda r: (r["modifiedon"], r[table.primary_id]))
            return [self.render(table, r, formatted=formatted) for r in rows]

    # -- rendering ------------------------------------------------------------------------------

    def _lookup_name(self, value: str) -> str | None:
        if value in USERS:
            return USERS[value]
        if value == USD:
            return "US Dollar"
        for table in self.tables.values():
            if value in table.rows:
                return table.rows[value].get(table.primary_name)
        return None

    def render(self, table: Table, row: dict[str, t.Any], *, formatted: bool) -> dict[str, t.Any]:
        out: dict[str, t.Any] = {"@odata.etag": f'W/"{row["versionnumber"]}"'}
        for attr in table.attributes:
            if not attr.returned:
                continue
            prop = attr.property_name
            value = row.get(prop)
            if formatted and value is not None:
                text = self._format(attr, value)
                if text is not None:
                    out[f"{prop}@{FORMATTED}"] = text
            out[prop] = value
        return out

    def _format(self, attr: Attribute, value: t.Any) -> str | None:
        if attr.type in {"Picklist", "State", "Status"}:
            return attr.options.get(value, str(value))
        if attr.type == "Boolean":
            return attr.options[int(bool(value))]
        if attr.type == "Integer":
            return f"{value:,}"
        if attr.type == "Money":
            return f"${value:,.2f}"
        if attr.type == "DateTime":
            return _format_date_time(attr, value)
        if attr.type in LOOKUPS:
            return self._lookup_name(value)
        return None


def _format_date_time(attr: Attribute, value: str) -> str:
    """DateOnly behaviour: the date; User Local: in the user's time zone; Time Zone Independent: as stored."""
    if attr.is_date:
        d = dt.date.fromisoformat(value)
        return f"{d.month}/{d.day}/{d.year}"
    v = parse_instant(value)
    if attr.behavior == "UserLocal":
        v = v.astimezone(CLINIC_OFFSET)
    if attr.date_format == "DateOnly":
        return f"{v.month}/{v.day}/{v.year}"
    return f"{v.month}/{v.day}/{v.year} {v.strftime('%I:%M %p').lstrip('0')}"
