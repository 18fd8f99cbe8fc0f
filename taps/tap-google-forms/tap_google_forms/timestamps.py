"""Forms timestamps as instants.

Google renders a ``Timestamp`` with 0, 3, 6 or 9 fractional digits, so as text ``…:14Z`` sorts after
``…:14.500Z`` although it is half a second earlier. The tap compares nanosecond instants and stores one fixed
form, ``YYYY-MM-DDTHH:MM:SS.fffffffffZ`` (UTC, always nine digits): strings of that form sort as their instants,
which is what singer-sdk's bookmark logic (a string ``max``) needs.
"""

from __future__ import annotations

import datetime as dt
import re

_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?$")
NANOS = 1_000_000_000


def to_nanos(value: str) -> int:
    """Nanoseconds since the epoch of an ISO 8601 / RFC 3339 timestamp (no offset: UTC).

    Raises:
        ValueError: the text is not such a timestamp.
    """
    match = _ISO.match(value.strip())
    if not match:
        msg = f"not an ISO 8601 timestamp: {value!r}"
        raise ValueError(msg)
    day, clock, fraction, offset = match.groups()
    zone = (offset or "+00:00").replace("Z", "+00:00")
    moment = dt.datetime.fromisoformat(f"{day}T{clock or '00:00:00'}{zone}")
    # Whole seconds from datetime (exact), the fraction as an integer: floats would lose nanoseconds.
    return int(moment.timestamp()) * NANOS + int((fraction or "0")[:9].ljust(9, "0"))


def from_nanos(nanos: int) -> str:
    """The fixed-width RFC 3339 "Zulu" form of an instant: nine fractional digits, always."""
    seconds, fraction = divmod(nanos, NANOS)
    base = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{fraction:09d}Z"


def normalise(value: str) -> str:
    """``value`` in the fixed-width form (see the module docstring)."""
    return from_nanos(to_nanos(value))
