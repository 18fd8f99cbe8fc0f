"""Google's batch wire format, as the tap writes and reads it."""

from __future__ import annotations

import pytest
import requests
from singer_sdk.exceptions import RetriableAPIError
from tap_gmail.batch import build_batch, parse_batch_response


def response(body: str, boundary: str = "batch_7Xp52oGIwpA_AAEAc7ERnGU") -> requests.Response:
    resp = requests.Response()
    resp.status_code = 200
    resp.headers["Content-Type"] = f"multipart/mixed; boundary={boundary}"
    resp._content = body.encode()
    return resp


PART = (
    "--batch_7Xp52oGIwpA_AAEAc7ERnGU\r\nContent-Type: application/http\r\nContent-ID: <response-item{i}>\r\n\r\n"
    'HTTP/1.1 {status}\r\nETag: "A-DdBGA6g"\r\nContent-Type: application/json; charset=UTF-8\r\n'
    "Cache-Control: private, max-age=0\r\n\r\n{body}\r\n"
)


def test_build_batch_writes_one_http_request_per_part():
    body, content_type = build_batch([("/gmail/v1/users/me/messages/a1", {"format": "full"}), ("/x", {})])
    boundary = content_type.split("boundary=")[1]
    text = body.decode()
    assert content_type.startswith("multipart/mixed; boundary=batch_")
    assert text.count(f"--{boundary}\r\nContent-Type: application/http\r\n") == 2
    assert "Content-ID: <item0>\r\n\r\nGET /gmail/v1/users/me/messages/a1?format=full HTTP/1.1\r\n" in text
    assert text.endswith(f"--{boundary}--\r\n")


def test_parts_are_paired_by_content_id_not_position():
    body = (
        PART.format(i=1, status="404 Not Found", body='{"error": {"code": 404}}')
        + PART.format(i=0, status="200 OK", body='{"id": "152d10540c21bd07"}')
        + "--batch_7Xp52oGIwpA_AAEAc7ERnGU--\r\n"
    )
    first, second = parse_batch_response(response(body))
    assert (first.status, first.json()) == (200, {"id": "152d10540c21bd07"})
    assert second.status == 404


def test_a_cut_off_batch_response_is_retriable():
    body = PART.format(i=0, status="200 OK", body='{"id": "1"}') + PART.format(i=2, status="200 OK", body="{}")
    with pytest.raises(RetriableAPIError):
        parse_batch_response(response(body))
