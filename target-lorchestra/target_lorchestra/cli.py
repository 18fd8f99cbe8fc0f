"""``lorchestra``: operations on the warehouse (DDL rendering, migration, re-ingest, validation)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from target_lorchestra.tables import render_ddl_files


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lorchestra", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    ddl = sub.add_parser("ddl", help="render the BigQuery and DuckDB DDL files from the table definitions")
    ddl.add_argument("--dir", default="ddl", help="output directory (default: ddl)")
    ddl.add_argument("--check", action="store_true", help="fail if the files differ instead of writing them")
    ddl.set_defaults(func=cmd_ddl)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args))
