"""Concurrency: two target runs started together against one warehouse, many times, with random timing.

Each trial starts run A (stream ``contact``) and, after a random 0-500 ms, run B (stream ``email``), each with
``--records`` records, against the same fresh warehouse, and classifies the outcome:

* ``both committed``: both exit 0 with their final STATE and all their rows (B waited for A's lock);
* ``one refused clearly``: one exits 1 with the one-line "locked by another process" error, no STATE, and
  none of its rows; the other commits everything;
* anything else (a traceback, an unclear error, rows missing or half-written, a file that no longer opens)
  counts as a failure.

On DuckDB, odd trials give the runs a ``lock_timeout_seconds`` long enough to wait (60 s), even trials one too
short (0.3 s), so both outcomes occur. On BigQuery (the emulator) both runs MERGE into the same table at once.

    .venv/bin/python reliability/concurrency.py --warehouse duckdb --trials 20
    .venv/bin/python reliability/concurrency.py --warehouse bigquery --trials 10
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import TARGET, BigQueryEmulatorWarehouse, DuckDBWarehouse, bigquery_emulator

LOCK_ERROR = "is locked by another process"


def lines(stream: str, count: int) -> bytes:
    key = {"contact": "contactid", "email": "id"}[stream]
    source, connection = {"contact": ("dataverse", "dataverse-clinic"), "email": ("gmail", "gmail-acct1")}[stream]
    schema = {
        "type": "object",
        "properties": {},
        "x-lorchestra": {"source_system": source, "connection_name": connection},
    }
    out = [{"type": "SCHEMA", "stream": stream, "key_properties": [key], "schema": schema}]
    out += [
        {"type": "RECORD", "stream": stream, "record": {key: f"{stream}-{i:05d}", "body": "x" * 200}}
        for i in range(count)
    ]
    out.append({"type": "STATE", "value": {"bookmarks": {stream: {"n": count}}}})
    return b"".join(json.dumps(m).encode() + b"\n" for m in out)


def feed(proc: subprocess.Popen, data: bytes) -> None:
    """Write a run's whole input and close its stdin (end of input), as a tap does."""
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.write(data)
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.close()


def classify(results: dict[str, tuple[int, str, str]], rows: dict[str, int], count: int) -> str:
    ok = {s for s, (rc, out, _) in results.items() if rc == 0 and json.loads(out.splitlines()[-1])["bookmarks"]}
    refused = {
        s
        for s, (rc, out, err) in results.items()
        if rc == 1 and not out.strip() and LOCK_ERROR in err and "Traceback" not in err
    }
    complete = all(rows.get(s, 0) == count for s in ok) and all(rows.get(s, 0) == 0 for s in refused)
    if ok == set(results) and complete:
        return "both committed"
    if len(ok) == 1 and len(refused) == 1 and complete:
        return "one refused clearly"
    return "FAILURE"


def race(workdir: Path, delay: float, records: int) -> dict[str, tuple[int, str, str]]:
    """Start run A, then run B ``delay`` seconds later, on ``workdir/config.json``; (exit, stdout, stderr) each."""
    procs, files = {}, {}
    for stream in ("contact", "email"):
        # stdout/stderr to files: a pipe nobody reads would block a run while it holds the lock
        out, err = (workdir / f"{stream}.out").open("wb+"), (workdir / f"{stream}.err").open("wb+")
        files[stream] = (out, err)
        procs[stream] = subprocess.Popen(
            [str(TARGET), "--config", str(workdir / "config.json")],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
        )
        if stream == "contact":
            time.sleep(delay)
    feeders = [threading.Thread(target=feed, args=(proc, lines(stream, records))) for stream, proc in procs.items()]
    for feeder in feeders:
        feeder.start()
    for feeder in feeders:
        feeder.join()
    results = {}
    for stream, proc in procs.items():
        proc.wait(timeout=600)
        out, err = files[stream]
        out.seek(0), err.seek(0)
        results[stream] = (proc.returncode, out.read().decode(), err.read().decode(errors="replace"))
        out.close(), err.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", choices=["duckdb", "bigquery"], default="duckdb")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--records", type=int, default=30000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--emulator-port", type=int, default=9050)
    args = parser.parse_args()
    rng = random.Random(args.seed)  # noqa: S311 - reproducible timing, not cryptography

    outcomes: collections.Counter[str] = collections.Counter()
    with contextlib.ExitStack() as stack:
        endpoint = stack.enter_context(bigquery_emulator(args.emulator_port)) if args.warehouse == "bigquery" else ""
        with tempfile.TemporaryDirectory(prefix="lorchestra-concurrency-") as tmp:
            for trial in range(1, args.trials + 1):
                workdir = Path(tmp) / f"trial-{trial}"
                workdir.mkdir()
                wh = DuckDBWarehouse(workdir) if args.warehouse == "duckdb" else BigQueryEmulatorWarehouse(endpoint)
                config = wh.config()
                if args.warehouse == "duckdb":
                    config["lock_timeout_seconds"] = 60 if trial % 2 else 0.3
                (workdir / "config.json").write_text(json.dumps(config))
                delay = rng.uniform(0, 0.5)
                results = race(workdir, delay, args.records)
                try:
                    rows: dict[str, int] = collections.Counter(r["object_type"] for r in wh.rows())
                    total, distinct = wh.counts()
                    outcome = classify(results, rows, args.records) if total == distinct else "FAILURE"
                except Exception as exc:  # noqa: BLE001 - a warehouse that no longer opens is the finding
                    outcome = f"FAILURE ({type(exc).__name__}: {str(exc)[:200]})"
                    rows = {}
                outcomes[outcome.split(" (")[0]] += 1
                timeout = config.get("lock_timeout_seconds", "-")
                print(
                    f"[{trial:>2}/{args.trials}] lock_timeout {timeout}, B {delay * 1000:.0f} ms after A: "
                    f"exit A={results['contact'][0]} B={results['email'][0]}, rows {dict(rows)} -> {outcome}",
                    flush=True,
                )
                for stream, (rc, _, err) in results.items():
                    if rc != 0 or outcome.startswith("FAILURE"):
                        failed = [s for s in err.splitlines() if "target-lorchestra failed:" in s]
                        print(f"  {stream}: {(failed or err.strip().splitlines()[-1:])[0][-220:]}")
                wh.cleanup()
    summary = {"warehouse": args.warehouse, "trials": args.trials, **outcomes}
    print(json.dumps(summary, indent=1))
    return 0 if not outcomes.get("FAILURE") else 1


if __name__ == "__main__":
    sys.exit(main())
