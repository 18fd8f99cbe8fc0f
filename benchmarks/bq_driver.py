"""Run the target-lorchestra CLI while counting its BigQuery API calls (for ``bq_bench.py``).

Usage: ``python bq_driver.py COUNTS.json --config CONFIG.json < input.singer``. The counts (flushes,
load jobs, MERGE statements, other queries) are written to COUNTS.json when the process exits.
"""

from __future__ import annotations

import atexit
import json
import sys
from collections import Counter
from pathlib import Path

from google.cloud import bigquery
from target_lorchestra.target import TargetLorchestra
from target_lorchestra.warehouse.bigquery import BigQueryWarehouse

counts: Counter[str] = Counter()


def counting(name: str, original, classify=None):
    def wrapper(*args, **kwargs):
        counts[classify(*args, **kwargs) if classify else name] += 1
        return original(*args, **kwargs)

    return wrapper


def _query_kind(_client, sql: str, *args, **kwargs) -> str:
    return "merge_statements" if "MERGE " in sql.upper() else "other_queries"


def main() -> None:
    out = Path(sys.argv.pop(1))
    client = bigquery.Client
    for method in ("load_table_from_file", "load_table_from_uri", "load_table_from_json", "load_table_from_dataframe"):
        setattr(client, method, counting("load_jobs", getattr(client, method)))
    client.query = counting("query", client.query, _query_kind)
    BigQueryWarehouse.merge = counting("flushes", BigQueryWarehouse.merge)
    atexit.register(
        lambda: out.write_text(
            json.dumps({k: counts[k] for k in ("flushes", "load_jobs", "merge_statements", "other_queries")})
        )
    )
    TargetLorchestra.cli()


if __name__ == "__main__":
    main()
