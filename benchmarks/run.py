"""Benchmark: target-lorchestra against the PyPI target ``target-duckdb``, same input, same invocation.

Sections (all by default; pick with ``--sections``):

- ``compare``: the clean re-ingest (``--size-mb``, 200 by default) into an empty DuckDB file, by both
  targets, best of ``--repeat`` runs each: wall time, records/s, MB/s, peak RSS, and the ratio.
- ``second-pass``: the same objects again, every record an update (target-lorchestra; the peer too
  unless ``--no-peer``): first pass vs second pass.
- ``scale``: target-lorchestra on 50 / 100 / 200 / 400 MB (``--scale``): time and peak RSS per size.
- ``bigquery``: target-lorchestra into the BigQuery emulator, counting load jobs and MERGE statements.

Each target runs as its own process reading the input file on stdin, as Meltano would run it; peak
RSS is the child's own ``ru_maxrss`` (from ``wait4``). The peer lives in ``.venv-peer`` (created here
when missing: it pins old dependencies and never goes into ``.venv``). Inputs are generated once per
size and seed by ``benchmarks/generate.py`` and cached in ``--work``.

Usage: ``.venv/bin/python benchmarks/run.py --size-mb 200 --repeat 3``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate, record_counts  # noqa: E402

PEER_VENV = ROOT / ".venv-peer"
PEER_PACKAGE = "target-duckdb==0.8.0"
OURS = ROOT / ".venv" / "bin" / "target-lorchestra"
PEER = PEER_VENV / "bin" / "target-duckdb"


@dataclass
class Input:
    path: Path
    records: int
    nbytes: int


@dataclass
class Run:
    name: str
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    records: int
    nbytes: int

    def row(self, baseline: Run | None = None) -> str:
        ratio = f"{baseline.seconds / self.seconds:5.1f}x" if baseline else ""
        return (
            f"| {self.name:<34} | {self.seconds:7.2f} s | {self.cpu_seconds:6.2f} s | "
            f"{self.records / self.seconds:9,.0f} | {self.nbytes / 1e6 / self.seconds:7.1f} | "
            f"{self.peak_rss_mb:7.0f} | {ratio:>6} |"
        )


HEADER = (
    "| run                                | wall      | CPU      | records/s | MB/s    | RSS MB  | ratio  |\n"
    "|------------------------------------|-----------|----------|-----------|---------|---------|--------|"
)


def make_input(work: Path, size_mb: float, seed: int, version: int) -> Input:
    """The cached Singer file for (size, seed, pass), generated when missing."""
    path = work / f"stream-{size_mb:g}mb-seed{seed}-pass{version}.singer"
    meta = path.with_suffix(".json")
    if not (path.exists() and meta.exists()):
        records = 0
        with path.open("wb") as out:
            counts = record_counts(size_mb, seed) if version == 2 else None
            for line in generate(size_mb, seed, version, counts):
                out.write(line)
                records += line.startswith(b'{"type":"RECORD"')
        meta.write_text(json.dumps({"records": records}))
    return Input(path, json.loads(meta.read_text())["records"], path.stat().st_size)


def run_child(cmd: list[str], stdin: Path, log: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MB) of one process reading ``stdin``.

    Fails loudly on a non-zero exit.
    """
    with stdin.open("rb") as source, log.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=source, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-5:]
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n" + "\n".join(tail))
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def fresh(path: Path) -> Path:
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)
    return path


def run_ours(inp: Input, db: Path, work: Path, name: str, extra: dict | None = None) -> Run:
    config = work / "ours-config.json"
    config.write_text(json.dumps({"duckdb_path": str(db), **(extra or {})}))
    seconds, cpu, rss = run_child([str(OURS), "--config", str(config)], inp.path, work / "ours.log")
    return Run(name, seconds, cpu, rss, inp.records, inp.nbytes)


def run_peer(inp: Input, db: Path, work: Path, name: str) -> Run:
    config = work / "peer-config.json"
    config.write_text(json.dumps({"path": str(db), "default_target_schema": "main"}))
    seconds, cpu, rss = run_child([str(PEER), "-c", str(config)], inp.path, work / "peer.log")
    return Run(name, seconds, cpu, rss, inp.records, inp.nbytes)


def best(runs: list[Run]) -> Run:
    return min(runs, key=lambda r: r.seconds)


def ensure_peer() -> None:
    if PEER.exists():
        return
    print(f"creating {PEER_VENV} with {PEER_PACKAGE} ...", flush=True)
    subprocess.run(["uv", "venv", "-q", "-p", "3.11", str(PEER_VENV)], check=True)
    # With its bytecode, like .venv (scripts/bootstrap): neither target compiles its imports at start-up.
    subprocess.run(["uv", "pip", "install", "-q", "--compile-bytecode", "-p", str(PEER_VENV), PEER_PACKAGE], check=True)


def check_ours(db: Path, inp: Input, *, updated: bool) -> str:
    """What landed, from raw_objects and the run's upsert.completed events (a sanity check of the run)."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT count(*) FROM raw_objects").fetchone()[0]
        events = con.execute(
            "SELECT payload FROM event_log WHERE event_type = 'upsert.completed' "
            "AND correlation_id = (SELECT correlation_id FROM event_log ORDER BY created_at DESC LIMIT 1)"
        ).fetchall()
    totals = {"inserted": 0, "updated": 0, "skipped_stale": 0, "batch_count": 0}
    for (payload,) in events:
        for k in totals:
            totals[k] += json.loads(payload)[k]
    expected = totals["updated"] if updated else totals["inserted"]
    assert expected == inp.records == rows, (totals, inp.records, rows)
    return f"raw_objects rows={rows:,}, last run: " + ", ".join(f"{k}={v:,}" for k, v in totals.items())


def machine() -> str:
    def sh(cmd: str) -> str:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, check=False).stdout.strip()  # noqa: S602

    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    mem = sh("free -g | awk '/Mem:/{print $2}'")
    return (
        f"{platform.node()}: {sh('nproc')} cores ({cpu}), {mem} GB RAM, Python {platform.python_version()}, "
        f"duckdb {duckdb.__version__}; load: {sh('uptime').split('load average:')[-1].strip()}"
    )


# -- sections ---------------------------------------------------------------------------------------


def compare(args: argparse.Namespace, work: Path) -> None:
    inp = make_input(work, args.size_mb, args.seed, 1)
    print(f"\n## compare: {inp.nbytes / 1e6:.0f} MB, {inp.records:,} records, best of {args.repeat}\n")
    print(HEADER)
    ours, peer = [], []
    for _ in range(args.repeat):  # interleaved, so both see the same background load
        ours.append(run_ours(inp, fresh(work / "ours.duckdb"), work, "target-lorchestra (DuckDB)"))
        if not args.no_peer:
            peer.append(run_peer(inp, fresh(work / "peer.duckdb"), work, "target-duckdb 0.8.0 (peer)"))
    if peer:
        print(best(peer).row())
    print(best(ours).row(best(peer) if peer else None))
    print(
        "\nall runs, wall s: lorchestra",
        [round(r.seconds, 2) for r in ours],
        "peer",
        [round(r.seconds, 2) for r in peer],
    )
    if peer:
        cpu = min(r.cpu_seconds for r in peer) / min(r.cpu_seconds for r in ours)
        print(f"CPU-time ratio (best peer / best lorchestra; less sensitive to other load): {cpu:.1f}x")
    print(check_ours(work / "ours.duckdb", inp, updated=False))


def second_pass(args: argparse.Namespace, work: Path) -> None:
    first = make_input(work, args.size_mb, args.seed, 1)
    second = make_input(work, args.size_mb, args.seed, 2)
    print(f"\n## second pass: the same {second.records:,} objects, every record an update, best of {args.repeat}\n")
    print(HEADER)
    runs: dict[str, list[Run]] = {"1": [], "2": [], "p1": [], "p2": []}
    for _ in range(args.repeat):
        db = fresh(work / "ours.duckdb")
        runs["1"].append(run_ours(first, db, work, "target-lorchestra pass 1 (inserts)"))
        runs["2"].append(run_ours(second, db, work, "target-lorchestra pass 2 (updates)"))
        if not args.no_peer:
            pdb = fresh(work / "peer.duckdb")
            runs["p1"].append(run_peer(first, pdb, work, "target-duckdb pass 1"))
            runs["p2"].append(run_peer(second, pdb, work, "target-duckdb pass 2"))
    one, two = best(runs["1"]), best(runs["2"])
    peer_one = best(runs["p1"]) if runs["p1"] else None
    peer_two = best(runs["p2"]) if runs["p2"] else None
    if peer_one and peer_two:
        print(peer_one.row())
        print(peer_two.row())
    print(one.row(peer_one))
    print(two.row(peer_two))
    print(f"\npass 2 / pass 1 = {two.seconds / one.seconds:.2f}")
    print(check_ours(work / "ours.duckdb", second, updated=True))


def scale(args: argparse.Namespace, work: Path) -> None:
    sizes = [float(s) for s in args.scale.split(",")]
    print(f"\n## scale: target-lorchestra, best of {args.repeat}\n")
    print(HEADER)
    for size in sizes:
        inp = make_input(work, size, args.seed, 1)
        runs = [
            run_ours(inp, fresh(work / "ours.duckdb"), work, f"target-lorchestra {inp.nbytes / 1e6:.0f} MB")
            for _ in range(args.repeat)
        ]
        print(best(runs).row(), f"(peak RSS of all runs: {max(r.peak_rss_mb for r in runs):.0f} MB)")


def bigquery(args: argparse.Namespace, work: Path) -> None:
    from bq_bench import run_bigquery  # the emulator section has its own module

    run_bigquery(args, work, make_input(work, args.bq_size_mb, args.seed, 1))


SECTIONS = {"compare": compare, "second-pass": second_pass, "scale": scale, "bigquery": bigquery}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", default="50,100,200,400")
    parser.add_argument("--bq-size-mb", type=float, default=20)
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--no-peer", action="store_true", help="skip target-duckdb")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "lorchestra-bench")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if not args.no_peer:
        ensure_peer()
    if not shutil.which(str(OURS)):
        raise SystemExit(f"{OURS} not found: run scripts/bootstrap (uv sync) first")
    print(f"machine: {machine()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    for name in args.sections.split(","):
        SECTIONS[name](args, args.work)
    print(f"\nload after: {machine().split('load: ')[-1]}")


if __name__ == "__main__":
    main()
