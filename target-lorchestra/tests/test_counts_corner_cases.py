"""Exact ``upsert.completed`` counts and rows in the corner cases of newest-wins, on every warehouse.

The input is built so that every count differs from the others (swapping two, or an off-by-one, shows),
and each corner case decides a row: a tie in ``time_extracted`` (equal is "newer or equal": replaced,
counted as updated), duplicates inside one batch (newest ``time_extracted``, then latest arrival), an
in-batch copy that arrives later but is older, older replays (skipped, row untouched), and
``time_extracted`` with non-UTC offsets (compared as instants, stored as the same instant).
"""

from __future__ import annotations

import datetime as dt

import pytest
from lorchestra_testing.inprocess import run_in_process
from lorchestra_testing.target import EMAIL_SCHEMA, singer

SCHEMA = EMAIL_SCHEMA
T0 = "2024-05-01T10:00:00Z"


def rec(key: str, at: str, v: int) -> dict:
    return {"type": "RECORD", "stream": "email", "record": {"id": key, "v": v}, "time_extracted": at}


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def run(wh, *records: dict, **config) -> dict:
    """One run; the payload of its (single) ``upsert.completed`` event."""
    result = run_in_process(wh, singer(SCHEMA, *records), config=config)
    assert result.returncode == 0, (result.error, repr(result.exception))
    events = wh.events()
    run_events = [e for e in events if e["correlation_id"] == events[-1]["correlation_id"]]
    [completed] = [e for e in run_events if e["event_type"] == "upsert.completed"]
    return completed["payload"]


def counts(payload: dict) -> dict:
    keys = ("total_records", "inserted", "updated", "skipped_stale", "duplicates_collapsed", "batch_count")
    return {k: payload[k] for k in keys}


def rows(wh) -> dict[str, tuple]:
    """external_id -> (v, first_seen, last_seen)."""
    return {r["external_id"]: (r["payload"]["v"], r["first_seen"], r["last_seen"]) for r in wh.raw_objects()}


#: Run 2, in arrival order. Stored before it: k1..k4 at T0 with v=1.
SECOND_RUN = [
    rec("k2", "2024-05-01T11:00:00Z", 2),  # newer than stored: replaces
    rec("n1", "2024-05-01T10:00:00Z", 1),
    rec("k1", T0, 2),  # tie with the stored row: replaces (newer or equal)
    rec("k3", "2024-05-01T09:00:00Z", 2),  # older replay: skipped
    rec("n1", "2024-05-01T12:00:00Z", 2),
    rec("k2", "2024-05-01T08:00:00Z", 3),  # arrives after k2@11:00 but is older: must not win
    rec("n1", "2024-05-01T12:00:00Z", 3),  # ties n1@12:00 and arrives later: wins
    rec("n2", T0, 1),
    rec("k3", "2024-05-01T09:30:00Z", 3),  # another older replay
    rec("n3", T0, 1),
    rec("n1", "2024-05-01T11:00:00Z", 4),  # arrives last but is older than n1@12:00
]

#: One batch: 11 records, 6 distinct keys. Many batches (4 rows each): counted per batch, where a key seen
#: in an earlier batch is a stored row (updated or stale), no longer a duplicate.
EXPECTED = {
    "one_batch": {
        "total_records": 11,
        "inserted": 3,  # n1 n2 n3
        "updated": 2,  # k1 (tie) k2
        "skipped_stale": 1,  # k3
        "duplicates_collapsed": 5,  # n1 x4, k2 x2, k3 x2
        "batch_count": 1,
    },
    "batches_of_4": {
        # [k2 upd, n1 ins, k1 upd, k3 stale] [n1 upd, k2 stale, n1 dup, n2 ins] [k3 stale, n3 ins, n1 stale]
        "total_records": 11,
        "inserted": 3,
        "updated": 3,
        "skipped_stale": 4,
        "duplicates_collapsed": 1,
        "batch_count": 3,
    },
}


@pytest.mark.parametrize("batching", ["one_batch", "batches_of_4"])
def test_counts_and_rows_in_the_corner_cases(wh, batching):
    first = run(wh, *(rec(k, T0, 1) for k in ("k1", "k2", "k3", "k4")))
    assert counts(first) == {
        "total_records": 4,
        "inserted": 4,
        "updated": 0,
        "skipped_stale": 0,
        "duplicates_collapsed": 0,
        "batch_count": 1,
    }

    config = {"batch_size_rows": 4} if batching == "batches_of_4" else {}
    second = run(wh, *SECOND_RUN, **config)

    assert counts(second) == EXPECTED[batching]
    t0 = utc(T0)
    # In batches, n1@10:00 is committed by the first batch and then replaced: it keeps that first_seen.
    n1_first_seen = t0 if batching == "batches_of_4" else utc("2024-05-01T12:00:00Z")
    assert rows(wh) == {
        "k1": (2, t0, t0),  # the tie replaced the payload
        "k2": (2, t0, utc("2024-05-01T11:00:00Z")),  # first_seen kept; the newest copy, not the last to arrive
        "k3": (1, t0, t0),  # both replays were older: untouched
        "k4": (1, t0, t0),  # not in the run
        "n1": (3, n1_first_seen, utc("2024-05-01T12:00:00Z")),  # newest, then latest arrival
        "n2": (1, t0, t0),
        "n3": (1, t0, t0),
    }


def test_offsets_are_instants(wh):
    """``10:00+02:00`` is 08:00Z: older than a stored 09:00Z, although its text sorts after it."""
    first = run(wh, *(rec(k, "2024-05-01T09:00:00Z", 1) for k in ("a", "b", "e")))
    assert first["inserted"] == 3

    second = run(
        wh,
        rec("a", "2024-05-01T10:00:00+02:00", 2),  # 08:00Z: older than stored
        rec("b", "2024-05-01T11:00:00+02:00", 2),  # 09:00Z: a tie, replaces
        rec("e", "2024-05-01T07:30:00-02:00", 2),  # 09:30Z: newer, although its text sorts before 09:00Z
        rec("c", "2024-05-01T01:30:00-05:00", 1),  # new, 06:30Z
        rec("d", "2024-05-01T08:45:00Z", 1),
        rec("d", "2024-05-01T10:30:00+02:00", 2),  # 08:30Z: arrives later, text sorts later, but older
    )

    assert counts(second) == {
        "total_records": 6,
        "inserted": 2,
        "updated": 2,
        "skipped_stale": 1,
        "duplicates_collapsed": 1,
        "batch_count": 1,
    }
    nine = utc("2024-05-01T09:00:00Z")
    assert rows(wh) == {
        "a": (1, nine, nine),
        "b": (2, nine, nine),
        "e": (2, nine, utc("2024-05-01T09:30:00Z")),
        "c": (1, utc("2024-05-01T06:30:00Z"), utc("2024-05-01T06:30:00Z")),
        "d": (1, utc("2024-05-01T08:45:00Z"), utc("2024-05-01T08:45:00Z")),
    }
