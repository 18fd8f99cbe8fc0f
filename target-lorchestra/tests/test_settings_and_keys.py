"""Advertised settings are honoured or refused; idem_keys cannot collide; configuration errors come first."""

from __future__ import annotations

import json
import subprocess
import typing as t

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lorchestra_testing.target import TARGET, run_target, singer
from target_lorchestra import provenance
from target_lorchestra.errors import BadInputError

if t.TYPE_CHECKING:
    from pathlib import Path

    from lorchestra_testing.warehouses import DuckDBUnderTest

SCHEMA = {"type": "object", "properties": {"id": {"type": "string"}}}
ONE_RECORD = singer(
    {"type": "SCHEMA", "stream": "things", "schema": SCHEMA, "key_properties": ["id"]},
    {"type": "RECORD", "stream": "things", "record": {"id": "1"}},
    {"type": "STATE", "value": {"done": True}},
)
PROVENANCE = {"source_system": "files", "connection_name": "files-1"}


def _about() -> dict:
    out = subprocess.run([TARGET, "--about", "--format", "json"], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


# -- settings -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["append-only", "overwrite"])
def test_load_method_other_than_upsert_is_refused(duckdb_wh: DuckDBUnderTest, tmp_path: Path, method: str) -> None:
    result = run_target(duckdb_wh, ONE_RECORD, config={**PROVENANCE, "load_method": method}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "load_method" in result.stderr
    assert result.states == []
    assert duckdb_wh.raw_objects() == []


def test_load_method_upsert_is_accepted(duckdb_wh: DuckDBUnderTest, tmp_path: Path) -> None:
    result = run_target(duckdb_wh, ONE_RECORD, config={**PROVENANCE, "load_method": "upsert"}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [r["external_id"] for r in duckdb_wh.raw_objects()] == ["1"]


@pytest.mark.parametrize("hours", [-1, "a day"])
def test_a_bad_last_seen_refresh_hours_is_refused(duckdb_wh: DuckDBUnderTest, tmp_path: Path, hours: object) -> None:
    config = {**PROVENANCE, "last_seen_refresh_hours": hours}
    result = run_target(duckdb_wh, ONE_RECORD, config=config, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "last_seen_refresh_hours" in result.stderr
    assert result.states == []
    assert duckdb_wh.raw_objects() == []


def test_add_record_metadata_true_is_refused(duckdb_wh: DuckDBUnderTest, tmp_path: Path) -> None:
    result = run_target(duckdb_wh, ONE_RECORD, config={**PROVENANCE, "add_record_metadata": True}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "add_record_metadata" in result.stderr
    assert duckdb_wh.raw_objects() == []


def test_about_advertises_only_what_the_target_does() -> None:
    about = _about()
    settings = about["settings"]["properties"]
    assert settings["load_method"]["enum"] == ["upsert"]
    assert settings["load_method"]["default"] == "upsert"
    assert settings["add_record_metadata"]["enum"] == [False]
    assert "batch" in about["capabilities"]
    # batch_config configures how a tap writes its files: a target reads the manifest's URLs as given.
    assert "batch_config" not in settings


# -- configuration errors -------------------------------------------------------------------------------


def test_configuration_error_is_the_first_error_line(duckdb_wh: DuckDBUnderTest, tmp_path: Path) -> None:
    unusable = tmp_path / "a-directory"
    unusable.mkdir()
    result = run_target(duckdb_wh, ONE_RECORD, config={"duckdb_path": str(unusable)}, tmp_path=tmp_path)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line or "CRITICAL" in line]
    assert errors
    assert "target-lorchestra failed: cannot open duckdb_path" in errors[0]
    before, after = result.stderr.split("target-lorchestra failed")
    assert "event_log unavailable" not in before
    # Nothing lost: the events no warehouse took follow the error.
    assert '"event_type":"job.completed"' in after


# -- idem_key -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "config", "declared", "field"),
    [
        ("a:b", PROVENANCE, None, "object_type"),
        ("things", {"source_system": "fi:les", "connection_name": "c"}, None, "source_system"),
        ("things", {"source_system": "files", "connection_name": "c:1"}, None, "connection_name"),
        ("things", {}, {"source_system": "gmail", "connection_name": "gmail:acct1"}, "connection_name"),
    ],
)
def test_colon_in_provenance_is_refused(
    duckdb_wh: DuckDBUnderTest, tmp_path: Path, stream: str, config: dict, declared: dict | None, field: str
) -> None:
    schema = {**SCHEMA, "x-lorchestra": declared} if declared else SCHEMA
    text = singer(
        {"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": ["id"]},
        {"type": "RECORD", "stream": stream, "record": {"id": "1"}},
        {"type": "STATE", "value": {"done": True}},
    )
    result = run_target(duckdb_wh, text, config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.states == []
    assert f"stream {stream!r}" in result.stderr
    assert field in result.stderr
    assert "':'" in result.stderr
    assert duckdb_wh.raw_objects() == []
    assert any(e["event_type"] == "ingest.failed" for e in duckdb_wh.events())


names = st.text(min_size=1, max_size=6, alphabet="ab:-_")
ids = st.one_of(st.text(min_size=1, max_size=6, alphabet="ab:-_"), st.integers(min_value=0, max_value=99))


def _key(source: str, connection: str, object_type: str, external: str | int) -> str | None:
    """The idem_key the target builds for these four values, or None where it refuses them."""
    try:
        prov = provenance.resolve(object_type, {}, {"source_system": source, "connection_name": connection})
        return prov.idem_key(provenance.external_id({"id": external}, ["id"]))
    except BadInputError:
        return None


@given(a=st.tuples(names, names, names, ids), b=st.tuples(names, names, names, ids))
def test_distinct_provenance_gives_distinct_idem_keys(a: tuple, b: tuple) -> None:
    key_a, key_b = _key(*a), _key(*b)
    if key_a is not None and key_b is not None and (a[:3] != b[:3] or str(a[3]) != str(b[3])):
        assert key_a != key_b


@given(a=st.tuples(names, names, names, ids), data=st.data())
def test_resplitting_the_same_text_gives_distinct_idem_keys(a: tuple, data: st.DataObject) -> None:
    """The collision the rule prevents: the same joined text split into four parts at other colons."""
    joined = f"{a[0]}:{a[1]}:{a[2]}:{a[3]}"
    colons = [i for i, ch in enumerate(joined) if ch == ":"]
    cuts = sorted(data.draw(st.lists(st.sampled_from(colons), min_size=3, max_size=3, unique=True)))
    b = (joined[: cuts[0]], joined[cuts[0] + 1 : cuts[1]], joined[cuts[1] + 1 : cuts[2]], joined[cuts[2] + 1 :])
    if all(b) and b != (*(str(v) for v in a[:3]), str(a[3])):
        key_a, key_b = _key(*a), _key(*b)
        # One of the two is refused (a ':' outside external_id), or they differ.
        assert key_a is None or key_b is None or key_a != key_b


def test_external_id_may_contain_colons() -> None:
    assert _key("gmail", "gmail-acct1", "email", "a:b:c") == "gmail:gmail-acct1:email:a:b:c"


# -- streams without a key ------------------------------------------------------------------------------


def test_keyless_stream_error_names_the_stream_map_fix(duckdb_wh: DuckDBUnderTest, tmp_path: Path) -> None:
    text = singer(
        {"type": "SCHEMA", "stream": "things", "schema": SCHEMA, "key_properties": []},
        {"type": "RECORD", "stream": "things", "record": {"id": "1"}},
    )
    result = run_target(duckdb_wh, text, config=PROVENANCE, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "__key_properties__" in result.stderr
    assert "stream_maps" in result.stderr


def test_keyless_stream_lands_with_a_key_properties_stream_map(duckdb_wh: DuckDBUnderTest, tmp_path: Path) -> None:
    """The fix the error names works: a stream map gives the stream its key."""
    text = singer(
        {"type": "SCHEMA", "stream": "things", "schema": SCHEMA, "key_properties": []},
        {"type": "RECORD", "stream": "things", "record": {"id": "1"}},
    )
    stream_maps = {"things": {"__key_properties__": ["id"]}}
    result = run_target(duckdb_wh, text, config={**PROVENANCE, "stream_maps": stream_maps}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [r["idem_key"] for r in duckdb_wh.raw_objects()] == ["files:files-1:things:1"]
