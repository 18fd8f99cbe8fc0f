"""Google's HTTP batch endpoint (``POST /batch/gmail/v1``) for the Gmail sandbox.

What https://developers.google.com/gmail/api/guides/batch says, and how it is modelled:

* a ``multipart/mixed`` body of ``application/http`` parts, at most 100; each part's own headers (Content-ID)
  only mark the part; the outer request's headers (``Authorization``) apply to every inner call unless the
  call carries its own;
* the response is one ``multipart/mixed`` body with one ``application/http`` part per call, each a full HTTP
  response with its own status line: a batch answered 200 can hold 401, 404 or 429 parts;
* parts come back "in the same order as the requests", and a part whose request had a Content-ID carries
  ``Content-ID: <response-...>``; the calls themselves may run in any order. The sandbox answers in request
  order; the ``batch_part_order`` switch ("reverse", "shuffle") lets tests check a client pairs parts by
  Content-ID rather than trusting positions (only when every request part has one).

401 inside a 200 batch: an access token can expire while a batch is being worked through, so the calls after
that point answer 401 (Google's own client, googleapiclient's ``BatchHttpRequest``, refreshes the credentials
and re-sends those calls). ``batch_expire_tokens_after_parts: N`` expires every access token after N calls of
the next batch; ``batch_item_unauthorized: N`` answers the next N calls 401 whatever the token.
"""

from __future__ import annotations

import hashlib
import random
import re
import secrets
import typing as t

from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from lorchestra_sandbox.core import RequestLogEntry

if t.TYPE_CHECKING:
    import threading

    from werkzeug.routing import Map

    from lorchestra_sandbox.core import TokenBook

MAX_PARTS = 100
PART_ORDERS = ("request", "reverse", "shuffle")


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The parts of a multipart body (without their delimiters)."""
    delimiter = b"--" + boundary.encode()
    chunks = body.split(delimiter)
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        parts.append(chunk.removeprefix(b"\r\n").removesuffix(b"\r\n"))
    return parts


def parse_part(part: bytes) -> tuple[dict[str, str], bytes]:
    """A part's own headers (lower-cased names) and its content."""
    head, _, content = part.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, content


def render_part(boundary: str, content_id: str, response: Response) -> str:
    """One ``application/http`` part of a batch response."""
    data = response.get_data()
    return (
        f"--{boundary}\r\nContent-Type: application/http\r\n"
        + (f"Content-ID: <response-{content_id.strip('<>')}>\r\n" if content_id else "")
        + "\r\n"
        + f"HTTP/1.1 {response.status}\r\n"
        + f'ETag: "{hashlib.sha1(data).hexdigest()}"\r\n'  # noqa: S324 - an ETag, not security
        + "Content-Type: application/json; charset=UTF-8\r\n"
        + "Vary: Origin\r\nVary: X-Origin\r\n"
        + f"Content-Length: {len(data)}\r\n\r\n"
        + data.decode()
        + "\r\n"
    )


class BatchEndpoint:
    """Mixed into ``GmailApp`` (which provides the attributes below)."""

    lock: threading.RLock
    faults: t.Any  # GmailFaults
    tokens: TokenBook
    requests: list[RequestLogEntry]
    _map: Map
    _token: t.Callable[..., Response]
    error: t.Callable[..., Response]

    def batch(self, request: Request) -> Response:
        """Google's batch endpoint: a multipart/mixed body of ``application/http`` parts."""
        match = re.search(r'boundary="?([^";]+)"?', request.headers.get("Content-Type", ""))
        if request.mimetype != "multipart/mixed" or not match:
            return self.error(400, "INVALID_ARGUMENT", "Batch request must be multipart/mixed with a boundary.")
        parts = split_multipart(request.get_data(), match.group(1))
        if len(parts) > MAX_PARTS:
            return self.error(400, "INVALID_ARGUMENT", "A batch request cannot contain more than 100 calls.")
        outer_auth = request.headers.get("Authorization", "")
        with self.lock:
            expire_after = self.faults.batch_expire_tokens_after_parts
            self.faults.batch_expire_tokens_after_parts = None
            order = self.faults.batch_part_order
        boundary = "batch_" + secrets.token_hex(12)
        out = []
        for index, part in enumerate(parts):
            if expire_after is not None and index == expire_after:
                with self.lock:
                    self.tokens.expire_all()  # the token ran out while this batch was being worked through
            headers, inner = parse_part(part)
            out.append(render_part(boundary, headers.get("content-id", ""), self._batch_item(inner, outer_auth)))
        if order != "request" and all("Content-ID" in part for part in out):
            if order == "reverse":
                out.reverse()
            else:
                random.Random(len(out)).shuffle(out)  # noqa: S311 - deterministic, not crypto
        body = "".join(out) + f"--{boundary}--\r\n"
        return Response(body, 200, content_type=f"multipart/mixed; boundary={boundary}")

    def _batch_item(self, inner: bytes, outer_auth: str) -> Response:
        head, _, body = inner.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _ = lines[0].split(" ", 2)
        except ValueError:
            return self.error(400, "INVALID_ARGUMENT", "Malformed request line in batch part.")
        fields = [line.split(": ", 1) for line in lines[1:] if ": " in line]
        headers = Headers([(name, value) for name, value in fields])
        if "Authorization" not in headers and outer_auth:
            headers["Authorization"] = outer_auth
        path, _, query = target.partition("?")
        environ = EnvironBuilder(path=path, method=method, headers=headers, data=body, query_string=query).get_environ()
        sub = Request(environ)
        response = self._dispatch_item(sub)
        with self.lock:
            self.requests.append(
                RequestLogEntry(method, path, sub.args.to_dict(flat=False), response.status_code, "batch_item")
            )
        return response

    def _dispatch_item(self, sub: Request) -> Response:
        adapter = self._map.bind_to_environ(sub.environ)
        try:
            endpoint, args = adapter.match()
        except NotFound:
            return self.error(404, "NOT_FOUND", "Requested entity was not found.")
        except HTTPException as exc:
            return self.error(exc.code or 400, "INVALID_ARGUMENT", exc.description or "bad request")
        if endpoint in (self.batch, self._token) or getattr(endpoint, "__self__", None) is not self:
            return self.error(400, "INVALID_ARGUMENT", "This call cannot be batched.")
        with self.lock:
            f = self.faults
            if f.batch_item_throttle > 0:
                f.batch_item_throttle -= 1
                return self.error(
                    429, "RESOURCE_EXHAUSTED", "Too many concurrent requests for user.", "rateLimitExceeded"
                )
            unauthorized = f.batch_item_unauthorized > 0
            if unauthorized:
                f.batch_item_unauthorized -= 1
        if unauthorized or not self.tokens.check(sub.headers.get("Authorization", "").removeprefix("Bearer ")):
            return self.error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        return endpoint(sub, **args)
