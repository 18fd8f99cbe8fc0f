"""BATCH messages (singer-sdk's batch capability): each record of a batch file becomes one RECORD line.

singer-sdk's own handling (``Sink.process_batch_files``) hands a whole file to ``Sink.process_batch`` as
a list of dicts, past the target's stream maps, key checks and our columnar batch, so the records were
lost while STATE went on. Here every record of every file in the manifest is turned into the RECORD line
a tap would have sent and handed to the reader's ``dispatch``: the fast path (JSONL lines are stored
byte for byte) or the SDK's record handling, the same MERGE, counts and events as a RECORD.

Readable encodings: ``jsonl`` (``gzip`` or ``none``) and ``parquet`` (``none``, or ``gzip`` as the codec
inside the file). Anything else is refused before a record is read. Parquet has one column per
property, so a property absent from some records reads back as null in those records.
"""

from __future__ import annotations

import gzip
import typing as t

import orjson
from singer_sdk.helpers._batch import StorageTarget

from target_lorchestra.errors import BadInputError

FORMATS = ("jsonl", "parquet")
COMPRESSIONS = ("gzip", "none")
_GZIP_MAGIC = b"\x1f\x8b"


def check_encoding(encoding: object) -> tuple[str, str]:
    """``(format, compression)`` of a BATCH message's ``encoding``, if the target can read it."""
    if not isinstance(encoding, dict):
        raise BadInputError("BATCH encoding must be an object with format and compression")
    fmt, compression = encoding.get("format"), encoding.get("compression") or "none"
    if fmt not in FORMATS:
        raise BadInputError(f"BATCH encoding format {fmt!r} is not supported (readable: {', '.join(FORMATS)})")
    if compression not in COMPRESSIONS:
        raise BadInputError(
            f"BATCH encoding compression {compression!r} is not supported (readable: {', '.join(COMPRESSIONS)})"
        )
    return fmt, compression


def check_manifest(manifest: object) -> list[str]:
    if not isinstance(manifest, list) or not all(isinstance(url, str) and url for url in manifest):
        raise BadInputError("BATCH manifest must be a list of file URLs")
    return manifest


def record_lines(stream: str, url: str, fmt: str, compression: str) -> t.Iterator[bytes]:
    """The RECORD line of each record in the file at ``url``, in file order."""
    prefix = b'{"type":"RECORD","stream":' + orjson.dumps(stream) + b',"record":'
    for record in _records(url, fmt, compression):
        yield prefix + record + b"}"


def _records(url: str, fmt: str, compression: str) -> t.Iterator[bytes]:
    """Each record's JSON text: a JSONL line as written, a Parquet row encoded by orjson."""
    head, tail = StorageTarget.split_url(url)
    try:
        with StorageTarget.from_url(head).open(tail, mode="rb") as file:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                for row in pq.read_table(file).to_pylist():
                    try:
                        yield orjson.dumps(row)
                    except TypeError as exc:  # e.g. a Decimal or bytes column: no JSON for it
                        raise BadInputError(f"a Parquet value cannot be stored as JSON ({exc})") from None
                return
            # Sniffed, not trusted: singer-sdk's JSONL batcher gzips every file, even with compression "none".
            gzipped = compression == "gzip" or file.read(2) == _GZIP_MAGIC
            file.seek(0)
            lines = gzip.open(file) if gzipped else file  # noqa: SIM115 - closed with file
            for line in lines:
                if line.strip():
                    yield line.strip()
    except (OSError, EOFError) as exc:  # missing file, bad gzip, unreadable storage
        raise BadInputError(f"cannot read batch file ({type(exc).__name__}: {exc})") from None
    except Exception as exc:
        if isinstance(exc, BadInputError):
            raise
        if type(exc).__module__.startswith("pyarrow"):  # not a Parquet file, or a broken one
            raise BadInputError(f"cannot read batch file as Parquet ({type(exc).__name__})") from None
        raise
