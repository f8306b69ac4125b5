"""Change events applied to their silver entity table: customers by customer_id, accounts by
account_id (``lake.cdc``), directly and through a silver run of account change files; and
``dim_account``'s versions from those account events."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest

from ray_platform.contracts import contract
from ray_platform.lake.cdc import apply_changes, change_key, target
from ray_platform.lake.silver import run_silver
from ray_platform.lake.tokens import token, token_key
from ray_platform.settings import load_settings
from ray_platform.tables import table_store
from ray_platform.warehouse import model as wm
from ray_platform.warehouse.dimensions import Silver, load_dim_account

pytestmark = pytest.mark.unit

DAY = "2026-01-05"
ACC_HEADER = "account_id,customer_id,account_type,status,open_date,product_code,currency,iban"
IBAN = "GB82WEST12345698765432"
CUST_HEADER = ("customer_id,first_name,last_name,email,phone,date_of_birth,national_id,"
               "address_line,city,postcode,country,region,iban,segment,kyc_risk_rating,status,"
               "created_at")  # fmt: skip


def _account(aid: str, cid: str = "C1", **kw: str) -> dict[str, str]:
    base = dict(zip(ACC_HEADER.split(","), [aid, cid, "current", "active", "2020-01-01", "P1",
                                            "EUR", IBAN], strict=True))  # fmt: skip
    return {**base, **kw}


def _customer(cid: str) -> dict[str, str]:
    return dict(zip(CUST_HEADER.split(","), [
        cid, "Ann", "Lee", "ann@example.com", "+44123", "1980-01-01", "GB1", "1 High Street",
        "London", "00001", "GB", "eu", IBAN, "retail", "low", "active",
        "2020-01-01T00:00:00Z"], strict=True))  # fmt: skip


def _write(home: Path, source: str, name: str, data: bytes) -> None:
    d = home / "lake" / "bronze" / source / f"ingest_date={DAY}"
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def _csv(header: str, rows: list[dict[str, str]]) -> bytes:
    return ("\n".join([header] + [",".join(r.values()) for r in rows]) + "\n").encode()


def test_each_change_contract_names_its_table_and_key():
    assert change_key(contract("account_changes")) == "account_id"
    found = [target(contract(n)) for n in ("customer_changes", "account_changes")]
    assert [(t.name, k) for t, k in found] == [
        ("customers", "customer_id"),
        ("accounts", "account_id"),
    ]


def _events(rows: list[tuple[str, str, str | None, int]]) -> pa.Table:
    """Silver-shaped account events: (op, account_id, status or None for a delete, event ms)."""
    return pa.table(
        {
            "op": [r[0] for r in rows],
            "event_ts": pa.array([r[3] * 1000 for r in rows], pa.timestamp("us", tz="UTC")),
            "account_id": [r[1] for r in rows],
            "status": [r[2] for r in rows],
            "_source_record": pa.array(range(1, len(rows) + 1), pa.int64()),
        }
    )


def test_apply_changes_to_accounts_orders_by_event_time_and_deletes(tmp_path):
    store = table_store(load_settings(home=tmp_path))
    name = "silver/accounts"
    store.write(name, pa.table({"account_id": ["A1", "A2", "A3"],
                                "status": ["active", "active", "active"]}))  # fmt: skip
    # Out of order in the batch: event time decides, and the last event of a key wins.
    events = _events(
        [
            ("u", "A1", "closed", 300),
            ("u", "A1", "dormant", 200),
            ("c", "A4", "active", 100),
            ("u", "A4", "dormant", 400),
            ("d", "A2", None, 500),
            ("u", "A3", "dormant", 100),
            ("d", "A3", None, 200),
            ("c", "A5", "active", 600),
            ("d", "A5", None, 50),  # deleted before it was created: the create stands
        ]
    )
    apply_changes(store, events, contract("account_changes"))
    rows = sorted(store.read(name).to_pylist(), key=lambda r: r["account_id"])
    assert rows == [
        {"account_id": "A1", "status": "closed"},
        {"account_id": "A4", "status": "dormant"},
        {"account_id": "A5", "status": "active"},
    ]


def test_silver_run_applies_account_changes(tmp_path):
    settings = load_settings(home=tmp_path)
    _write(tmp_path, "core_banking", "customers.csv", _csv(CUST_HEADER, [_customer("C1")]))
    a1, a2 = _account("A1"), _account("A2")
    _write(tmp_path, "core_banking", "accounts.csv", _csv(ACC_HEADER, [a1, a2]))
    new = _account("A3", product_code="P9")
    closed = {**a1, "status": "closed"}
    events = [
        {"op": "c", "before": None, "after": new, "ts_ms": 1767607200000},
        {"op": "u", "before": a1, "after": closed, "ts_ms": 1767610800000},
        {"op": "d", "before": a2, "after": None, "ts_ms": 1767614400000},
        # An account of a customer silver does not know is quarantined, not applied.
        {"op": "c", "before": None, "after": _account("A9", "C9"), "ts_ms": 1767614400000},
    ]
    body = "".join(json.dumps(e) + "\n" for e in events).encode()
    _write(tmp_path, "core_banking", "account_changes.jsonl", body)
    report = run_silver(DAY, settings, use_ray=False)
    assert report.tables["account_changes"].written == 3
    assert report.tables["account_changes"].quarantined == 1
    store = table_store(settings)
    accounts = {a["account_id"]: a for a in store.read("silver/accounts").to_pylist()}
    assert sorted(accounts) == ["A1", "A3"]
    assert accounts["A1"]["status"] == "closed"
    assert accounts["A3"]["product_code"] == "P9"
    assert accounts["A3"]["iban"] == token(token_key(settings), IBAN)
    changes = store.read("silver/account_changes").to_pylist()
    assert sorted((c["op"], c["account_id"]) for c in changes) == [
        ("c", "A3"),
        ("d", "A2"),
        ("u", "A1"),
    ]
    q = store.read("silver/_quarantine/account_changes").to_pylist()
    assert [(r["record_id"], r["rule"]) for r in q] == [("A9", "unknown_foreign_key")]


def _versions(store, aid: str) -> list[tuple[object, ...]]:
    rows = [r for r in store.read(wm.DIM_ACCOUNT.path).to_pylist() if r["account_id"] == aid]
    return sorted(
        (r["valid_from"], r["valid_to"], r["is_current"], r["status"], r["product_code"])
        for r in rows
    )


def test_dim_account_versions_start_at_the_commit_and_a_delete_closes_them(tmp_path):
    settings = load_settings(home=tmp_path)
    _write(tmp_path, "core_banking", "customers.csv", _csv(CUST_HEADER, [_customer("C1")]))
    a1, a2 = _account("A1"), _account("A2")
    _write(tmp_path, "core_banking", "accounts.csv", _csv(ACC_HEADER, [a1, a2]))
    at = [dt.datetime(2026, 1, 5, h, tzinfo=dt.UTC) for h in (10, 11, 12)]
    ms = [int(t.timestamp() * 1000) for t in at]
    events = [
        {"op": "c", "before": None, "after": _account("A3", product_code="P9"), "ts_ms": ms[0]},
        {"op": "u", "before": a1, "after": {**a1, "status": "dormant"}, "ts_ms": ms[1]},
        {"op": "d", "before": a2, "after": None, "ts_ms": ms[2]},
    ]
    body = "".join(json.dumps(e) + "\n" for e in events).encode()
    _write(tmp_path, "core_banking", "account_changes.jsonl", body)
    run_silver(DAY, settings, use_ray=False)
    store = table_store(settings)
    day = dt.date.fromisoformat(DAY)
    assert load_dim_account(store, Silver(store), day).version is not None

    opened = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)  # the extract's open_date
    assert _versions(store, "A1") == [
        (opened, at[1], False, "active", "P1"),  # the extract's state, until the commit
        (at[1], wm.OPEN_END, True, "dormant", "P1"),
    ]
    assert _versions(store, "A2") == [(opened, at[2], False, "active", "P1")]
    assert _versions(store, "A3") == [(at[0], wm.OPEN_END, True, "active", "P9")]
    # The same events again change nothing, and the deleted account is not reopened.
    assert load_dim_account(store, Silver(store), day, [day]).version is None
    assert load_dim_account(store, Silver(store), day + dt.timedelta(1)).version is None


def test_account_events_skip_what_the_chain_has_and_reopen_after_a_delete():
    from ray_platform.warehouse.scd2 import account_events

    t = [dt.datetime(2026, 1, 5, h, tzinfo=dt.UTC) for h in range(6)]
    acc = {k: v for k, v in _account("A1").items() if k != "iban"}
    acc["open_date"] = dt.date(2020, 1, 1)
    latest = {**acc, "valid_from": t[1], "valid_to": wm.OPEN_END, "is_current": True}
    events = [
        {"op": "u", "event_ts": t[0], **acc, "status": "closed"},  # before the version: in it
        {"op": "u", "event_ts": t[2], **acc, "currency": acc["currency"]},  # nothing tracked
        {"op": "d", "event_ts": t[3], "account_id": "A1"},
        {"op": "c", "event_ts": t[4], **acc, "status": "dormant"},  # the id is reused
    ]
    rows = account_events(latest, events)
    assert [(r["valid_from"], r["valid_to"], r["is_current"], r["status"]) for r in rows] == [
        (t[1], t[3], False, "active"),
        (t[4], wm.OPEN_END, True, "dormant"),
    ]
    assert account_events(rows[-1], events) == []  # a rerun over the same events
