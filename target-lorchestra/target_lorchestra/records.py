"""The fast path for RECORD messages: the payload's bytes pass through, never re-encoded.

A RECORD line is decoded by msgspec into an ``Envelope`` whose ``record`` is ``msgspec.Raw``: the exact
bytes of the record object. Those bytes are what gets stored. They are also parsed once, fully, by
orjson, the general path's own parser (so both paths accept exactly the same text: UTF-8, escapes and
surrogates, numbers), which yields the key values for the ``external_id``; the record is never
re-encoded.

Anything unusual (a line msgspec rejects, a record that is not an object, a missing key, SDK metadata
keys in the record) is left to the general path, which parses the line with orjson and raises the same
line-numbered errors as always.

**JSON limits, the same on every warehouse.** BigQuery's JSON type nests at most 500 levels ("Working
with JSON data", Limitations), and ``PARSE_JSON`` fails on a number it cannot store even rounded to a
FLOAT64 (the JSON functions reference, ``wide_number_mode``). Such a record would fail its MERGE on every
later run and block its stream for good, so ``json_limit_violation`` finds it first, on both paths and
for DuckDB too: the target sets it aside as a dead letter (an ``upsert.failed`` event with its idem_key,
line and the reason, never the payload) and goes on. Numbers that only lose digits (beyond INT64/UINT64,
more than 17 significant digits) are not refused: BigQuery rounds them to the nearest FLOAT64
(``wide_number_mode => 'round'``), DuckDB keeps the text as sent.
"""

from __future__ import annotations

import json
import math
import re
import sys
import typing as t

import msgspec
import orjson

from target_lorchestra import provenance

#: The metadata keys the SDK adds to (and the general path removes from) every record it handles.
SDC_KEYS = frozenset(
    {
        "_sdc_extracted_at",
        "_sdc_received_at",
        "_sdc_batched_at",
        "_sdc_deleted_at",
        "_sdc_sequence",
        "_sdc_table_version",
        "_sdc_sync_started_at",
    }
)


class Envelope(msgspec.Struct):
    """The fields of a Singer message the fast path reads; other fields are skipped."""

    type: t.Any = None
    stream: t.Any = None
    record: msgspec.Raw = msgspec.Raw()  # empty when the message has no record
    time_extracted: t.Any = None


_ENVELOPE = msgspec.json.Decoder(Envelope)

_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)


def fast_record(line: bytes) -> Envelope | None:
    """The envelope of a RECORD line the fast path may take (``record`` holds its bytes), else ``None``."""
    if not line.isascii():
        try:
            line.decode()  # the whole line, like the general path (msgspec checks only what it decodes)
        except UnicodeDecodeError:
            return None
    try:
        message = _ENVELOPE.decode(line)
    except _DECODE_ERRORS:
        return None
    if message.type != "RECORD" or not isinstance(message.stream, str) or not message.record:
        return None
    return message


class OverLimit(Exception):  # noqa: N818 - a record the target sets aside, not a failure of the run
    """A record no warehouse may take (``json_limit_violation``); ``record`` is its lenient decoding."""

    def __init__(self, reason: str, record: t.Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.record = record


def external_id(raw: msgspec.Raw, key_properties: list[str]) -> str | None:
    """The external_id of a record given as bytes, or ``None`` to leave the record to the general path.

    ``None`` when the bytes are not a valid JSON object, when a key property is absent (the general
    path reports that as the SDK does) or when the record carries SDK metadata keys.

    The bytes are parsed by orjson, the general path's own parser, so both paths accept exactly the same
    records (numbers, escapes, surrogates); then the JSON limits are checked.

    Raises:
        MissingKeyError: a key is null, empty or not a string/integer (as ``provenance.external_id``).
        OverLimit: the record breaks a JSON limit (``json_limit_violation``); the caller sets it aside.
    """
    payload = bytes(raw)
    try:
        record = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        if not str(exc).startswith(("number is infinity", "depth limit exceeded")):
            return None  # malformed: the general path reports it with the line
        record = None
    violation = None
    if record is None or _maybe_deep(payload):
        violation = json_limit_violation(payload, numbers=record is None)
    if violation is not None:
        raise OverLimit(violation, record if record is not None else readable_record(payload))
    if record is None:
        return None
    if not isinstance(record, dict) or not SDC_KEYS.isdisjoint(record) or any(k not in record for k in key_properties):
        return None
    return provenance.external_id(record, key_properties)


#: BigQuery's JSON type: "a nesting limit of 500" (enforced for every warehouse alike).
MAX_JSON_DEPTH = 500
#: Deepest record whose key the target still reads to set it aside (deeper: the run fails on that line).
MAX_READABLE_DEPTH = 4000
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # unrolled: one fast run per string
_NOT_BRACKET = bytes(c for c in range(256) if c not in b"[]{}")
#: A number that may exceed FLOAT64 (about 1.8e308): an exponent of 3+ digits, or 309+ digits in a row.
_MAYBE_TOO_WIDE = re.compile(rb"[eE][+-]?\d{3}|\d{309}")
_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def _maybe_deep(payload: bytes) -> bool:
    return payload.count(b"[") + payload.count(b"{") > MAX_JSON_DEPTH


def json_limit_violation(payload: bytes, *, numbers: bool = True) -> str | None:
    """Why no warehouse may take this JSON text (too deep, a number beyond FLOAT64), or ``None``.

    Cheap for ordinary records: two byte counts (and, with ``numbers``, one regex pass, needed only for
    text orjson refused); the exact checks run only on text that might break a limit, with every
    string's content removed first (it never counts).
    """
    deep = _maybe_deep(payload)
    wide = numbers and _MAYBE_TOO_WIDE.search(payload) is not None  # off for text orjson already parsed
    if not (deep or wide):
        return None
    bare = _STRING.sub(b'""', payload)
    if deep:
        depth = deepest = 0
        for bracket in bare.translate(None, _NOT_BRACKET):
            depth += 1 if bracket in b"[{" else -1
            deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            return f"the record nests {deepest} levels deep; BigQuery's JSON type holds at most {MAX_JSON_DEPTH}"
    if wide and any(math.isinf(float(number)) for number in _NUMBER.findall(bare)):
        return "the record holds a number beyond the FLOAT64 range, which a JSON column cannot store even rounded"
    return None


def dump(record: dict) -> bytes:
    """JSON text of a parsed record: orjson, or the standard library past orjson's 255-level limit."""
    try:
        return orjson.dumps(record)
    except TypeError:  # "Recursion limit reached"
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, MAX_READABLE_DEPTH + 100))
        try:
            return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
        finally:
            sys.setrecursionlimit(limit)


def readable_record(payload: bytes) -> t.Any:
    """The record decoded leniently (infinite numbers allowed) only to read its key; ``None`` if unreadable."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, MAX_READABLE_DEPTH + 100))
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        return None
    finally:
        sys.setrecursionlimit(limit)
