"""Reading Singer messages: fast JSON, and errors that name the input line but never quote it.

The SDK's reader quotes a whole offending message in its errors; ours reports where and what
(line number, stream, problem) because payloads are clinic data.
"""

from __future__ import annotations

import sys
import typing as t
from collections import Counter

import orjson
from singer_sdk.exceptions import (
    InvalidInputLine,
    InvalidRecord,
    MissingKeyPropertiesError,
    RecordsWithoutSchemaException,
)
from singer_sdk.singerlib.encoding.base import GenericSingerReader

from target_lorchestra.errors import BadInputError, MissingKeyError, RecordBeforeSchemaError
from target_lorchestra.records import Envelope, fast_record

_READ_BUFFER = 1 << 20

#: What each message type must carry for the target to act on it.
_REQUIRED = {
    "SCHEMA": ("stream", "schema"),
    "RECORD": ("stream", "record"),
    "STATE": ("value",),
    "ACTIVATE_VERSION": ("stream", "version"),
    "BATCH": ("stream", "encoding", "manifest"),
}


class LineNumberedReader(GenericSingerReader[bytes | str]):
    """Reads JSON lines and locates every failure by line number and stream.

    RECORD lines go first to ``record_handler`` (the target's fast path, which keeps the record's bytes
    as sent); a line it declines, and every other message, is parsed whole with orjson.
    """

    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0
        self.record_handler: t.Callable[[Envelope], bool] | None = None
        #: The stream of the message being handled, for error locations.
        self.stream: str | None = None
        self._callbacks: dict[str, t.Callable[[dict], None]] = {}

    @property
    def default_input(self) -> t.IO[bytes]:
        # 1 MiB reads instead of stdin's 8 KiB: each read gives up the GIL, and re-taking it from the MERGE
        # thread costs a context switch; at 8 KiB that is ~25,000 switches per 200 MB of input.
        return open(sys.stdin.fileno(), "rb", buffering=_READ_BUFFER, closefd=False)

    def deserialize_json(self, line: bytes | str) -> dict:
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            # orjson's message gives only the position, never the content.
            raise BadInputError(f"not valid JSON ({exc})") from None
        if not isinstance(message, dict):
            raise BadInputError(f"a Singer message must be a JSON object, got {type(message).__name__}")
        return message

    def process_lines(
        self,
        file_input: t.IO[bytes | str] | None,
        callbacks: dict[str, t.Callable[[dict], None]],
    ) -> Counter[str]:
        stats: Counter[str] = Counter()
        self.line_number = 0
        self._callbacks = callbacks
        for line in file_input or self.default_input:
            self.line_number += 1
            if not line.strip():
                continue
            self.stream = None
            try:
                message_type = self.dispatch(line)
            except BadInputError as exc:
                raise exc.located(line=self.line_number, stream=self.stream) from exc.__cause__
            stats[message_type] += 1
        return stats

    def dispatch(self, line: bytes | str) -> str:
        """Handle one message line (fast path first) and return its type; ``self.stream`` names its stream.

        Also used for each record of a BATCH message's files, so they take the very path a RECORD line takes.
        """
        try:
            envelope = fast_record(line) if self.record_handler and isinstance(line, bytes) else None
            if envelope is not None:
                self.stream = envelope.stream
                if self.record_handler(envelope):
                    return "RECORD"
            message = self.deserialize_json(line)
            message_type = message.get("type")
            self.stream = message.get("stream") if isinstance(message.get("stream"), str) else None
            self._check(message, message_type)
            self._callbacks[message_type](message)
        except InvalidInputLine as exc:
            raise BadInputError(_strip_quoted(exc)) from None
        except RecordsWithoutSchemaException:
            raise RecordBeforeSchemaError("RECORD arrived before any SCHEMA for its stream") from None
        except InvalidRecord:
            # The SDK's message can quote the offending value: say only that validation failed.
            raise BadInputError("record does not match the stream's JSON schema (validate_records is on)") from None
        except MissingKeyPropertiesError as exc:
            if isinstance(exc, BadInputError):
                raise
            raise MissingKeyError("record lacks one or more of the stream's key_properties") from None
        return message_type

    @staticmethod
    def _check(message: dict, message_type: object) -> None:
        if message_type not in _REQUIRED:
            shown = message_type if isinstance(message_type, str) else type(message_type).__name__
            raise BadInputError(f"unknown Singer message type {shown!r}")
        missing = [k for k in _REQUIRED[message_type] if k not in message]
        if missing:
            raise BadInputError(f"{message_type} message lacks {', '.join(missing)}")
        if message_type == "RECORD" and not isinstance(message["record"], dict):
            raise BadInputError(f"RECORD's record must be a JSON object, got {type(message['record']).__name__}")
        if message_type == "SCHEMA" and not isinstance(message["schema"], dict):
            raise BadInputError("SCHEMA's schema must be a JSON object")


def _strip_quoted(exc: Exception) -> str:
    """The SDK appends the offending message to some errors: keep only the sentence before it."""
    return str(exc).split(": {", 1)[0]
