"""The Dataverse sandbox's HTTP surface: table metadata, OData queries, service protection and fault switches."""

from __future__ import annotations

import datetime as dt
import random
import re
import time
import typing as t
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from lorchestra_sandbox.core import Faults, ProviderApp
from lorchestra_sandbox.dataverse.odata import (
    API,
    FORMATTED,
    order_rows,
    parse_filter,
    parse_instant,
    parse_orderby,
    parse_prefer,
    pick,
    pick_record,
    read_cookie,
    record_select,
    select_list,
    sort_key,
    write_cookie,
)
from lorchestra_sandbox.dataverse.rows import TableRows
from lorchestra_sandbox.dataverse.seed import CLIENT_ID, CLIENT_SECRET, TENANT_ID, seed_rows, tables
from lorchestra_sandbox.entra_oauth import TOKEN_PATH, EntraTokenEndpoint

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from lorchestra_sandbox.dataverse.model import Table


@dataclass
class DataverseFaults(Faults):
    """Core's switches plus Dataverse's own (``POST /_sandbox/faults``).

    Attributes:
        arbitrary_ties: rows that tie on every ``$orderby`` column come in a new arbitrary order on each
            request, and pages are cut by position, so an order that is not unique overlaps or skips
            rows across pages, as Dataverse's paging guidance warns. An order that ends on the primary
            id is unique and pages exactly. ``tie_seed`` makes the arbitrary order reproducible.
    """

    arbitrary_ties: bool = False
    tie_seed: int = 0


class DataverseApp(TableRows, ProviderApp):
    """The clinic's Dataverse environment (one connection: ``dataverse-clinic``)."""

    name = "dataverse"
    token_paths = (TOKEN_PATH,)

    #: Service protection: requests allowed per 5-minute window, per user.
    burst_limit = 6000

    def __init__(self, seed: int = 6) -> None:
        self.tenant_id = TENANT_ID
        self.tables: dict[str, Table] = {}
        self.ratelimit_remaining = self.burst_limit
        self.time_remaining = 1200.0
        self.expire_tokens_after: int | None = None
        super().__init__()
        self.faults: DataverseFaults = DataverseFaults()
        # The token's resource is the environment: the host the request came to.
        self.entra = EntraTokenEndpoint(self.tokens, resources=lambda request: {request.host_url.rstrip("/")})
        self.entra.register(TENANT_ID, CLIENT_ID, CLIENT_SECRET)
        self.rng = random.Random(seed)  # noqa: S311 - deterministic fake data
        self._requests_served = 0
        for table in tables():
            self.tables[table.entity_set] = table
        seed_rows(self)
        # The clock of "now" for changes made by tests: an hour after the last seeded modification.
        latest = max(r["modifiedon"] for tb in self.tables.values() for r in tb.rows.values())
        self.clock = parse_instant(latest) + dt.timedelta(hours=1)

    # -- routes ---------------------------------------------------------------------------------

    def routes(self) -> Iterable[Rule]:
        return [
            Rule(f"{API}/EntityDefinitions", endpoint=self.entity_definitions, methods=["GET"]),
            Rule(f"{API}/EntityDefinitions(LogicalName='<name>')", endpoint=self.entity_definition, methods=["GET"]),
            Rule(
                f"{API}/EntityDefinitions(LogicalName='<name>')/Attributes", endpoint=self.attributes, methods=["GET"]
            ),
            Rule(
                f"{API}/EntityDefinitions(LogicalName='<name>')/Attributes/Microsoft.Dynamics.CRM.<cast>",
                endpoint=self.attributes,
                methods=["GET"],
            ),
            Rule(f"{API}/<entity_set>", endpoint=self.query, methods=["GET"]),
        ]

    def control_routes(self) -> Iterable[Rule]:
        """Edit the data from another process: ``POST /_sandbox/records/{entity_set}`` (create),
        ``PATCH`` / ``DELETE /_sandbox/records/{entity_set}/{id}``; answers with the rendered row."""
        return [
            Rule("/_sandbox/records/<entity_set>", endpoint=self._edit_records, methods=["POST"]),
            Rule(
                "/_sandbox/records/<entity_set>/<record_id>", endpoint=self._edit_records, methods=["PATCH", "DELETE"]
            ),
        ]

    def _edit_records(self, request: Request, entity_set: str, record_id: str | None = None) -> Response:
        if entity_set not in self.tables or (record_id and record_id not in self.tables[entity_set].rows):
            return self.json({"error": "no such table or row"}, 404)
        if request.method == "DELETE":
            self.delete(entity_set, t.cast("str", record_id))
            return self.json({"ok": True})
        values = request.get_json(force=True) or {}
        if record_id is None:
            return self.json(self.create(entity_set, **values), 201)
        return self.json(self.update(entity_set, record_id, **values))

    def _base(self, request: Request) -> str:
        return request.host_url.rstrip("/") + API

    def entity_definitions(self, request: Request) -> Response:
        wanted = request.args.get("$filter", "")
        m = re.fullmatch(r"\s*(EntitySetName|LogicalName)\s+eq\s+'([^']*)'\s*", wanted) if wanted else None
        if wanted and m is None:
            return self.error(400, "0x80060888", f"The query parameter $filter '{wanted}' is not supported.")
        defs = [tb.definition() for tb in self.tables.values()]
        if m:
            defs = [d for d in defs if d[m.group(1)] == m.group(2)]
        select = select_list(request)
        defs = [pick(d, select) for d in defs]
        ctx = f"{self._base(request)}/$metadata#EntityDefinitions" + (f"({','.join(select)})" if select else "")
        return self.dv_json({"@odata.context": ctx, "value": defs})

    def _table_by_logical(self, name: str) -> Table | None:
        return next((tb for tb in self.tables.values() if tb.logical_name == name), None)

    def entity_definition(self, request: Request, name: str) -> Response:
        table = self._table_by_logical(name)
        if table is None:
            return self.error(404, "0x80040217", f"Could not find entity with name '{name}'.")
        select = select_list(request)
        ctx = f"{self._base(request)}/$metadata#EntityDefinitions({','.join(select)})/$entity"
        return self.dv_json({"@odata.context": ctx, **pick(table.definition(), select)})

    def attributes(self, request: Request, name: str, cast: str | None = None) -> Response:
        """``.../Attributes``, or ``.../Attributes/Microsoft.Dynamics.CRM.{Type}AttributeMetadata``."""
        table = self._table_by_logical(name)
        if table is None:
            return self.error(404, "0x80040217", f"Could not find entity with name '{name}'.")
        select = select_list(request)
        value = [a.metadata(table.logical_name, i) for i, a in enumerate(table.attributes)]
        if cast is not None:
            value = [v for v in value if v["@odata.type"] == f"#Microsoft.Dynamics.CRM.{cast}"]
        value = [pick(v, select) for v in value]
        ctx = f"{self._base(request)}/$metadata#EntityDefinitions('{name}')/Attributes" + (
            f"/Microsoft.Dynamics.CRM.{cast}" if cast else ""
        )
        return self.dv_json({"@odata.context": ctx, "value": value})

    def query(self, request: Request, entity_set: str) -> Response:
        """Rows of a table: ``$select``, ``$filter``, ``$orderby``, ``$top``, ``Prefer`` and paging cookies."""
        table = self.tables.get(entity_set)
        if table is None:
            return self.error(404, "0x80060888", f"Resource not found for the segment '{entity_set}'.")
        if table.forbidden:
            return self.error(
                403,
                "0x80040220",
                f"Principal user (Id={CLIENT_ID}, type=8, roleCount=1, privilegeCount=0, accessMode=4), "
                f"is missing prvRead{table.logical_name} privilege on OTC=10421 for entity "
                f"'{table.logical_name}'. context.Caller={CLIENT_ID}",
            )
        try:
            select = record_select(table, request)
            predicates = parse_filter(table, request.args.get("$filter", ""))
            order = parse_orderby(table, request.args.get("$orderby", ""))
        except ValueError as exc:
            return self.error(400, "0x80060888", str(exc))
        prefer = parse_prefer(request.headers.get("Prefer", ""))
        page_size = min(int(prefer.get("odata.maxpagesize", 5000)), 5000)
        annotations = prefer.get("odata.include-annotations", "").strip('"')
        formatted = annotations in {"*", FORMATTED, "OData.Community.Display.V1.*"}

        with self.lock:
            rows = [r for r in table.rows.values() if all(p(r) for p in predicates)]
            body = self._page(request, table, rows, order, page_size)
            if isinstance(body, Response):
                return body
            body["value"] = [pick_record(self.render(table, r, formatted=formatted), select, table.primary_id)
                             for r in body["value"]]  # fmt: skip
        applied = [f"odata.maxpagesize={page_size}"] if "odata.maxpagesize" in prefer else []
        if annotations:
            applied.insert(0, f'odata.include-annotations="{annotations}"')
        headers = {"Preference-Applied": ",".join(applied)} if applied else {}
        return self.dv_json(body, headers=headers)

    def _page(
        self, request: Request, table: Table, rows: list[dict[str, t.Any]], order: list[tuple[str, bool]], size: int
    ) -> dict[str, t.Any] | Response:
        """One page of ``rows`` (``value`` holds raw rows) and the ``@odata.nextLink`` to the next one."""
        entity_set = table.entity_set
        unique = any(column == table.primary_id for column, _ in order)
        arbitrary = self.faults.arbitrary_ties and not unique
        # Without arbitrary ties the sandbox orders on the primary id last, as a unique keyset.
        keys = order if arbitrary else [*order, (table.primary_id, False)]
        ties = None
        if arbitrary:
            self._requests_served += 1
            ties = random.Random(f"{self.faults.tie_seed}:{self._requests_served}")  # noqa: S311 - not crypto
        rows = order_rows(rows, keys, ties)
        page_number = 1
        skiptoken = request.args.get("$skiptoken")
        if skiptoken:
            try:
                page_number, last = read_cookie(skiptoken)
            except ValueError:
                return self.error(400, "0x80040203", "Invalid $skiptoken: the paging cookie is malformed.")
            if arbitrary:  # the cookie cannot single out a row among its ties: the page is cut by position
                rows = rows[(page_number - 1) * size :]
            else:
                cursor = tuple(sort_key(last.get(c), desc) for c, desc in keys)
                rows = [r for r in rows if tuple(sort_key(r.get(c), desc) for c, desc in keys) > cursor]
        if "$top" in request.args:  # $top caps the whole result: no paging
            rows, size = rows[: int(request.args["$top"])], 5000
        page, more = rows[:size], len(rows) > size
        body: dict[str, t.Any] = {"@odata.context": f"{self._base(request)}/$metadata#{entity_set}", "value": page}
        if more:
            cookie = write_cookie(page_number, page, keys)
            params = [(k, v) for k, v in request.args.items(multi=True) if k != "$skiptoken"]
            query = urlencode(params, quote_via=quote, safe="$'(),:")
            body["@odata.nextLink"] = (
                f"{self._base(request)}/{entity_set}?{query}&$skiptoken={quote(cookie, safe='=/')}"
            )
        return body

    # -- wire details ---------------------------------------------------------------------------

    def dv_json(self, body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        response = self.json(body, status, {"OData-Version": "4.0", **(headers or {})})
        response.mimetype = "application/json"
        return response

    def error(self, status: int, code: str, message: str) -> Response:
        """Dataverse error bodies; a 401 is an empty body with a ``WWW-Authenticate`` challenge."""
        if status == 401:
            return Response(
                b"",
                status=401,
                headers={
                    "WWW-Authenticate": f"Bearer authorization_uri=https://login.microsoftonline.com/"
                    f"{self.tenant_id}/oauth2/authorize, resource_id=https://clinic.crm.dynamics.com/"
                },
            )
        if not code.startswith("0x"):
            code = {404: "0x80060888", 403: "0x80040220", 400: "0x80040203"}.get(status, "0x80040216")
        return self.dv_json({"error": {"code": code, "message": message}}, status)

    def _throttled(self, retry_after: int) -> Response:
        response = self.dv_json(
            {
                "error": {
                    "code": "0x80072322",
                    "message": f"Number of requests exceeded the limit of {self.burst_limit} over time "
                    "window of 300 seconds.",
                }
            },
            429,
        )
        response.headers["Retry-After"] = str(retry_after)
        return response

    def _unavailable(self, retry_after: int) -> Response:
        response = self.dv_json({"error": {"code": "0x80040216", "message": "An unexpected error occurred."}}, 503)
        response.headers["Retry-After"] = str(retry_after)
        return response

    def _call_api(self, endpoint: t.Any, request: Request, args: dict) -> Response:
        with self.lock:
            if self.expire_tokens_after is not None:
                if self.expire_tokens_after <= 0:
                    self.tokens.expire_all()
                    self.expire_tokens_after = None
                else:
                    self.expire_tokens_after -= 1
        started = time.perf_counter()
        response = super()._call_api(endpoint, request, args)
        if response.status_code != 401:
            with self.lock:
                self.ratelimit_remaining = max(0, self.ratelimit_remaining - 1)
                self.time_remaining = max(0.0, self.time_remaining - (time.perf_counter() - started))
                response.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] = str(self.ratelimit_remaining)
                response.headers["x-ms-ratelimit-time-remaining-xrm-requests"] = f"{self.time_remaining:.2f}"
        return response

    def _set_faults(self, request: Request) -> Response:
        """Core switches plus Dataverse ones.

        ``ratelimit_remaining`` (int): what ``x-ms-ratelimit-burst-remaining-xrm-requests`` counts down from;
        ``forbid`` (entity set names): reading them answers 403 (missing privilege);
        ``expire_tokens_after`` (int): answer N more API requests, then invalidate every access token once.
        """
        body = request.get_json(force=True) or {}  # cached: the core reads what is left of it
        with self.lock:
            if "expire_tokens_after" in body:
                self.expire_tokens_after = body.pop("expire_tokens_after")
            if "ratelimit_remaining" in body:
                self.ratelimit_remaining = int(body.pop("ratelimit_remaining"))
            for name in body.pop("forbid", []):
                if name not in self.tables:
                    return self.json({"error": f"unknown entity set {name!r}"}, 400)
                self.tables[name].forbidden = True
        return super()._set_faults(request)

    def _reset(self, request: Request) -> Response:
        with self.lock:
            self.ratelimit_remaining = self.burst_limit
            self.time_remaining = 1200.0
            self.expire_tokens_after = None
            for table in self.tables.values():
                table.forbidden = False
        return super()._reset(request)

    def _token(self, request: Request, tenant: str) -> Response:
        return self.entra.respond(request, tenant)
