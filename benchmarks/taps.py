"""Benchmark: the four taps against their sandboxes with zero latency (issue 9).

For each tap (``--taps``, all by default) the script starts that provider's sandbox in this process on a
free loopback port (``lorchestra_sandbox.core.serve``, no fault and no delay switched on), seeds about
``--records`` records, then runs the tap's console script as its own process, as Meltano would, with
stdout to a file. It reports:

- records: RECORD messages the tap wrote (counted from the file after the run, per stream);
- wall s, and tap CPU s (user + system of the tap process, from ``wait4``);
- sandbox CPU s: this process's own CPU time during the run, i.e. the sandbox's server threads (the main
  thread only waits): with zero latency, wall ~ tap CPU + sandbox CPU (one request at a time);
- records/s by wall time, and by tap CPU time (the tap's own cost with an infinitely fast API);
- API requests: HTTP round trips the sandbox answered (its request log; token requests apart);
- start-up s: ``tap --about`` (imports and CLI only), best of 3;
- tap µs/rec: (tap CPU - start-up) per record, the tap's marginal cost of one record.

Gmail has its own line: batch requests vs ``ceil(messages / 50)`` (the issue's goal: at most one round
trip per 50 messages fetched). The tap runs with ``quota_units_per_second`` raised as in the taps' tests:
with the default 250 units/s, Gmail's per-user quota, the pacer allows one 50-message batch per second.

``--profile`` runs each tap once more under cProfile (after its imports: the start-up column covers those)
and prints its top functions by cumulative and by own time, plus the own time grouped by where it is spent
(singer-sdk, HTTP client, waiting on the sandbox's answer, JSON, the tap's code...): that names the
bottleneck.

Usage: ``.venv/bin/python benchmarks/taps.py [--records 3000] [--taps gmail,exchange] [--profile]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pstats
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import typing as t
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

from lorchestra_sandbox import dataverse, forms, gmail, graph
from lorchestra_sandbox.core import ProviderApp, RunningApp, serve

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
TAPS = ("gmail", "exchange", "dataverse", "google-forms")


@dataclass
class Setup:
    """A seeded sandbox and the tap config aimed at it."""

    script: str  # console script in .venv/bin
    tap_class: str  # "module:Class" of the console script (profiled without its imports)
    app: ProviderApp
    config: dict[str, t.Any]
    running: RunningApp | None = None


# -- seeding: each provider's own fake-data generators, scaled up ------------------------------------


def setup_gmail(n: int) -> Setup:
    """gmail-acct1 (refresh-token account) with ``n`` messages (about 7 % of them SPAM/TRASH, not listed)."""
    app = gmail.GmailApp()
    account = next(a for a in gmail.ACCOUNTS if a.connection_name == "gmail-acct1")
    app.mailboxes[account.email] = gmail.seed_mailbox(replace(account, count=n))
    config = {
        "connection_name": account.connection_name,
        "client_id": gmail.CLIENT_ID,
        "client_secret": gmail.CLIENT_SECRET,
        "refresh_token": account.refresh_token,
        "quota_units_per_second": 1_000_000,  # see the module docstring
    }
    return Setup("tap-gmail", "tap_gmail.tap:TapGmail", app, config)


def setup_exchange(n: int) -> Setup:
    """exchange-ben-mensio with ``n`` messages spread over its folders."""
    app = graph.GraphApp()
    tenant, upn, display_name, _ = graph.CONNECTIONS["exchange-ben-mensio"]
    graph.seed_mailbox(app, tenant, upn, display_name, n)
    return Setup("tap-exchange", "tap_exchange.tap:TapExchange", app, {})


def setup_dataverse(n: int) -> Setup:
    """dataverse-clinic with ``n`` rows over contacts/sessions/reports, in the seed's proportions (12:24:16)."""
    app = dataverse.DataverseApp()
    rng = random.Random(9)  # noqa: S311 - fake data
    for entity_set, share in (("contacts", 12), ("cr8a1_sessions", 24), ("cr8a1_reports", 16)):
        table = app.tables[entity_set]
        templates = list(table.rows.values())
        skip = {table.primary_id, "createdon", "modifiedon", "versionnumber", "_modifiedby_value"}
        for _ in range(n * share // 52 - len(templates)):
            app.create(entity_set, **{k: v for k, v in rng.choice(templates).items() if k not in skip})
    config = {
        "entity_sets": {"session": "cr8a1_sessions", "report": "cr8a1_reports"},
        "tenant_id": dataverse.TENANT_ID,
        "client_id": dataverse.CLIENT_ID,
        "client_secret": dataverse.CLIENT_SECRET,
    }
    return Setup("tap-dataverse", "tap_dataverse.tap:TapDataverse", app, config)


def setup_forms(n: int) -> Setup:
    """google-forms-intake-01 (adult intake form, OAuth user) with ``n`` responses."""
    app = forms.FormsApp()
    stored = app.forms[app.form_id("google-forms-intake-01")]
    rng = random.Random(11)  # noqa: S311 - fake data
    for _ in range(n - len(stored.responses)):
        created = rng.randint(forms.SEED_START, forms.SEED_END)
        forms._add(stored, rng, created, created)  # the sandbox's own generator
    return Setup("tap-google-forms", "tap_google_forms.tap:TapGoogleForms", app, {})


SETUPS: dict[str, t.Callable[[int], Setup]] = {
    "gmail": setup_gmail,
    "exchange": setup_exchange,
    "dataverse": setup_dataverse,
    "google-forms": setup_forms,
}


def start(name: str, n: int) -> Setup:
    """Seed, serve, and complete the config with the sandbox's URL (fast retries, as in the tests)."""
    setup = SETUPS[name](n)
    setup.running = running = serve(setup.app)
    url = running.url
    if name == "gmail":
        urls = {"api_url": url, "batch_url": f"{url}/batch/gmail/v1", "token_url": f"{url}/token"}
        setup.config |= urls | {"backoff_base_seconds": 0.01, "max_attempts": 5}
    elif name == "exchange":
        setup.config = graph.connection_config("exchange-ben-mensio", url) | {"backoff_base_seconds": 0.01}
    elif name == "dataverse":
        setup.config |= {"connection_name": "dataverse-clinic", "environment_url": url, "authority_url": url}
        setup.config |= {"backoff_base_seconds": 0.01, "ratelimit_pause_seconds": 0.0}
    else:
        app = t.cast("forms.FormsApp", setup.app)
        setup.config = app.tap_config("google-forms-intake-01", url) | {"backoff_base_seconds": 0.01}
    return setup


# -- running a tap ------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    seconds: float
    tap_cpu: float
    sandbox_cpu: float
    records: Counter[str]
    nbytes: int
    requests: Counter[str]  # kind -> count ("api", "token", "batch_item"); "batch" = api calls to /batch
    startup: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.records.values())

    def row(self) -> str:
        api = self.requests["api"]
        return (
            f"| {self.name:<16} | {self.total:7,} | {self.seconds:6.2f} | {self.tap_cpu:9.2f} | "
            f"{self.sandbox_cpu:13.2f} | {self.total / self.seconds:10,.0f} | {self.total / self.tap_cpu:13,.0f} | "
            f"{api:12,} | {self.total / max(api, 1):11.1f} | {self.startup:10.2f} | "
            f"{(self.tap_cpu - self.startup) / self.total * 1e6:13.0f} | {self.nbytes / 1e6:6.1f} |"
        )


HEADER = (
    "| tap              | records | wall s | tap CPU s | sandbox CPU s | rec/s wall | rec/s tap CPU "
    "| API requests | rec/request | start-up s | tap µs/rec   | out MB |\n"
    "|------------------|---------|--------|-----------|---------------|------------|---------------"
    "|--------------|-------------|------------|---------------|--------|"
)


def child_env() -> dict[str, str]:
    return os.environ | {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def run_tap(setup: Setup, work: Path, cmd: list[str]) -> tuple[float, float, float]:
    """Wall s, tap CPU s, sandbox CPU s of one run of ``cmd``; stdout to ``work/out.singer``."""
    setup.app.requests.clear()
    before = resource.getrusage(resource.RUSAGE_SELF)
    with (work / "out.singer").open("wb") as out, (work / "tap.log").open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=child_env())
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    if os.waitstatus_to_exitcode(status) != 0:
        tail = (work / "tap.log").read_text(errors="replace").splitlines()[-8:]
        raise SystemExit(f"{cmd[0]} failed:\n" + "\n".join(tail))
    sandbox = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return seconds, usage.ru_utime + usage.ru_stime, sandbox


def count_output(path: Path) -> Counter[str]:
    records: Counter[str] = Counter()
    with path.open("rb") as lines:
        for line in lines:
            message = json.loads(line)
            if message["type"] == "RECORD":
                records[message["stream"]] += 1
    return records


def count_requests(app: ProviderApp) -> Counter[str]:
    with app.lock:
        log = list(app.requests)
    kinds = Counter(r.kind for r in log)
    kinds["batch"] = sum(1 for r in log if r.kind == "api" and r.path.startswith("/batch/"))
    kinds["errors"] = sum(1 for r in log if r.kind in {"api", "batch_item"} and r.status >= 400)
    return kinds


def startup_seconds(setup: Setup) -> float:
    """Best of 3 ``tap --about``: interpreter, imports, CLI (no config, no network)."""
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([str(BIN / setup.script), "--about"], capture_output=True, check=True, env=child_env())
        best = min(best, time.perf_counter() - started)
    return best


def bench(name: str, setup: Setup, work: Path) -> Result:
    config = work / "config.json"
    config.write_text(json.dumps(setup.config))
    seconds, tap_cpu, sandbox_cpu = run_tap(setup, work, [str(BIN / setup.script), "--config", str(config)])
    result = Result(
        name,
        seconds,
        tap_cpu,
        sandbox_cpu,
        count_output(work / "out.singer"),
        (work / "out.singer").stat().st_size,
        count_requests(setup.app),
    )
    result.startup = startup_seconds(setup)
    if result.requests["errors"]:
        result.notes.append(f"{result.requests['errors']} API answers were errors: check {work / 'tap.log'}")
    return result


def gmail_line(result: Result) -> str:
    messages = result.records["email"]
    batches, items = result.requests["batch"], result.requests["batch_item"]
    others = result.requests["api"] - batches
    goal = math.ceil(messages / 50)
    verdict = "meets" if batches <= goal else "MISSES"
    return (
        f"gmail: {messages:,} messages, {batches} batch requests ({items:,} parts), {others} other requests "
        f"(profile/list) -> 1 round trip per {messages / max(batches, 1):.1f} messages fetched; "
        f"ceil({messages:,}/50) = {goal}: {verdict} the goal "
        f"(1 per {messages / max(result.requests['api'], 1):.1f} counting every API request)"
    )


# -- profiling ------------------------------------------------------------------------------------------

#: Own-time buckets, first match wins: (label, substrings of the pstats filename or builtin's name).
BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("waiting on the sandbox (socket recv)", ("recv_into", "'recv'", "poll", "select")),
    ("tap's own code", ("/tap_gmail/", "/tap_exchange/", "/tap_dataverse/", "/tap_google_forms/")),
    ("JSON (de)serialisation", ("json", "msgspec", "orjson", "simplejson")),
    ("JSON-schema validation", ("jsonschema", "fastjsonschema", "referencing")),
    ("singer-sdk (conform, typing, messages, state)", ("singer_sdk",)),
    ("HTTP client (requests/urllib3/http.client)", ("requests", "urllib3", "http/client", "socket", "ssl")),
    ("imports", ("importlib", "<frozen", "site-packages/__", "marshal", "_imp.")),
    ("base64 / email / regex", ("base64", "binascii", "/email/", "/re/", "sre_", "_sre")),
)


OTHER = "other (stdlib, click, backoff...)"


def bucket(func: tuple[str, int, str]) -> str | None:
    """The bucket of a function; None for a builtin no bucket names (its time is charged to its callers)."""
    filename, _, funcname = func
    text = funcname if filename == "~" else filename
    for label, needles in BUCKETS:
        if any(n in text for n in needles):
            return label
    return None if filename == "~" else OTHER


def own_time_by_bucket(entries: dict) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """Own seconds per bucket, and per bucket the functions they were spent in."""
    groups: Counter[str] = Counter()
    spent_in: dict[str, Counter[str]] = defaultdict(Counter)
    for func, (_, _, own, _, callers) in entries.items():
        label = bucket(func)
        shares: Counter[str] = Counter()
        if label is not None:
            shares[label] = own
        else:  # isinstance, dict.get...: split by the time spent under each caller
            for caller, (_, _, under, _) in callers.items():
                shares[bucket(caller) or OTHER] += under
        for name, seconds in (shares or Counter({OTHER: own})).items():
            groups[name] += seconds
            spent_in[name][short(func)] += seconds
    return groups, spent_in


def short(func: tuple[str, int, str]) -> str:
    filename, line, funcname = func
    if filename == "~":
        return funcname
    for marker in ("site-packages/", "/taps/", "/lib/python3.11/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({funcname})"


#: Imports the tap (start-up is measured apart), then profiles ``Tap.cli()``: config, discovery, sync.
PROFILED_CLI = """
import cProfile, importlib, sys
module, cls = sys.argv[1].split(":")
tap, out = getattr(importlib.import_module(module), cls), sys.argv[2]
del sys.argv[1:3]
cProfile.runctx("tap.cli()", globals(), {"tap": tap}, out)
"""


def profile(name: str, setup: Setup, work: Path, top: int) -> None:
    prof = work / "tap.prof"
    cmd = [str(BIN / "python"), "-c", PROFILED_CLI, setup.tap_class, str(prof)]
    seconds, cpu, _ = run_tap(setup, work, [*cmd, "--config", str(work / "config.json")])
    stats = pstats.Stats(str(prof))
    entries = stats.stats  # type: ignore[attr-defined]  # func -> (cc, nc, tottime, cumtime, callers)
    total = sum(e[2] for e in entries.values())
    print(f"\n### {name} under cProfile: {seconds:.2f} s wall, {cpu:.2f} s CPU, {total:.2f} s profiled own time")
    # The CLI's wrappers (click, invoke, sync_all...) each hold ~all the time: list what lies below them.
    below = {f: e for f, e in entries.items() if e[3] < 0.9 * total}
    for title, key, pool in (("cumulative (below the 90 % wrappers)", 3, below), ("own time", 2, entries)):
        print(f"\ntop {top} by {title}:\n| cum s | own s | calls | function |\n|------:|------:|------:|----------|")
        for func, (_, calls, own, cum, _) in sorted(pool.items(), key=lambda kv: -kv[1][key])[:top]:
            print(f"| {cum:6.2f} | {own:6.2f} | {calls:8,} | {short(func)} |")
    groups, spent_in = own_time_by_bucket(entries)
    print("\nown time by where it is spent (biggest functions in each):")
    for label, own in groups.most_common():
        biggest = ", ".join(f"{f.rsplit('/', 1)[-1]} {x:.3f}" for f, x in spent_in[label].most_common(2))
        print(f"  {own:6.2f} s  {own / total:5.1%}  {label}  [{biggest}]")


# -- main ---------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=3000, help="records seeded per tap (default 3000)")
    parser.add_argument("--taps", default=",".join(TAPS), help=f"comma-separated subset of {','.join(TAPS)}")
    parser.add_argument("--profile", action="store_true", help="also run each tap under cProfile")
    parser.add_argument("--top", type=int, default=12, help="functions listed per profile table")
    parser.add_argument("--work", type=Path, help="keep configs, outputs and profiles here (default: a temp dir)")
    args = parser.parse_args()
    names = [n.strip() for n in args.taps.split(",") if n.strip()]
    unknown = set(names) - set(TAPS)
    if unknown:
        parser.error(f"unknown taps {sorted(unknown)}; choose from {TAPS}")
    work_root = args.work or Path(tempfile.mkdtemp(prefix="tap-bench-"))
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    print(f"python {sys.version.split()[0]}, {args.records:,} records seeded per tap, zero latency, work {work_root}")
    results = []
    for name in names:
        work = work_root / name
        work.mkdir(parents=True, exist_ok=True)
        seeding = time.perf_counter()
        setup = start(name, args.records)
        url = t.cast("RunningApp", setup.running).url
        print(f"{name}: sandbox seeded in {time.perf_counter() - seeding:.1f} s, serving at {url}", flush=True)
        try:
            results.append(bench(name, setup, work))
            if args.profile:
                profile(name, setup, work, args.top)
        finally:
            t.cast("RunningApp", setup.running).stop()
    print(f"\n## taps against their sandboxes, zero latency\n{HEADER}")
    for result in results:
        print(result.row())
    for result in results:
        streams = ", ".join(f"{s} {n:,}" for s, n in sorted(result.records.items()))
        extra = f", {result.requests['token']} token requests"
        print(f"{result.name}: {streams}{extra}; {' '.join(result.notes)}".rstrip("; "))
        if result.name == "gmail":
            print(gmail_line(result))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.work is None and not args.profile:
        shutil.rmtree(work_root, ignore_errors=True)


if __name__ == "__main__":
    main()
