"""The fast path for RECORD messages: the payload's bytes pass through, only the keys are decoded.

A RECORD line is decoded by msgspec into an ``Envelope`` whose ``record`` is ``msgspec.Raw``: the exact
bytes of the record object, never turned into Python objects nor encoded again. The stream's key
properties are then decoded from those bytes by a small per-stream struct (``KeyReader``), which
skips every other field in C.

Anything unusual (not decodable here, not a JSON object, non-ASCII text that is not valid UTF-8,
surrogate escapes, SDK metadata keys in the record) is left to the general path, which parses the line
fully and raises the same line-numbered errors as always.
"""

from __future__ import annotations

import re
import typing as t

import msgspec

from target_lorchestra import provenance


class Envelope(msgspec.Struct):
    """The fields of a Singer message the fast path reads; other fields are skipped unparsed."""

    type: t.Any = None
    stream: t.Any = None
    record: msgspec.Raw = msgspec.Raw()  # empty when the message has no record
    time_extracted: t.Any = None


_ENVELOPE = msgspec.json.Decoder(Envelope)
_OPEN_BRACE = ord("{")
#: An exponent of three or more digits (may overflow a double); a match only sends the line to the general path.
_BIG_EXPONENT = re.compile(rb"[0-9][eE][+]?[0-9]{3}")


def fast_record(line: bytes) -> Envelope | None:
    """The envelope of a RECORD line the fast path can take (``record`` holds its bytes), else ``None``."""
    if not line.isascii():
        try:
            line.decode()
        except UnicodeDecodeError:
            return None
    # The general path rejects the surrogate escapes orjson cannot decode, and replaces _sdc_* keys.
    if (b"\\u" in line and (b"\\ud" in line or b"\\uD" in line)) or b'"_sdc_' in line:
        return None
    # A number too large for a double (1e999) is rejected by the general path; msgspec.Raw would keep it.
    if _BIG_EXPONENT.search(line):
        return None
    try:
        message = _ENVELOPE.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None  # RecursionError: nested too deep; the general path reports it with the line number
    record = message.record
    if message.type != "RECORD" or not isinstance(message.stream, str) or not record:
        return None
    if memoryview(record)[0] != _OPEN_BRACE:
        return None  # not a JSON object: the general path says so, with the line number
    return message


class KeyReader:
    """Decodes one stream's key properties from a record's raw bytes and builds its ``external_id``."""

    def __init__(self, key_properties: t.Sequence[str]) -> None:
        self.key_properties = list(key_properties)
        fields = [
            (f"k{i}", t.Any, msgspec.field(default=msgspec.UNSET, name=key)) for i, key in enumerate(key_properties)
        ]
        self._attrs = [name for name, _, _ in fields]
        self._decoder = msgspec.json.Decoder(msgspec.defstruct("Keys", fields))

    def external_id(self, raw: msgspec.Raw) -> str | None:
        """The record's external_id, or ``None`` (take the general path) when a key is absent or undecodable.

        Raises:
            MissingKeyError: a key is null, empty or not a string/integer (as ``provenance.external_id``).
        """
        try:
            keys = self._decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            return None
        values = {key: getattr(keys, attr) for key, attr in zip(self.key_properties, self._attrs, strict=True)}
        if msgspec.UNSET in values.values():
            return None  # a missing key: the general path reports it exactly as the SDK does
        return provenance.external_id(values, self.key_properties)
