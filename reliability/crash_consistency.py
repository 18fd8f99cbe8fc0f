"""Crash consistency: kill -9 the target at random points of a re-ingest, rerun from the last STATE it wrote.

Every trial, on a fresh warehouse:

1. initial ingest: ``--objects`` objects, payload version 0, extracted at T0, run to completion;
2. re-ingest: the same objects plus ``--new`` new ones, version 1, extracted at T1, fed line by line to the
   target, which is killed with SIGKILL right after a random input line (plus a random 0-300 ms), stdin still
   open, so it dies mid-run: while reading, batching, MERGEing or writing STATE;
3. check, before anything else: every object before the last STATE that reached stdout is committed
   (version 1) - a STATE never runs ahead of the data;
4. rerun from that STATE (extracted at T2, as a real tap would, later) to completion; then check:
   0 objects lost, 0 duplicate idem_keys, every payload version 1, ``first_seen`` = T0 for every object of the
   initial ingest (preserved through the crash), ``last_seen`` T2 for replayed objects and T1 for the others.

The target drains all sinks and writes STATE every ``--drain-seconds`` (the SDK's max record age, normally
5 minutes, cut for the run) and MERGEs every ``--batch-size-rows`` records per stream, so kills land between
STATEs, inside MERGEs and right after STATEs alike.

    .venv/bin/python reliability/crash_consistency.py --warehouse duckdb --points 25
    .venv/bin/python reliability/crash_consistency.py --warehouse bigquery --points 20   # bqemulator
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common import (
    BigQueryEmulatorWarehouse,
    DuckDBWarehouse,
    bigquery_emulator,
    objects,
    run_target,
    state_pos,
    tap_lines,
    target_command,
)

T0, T1, T2 = "2024-06-01T10:00:00+00:00", "2024-06-08T10:00:00+00:00", "2024-06-08T11:00:00+00:00"


def micros(text: str) -> int:
    import datetime as dt

    moment = dt.datetime.fromisoformat(text)
    return int(moment.timestamp()) * 1_000_000


#: What a trial counts that must stay 0, named as in the summary. ``state_ahead_of_data``: objects before the
#: last STATE of the killed run that were not committed.
FAULTS = (
    "records_lost",
    "duplicate_idem_keys",
    "stale_payloads",
    "first_seen_changed",
    "last_seen_wrong",
    "state_ahead_of_data",
)


@dataclass
class Trial:
    point: int
    kill_after_line: int
    lines: int
    extra_delay_ms: int
    killed_by_signal: bool = False
    states_before_kill: int = 0
    resume_from: int = 0
    committed_before_rerun: int = 0
    rerun_ok: bool = False
    faults: Counter[str] = field(default_factory=Counter)  # of FAULTS: each must stay 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.killed_by_signal and self.rerun_ok and not any(self.faults.values())


def kill_mid_run(  # noqa: PLR0917
    config_file: Path, lines: list[bytes], kill_after: int, delay: float, drain: float, pace: float
) -> tuple:
    """Feed ``lines[:kill_after]`` (``pace`` seconds per 100 lines, as a tap paced by its API would) with stdin
    left open, wait ``delay``, SIGKILL. Returns (exit status, STATE values that reached stdout)."""
    proc = subprocess.Popen(
        [*target_command(drain), "--config", str(config_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    states: list[dict] = []

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            if raw.strip():
                states.append(json.loads(raw))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert proc.stdin is not None
    try:
        for i, line in enumerate(lines[:kill_after], 1):
            proc.stdin.write(line)
            if pace and i % 100 == 0:
                proc.stdin.flush()
                time.sleep(pace)
        proc.stdin.flush()
    except BrokenPipeError:
        pass  # the target died by itself: reported below as not killed by the signal
    time.sleep(delay)
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)
    rc = proc.wait()
    reader.join(timeout=10)
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.close()
    return rc, states


def run_trial(  # noqa: PLR0917
    args: argparse.Namespace, point: int, rng: random.Random, workdir: Path, make_wh, template
) -> Trial:
    started = time.monotonic()
    old = objects(args.objects)
    everything = old + objects(args.new, prefix="new")
    reingest = tap_lines(everything, start=0, version=1, extracted_at=T1, state_every=args.state_every)
    trial = Trial(point, rng.randint(1, len(reingest) - 1), len(reingest), rng.randint(0, 300))
    wh = make_wh()
    config = {**wh.config(), "batch_size_rows": args.batch_size_rows}
    config_file = workdir / f"config-{point}.json"
    config_file.write_text(json.dumps(config))
    try:
        if template is not None:
            wh.snapshot_from(template)
        else:
            initial = tap_lines(old, start=0, version=0, extracted_at=T0, state_every=args.state_every)
            rc, _, err = run_target(config_file, initial)
            if rc != 0:
                raise SystemExit(f"initial ingest failed: {err[-2000:]}")

        rc, states = kill_mid_run(
            config_file, reingest, trial.kill_after_line, trial.extra_delay_ms / 1000, args.drain_seconds, args.pace
        )
        trial.killed_by_signal = rc == -signal.SIGKILL
        trial.states_before_kill = len(states)
        trial.resume_from = state_pos(states[-1] if states else None)

        rows = {r["idem_key"]: r for r in wh.rows()}
        trial.committed_before_rerun = sum(1 for r in rows.values() if r["version"] == 1)
        trial.faults["state_ahead_of_data"] = sum(
            1 for o in everything[: trial.resume_from] if rows.get(o.idem_key, {}).get("version") != 1
        )

        rerun = tap_lines(everything, start=trial.resume_from, version=1, extracted_at=T2, state_every=args.state_every)
        rc, states, err = run_target(config_file, rerun, drain_seconds=args.drain_seconds)
        trial.rerun_ok = rc == 0 and state_pos(states[-1] if states else None) == len(everything)
        if rc != 0:
            trial.notes.append(err.strip().splitlines()[-1][:300] if err.strip() else f"exit {rc}")

        total, distinct = wh.counts()
        trial.faults["duplicate_idem_keys"] = total - distinct
        rows = {r["idem_key"]: r for r in wh.rows()}
        trial.faults["records_lost"] = sum(1 for o in everything if o.idem_key not in rows)
        trial.faults["stale_payloads"] = sum(1 for r in rows.values() if r["version"] != 1)
        trial.faults["first_seen_changed"] = sum(
            1 for o in old if o.idem_key in rows and rows[o.idem_key]["first_seen"] != micros(T0)
        )
        for pos, obj in enumerate(everything):
            row = rows.get(obj.idem_key)
            if row is None:
                continue
            want = micros(T2) if pos >= trial.resume_from else micros(T1)
            if row["last_seen"] != want:
                trial.faults["last_seen_wrong"] += 1
            if pos >= len(old) and row["first_seen"] not in (micros(T1), micros(T2)):
                trial.faults["first_seen_changed"] += 1
    finally:
        wh.cleanup()
        trial.seconds = round(time.monotonic() - started, 2)
    return trial


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", choices=["duckdb", "bigquery"], default="duckdb")
    parser.add_argument("--points", type=int, default=25, help="kill points (trials)")
    parser.add_argument("--objects", type=int, default=2000, help="objects of the initial ingest")
    parser.add_argument("--new", type=int, default=400, help="objects that appear with the re-ingest")
    parser.add_argument("--state-every", type=int, default=50, help="the fake tap's STATE interval (records)")
    parser.add_argument("--batch-size-rows", type=int, default=200, help="the target's batch size")
    parser.add_argument("--drain-seconds", type=float, default=0.25, help="STATE/drain interval of the target")
    parser.add_argument("--pace", type=float, default=0.02, help="seconds the fake tap pauses every 100 lines")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--emulator-port", type=int, default=9050)
    parser.add_argument("--json", help="write the per-trial results here")
    args = parser.parse_args()

    rng = random.Random(args.seed)  # noqa: S311 - reproducible kill points, not cryptography
    with tempfile.TemporaryDirectory(prefix="lorchestra-crash-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        template = None
        if args.warehouse == "duckdb":
            (workdir / "template").mkdir()
            template = DuckDBWarehouse(workdir / "template")
            (workdir / "template.json").write_text(json.dumps(template.config()))
            initial = tap_lines(
                objects(args.objects), start=0, version=0, extracted_at=T0, state_every=args.state_every
            )
            rc, _, err = run_target(workdir / "template.json", initial)
            if rc != 0:
                raise SystemExit(f"initial ingest failed: {err[-2000:]}")

            def make_wh() -> DuckDBWarehouse:
                return DuckDBWarehouse(workdir)
        else:
            endpoint = stack.enter_context(bigquery_emulator(args.emulator_port))

            def make_wh() -> BigQueryEmulatorWarehouse:
                return BigQueryEmulatorWarehouse(endpoint)

        trials = []
        for point in range(1, args.points + 1):
            trial = run_trial(args, point, rng, workdir, make_wh, template)
            trials.append(trial)
            faults = trial.faults
            print(
                f"[{point:>2}/{args.points}] kill after line {trial.kill_after_line:>5}/{trial.lines} "
                f"+{trial.extra_delay_ms:>3} ms: STATEs before kill {trial.states_before_kill:>2}, resume at "
                f"{trial.resume_from:>4}, committed {trial.committed_before_rerun:>4}; lost {faults['records_lost']}, "
                f"dup {faults['duplicate_idem_keys']}, first_seen changed {faults['first_seen_changed']}, "
                f"{'OK' if trial.ok else 'FAIL ' + '; '.join(trial.notes)} ({trial.seconds}s)",
                flush=True,
            )

    total = len(trials)
    summary = {
        "warehouse": args.warehouse,
        "kill_points": total,
        "killed_mid_run": sum(t.killed_by_signal for t in trials),
        "kills_after_a_state": sum(1 for t in trials if t.states_before_kill),
        "objects_per_trial": args.objects + args.new,
        **{fault: sum(t.faults[fault] for t in trials) for fault in FAULTS},
        "reruns_failed": sum(not t.rerun_ok for t in trials),
        "trials_ok": sum(t.ok for t in trials),
    }
    print(json.dumps(summary, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "trials": [asdict(t) for t in trials]}, indent=1))
    return 0 if summary["trials_ok"] == total else 1


if __name__ == "__main__":
    sys.exit(main())
