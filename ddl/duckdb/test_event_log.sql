CREATE TABLE IF NOT EXISTS test_event_log (
  event_id           VARCHAR NOT NULL,
  event_type         VARCHAR NOT NULL,  -- verb: job.started, ingest.completed, upsert.completed
  source_system      VARCHAR NOT NULL,  -- provider, or 'lorchestra' for system events
  connection_name    VARCHAR,  -- account (NULL for system events)
  target_object_type VARCHAR,  -- noun: email, session (NULL for job events)
  event_schema_ref   VARCHAR,  -- iglu:com.mensio.event/ingest_completed/jsonschema/1-0-0
  correlation_id     VARCHAR,
  trace_id           VARCHAR,
  created_at         TIMESTAMP WITH TIME ZONE NOT NULL,
  status             VARCHAR NOT NULL,
  error_message      VARCHAR,
  payload            JSON
);
