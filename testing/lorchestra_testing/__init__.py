"""lorchestra's test support: a pytest plugin (``plugin``) and the pieces it is built from."""

from __future__ import annotations

from lorchestra_testing.taps import Calls, TapRun, run_cli, run_tap

__all__ = ["Calls", "TapRun", "run_cli", "run_tap"]
