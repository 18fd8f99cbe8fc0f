"""Google's HTTP batch format: many API calls in one ``multipart/mixed`` round trip.

https://developers.google.com/gmail/api/guides/batch: each part is an ``application/http`` request with
a ``Content-ID``; the response holds one ``application/http`` part per request, with ``Content-ID:
<response-...>``. The guide says parts come back in request order but the calls run in any order: the tap
pairs parts by Content-ID and does not rely on positions. Each part has its own status (a 200 batch can
hold 401, 404 or 429 parts), handled per message in ``EmailStream._fetch``.
"""

from __future__ import annotations

import json
import re
import secrets
import typing as t
from dataclasses import dataclass
from urllib.parse import urlencode

from singer_sdk.exceptions import RetriableAPIError

if t.TYPE_CHECKING:
    import requests


@dataclass(frozen=True)
class BatchItem:
    """One part of a batch response."""

    status: int
    body: bytes

    def json(self) -> dict[str, t.Any]:
        return t.cast("dict[str, t.Any]", json.loads(self.body))


def build_batch(requests_: list[tuple[str, dict[str, t.Any]]]) -> tuple[bytes, str]:
    """The body and Content-Type of a batch of GET requests given as ``(path, params)``."""
    boundary = "batch_" + secrets.token_hex(12)
    parts = []
    for index, (path, params) in enumerate(requests_):
        query = urlencode(params, doseq=True)
        parts.append(
            f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item{index}>\r\n\r\n"
            f"GET {path}{'?' + query if query else ''} HTTP/1.1\r\n\r\n"
        )
    body = "".join(parts) + f"--{boundary}--\r\n"
    return body.encode(), f"multipart/mixed; boundary={boundary}"


def parse_batch_response(response: requests.Response) -> list[BatchItem]:
    """The parts of a batch response, in request order.

    Raises:
        RetriableAPIError: when the body is not a complete batch response.
    """
    match = re.search(r'boundary="?([^";]+)"?', response.headers.get("Content-Type", ""))
    if not match:
        msg = "Batch response without a multipart boundary"
        raise RetriableAPIError(msg, response)
    delimiter = b"--" + match.group(1).encode()
    items: dict[int, BatchItem] = {}
    for position, chunk in enumerate(response.content.split(delimiter)[1:]):
        if chunk.startswith(b"--"):
            break
        head, _, http = chunk.strip(b"\r\n").partition(b"\r\n\r\n")
        content_id = re.search(rb"Content-ID:\s*<?response-item(\d+)>?", head, re.IGNORECASE)
        status_line, _, rest = http.partition(b"\r\n")
        status = re.match(rb"HTTP/\d(?:\.\d)? (\d{3})", status_line)
        if not status:
            msg = "Malformed part in batch response"
            raise RetriableAPIError(msg, response)
        _, _, body = rest.partition(b"\r\n\r\n")
        # Parts may come in any order: the Content-ID pairs them with requests (position if absent).
        index = int(content_id.group(1)) if content_id else position
        items[index] = BatchItem(int(status.group(1)), body.strip(b"\r\n"))
    if sorted(items) != list(range(len(items))):
        msg = "Batch response parts do not match the request"
        raise RetriableAPIError(msg, response)
    return [items[i] for i in range(len(items))]
