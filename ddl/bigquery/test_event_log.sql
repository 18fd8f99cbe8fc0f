CREATE TABLE IF NOT EXISTS test_event_log (
  event_id           STRING NOT NULL,
  event_type         STRING NOT NULL,  -- verb: job.started, ingest.completed, upsert.completed
  source_system      STRING NOT NULL,  -- provider, or 'lorchestra' for system events
  connection_name    STRING,  -- account (NULL for system events)
  target_object_type STRING,  -- noun: email, session (NULL for job events)
  event_schema_ref   STRING,  -- iglu:com.mensio.event/ingest_completed/jsonschema/1-0-0
  correlation_id     STRING,
  trace_id           STRING,
  created_at         TIMESTAMP NOT NULL,
  status             STRING NOT NULL,
  error_message      STRING,
  payload            JSON
)
PARTITION BY DATE(created_at)
CLUSTER BY source_system, event_type;
