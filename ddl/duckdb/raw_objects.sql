CREATE TABLE IF NOT EXISTS raw_objects (
  idem_key        VARCHAR NOT NULL,  -- opaque: {source_system}:{connection_name}:{object_type}:{external_id}
  source_system   VARCHAR NOT NULL,  -- provider: gmail, exchange, dataverse, google_forms
  connection_name VARCHAR NOT NULL,  -- account: gmail-acct1, exchange-ben-mensio
  object_type     VARCHAR NOT NULL,  -- domain object: email, contact, session, form_response
  schema_ref      VARCHAR,  -- Iglu URI of the payload schema (nullable)
  external_id     VARCHAR,  -- upstream id (Gmail message id, Dataverse GUID, ...)
  payload         JSON NOT NULL,  -- the record exactly as the tap sent it
  first_seen      TIMESTAMP WITH TIME ZONE NOT NULL,  -- time_extracted of the first record merged for this key
  last_seen       TIMESTAMP WITH TIME ZONE NOT NULL  -- time_extracted of the record whose payload is stored
);
