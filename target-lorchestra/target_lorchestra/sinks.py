"""The one sink: a stream's records, collected as columns and MERGEd into raw_objects per batch."""

from __future__ import annotations

import datetime as dt
import time
import typing as t

from singer_sdk.sinks import Sink
from typing_extensions import override

from target_lorchestra import provenance, records
from target_lorchestra.errors import BadInputError, LorchestraError, WarehouseError
from target_lorchestra.records import SDC_KEYS
from target_lorchestra.warehouse import RawBatch

if t.TYPE_CHECKING:
    from target_lorchestra.target import TargetLorchestra

#: The payload is stored as received, so the SDK must not parse or drop anything: an open schema.
_PASS_THROUGH_SCHEMA = {"type": "object", "properties": {}, "additionalProperties": True}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: Keyless streams are refused by design (every row's idem_key needs an external id); this names the fix.
KEYLESS_FIX = (
    "the stream declares no key_properties; lorchestra needs a key to build each row's idem_key. "
    "Give it one with a stream map in the target's config: "
    'stream_maps: {"<stream>": {"__key_properties__": ["<id property>"]}}'
)


class RawObjectsSink(Sink):
    """Collects one stream's records into a columnar ``RawBatch`` and MERGEs it when drained."""

    MAX_SIZE_DEFAULT = 10_000

    def __init__(self, target: TargetLorchestra, stream_name: str, schema: dict, key_properties: t.Any) -> None:
        self._target = target
        super().__init__(target, stream_name, schema, key_properties)
        if not self.key_properties:
            raise BadInputError(KEYLESS_FIX, stream=stream_name)
        self.provenance = provenance.resolve(stream_name, self.original_schema, self.config)
        self.key_list = list(self.key_properties)
        self.schema = dict(_PASS_THROUGH_SCHEMA)
        self._batch = RawBatch(self.provenance)
        self._max_bytes = int(self.config.get("batch_size_mb") or 8) * 1024 * 1024
        target.telemetry.ingest_started(stream_name, self.provenance)

    @property
    @override
    def include_sdc_metadata_properties(self) -> bool:
        # On only so the general path receives the RECORD's time_extracted (as ``_sdc_extracted_at``);
        # process_record removes every ``SDC_KEYS`` key again, so the payload is untouched.
        return True

    @property
    @override
    def validate_schema(self) -> bool:
        # Off by default: the payload is stored as sent; per-record validation costs throughput.
        return bool(self.config.get("validate_records", False))

    @property
    @override
    def is_full(self) -> bool:
        return super().is_full or self._batch.nbytes >= self._max_bytes

    @override
    def process_record(self, record: dict, context: dict) -> None:
        """The general path: a record the SDK has parsed (and validated, mapped, when configured)."""
        extracted_at = record.get("_sdc_extracted_at")
        for key in SDC_KEYS:
            record.pop(key, None)
        payload = records.dump(record)
        violation = records.json_limit_violation(payload, numbers=False)  # orjson parsed every number
        if violation is not None:
            self.set_aside(record, violation, line=self._target.message_reader.line_number)
            return
        external_id = provenance.external_id(record, self.key_list)
        self._append(external_id, payload, extracted_at)

    def set_aside(self, record: object, reason: str, *, line: int) -> None:
        """A dead letter: a record no warehouse may take is reported (idem_key, line, reason; never the
        payload) in an ``upsert.failed`` event and skipped, so it cannot block its stream on every run."""
        if not isinstance(record, dict) or any(k not in record for k in self.key_list):
            raise BadInputError(f"{reason}, and its key cannot be read to set it aside", stream=self.stream_name)
        idem_key = self.provenance.idem_key(provenance.external_id(record, self.key_list))
        self._target.telemetry.record_set_aside(self.stream_name, idem_key=idem_key, line=line, reason=reason)

    def process_raw_record(self, external_id: str, payload: bytes, time_extracted: object) -> None:
        """The fast path: a record's bytes exactly as the tap sent them, its external_id already decoded."""
        self._append(external_id, payload, time_extracted)

    def _append(self, external_id: str, payload: bytes, extracted_at: object) -> None:
        self._batch.append(self.provenance.idem_key(external_id), external_id, payload, _seen_at_us(extracted_at))
        self._target.telemetry.record_read(self.stream_name)

    @override
    def process_batch(self, context: dict) -> None:
        """Hand the batch to the background writer; the MERGE runs while the next batch is read."""
        batch, self._batch = self._batch, RawBatch(self.provenance)
        if len(batch):
            self._target.writer.submit(lambda: self._merge(batch))

    def _merge(self, batch: RawBatch) -> None:
        started = time.monotonic()
        try:
            counts = self._target.warehouse.merge(batch)
        except LorchestraError as exc:
            self._target.telemetry.upsert_failed(self.stream_name, batch_records=len(batch), error=str(exc))
            raise
        except Exception as exc:
            text = self._target.redacted(f"{type(exc).__name__}: {exc}")  # a library may quote its credentials
            message = f"MERGE failed: {text.splitlines()[0][:300]}"
            self._target.telemetry.upsert_failed(self.stream_name, batch_records=len(batch), error=message)
            raise WarehouseError(f"stream {self.stream_name!r}: {message}") from exc
        self._target.telemetry.upsert_merged(self.stream_name, counts, seconds=time.monotonic() - started)


def _seen_at_us(extracted_at: object) -> int:
    """Microseconds since the epoch of the RECORD's ``time_extracted`` (now, when the tap sent none)."""
    if extracted_at is None:
        moment = dt.datetime.now(dt.UTC)
    else:
        try:
            moment = dt.datetime.fromisoformat(str(extracted_at))
        except ValueError:
            raise BadInputError("time_extracted is not an RFC 3339 timestamp") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)  # Singer timestamps without offset are UTC
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
