"""target-lorchestra: the warehouse loader of the lorchestra ingestion layer."""
