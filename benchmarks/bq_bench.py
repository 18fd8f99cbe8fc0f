"""The BigQuery section of the benchmark: target-lorchestra into the local emulator (bqemulator).

It runs the real target CLI in a child process through ``bq_driver.py``, which counts the BigQuery
API calls the target makes (load jobs, query jobs, and among those the MERGE statements) and the
flushes (``Warehouse.merge`` calls): jobs per GB and statements per flush. The emulator bills nothing,
so the bytes billed per flush are modelled (``modelled_flush_bytes``) from BigQuery's documented
on-demand rules for DML, before (one script: a count over the whole table, then a MERGE with an UPDATE
clause, every flush) and after (a key check on the batch's clustered blocks, then an insert-only MERGE
unless a stored key is replaced), for table sizes from 1 to 100 GB.

The emulator is started by the workspace's one launcher (``lorchestra_testing.bqemulator``: ``.venv-bqemulator``,
install: ``setup/bigquery-emulator.md``) on free loopback ports and stopped at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

from lorchestra_testing.bqemulator import PROJECT, client_for, emulator_path, running_emulator

DRIVER = Path(__file__).resolve().parent / "bq_driver.py"


def create_dataset(endpoint: str) -> str:
    dataset = f"bench_{uuid.uuid4().hex[:8]}"
    client_for(endpoint).create_dataset(dataset)
    return dataset


# -- the cost model (setup/bigquery-setup.md, "What a flush costs") ------------------------------------

MiB = 2**20
GiB = 2**30
#: Per stored row: payload bytes (the benchmark's average) and the other columns (keys, provenance, times).
PAYLOAD_BYTES = 3_000
OTHER_BYTES = 120
#: Bytes per row of the columns each statement reads from raw_objects.
KEY_LAST_SEEN = 50 + 8  # idem_key, last_seen
KEY_CLUSTER = 50 + 8 + 18 + 8  # idem_key and the three clustering columns
#: On-demand billing: at least 10 MB per table a query references.
MIN_PER_TABLE = 10 * 10**6
CONNECTIONS = 14


def modelled_flush_bytes(
    table_bytes: float, batch_bytes: float, *, design: str, updates: bool, compare_payloads: bool = False
) -> float:
    """Bytes billed for one flush of ``batch_bytes`` of payload into a ``table_bytes`` raw_objects.

    The docs' rule for non-partitioned tables: an INSERT-only MERGE bills q (what it reads); a MERGE with
    an UPDATE clause bills q + t, t = the whole table. Block pruning on the clustering columns is taken
    as reaching one connection's share (1/14) of the small columns; the docs promise no pruning of t.
    ``compare_payloads``: the key check of ``last_seen_refresh_hours`` also reads that share's payloads.
    """
    rows = table_bytes / (PAYLOAD_BYTES + OTHER_BYTES)
    staged = batch_bytes * (PAYLOAD_BYTES + OTHER_BYTES) / PAYLOAD_BYTES
    staged_keys = batch_bytes / PAYLOAD_BYTES * 60
    if design == "before":
        count = max(MIN_PER_TABLE, staged_keys) + max(MIN_PER_TABLE, rows * KEY_LAST_SEEN)
        merge = max(MIN_PER_TABLE, staged) + max(MIN_PER_TABLE, rows * KEY_LAST_SEEN) + table_bytes
        return count + merge
    share = rows / CONNECTIONS
    if compare_payloads:
        check = max(MIN_PER_TABLE, staged) + max(MIN_PER_TABLE, share * (KEY_LAST_SEEN + 34 + PAYLOAD_BYTES))
    else:
        check = max(MIN_PER_TABLE, staged_keys) + max(MIN_PER_TABLE, share * (KEY_LAST_SEEN + 34))
    merge = max(MIN_PER_TABLE, staged) + max(MIN_PER_TABLE, share * KEY_CLUSTER)
    return check + merge + (table_bytes if updates else 0)


def print_cost_model() -> None:
    print("\n## bigquery: modelled bytes billed per flush (on-demand; docs' DML rules)\n")
    print(
        "| raw_objects | batch | before (every flush) | after, insert-only flush "
        "| after, unchanged re-send (last_seen_refresh_hours) | after, flush with updates |"
    )
    print("|---|---|---|---|---|---|")
    for table_gb in (1, 10, 100):
        for batch_mb in (1, 8, 64):
            t, b = table_gb * GiB, batch_mb * MiB
            before = modelled_flush_bytes(t, b, design="before", updates=True)
            insert_only = modelled_flush_bytes(t, b, design="after", updates=False)
            resend = modelled_flush_bytes(t, b, design="after", updates=False, compare_payloads=True)
            with_updates = modelled_flush_bytes(t, b, design="after", updates=True)
            print(
                f"| {table_gb:>8} GB | {batch_mb:>2} MB | {before / GiB:>17.2f} GiB | {insert_only / MiB:>20.0f} MiB "
                f"| {resend / MiB:>20.0f} MiB | {with_updates / GiB:>21.2f} GiB |"
            )


def run_bigquery(args, work: Path, inp) -> None:
    print_cost_model()
    if not emulator_path().exists():
        print(f"\n## bigquery: skipped, {emulator_path()} is not installed (see setup/bigquery-emulator.md)")
        return
    print(f"\n## bigquery (emulator): {inp.nbytes / 1e6:.0f} MB, {inp.records:,} records\n")
    print("| batch_size_rows | flushes | load jobs | key checks | MERGEs | jobs per GB | statements per flush | wall |")
    print("|-----------------|---------|-----------|------------|--------|-------------|----------------------|------|")
    with running_emulator(log_dir=work) as endpoint:
        for batch_rows in (100_000, 10_000, 1_000):
            dataset = create_dataset(endpoint)
            config = work / "bq-config.json"
            counts = work / "bq-counts.json"
            config.write_text(
                json.dumps(
                    {
                        "warehouse": "bigquery",
                        "bigquery": {"project_id": PROJECT, "dataset": dataset, "api_endpoint": endpoint},
                        "batch_size_rows": batch_rows,
                    }
                )
            )
            started = time.perf_counter()
            with inp.path.open("rb") as source, (work / "bq-target.log").open("wb") as log:
                result = subprocess.run(
                    [sys.executable, str(DRIVER), str(counts), "--config", str(config)],
                    stdin=source,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    check=False,
                )
            seconds = time.perf_counter() - started
            if result.returncode != 0:
                tail = (work / "bq-target.log").read_text(errors="replace").splitlines()[-5:]
                print(f"| {batch_rows} | run failed ({result.returncode}): {' / '.join(tail)[:300]} |")
                continue
            c = json.loads(counts.read_text())
            jobs = c["load_jobs"] + c["merge_statements"] + c["other_queries"]
            per_flush = (c["merge_statements"] + c["other_queries"]) / max(1, c["flushes"])
            print(
                f"| {batch_rows:>15,} | {c['flushes']:>7} | {c['load_jobs']:>9} | {c['other_queries']:>10} | "
                f"{c['merge_statements']:>6} | {jobs / (inp.nbytes / 1e9):>11.0f} | {per_flush:>20.1f} | "
                f"{seconds:.1f} s |"
            )
