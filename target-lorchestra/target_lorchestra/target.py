"""target-lorchestra: Singer messages in, raw_objects MERGEs and event_log telemetry out."""

from __future__ import annotations

import contextlib
import sys
import typing as t
from functools import cached_property
from traceback import format_exception

from singer_sdk import Sink, Target
from singer_sdk import typing as th
from singer_sdk.helpers.capabilities import PluginCapabilities
from singer_sdk.mapper import SameRecordTransform
from typing_extensions import override

from target_lorchestra import batch_files, records
from target_lorchestra.errors import BadInputError, LorchestraError
from target_lorchestra.events import Telemetry, correlation_id_from_env, trace_id_from_env
from target_lorchestra.reader import LineNumberedReader
from target_lorchestra.sinks import RawObjectsSink
from target_lorchestra.warehouse import (
    DEFAULT_DUCKDB_MEMORY_LIMIT,
    DEFAULT_DUCKDB_PATH,
    MAX_LAST_SEEN_REFRESH_HOURS,
    Warehouse,
    open_warehouse,
)
from target_lorchestra.writer import BatchWriter

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.capabilities import CapabilitiesEnum

    from target_lorchestra.records import Envelope


class TargetLorchestra(Target):
    """Lands every record of every stream in ``raw_objects``; reports the run in ``event_log``."""

    name = "target-lorchestra"
    default_sink_class = RawObjectsSink
    message_reader_class = LineNumberedReader
    message_reader: LineNumberedReader
    # The SDK's defaults, minus schema flattening (payloads are stored as sent, never flattened), plus
    # BATCH messages (batch_files.py).
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [
        *(c for c in Target.capabilities if c != PluginCapabilities.FLATTENING),
        PluginCapabilities.BATCH,
    ]

    config_jsonschema = th.PropertiesList(
        th.Property(
            "warehouse",
            th.StringType,
            default="duckdb",
            allowed_values=["duckdb", "bigquery"],
            title="Warehouse",
            description="Where raw_objects and event_log live: the embedded DuckDB file or BigQuery.",
        ),
        th.Property(
            "duckdb_path",
            th.StringType,
            default=DEFAULT_DUCKDB_PATH,
            title="DuckDB path",
            description="The DuckDB database file (created with its directory when missing).",
        ),
        th.Property(
            "lock_timeout_seconds",
            th.NumberType,
            default=30,
            title="DuckDB lock timeout",
            description="How long to wait for another process's lock on the DuckDB file before failing.",
        ),
        th.Property(
            "duckdb_memory_limit",
            th.StringType,
            default=DEFAULT_DUCKDB_MEMORY_LIMIT,
            title="DuckDB memory limit",
            description="DuckDB's memory_limit (e.g. '256MB'): keeps the target's memory flat whatever the input size.",
        ),
        th.Property(
            "raw_objects_table",
            th.StringType,
            default="raw_objects",
            title="raw_objects table",
            description="Table that receives the objects (e.g. test_raw_objects for the test tables).",
        ),
        th.Property(
            "event_log_table",
            th.StringType,
            default="event_log",
            title="event_log table",
            description="Table that receives the run telemetry (e.g. test_event_log).",
        ),
        th.Property(
            "source_system",
            th.StringType,
            title="Fallback source_system",
            description="Provider family for streams whose tap declares no provenance (third-party taps).",
        ),
        th.Property(
            "connection_name",
            th.StringType,
            title="Fallback connection_name",
            description="Configured account for streams whose tap declares no provenance.",
        ),
        th.Property(
            "schema_ref",
            th.StringType,
            title="Fallback schema_ref",
            description="Iglu URI for streams whose tap declares none; NULL when unset.",
        ),
        th.Property(
            "batch_size_rows",
            th.IntegerType,
            default=RawObjectsSink.MAX_SIZE_DEFAULT,
            title="Batch size (rows)",
            description="Records per MERGE, per stream.",
        ),
        th.Property(
            "batch_size_mb",
            th.IntegerType,
            default=8,
            title="Batch size (MB)",
            description="Payload megabytes per MERGE, per stream; whichever limit is reached first flushes.",
        ),
        th.Property(
            "last_seen_refresh_hours",
            th.NumberType(minimum=0, maximum=MAX_LAST_SEEN_REFRESH_HOURS),
            default=0,
            title="last_seen refresh (hours)",
            description=(
                "A record equal to the stored object (payload and schema_ref) rewrites it only when the stored "
                "last_seen is older than this; 0 rewrites every copy, so last_seen is exact. On BigQuery each "
                "rewrite is billed for the whole raw_objects table (setup/bigquery-setup.md, section 7)."
            ),
        ),
        th.Property(
            "validate_records",
            th.BooleanType,
            default=False,
            title="Validate records",
            description="Validate every record against its stream schema (off: payloads are stored as sent).",
        ),
        # Declared here so that --about advertises what the SDK's generic versions would not do here.
        th.Property(
            "load_method",
            th.StringType,
            default="upsert",
            allowed_values=["upsert"],
            title="Load method",
            description="Always upsert: a MERGE on idem_key. append-only and overwrite are refused, not ignored.",
        ),
        th.Property(
            "add_record_metadata",
            th.BooleanType,
            allowed_values=[False],
            title="Add record metadata",
            description="Not supported (payloads are stored as sent, without _sdc_ columns): only false is accepted.",
        ),
        th.Property(
            "bigquery",
            th.ObjectType(
                th.Property("project_id", th.StringType, description="Google Cloud project of the dataset."),
                th.Property("dataset", th.StringType, description="Dataset holding raw_objects and event_log."),
                th.Property(
                    "location",
                    th.StringType,
                    description="Dataset location (e.g. US, EU, europe-west2); unset: the dataset's own. "
                    "A value that differs from the dataset's is an error.",
                ),
                th.Property(
                    "credentials_path",
                    th.StringType,
                    description="Service-account key file; Application Default Credentials when unset.",
                ),
                th.Property(
                    "credentials_json",
                    th.StringType,
                    secret=True,
                    description="Service-account key JSON (a secret); takes precedence over credentials_path.",
                ),
                th.Property(
                    "api_endpoint",
                    th.StringType,
                    description="BigQuery API endpoint (private endpoints, the local emulator).",
                ),
                th.Property(
                    "staging_expiration_hours",
                    th.IntegerType,
                    default=24,
                    description="Expiration of the per-run staging tables (cleaned up on success).",
                ),
                th.Property(
                    "merge_retry_minutes",
                    th.NumberType,
                    default=10,
                    description="How long a MERGE that keeps losing concurrent-update conflicts is retried.",
                ),
            ),
            title="BigQuery",
            description="Settings used when warehouse is 'bigquery'.",
        ),
    ).to_dict()

    @classmethod
    @override
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        super().append_builtin_config(config_jsonschema)
        # The SDK adds batch_config with the BATCH capability; it says how a tap writes its batch files.
        # A target reads the files at the URLs of each BATCH manifest, so the setting would do nothing here.
        config_jsonschema["properties"].pop("batch_config", None)

    # -- run lifecycle ------------------------------------------------------------------------------

    @cached_property
    def telemetry(self) -> Telemetry:
        return Telemetry(None, correlation_id=correlation_id_from_env(), trace_id=trace_id_from_env())

    @cached_property
    def warehouse(self) -> Warehouse:
        warehouse = open_warehouse(self.config)
        self.telemetry.sink = warehouse
        return warehouse

    #: The sink that last took a record on the fast path (taps send a stream's records together).
    _raw_sink: RawObjectsSink | None = None

    # Draining a sink only hands its batch to the one writer thread: a parallel drain would start a
    # joblib thread pool for nothing (0.1 s per drain of all sinks, measured) and submit in any order.
    max_parallelism = 1

    @cached_property
    def writer(self) -> BatchWriter:
        """Runs the MERGEs on a second thread, in order, while the main thread reads on."""
        return BatchWriter()

    # The run (the SDK's ``listen``, which is final): ``job.started``, every message, final drain and STATE,
    # ``job.completed``. It hangs on the SDK's hooks: the message reader reads the input inside ``_reading``
    # (started before the first line), and ``process_endofpipe`` ends the run. On any failure the open
    # streams get ``ingest.failed``, the job ``job.completed`` with status ``failed``, no further STATE is
    # written, and the error propagates (non-zero exit).

    @override
    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.message_reader.run_scope = self._reading

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """Around the reading of the input: connect and ``job.started`` first; on a failure, end the run."""
        self.message_reader.record_handler = self._process_raw_record
        try:
            _ = self.warehouse  # connect first: a bad path or schema fails before any input is read
            self.telemetry.job_started({"target": self.name, "warehouse": self.config.get("warehouse", "duckdb")})
            yield
        except Exception as exc:
            self._fail_run(exc)
            raise

    @override
    def process_endofpipe(self) -> None:
        try:
            super().process_endofpipe()  # drains every sink, then writes the last STATE
            self.writer.wait()
            self.telemetry.streams_completed()
        except Exception as exc:
            self._fail_run(exc)
            raise
        self.telemetry.job_completed()
        self._close_warehouse()

    def _fail_run(self, exc: Exception) -> None:
        """End a failed run; the caller re-raises ``exc`` (one that quoted a secret: a redacted copy, raised here)."""
        self.writer.close()  # batches handed over before the failure finish first (no STATE covers them)
        error = str(exc) if isinstance(exc, LorchestraError) else self.redacted(f"{type(exc).__name__}: {exc}")
        culprit = exc.stream if isinstance(exc, BadInputError) else None
        self.telemetry.streams_failed(error, culprit)
        self.telemetry.job_completed(error=error)
        self._close_warehouse()
        if isinstance(exc, LorchestraError):
            exc.unsent_events = self.telemetry  # logged after the one-line error, by invoke
        else:
            self.telemetry.log_unsent()  # an unexpected failure: its traceback follows
            if error != f"{type(exc).__name__}: {exc}":  # it quoted a secret setting: a redacted traceback
                # Not logger.exception: it would print the exception unredacted.
                self.logger.error("unexpected failure:\n%s", self.redacted("".join(format_exception(exc))))
                raise UnexpectedFailure(error) from None

    def _process_raw_record(self, message: Envelope) -> bool:
        """The fast path for one RECORD (see ``records.py``); ``False`` sends it down the general path.

        It does what the SDK's record handling does for a stream whose records reach the sink unchanged
        (no stream maps, no schema validation), minus parsing the record.
        """
        sink = self._sinks_active.get(message.stream)
        if sink is None or not self._takes_raw_records(sink):
            return False
        try:
            external_id = records.external_id(message.record, sink.key_list)
        except records.OverLimit as over:
            sink.set_aside(over.record, over.reason, line=self.message_reader.line_number)
            return True
        if external_id is None:
            return False
        sink.process_raw_record(external_id, message.record, message.time_extracted)
        sink.tally_record_read()
        sink.record_counter_metric.increment()
        if sink.is_full:
            self.logger.info(
                "Target sink for '%s' is full (%d records). Draining...", sink.stream_name, sink.current_size
            )
            self.drain_one(sink)
        self._handle_max_record_age()
        return True

    def _takes_raw_records(self, sink: Sink) -> t.TypeGuard[RawObjectsSink]:
        """Whether ``sink`` receives its stream's records unchanged (a yes is remembered for the last sink)."""
        if sink is self._raw_sink:
            return True
        if not isinstance(sink, RawObjectsSink):
            return False
        maps = self.mapper.stream_maps.get(sink.stream_name, ())
        unchanged = (
            not sink.validate_schema
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and maps[0].stream_alias == sink.stream_name
        )
        if unchanged:
            self._raw_sink = sink
        return unchanged

    @override
    def get_sink(
        self,
        stream_name: str,
        *,
        record: dict | None = None,
        schema: dict | None = None,
        key_properties: t.Sequence[str] | None = None,
    ) -> Sink:
        """The SDK's sink lookup, but a sink retired by a schema change is drained at once.

        The SDK holds a retired sink until the next full drain, so its (earlier) records would be MERGEd
        after the new sink's full batches, and an earlier record with the same ``time_extracted`` would
        overwrite a later one. Draining it first keeps batches in arrival order.
        """
        retired = self._sinks_active.get(stream_name) if schema is not None else None
        sink = super().get_sink(stream_name, record=record, schema=schema, key_properties=key_properties)
        if retired is not None and sink is not retired:
            self.drain_one(retired)
        return sink

    @override
    def _process_batch_message(self, message_dict: dict) -> None:
        """Each record of the batch files goes down the path of a RECORD line (see ``batch_files.py``)."""
        stream = message_dict["stream"]
        fmt, compression = batch_files.check_encoding(message_dict["encoding"])
        for url in batch_files.check_manifest(message_dict["manifest"]):
            where = f"batch file {url.rsplit('/', 1)[-1]}"
            lines = batch_files.record_lines(stream, url, fmt, compression)
            number = 0
            try:
                while (line := next(lines, None)) is not None:
                    number += 1
                    where = f"batch file {url.rsplit('/', 1)[-1]}, record {number}"
                    self.message_reader.dispatch(line)
                    where = f"batch file {url.rsplit('/', 1)[-1]}"
            except BadInputError as exc:
                exc.problem = f"{where}: {exc.problem}"
                exc.stream = exc.stream or stream
                raise

    @override
    def _write_state_message(self, state: dict) -> None:
        self.writer.wait()  # STATE only once every batch it covers is committed
        super()._write_state_message(state)

    def redacted(self, text: str) -> str:
        """``text`` without the values of the settings marked secret (an unexpected error may quote one)."""
        from target_lorchestra.warehouse.bigquery_settings import redact, secret_fragments

        secrets = []
        for path in _secret_settings(self.config_jsonschema):
            value: t.Any = self.config
            for key in path:
                value = value.get(key) if isinstance(value, t.Mapping) else None
            if isinstance(value, str) and value:
                secrets.extend(secret_fragments(value))
        return redact(text, secrets)

    def _close_warehouse(self) -> None:
        self.writer.close()
        if "warehouse" in self.__dict__:
            self.warehouse.close()

    @classmethod
    @override
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """The CLI: an expected failure prints one clear line and exits 1 instead of a traceback."""
        try:
            super().invoke(*args, **kwargs)
        except LorchestraError as exc:
            cls.logger.error("target-lorchestra failed: %s", exc)  # noqa: TRY400
            log_unsent_events(exc)
            sys.exit(1)


class UnexpectedFailure(Exception):  # noqa: N818 (an unexpected failure, re-raised with secrets redacted)
    """An unexpected failure whose message quoted a secret setting; the message is the redacted one."""


def _secret_settings(schema: dict, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The paths of the settings marked ``secret`` in a config JSON schema."""
    found = []
    for name, prop in (schema.get("properties") or {}).items():
        if prop.get("secret"):
            found.append((*path, name))
        found.extend(_secret_settings(prop, (*path, name)))
    return found


def log_unsent_events(exc: BaseException) -> None:
    """Log, after the one-line error, the events of the failed run that no warehouse took."""
    telemetry = getattr(exc, "unsent_events", None)
    if isinstance(telemetry, Telemetry):
        telemetry.log_unsent()


if __name__ == "__main__":
    TargetLorchestra.cli()
