"""Debezium envelopes become the file path's change records, and silver treats them alike."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pytest

from ray_platform.contracts import contract
from ray_platform.generator.cdc import CustomerState
from ray_platform.generator.customers import new_customers
from ray_platform.lake.debezium import is_envelope, normalise_lines, to_change_record
from ray_platform.lake.silver_file import Context, process_file

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 3, 2)


def _pg_row(record: dict) -> dict:
    """A customer as Debezium's JsonConverter sends it: date as epoch days, µs timestamps."""
    row = dict(record)
    row["date_of_birth"] = (dt.date.fromisoformat(row["date_of_birth"]) - dt.date(1970, 1, 1)).days
    row["created_at"] = row["created_at"].replace("Z", ".000000Z")
    return row


def _envelope(event: dict, commit_ms: int, op: str | None = None) -> dict:
    return {
        "before": _pg_row(event["before"]) if event["before"] else None,
        "after": _pg_row(event["after"]) if event["after"] else None,
        "source": {
            "version": "3.6.1.Final", "connector": "postgresql", "name": "cdc",
            "ts_ms": commit_ms, "snapshot": "false", "db": "core", "schema": "core",
            "table": "customers", "txId": 731, "lsn": 26394104, "xmin": None,
        },
        "transaction": None,
        "op": op or event["op"],
        "ts_ms": commit_ms + 117,  # when the connector read it, a little after the commit
    }  # fmt: skip


@pytest.fixture
def events() -> list[dict]:
    """A create, updates and a delete from the generator's own change model."""
    rng = np.random.default_rng(7)
    state = CustomerState()
    customers = new_customers(1, 40, DAY, True, rng)
    for c in customers:
        c["status"] = "closed" if int(c["customer_id"][1:]) % 2 else c["status"]
    state.add(customers[:-1])
    created = [dict(customers[-1], created_at=f"{DAY}T08:00:00Z")]
    evs = state.day_events(DAY, created, 0.5, rng)
    if not any(e["op"] == "d" for e in evs):  # purges are rare: add one the way the model does
        gone = next(c for c in state.current.values() if c["status"] == "closed")
        last = evs[-1]
        evs.append({**last, "op": "d", "before": dict(gone), "after": None})
    assert {e["op"] for e in evs} == {"c", "u", "d"}  # the fixture covers every op
    return evs


def test_envelope_converts_to_the_file_record(events):
    for ev in events:
        env = _envelope(ev, 1_772_445_600_000)
        assert is_envelope(env) and not is_envelope(ev)
        rec = to_change_record(env)
        assert rec["op"] == ev["op"]
        assert rec["before"] == ev["before"] and rec["after"] == ev["after"]
        assert rec["ts_ms"] == 1_772_445_600_000  # the commit time, not the connector's read
        assert rec["source"] == {
            "connector": "postgresql", "db": "core", "schema": "core", "table": "customers",
            "lsn": 26394104, "txId": 731,
        }  # fmt: skip


def test_snapshot_read_is_an_update_and_truncate_is_refused(events):
    upd = next(e for e in events if e["op"] == "u")
    assert to_change_record(_envelope(upd, 1, op="r"))["op"] == "u"
    with pytest.raises(ValueError, match="unsupported Debezium op 't'"):
        to_change_record(_envelope(upd, 1, op="t"))


def test_normalise_keeps_lines_and_leaves_other_records_alone(events):
    file_line = json.dumps(events[0]).encode()
    lines = [json.dumps(_envelope(e, 1_000 + i)).encode() for i, e in enumerate(events[1:])]
    data = b"\n".join([file_line, b"not json", *lines]) + b"\n"
    out = normalise_lines(data)
    assert out.count(b"\n") == data.count(b"\n")
    got = out.split(b"\n")
    assert got[0] == file_line and got[1] == b"not json"
    assert [json.loads(x)["after"] for x in got[2:-1]] == [e["after"] for e in events[1:]]
    plain = b"\n".join(json.dumps(e).encode() for e in events) + b"\n"
    assert normalise_lines(plain) is plain  # the file path pays nothing


def test_silver_rows_equal_for_file_and_debezium_batches(events):
    """The same changes through both paths give the same silver rows (bar lineage columns)."""
    commit = [int(1_772_445_600_000 + 1000 * i) for i in range(len(events))]
    file_events = [dict(e, ts_ms=ms) for e, ms in zip(events, commit, strict=True)]
    file_data = b"".join(json.dumps(e).encode() + b"\n" for e in file_events)
    dbz_data = b"".join(
        json.dumps(_envelope(e, ms)).encode() + b"\n" for e, ms in zip(events, commit, strict=True)
    )
    c = contract("customer_changes")
    ids = sorted({(e["after"] or e["before"])["customer_id"] for e in events})
    ctx = Context("run-1", DAY.isoformat(), "EUR", b"k" * 32)
    ctx.known = {"customers.customer_id": pa.array(ids)}
    business_day = DAY + dt.timedelta(days=30)
    a = process_file(c, "file.jsonl", file_data, business_day, ctx)
    b = process_file(c, "cdc.core.customers-p0-0-9.jsonl", dbz_data, business_day, ctx)
    assert not a.quarantine and not b.quarantine
    assert a.good.num_rows == b.good.num_rows == len(events)
    lineage = ["_source_file"]
    assert a.good.drop(lineage).to_pylist() == b.good.drop(lineage).to_pylist()
