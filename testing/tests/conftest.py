"""The plugin's own tests: a tiny in-memory tap, so they test the harness and not a provider."""

from __future__ import annotations

pytest_plugins = ["pytester"]
