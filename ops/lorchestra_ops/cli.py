"""lorchestra: operations on the warehouse (table definitions, migration, re-ingest, validation)."""

from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import version
from pathlib import Path

from target_lorchestra.errors import LorchestraError
from target_lorchestra.tables import TABLE_SETS, render_ddl_files
from target_lorchestra.warehouse import DEFAULT_DUCKDB_PATH


def cmd_ddl(args: argparse.Namespace) -> int:
    """Write ``ddl/`` from tables.py, or with --check report files that drifted."""
    out = Path(args.dir)
    drifted = []
    for relative, text in render_ddl_files().items():
        path = out / relative
        if args.check:
            if not path.exists() or path.read_text() != text:
                drifted.append(str(path))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    if drifted:
        print("out of date with tables.py (run `lorchestra ddl`): " + ", ".join(drifted), file=sys.stderr)
        return 1
    return 0


def warehouse_config(args: argparse.Namespace, *, existing: bool = False) -> dict:
    """The target config the operation works on: --config file, else DuckDB at --duckdb-path.

    ``existing``: the DuckDB file must exist already (opening it would otherwise create an empty one).
    """
    config: dict = {}
    if args.config:
        try:
            config = json.loads(Path(args.config).read_text())
        except (OSError, ValueError) as exc:
            raise LorchestraError(f"--config {args.config}: cannot read it as JSON ({exc})") from None
    if existing and (args.duckdb_path or (config and config.get("warehouse", "duckdb") == "duckdb")):
        path = args.duckdb_path or config.get("duckdb_path") or DEFAULT_DUCKDB_PATH
        if path != ":memory:" and not Path(path).is_file():
            raise LorchestraError(f"no DuckDB file at {path} (nothing was created); check the path")
    if args.duckdb_path:
        config.update(warehouse="duckdb", duckdb_path=args.duckdb_path)
    if args.tables:
        config.update(
            raw_objects_table=TABLE_SETS[args.tables]["raw_objects"],
            event_log_table=TABLE_SETS[args.tables]["event_log"],
        )
    return config


def cmd_validate(args: argparse.Namespace) -> int:
    """Run the five checks and print the report; exit 1 when one fails."""
    from target_lorchestra.warehouse import open_warehouse

    from lorchestra_ops.validation import render, run_checks

    warehouse = open_warehouse(warehouse_config(args, existing=True))
    try:
        checks = run_checks(warehouse)
    finally:
        warehouse.close()
    print(render(checks))
    return 0 if all(c.ok for c in checks) else 1


def cmd_migrate(args: argparse.Namespace) -> int:
    """Dry run by default; --yes archives, drops and recreates the tables."""
    from target_lorchestra.warehouse import open_warehouse

    from lorchestra_ops import migration

    table_sets = [args.tables] if args.tables else sorted(TABLE_SETS)
    config = warehouse_config(args, existing=True)
    config.pop("raw_objects_table", None), config.pop("event_log_table", None)
    admin = open_warehouse(config, check_tables=False)
    try:
        plans = migration.plan(admin, table_sets, replace_legacy=args.replace_legacy)
        if not args.yes:
            print("DRY RUN: nothing will change. Plan and schema comparison (before -> after):\n")
            print(migration.render(plans, type_names=admin.type_names, replace_legacy=args.replace_legacy))
            print("Rerun with --yes to carry it out.")
            return 0
        migration.execute(admin, plans, replace_legacy=args.replace_legacy)
        after = {p.name: admin.describe(p.name) for p in plans}
        print("MIGRATED. What was done and the schemas before -> after:\n")
        print(migration.render(plans, type_names=admin.type_names, replace_legacy=args.replace_legacy, after=after))
        return 0
    finally:
        admin.close()


def cmd_reingest(args: argparse.Namespace) -> int:
    """Run the Meltano jobs with fresh state (full backfill) and print record counts per job."""
    from target_lorchestra.warehouse import open_warehouse

    from lorchestra_ops import reingest
    from lorchestra_ops.run_counts import job_counts

    project = Path(args.project)
    meltano = reingest.find_meltano(args.meltano, project)
    config = warehouse_config(args, existing=args.resume)
    # The jobs write where the report reads: the same settings, as Meltano's environment variables.
    job_env = reingest.target_env(config)
    jobs = args.job or reingest.list_jobs(meltano, project)
    previous = None
    if args.resume:
        warehouse = open_warehouse(config)
        try:
            previous = reingest.previous_reingest(warehouse, jobs)
        finally:
            warehouse.close()
        if previous is None:
            raise LorchestraError("--resume: event_log holds no earlier re-ingest; run lorchestra reingest without it")
    reingest_id = previous.reingest_id if previous else reingest.new_reingest_id()
    reingest.progress(f"re-ingest {reingest_id}" + (" resumed" if previous else "") + f": {len(jobs)} jobs")
    reports = []
    for i, job in enumerate(jobs, 1):
        if previous and job in previous.done:
            run_id, returncode, seconds = previous.done[job], 0, 0.0
        else:
            reingest.progress(f"[{i}/{len(jobs)}] {job} ...")
            attempt = previous.attempts.get(job, 0) if previous else 0
            run_id = reingest.job_run_id(reingest_id, job, attempt)
            _, returncode, seconds = reingest.run_job(meltano, project, job, Path(args.log_dir), job_env, run_id=run_id)
        warehouse = open_warehouse(config)
        try:
            if returncode != 0:  # recorded for --resume: the target may have ended normally all the same
                reingest.record_failure(warehouse, run_id, job, returncode, seconds)
            report = reingest.JobReport(job, run_id, returncode, seconds, job_counts(warehouse, run_id))
        finally:
            warehouse.close()
        report.done_earlier = bool(previous and job in previous.done)
        reports.append(report)
        status = "ok" if returncode == 0 else f"FAILED (exit {returncode}; log: {args.log_dir}/{job}.log)"
        if report.done_earlier:
            status = "done earlier"
        reingest.progress(f"[{i}/{len(jobs)}] {job}: {report.records} records in {seconds:.1f}s, {status}")
    print(reingest.render(reports))
    return 0 if all(r.returncode == 0 for r in reports) else 1


def cmd_status(args: argparse.Namespace) -> int:
    """Freshness, volumes and failures per connection; exit 1 unless every one is fresh."""
    from lorchestra_ops import status_command

    return status_command.run(args, warehouse_config(args))


def _add_warehouse_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="the target's config file (JSON): warehouse, duckdb_path, bigquery, tables")
    parser.add_argument("--duckdb-path", help="the DuckDB warehouse file (instead of --config)")
    parser.add_argument("--tables", choices=sorted(TABLE_SETS), help="work on the production or the test tables")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lorchestra", description=__doc__)
    parser.add_argument("--version", action="version", version=f"lorchestra {version('lorchestra-ops')}")
    sub = parser.add_subparsers(dest="command", required=True)
    ddl = sub.add_parser("ddl", help="render the BigQuery and DuckDB DDL files from the table definitions")
    ddl.add_argument("--dir", default="ddl", help="output directory (default: ddl)")
    ddl.add_argument("--check", action="store_true", help="fail if the files differ instead of writing them")
    ddl.set_defaults(func=cmd_ddl)
    validate = sub.add_parser(
        "validate",
        help="check the warehouse (rows per source, events, upsert counts, idem_keys); exit 1 if a check fails",
    )
    _add_warehouse_args(validate)
    validate.set_defaults(func=cmd_validate)
    migrate = sub.add_parser(
        "migrate", help="copy raw_objects and event_log to *_legacy tables, then recreate them (a dry run unless --yes)"
    )
    _add_warehouse_args(migrate)
    migrate.add_argument("--yes", action="store_true", help="carry the plan out (default: dry run)")
    migrate.add_argument("--replace-legacy", action="store_true", help="overwrite existing *_legacy archives")
    migrate.set_defaults(func=cmd_migrate)
    reingest = sub.add_parser(
        "reingest", help="run every Meltano job from scratch (no saved state) and report the records of each"
    )
    _add_warehouse_args(reingest)
    reingest.add_argument("--job", action="append", help="only these jobs (repeatable; default: all in meltano.yml)")
    reingest.add_argument(
        "--meltano", help="the meltano program (default: the project's .venv-meltano, else meltano on PATH)"
    )
    reingest.add_argument("--project", default=".", help="the Meltano project directory")
    reingest.add_argument("--log-dir", default="output/logs", help="where each job's output is written")
    reingest.add_argument(
        "--resume",
        action="store_true",
        help="continue the latest re-ingest: skip the jobs that completed in it (read from event_log), run the rest",
    )
    reingest.set_defaults(func=cmd_reingest)
    from lorchestra_ops.status_command import add_arguments as add_status_arguments

    status = sub.add_parser("status", help="freshness, volumes and failures per connection; exit 1 unless all fresh")
    _add_warehouse_args(status)
    add_status_arguments(status)
    status.set_defaults(func=cmd_status)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        sys.exit(args.func(args))
    except LorchestraError as exc:
        print(f"lorchestra {args.command} failed: {exc}", file=sys.stderr)
        sys.exit(1)
