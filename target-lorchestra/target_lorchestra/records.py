"""The fast path for RECORD messages: the payload's bytes pass through, never re-encoded.

A RECORD line is decoded by msgspec into an ``Envelope`` whose ``record`` is ``msgspec.Raw``: the exact
bytes of the record object. Those bytes are what gets stored. They are also decoded once more, fully,
by msgspec (in C, about twice as fast as the SDK path's orjson parse plus re-encode), which checks
them as strictly as the general path does (UTF-8, escapes and surrogates, numbers that overflow a
double, nesting depth) and yields the key values for the ``external_id``.

Anything unusual (a line msgspec rejects, a record that is not an object, a missing key, SDK metadata
keys in the record) is left to the general path, which parses the line with orjson and raises the same
line-numbered errors as always. One known difference: an integer literal of more than 308 digits,
which orjson rejects as infinite, is accepted here and stored as sent.
"""

from __future__ import annotations

import typing as t

import msgspec

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
_RECORD = msgspec.json.Decoder()

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


def external_id(raw: msgspec.Raw, key_properties: list[str]) -> str | None:
    """The external_id of a record given as bytes, or ``None`` to leave the record to the general path.

    ``None`` when the bytes are not a valid JSON object, when a key property is absent (the general
    path reports that as the SDK does) or when the record carries SDK metadata keys.

    Raises:
        MissingKeyError: a key is null, empty or not a string/integer (as ``provenance.external_id``).
    """
    try:
        record = _RECORD.decode(raw)
    except _DECODE_ERRORS:
        return None
    if not isinstance(record, dict) or not SDC_KEYS.isdisjoint(record) or any(k not in record for k in key_properties):
        return None
    return provenance.external_id(record, key_properties)
