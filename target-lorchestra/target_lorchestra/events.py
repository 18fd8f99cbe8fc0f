"""Run telemetry: the ``event_log`` rows of one target run.

One ``Telemetry`` per run. It keeps per-stream tallies and writes ``job.*``, ``ingest.*`` and
``upsert.*`` events as they happen. All events of a run share a ``correlation_id`` and the W3C trace id
of ``TRACEPARENT``. Meltano 4.4 does not hand its run id to plugins: ``MELTANO_RUN_ID`` is only an input
of ``meltano run`` (its ``--run-id`` option), which the plugins inherit when the caller set it, as
``lorchestra reingest`` does. So the correlation_id is that value when set, else a fresh UUID per run.
If the warehouse cannot take an event (it may be
the very thing that failed), the row goes to the log as JSON instead, so a failure is never silent.
"""

from __future__ import annotations

import logging
import os
import re
import time
import typing as t
import uuid
from dataclasses import dataclass, field

import orjson

from target_lorchestra.tables import SYSTEM_SOURCE, event_row

if t.TYPE_CHECKING:
    from target_lorchestra.provenance import Provenance
    from target_lorchestra.warehouse import MergeCounts

logger = logging.getLogger("target-lorchestra.events")

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


def trace_id_from_env(environ: t.Mapping[str, str] = os.environ) -> str | None:
    """The trace id of a W3C ``traceparent`` (``00-<trace-id>-<parent-id>-<flags>``), if valid."""
    match = _TRACEPARENT.match(environ.get("TRACEPARENT", "").strip().lower())
    if not match or match.group(1) == "0" * 32:
        return None
    return match.group(1)


def correlation_id_from_env(environ: t.Mapping[str, str] = os.environ) -> str:
    """``MELTANO_RUN_ID`` when the caller of ``meltano run`` set it (also Meltano's run id then), else a UUID."""
    return environ.get("MELTANO_RUN_ID") or str(uuid.uuid4())


class EventSink(t.Protocol):
    """Where event rows go (the warehouse's ``append_events``)."""

    def append_events(self, rows: list[dict]) -> None: ...


@dataclass
class StreamTally:
    """What happened to one stream in this run."""

    provenance: Provenance | None
    stream: str
    started: float = field(default_factory=time.monotonic)
    records: int = 0
    batches: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0  # copies equal to the stored row, left alone (last_seen_refresh_hours)
    skipped_stale: int = 0
    duplicates_collapsed: int = 0
    merge_seconds: float = 0.0
    merge_retries: int = 0
    set_aside: int = 0  # dead letters: records no warehouse may take (not in ``records``)
    upsert_started: bool = False
    finished: bool = False


class Telemetry:
    """Writes the events of one run and keeps the tallies their payloads report."""

    def __init__(self, sink: EventSink | None, *, correlation_id: str, trace_id: str | None) -> None:
        self.sink = sink
        self.correlation_id = correlation_id
        self.trace_id = trace_id
        self.streams: dict[str, StreamTally] = {}
        #: Events written while there was no warehouse to take them.
        self.unsent: list[dict] = []
        self._job_started = time.monotonic()

    def log_unsent(self) -> None:
        """Log the events no warehouse took (one line each), then forget them."""
        for row in self.unsent:
            logger.error("event_log unavailable; event follows: %s", orjson.dumps(row, default=str).decode())
        self.unsent.clear()

    # -- generic --------------------------------------------------------------------------------

    def emit(
        self,
        event_type: str,
        *,
        provenance: Provenance | None = None,
        stream: str | None = None,
        status: str = "success",
        payload: dict | None = None,
        error_message: str | None = None,
        schema_version: str = "1-0-0",
    ) -> dict:
        """Write one event row. Job events have no provenance; a stream's events carry its columns."""
        row = event_row(
            event_type,
            correlation_id=self.correlation_id,
            trace_id=self.trace_id,
            source_system=provenance.source_system if provenance else SYSTEM_SOURCE,
            connection_name=provenance.connection_name if provenance else None,
            target_object_type=provenance.object_type if provenance else stream,
            status=status,
            error_message=error_message,
            payload=payload,
            schema_version=schema_version,
        )
        try:
            if self.sink is None:
                raise RuntimeError("no warehouse connection")  # noqa: TRY301
            self.sink.append_events([row])
        except Exception as exc:  # noqa: BLE001 - telemetry must never mask the run's own outcome
            if self.sink is None:
                # No warehouse yet (a configuration error): kept, and logged after the run's own error
                # line (see TargetLorchestra.invoke), so that the error comes first.
                self.unsent.append(row)
                return row
            logger.error(  # noqa: TRY400 - the event itself is the useful part, not a traceback
                "event_log unavailable (%s); event follows: %s",
                type(exc).__name__,
                orjson.dumps(row, default=str).decode(),
            )
        return row

    # -- job ------------------------------------------------------------------------------------

    def job_started(self, about: dict) -> None:
        self.emit("job.started", payload=about)

    def job_completed(self, *, error: str | None = None) -> None:
        payload = {
            "streams": len(self.streams),
            "records": sum(s.records for s in self.streams.values()),
            "duration_seconds": round(time.monotonic() - self._job_started, 3),
        }
        self.emit(
            "job.completed",
            status="failed" if error else "success",
            payload=payload,
            error_message=error,
        )

    # -- streams --------------------------------------------------------------------------------

    def ingest_started(self, stream: str, provenance: Provenance) -> None:
        if stream in self.streams and not self.streams[stream].finished:
            return  # a schema change mid-stream: the same ingestion goes on
        self.streams[stream] = StreamTally(provenance, stream)
        self.emit("ingest.started", provenance=provenance, payload={})

    def record_read(self, stream: str) -> None:
        self.streams[stream].records += 1

    def upsert_merged(self, stream: str, counts: MergeCounts, *, seconds: float) -> None:
        tally = self.streams[stream]
        if not tally.upsert_started:
            tally.upsert_started = True
            self.emit("upsert.started", provenance=tally.provenance, payload={})
        tally.batches += 1
        tally.inserted += counts.inserted
        tally.updated += counts.updated
        tally.unchanged += counts.unchanged
        tally.skipped_stale += counts.skipped_stale
        tally.duplicates_collapsed += counts.rows - counts.distinct
        tally.merge_seconds += seconds
        tally.merge_retries += counts.retries

    def upsert_failed(self, stream: str, *, batch_records: int, error: str) -> None:
        tally = self.streams[stream]
        payload = {"batch_number": tally.batches + 1, "batch_records": batch_records}
        self.emit("upsert.failed", provenance=tally.provenance, status="failed", payload=payload, error_message=error)

    def record_set_aside(self, stream: str, *, idem_key: str, line: int, reason: str) -> None:
        """A dead letter (records.py, "JSON limits"): ``upsert.failed`` for one record; the stream goes on."""
        tally = self.streams[stream]
        tally.set_aside += 1
        payload = {
            "batch_number": tally.batches + 1,
            "batch_records": 1,
            "dead_letter": True,
            "idem_key": idem_key,
            "line": line,
            "reason": reason,
        }
        self.emit(
            "upsert.failed",
            provenance=tally.provenance,
            status="failed",
            payload=payload,
            error_message=f"record {idem_key} (input line {line}) set aside: {reason}",
            schema_version="1-0-1",
        )

    def streams_completed(self) -> None:
        """Close every open stream: ``upsert.completed`` (if it merged anything), then ``ingest.completed``."""
        for tally in self.streams.values():
            if tally.finished:
                continue
            tally.finished = True
            if tally.upsert_started:
                self.emit(
                    "upsert.completed",
                    provenance=tally.provenance,
                    payload=self.upsert_payload(tally),
                    schema_version="1-0-1",  # 1-0-1 adds ``unchanged``
                )
            self.emit(
                "ingest.completed",
                provenance=tally.provenance,
                payload={"records": tally.records, "duration_seconds": _elapsed(tally)},
            )

    def streams_failed(self, error: str, culprit: str | None) -> None:
        """Mark every open stream failed: the culprit with the error, the others as aborted with it."""
        if culprit is not None and culprit not in self.streams:
            # The stream failed before it could start (e.g. no provenance): still say so.
            self.streams[culprit] = StreamTally(None, culprit)
        for tally in self.streams.values():
            if tally.finished:
                continue
            tally.finished = True
            message = error if tally.stream == culprit else f"run aborted before this stream was committed: {error}"
            self.emit(
                "ingest.failed",
                provenance=tally.provenance,
                stream=tally.stream,
                status="failed",
                payload={"records": tally.records, "duration_seconds": _elapsed(tally)},
                error_message=message,
            )

    @staticmethod
    def upsert_payload(tally: StreamTally) -> dict:
        return {
            "total_records": tally.records,
            "inserted": tally.inserted,
            "updated": tally.updated,
            "unchanged": tally.unchanged,
            "skipped_stale": tally.skipped_stale,
            "duplicates_collapsed": tally.duplicates_collapsed,
            "batch_count": tally.batches,
            "duration_seconds": round(tally.merge_seconds, 3),
            "merge_retries": tally.merge_retries,
        }


def _elapsed(tally: StreamTally) -> float:
    return round(time.monotonic() - tally.started, 3)
