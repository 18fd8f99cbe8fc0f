CREATE TABLE IF NOT EXISTS test_raw_objects (
  idem_key        STRING NOT NULL,  -- opaque: {source_system}:{connection_name}:{object_type}:{external_id}
  source_system   STRING NOT NULL,  -- provider: gmail, exchange, dataverse, google_forms
  connection_name STRING NOT NULL,  -- account: gmail-acct1, exchange-ben-mensio
  object_type     STRING NOT NULL,  -- domain object: email, contact, session, form_response
  schema_ref      STRING,  -- Iglu URI of the payload schema (nullable)
  external_id     STRING,  -- upstream id (Gmail message id, Dataverse GUID, ...)
  payload         JSON NOT NULL,  -- the record exactly as the tap sent it
  first_seen      TIMESTAMP NOT NULL,  -- time_extracted of the first record merged for this key
  last_seen       TIMESTAMP NOT NULL  -- time_extracted of the record whose payload is stored
)
CLUSTER BY source_system, connection_name, object_type;
