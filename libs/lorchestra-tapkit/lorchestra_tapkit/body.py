"""A response's JSON body, parsed once and shared by validation, records and paging."""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Callable

    import requests

_ATTRIBUTE = "_lorchestra_json_body"


def json_body(response: requests.Response, *, parse_float: Callable[[str], t.Any] | None = None) -> t.Any:
    """``response.json()``, decoded on the first call and cached on the response.

    ``validate_response`` calls it first (a ValueError there means a truncated body, which is retried);
    ``parse_response`` and the paginator then reuse the decoded body instead of decoding a page again.
    """
    body = getattr(response, _ATTRIBUTE, None)
    if body is None:
        body = response.json(parse_float=parse_float) if parse_float else response.json()
        setattr(response, _ATTRIBUTE, body)
    return body
