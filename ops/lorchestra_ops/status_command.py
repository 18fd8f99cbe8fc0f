"""The ``lorchestra status`` subcommand: its options, its clock, and what it prints or writes."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from target_lorchestra.errors import ConfigError

from lorchestra_ops.status_report import DEFAULT_LATE_FACTOR, build_report, render_text
from lorchestra_ops.status_schedules import load_expectations


def instant(text: str) -> dt.datetime:
    """An ISO 8601 instant; one without an offset is taken as UTC."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 timestamp: {text!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--project", help="the Meltano project directory, whose meltano.yml has the schedules (default: .)"
    )
    parser.add_argument(
        "--late-factor",
        type=positive,
        default=DEFAULT_LATE_FACTOR,
        help=f"late when the last success is older than this many schedule intervals (default {DEFAULT_LATE_FACTOR:g})",
    )
    parser.add_argument(
        "--now",
        type=instant,
        help="judge the warehouse as of this ISO 8601 instant (default: the current time; later events are ignored)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    parser.add_argument("--html", metavar="PATH", help="also write the report as one self-contained HTML page")


def run(args: argparse.Namespace, config: dict) -> int:
    """Print (and with --html write) the report; 0 when every connection is fresh, else 1."""
    from target_lorchestra.warehouse import open_warehouse

    from lorchestra_ops.status_page import render_page

    now = args.now or dt.datetime.now(dt.UTC)
    project_file = Path(args.project or ".") / "meltano.yml"
    if not project_file.exists():
        if args.project:
            raise ConfigError(f"--project {args.project}: no meltano.yml there")
        print(
            "lorchestra status: no meltano.yml here (see --project): no schedules, so nothing can be late or never run",
            file=sys.stderr,
        )
    expectations = load_expectations(project_file, now)
    warehouse = open_warehouse(config)
    try:
        report = build_report(warehouse, expectations, now=now, late_factor=args.late_factor)
    finally:
        warehouse.close()
    if args.html:
        path = Path(args.html)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_page(report, warehouse=describe_warehouse(config)), encoding="utf-8")
    print(json.dumps(report.to_json(), indent=2) if args.json else render_text(report))
    return 0 if report.ok else 1


def describe_warehouse(config: dict) -> str:
    """Which warehouse the report reads, for the page's header (never a credential)."""
    if (config.get("warehouse") or "duckdb") == "bigquery":
        bq = config.get("bigquery") or {}
        return f"BigQuery {bq.get('project_id') or '(default project)'}.{bq.get('dataset', '?')}"
    return f"DuckDB {config.get('duckdb_path') or 'output/lorchestra.duckdb'}"
