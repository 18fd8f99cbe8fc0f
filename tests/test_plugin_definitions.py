"""Each plugin's own ``--about`` (settings and capabilities) equals its meltano.yml entry: they cannot drift.

Meltano only passes the settings its entry declares (from env vars and ``meltano config``), and only
uses the capabilities it lists; a setting added to a tap but not to meltano.yml would be silently
unavailable, a renamed one silently ignored.
"""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TAPS = ("tap-gmail", "tap-exchange", "tap-dataverse", "tap-google-forms")


def _types(prop: dict[str, t.Any]) -> list[str]:
    types = prop.get("type", [])
    return [types] if isinstance(types, str) else list(types)


def _kind(prop: dict[str, t.Any]) -> str:
    """The Meltano setting kind for a JSON Schema property (Meltano's default kind is string)."""
    types = _types(prop)
    if prop.get("secret"):
        return "password"
    if "enum" in prop and "boolean" not in types:  # a boolean limited to one value stays a boolean
        return "options"
    for json_type, kind in (("integer", "integer"), ("number", "decimal"), ("boolean", "boolean"), ("array", "array")):
        if json_type in types:
            return kind
    if "object" in types:
        return "object"
    if prop.get("format") == "date-time":
        return "date_iso8601"
    return "string"


def expands(prop: dict[str, t.Any]) -> bool:
    """An object of fixed, plain-valued keys is declared as dotted names (``entity_sets.contact``)."""
    children = prop.get("properties") or {}
    return (
        "object" in _types(prop)
        and bool(children)
        and not isinstance(prop.get("additionalProperties"), dict)  # free-form keys (stream_maps): one object
        and not any("object" in _types(c) for c in children.values())
    )


def about_settings(properties: dict[str, t.Any], prefix: str = "") -> dict[str, tuple[str, bool]]:
    """``name -> (kind, secret)`` as Meltano would declare the plugin's settings."""
    settings: dict[str, tuple[str, bool]] = {}
    for name, prop in properties.items():
        if expands(prop):
            settings |= about_settings(prop["properties"], f"{prefix}{name}.")
        else:
            settings[prefix + name] = (_kind(prop), bool(prop.get("secret")))
    return settings


def about(executable: str) -> dict[str, t.Any]:
    done = subprocess.run([BIN / executable, "--about", "--format=json"], capture_output=True, check=True, text=True)
    return json.loads(done.stdout)


def meltano_entry(name: str) -> dict[str, t.Any]:
    plugins = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))["plugins"]
    return next(p for kind in ("extractors", "loaders") for p in plugins[kind] if p["name"] == name)


def declared_settings(entry: dict[str, t.Any]) -> dict[str, tuple[str, bool]]:
    return {s["name"]: (s.get("kind", "string"), bool(s.get("sensitive"))) for s in entry.get("settings", [])}


def advertised_options(properties: dict[str, t.Any], prefix: str = "") -> dict[str, list[t.Any]]:
    """``name -> allowed values`` of every setting the plugin limits to a list (``kind: options``)."""
    options: dict[str, list[t.Any]] = {}
    for name, prop in properties.items():
        if expands(prop):
            options |= advertised_options(prop["properties"], f"{prefix}{name}.")
        elif _kind(prop) == "options":
            options[prefix + name] = list(prop["enum"])
    return options


def _check(plugin: str) -> None:
    advertised, entry = about(plugin), meltano_entry(plugin)
    properties = advertised["settings"]["properties"]
    assert declared_settings(entry) == about_settings(properties)
    declared_options = {
        s["name"]: [o["value"] for o in s.get("options", [])] for s in entry["settings"] if s.get("kind") == "options"
    }
    assert declared_options == advertised_options(properties)
    assert sorted(entry["capabilities"]) == sorted(advertised["capabilities"])
    assert all(s.get("description") for s in entry["settings"]), "every setting has a description"


@pytest.mark.parametrize("tap", TAPS)
def test_tap_entry_equals_about(tap):
    _check(tap)


def test_target_entry_equals_about():
    _check("target-lorchestra")


@pytest.mark.parametrize("tap", TAPS)
def test_every_tap_setting_has_a_description(tap):
    properties = about(tap)["settings"]["properties"]
    own = {k: v for k, v in properties.items() if k not in SDK_BUILTINS}
    assert [k for k, v in own.items() if not v.get("description")] == []


#: Settings singer-sdk adds to every tap for its capabilities (stream maps, flattening, batch).
SDK_BUILTINS = frozenset(
    {
        "stream_maps",
        "stream_map_config",
        "faker_config",
        "flattening_enabled",
        "flattening_max_depth",
        "flattening_max_key_length",
        "flattening_separator",
        "batch_config",
    }
)
