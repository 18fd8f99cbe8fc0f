"""OData as the Dataverse Web API speaks it: ``$select``, ``$filter``, ``$orderby``, ``Prefer`` and paging cookies."""

from __future__ import annotations

import datetime as dt
import random
import re
import typing as t
from urllib.parse import quote, unquote

if t.TYPE_CHECKING:
    from werkzeug.wrappers import Request

    from lorchestra_sandbox.dataverse.model import Attribute, Table

API = "/api/data/v9.2"
FORMATTED = "OData.Community.Display.V1.FormattedValue"
UTC = dt.UTC


def iso(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def select_list(request: Request) -> list[str]:
    raw = request.args.get("$select", "")
    return [s.strip() for s in raw.split(",") if s.strip()]


def pick(body: dict[str, t.Any], select: list[str]) -> dict[str, t.Any]:
    if not select:
        return body
    return {k: v for k, v in body.items() if k in select or k.startswith("@odata.")}


def parse_prefer(header: str) -> dict[str, str]:
    out = {}
    for part in re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", header):
        key, _, value = part.strip().partition("=")
        if key:
            out[key.strip()] = value.strip()
    return out


_OPS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "ge": lambda a, b: a is not None and a >= b,
    "gt": lambda a, b: a is not None and a > b,
    "le": lambda a, b: a is not None and a <= b,
    "lt": lambda a, b: a is not None and a < b,
}


def parse_filter(table: Table, text: str) -> list[t.Callable[[dict[str, t.Any]], bool]]:
    """``col op literal [and ...]`` with datetime, number, string and null literals."""
    predicates = []
    for clause in (c for c in re.split(r"\s+and\s+", text.strip()) if c):
        m = re.fullmatch(r"\(?\s*(\w+)\s+(eq|ne|ge|gt|le|lt)\s+(.+?)\s*\)?", clause)
        if m is None:
            msg = f"Syntax error at position 0 in '{text}'."
            raise ValueError(msg)
        prop, op, literal = m.groups()
        attr = table.attribute(prop)
        if attr is None:
            msg = f"Could not find a property named '{prop}' on type 'Microsoft.Dynamics.CRM.{table.logical_name}'."
            raise ValueError(msg)
        value = _literal(attr, literal)
        predicates.append(lambda r, p=prop, f=_OPS[op], v=value: f(_comparable(r.get(p)), v))
    return predicates


def _literal(attr: Attribute, literal: str) -> t.Any:
    if literal == "null":
        return None
    if literal.startswith("'") and literal.endswith("'"):
        return literal[1:-1].replace("''", "'")
    if attr.type == "DateTime":
        try:
            return parse_instant(literal)
        except ValueError:
            msg = f"The DateTimeOffset text '{literal}' should be in format 'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?'."
            raise ValueError(msg) from None
    if literal in {"true", "false"}:
        return literal == "true"
    return float(literal) if "." in literal else int(literal)


def _comparable(value: t.Any) -> t.Any:
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value):
        return parse_instant(value)
    return value


def parse_orderby(table: Table, text: str) -> list[tuple[str, bool]]:
    order = []
    for item in (i.strip() for i in text.split(",") if i.strip()):
        prop, _, direction = item.partition(" ")
        if table.attribute(prop) is None:
            msg = f"Could not find a property named '{prop}' on type 'Microsoft.Dynamics.CRM.{table.logical_name}'."
            raise ValueError(msg)
        order.append((prop, direction.strip().lower() == "desc"))
    return order


class _Desc:
    def __init__(self, value: t.Any) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return other.value < self.value

    def __gt__(self, other: _Desc) -> bool:
        return other.value > self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and other.value == self.value

    __hash__ = None  # type: ignore[assignment]


def sort_key(value: t.Any, desc: bool) -> t.Any:
    key = (value is not None, "" if value is None else str(value).lower())
    return _Desc(key) if desc else key


def write_cookie(page_number: int, page: list[dict[str, t.Any]], keys: list[tuple[str, bool]]) -> str:
    """``<cookie pagenumber=.. pagingcookie=.. istracking=..>`` as Dataverse puts in ``$skiptoken``."""
    parts = []
    for column, _ in keys:
        last, first = page[-1].get(column), page[0].get(column)
        if column.endswith("id") and last:
            last, first = "{" + str(last).upper() + "}", "{" + str(first).upper() + "}"
        parts.append(f'<{column} last="{last}" first="{first}" />')
    inner = f'<cookie page="{page_number}">{"".join(parts)}</cookie>'
    return f'<cookie pagenumber="{page_number + 1}" pagingcookie="{quote(inner, safe="")}" istracking="False" />'


def read_cookie(skiptoken: str) -> tuple[int, dict[str, t.Any]]:
    """(the number of the page asked for, the last row of the page before it)."""
    m = re.fullmatch(r'<cookie pagenumber="(\d+)" pagingcookie="([^"]*)" istracking="(?:True|False)" />', skiptoken)
    if m is None:
        raise ValueError(skiptoken)
    inner = unquote(m.group(2))
    last = {}
    for column, raw in re.findall(r'<(\w+) last="([^"]*)" first="[^"]*" />', inner):
        value = raw[1:-1].lower() if raw.startswith("{") and raw.endswith("}") else raw
        last[column] = None if value == "None" else value
    if not last:
        raise ValueError(skiptoken)
    return int(m.group(1)), last


def record_select(table: Table, request: Request) -> list[str] | None:
    """A query's ``$select`` (None: every column); a column the table does not return raises ``ValueError``."""
    names = select_list(request)
    if not names:
        return None
    for name in names:
        if table.attribute(name) is None:
            msg = f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{table.logical_name}'."
            raise ValueError(msg)
    return names


def pick_record(record: dict[str, t.Any], select: list[str] | None, primary_id: str) -> dict[str, t.Any]:
    """The selected columns with their annotations; ``@odata.etag`` and the primary id always come back."""
    if select is None:
        return record
    keep = {*select, primary_id}
    return {k: v for k, v in record.items() if k.startswith("@") or k.split("@", 1)[0] in keep}


def order_rows(
    rows: list[dict[str, t.Any]], keys: list[tuple[str, bool]], ties: random.Random | None = None
) -> list[dict[str, t.Any]]:
    """Rows in ``keys`` order; with ``ties``, rows equal on every key come in an arbitrary order.

    Dataverse's paging guidance: an order that is not unique is not deterministic, so each request may
    order tied rows differently and pages can overlap or skip rows.
    """
    rows = list(rows)
    if ties is not None:
        ties.shuffle(rows)
    rows.sort(key=lambda r: tuple(sort_key(r.get(c), desc) for c, desc in keys))  # stable: shuffled ties stay
    return rows
