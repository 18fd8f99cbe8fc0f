"""``lorchestra validate`` fails on a warehouse built to break each check, and names the check that failed.

Each case loads the same good data with the real target, breaks one thing, and runs the CLI: exit 1, exactly
the expected checks marked FAIL (by number and name), the others PASS. All cases run on DuckDB; on BigQuery
those whose SQL differs between the engines (JSON_VALUE on the JSON payload, CONCAT / IS DISTINCT FROM).
"""

from __future__ import annotations

import json
import re

import pytest
from lorchestra_ops import cli
from lorchestra_testing.inprocess import run_in_process
from lorchestra_testing.target import DATA

CHECKS = {
    1: "raw_objects by source_system / connection_name / object_type",
    2: "event_log by event_type / source_system / connection_name / target_object_type",
    3: "upsert.completed events with counts",
    4: "idem_key = source_system:connection_name:object_type:external_id",
    5: "example queries",
}

#: case -> (statements that break the warehouse, the checks that must FAIL)
CASES: dict[str, tuple[list[str], set[int]]] = {
    "good": ([], set()),
    "raw_objects_empty": (["DELETE FROM {raw_objects} WHERE TRUE"], {1, 5}),
    "event_log_empty": (["DELETE FROM {event_log} WHERE TRUE"], {2, 3}),
    "no_upsert_completed": (["DELETE FROM {event_log} WHERE event_type = 'upsert.completed'"], {3}),
    "upsert_completed_without_counts": (
        ["UPDATE {event_log} SET payload = JSON '{{\"batch_count\": 1}}' WHERE event_type = 'upsert.completed'"],
        {3},
    ),
    "wrong_idem_key": (
        [
            "UPDATE {raw_objects} SET idem_key = CONCAT('gmail:gmail-acct2:email:', external_id) "
            "WHERE external_id = '18c5a7b2e3f4d5c7'"
        ],
        {4},
    ),
    "idem_key_of_another_object_type": (
        ["UPDATE {raw_objects} SET object_type = 'thread' WHERE external_id = '18c5a7b2e3f4d5c6'"],
        {4},
    ),
}
ON_BIGQUERY = ["good", "upsert_completed_without_counts", "wrong_idem_key"]
PARAMS = [pytest.param("duckdb", case, id=f"duckdb-{case}") for case in CASES] + [
    pytest.param("bigquery", case, id=f"bigquery-{case}") for case in ON_BIGQUERY
]


def validate(wh, tmp_path, capsys) -> tuple[int, str, str]:
    config = tmp_path / "ops.json"
    config.write_text(json.dumps(wh.config()))
    with pytest.raises(SystemExit) as exited:
        cli.main(["validate", "--config", str(config)])
    out, err = capsys.readouterr()
    return exited.value.code, out, err


@pytest.mark.parametrize(("wh", "case"), PARAMS, indirect=["wh"])
def test_validate_fails_the_check_a_warehouse_breaks(wh, tmp_path, capsys, case):
    assert run_in_process(wh, DATA / "emails_initial.singer").returncode == 0
    statements, failing = CASES[case]
    for sql in statements:
        wh.execute(sql)
    capsys.readouterr()

    code, out, err = validate(wh, tmp_path, capsys)

    assert err == ""
    verdicts = {int(n): (word, name) for word, n, name in re.findall(r"^(PASS|FAIL)  (\d)\. (.+?): ", out, re.M)}
    assert verdicts == {n: ("FAIL" if n in failing else "PASS", name) for n, name in CHECKS.items()}, out
    assert f"{5 - len(failing)}/5 checks passed" in out
    assert code == (1 if failing else 0)


def test_validate_refuses_a_table_with_a_missing_column(duckdb_wh, tmp_path, capsys):
    assert run_in_process(duckdb_wh, DATA / "emails_initial.singer").returncode == 0
    duckdb_wh.execute("ALTER TABLE {raw_objects} DROP COLUMN schema_ref")
    capsys.readouterr()

    code, out, err = validate(duckdb_wh, tmp_path, capsys)

    assert code == 1
    assert out == ""
    assert err.startswith("lorchestra validate failed: table 'raw_objects' exists with a different schema: ")
    assert "missing column schema_ref VARCHAR" in err
