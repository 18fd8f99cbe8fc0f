"""Offline sandboxes of the provider APIs lorchestra ingests from.

Each provider module exposes ``create_app() -> ProviderApp`` seeded with realistic fake data for
every connection of the product spec. ``lorchestra-sandbox`` serves all four on fixed ports.
"""

from lorchestra_sandbox.core import Faults, ProviderApp, RunningApp, serve

__all__ = ["Faults", "ProviderApp", "RunningApp", "serve"]
