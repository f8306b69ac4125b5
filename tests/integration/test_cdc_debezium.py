"""Real change data capture: PostgreSQL -> Debezium on Kafka Connect -> bronze -> silver -> SCD2.

The PostgreSQL, the Connect worker and the broker are the session's, started by the project's
own service code. The lake is this module's own (a fresh home): it starts reading the CDC topic
at its current end, so changes other sessions made earlier are not part of it.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.generator.core_db import CoreBankingDB
from ray_platform.lake import layout
from ray_platform.lake.debezium import CDC_STREAMS, LANDED_TOPICS, land_core_changes
from ray_platform.lake.kafka_landing import OFFSETS_SCHEMA, read_offsets
from ray_platform.lake.pipeline import run_lake_day
from ray_platform.settings import load_settings
from ray_platform.storage import storage_for
from ray_platform.tables import table_store
from ray_platform.warehouse import dimensions as dims
from ray_platform.warehouse import model as wm

pytestmark = pytest.mark.integration

TOPIC = CDC_STREAMS["customer_changes"]
ACCOUNTS_TOPIC = CDC_STREAMS["account_changes"]
# Debezium's events carry the real commit time, so the bank's business date is today.
TODAY = dt.datetime.now(dt.UTC).date()
CONFIG = GeneratorConfig(
    customers=12, days=1, start_date=TODAY, seed=23, history_days=2, instruments=10,
    counterparties=1, desks=1, change_rate=0.1,
)  # fmt: skip


def _start_lake_at_topic_end(settings, topic: str) -> None:
    """Record the topic's current end as already landed, so this lake reads only what follows.

    The rows are dated yesterday: no silver run of today takes them for landed files.
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        ends = consumer.end_offsets(tps)
    finally:
        consumer.close()
    now, yesterday = dt.datetime.now(dt.UTC), TODAY - dt.timedelta(days=1)
    rows = [
        {"topic": topic, "partition": tp.partition, "start_offset": ends[tp] - 1,
         "end_offset": ends[tp] - 1, "record_count": 0, "bronze_path": "", "sha256": "",
         "size_bytes": 0, "ingest_date": yesterday, "run_id": "test-start", "landed_at": now}
        for tp in tps if ends[tp] > 0
    ]  # fmt: skip
    if rows:
        table_store(settings).write(
            layout.KAFKA_OFFSETS, pa.Table.from_pylist(rows, schema=OFFSETS_SCHEMA)
        )


def _landed(settings, topic: str = TOPIC) -> list[dict]:
    """Every change event of ``topic`` this lake has landed, in landing order."""
    from ray_platform.governance.crypto import read_bronze

    storage = storage_for(settings.lake_uri)
    out = []
    for path in read_offsets(settings, topic).column("bronze_path").to_pylist():
        if path:
            data = read_bronze(storage, path, settings)
            out += [json.loads(line) for line in data.splitlines() if line.strip()]
    return out


def _land_until(
    settings, done: Callable[[list[dict]], bool], timeout: float = 60.0, topic: str = TOPIC
) -> list:
    deadline = time.monotonic() + timeout
    while True:
        land_core_changes(TODAY, settings)
        events = _landed(settings, topic)
        if done(events):
            return events
        if time.monotonic() > deadline:
            raise AssertionError(f"change not landed within {timeout:.0f} s")
        time.sleep(1.0)


def _has(
    id_: str, op: str, key: str = "customer_id", **after: object
) -> Callable[[list[dict]], bool]:
    """Whether the events hold an ``op`` on the row whose ``key`` is ``id_``, with ``after``."""

    def check(events: list[dict]) -> bool:
        return any(
            e["op"] == op
            and (e["after"] or e["before"])[key] == id_
            and all((e["after"] or {}).get(k) == v for k, v in after.items())
            for e in events
        )

    return check


def _run_lake(settings) -> None:
    """The next run: the daily lake job with CDC (bronze, silver, gold), then the two SCD2
    dimensions, dim_customer and dim_account.

    The warehouse's own dimension load, not ``load_warehouse``: its fact loads need a silver
    ``trades`` table, which a one-day bank generated on a weekend does not have.
    """
    run_lake_day(TODAY, settings, kafka_topics=(), use_ray=False, cdc=True)
    store = table_store(settings)
    silver = dims.Silver(store)
    dims.load_dim_customer(store, silver, [TODAY])
    dims.load_dim_account(store, silver, TODAY, [TODAY])


def _versions(settings, cid: str, spec=wm.DIM_CUSTOMER, key: str = "customer_id") -> list[dict]:
    dim = table_store(settings).read(spec.path)
    rows = dim.filter(pc.equal(dim[key], cid)).to_pylist()
    return sorted(rows, key=lambda r: r["valid_from"])


def _silver(settings, name: str, cid: str, key: str = "customer_id") -> list[dict]:
    t = table_store(settings).read(layout.silver_table(name))
    return t.filter(pc.equal(t[key], cid)).to_pylist()


@pytest.fixture(scope="module")
def bank(connect_worker, postgres_server, tmp_path_factory):
    """A bank loaded into PostgreSQL, its extract landed in a fresh lake, and one lake run."""
    settings = load_settings(home=tmp_path_factory.mktemp("cdc-lake"))
    with postgres_server.connect() as con:  # the generator numbers customers from 1 each time
        con.execute("TRUNCATE core.customers, core.accounts")
    for topic in LANDED_TOPICS:
        _start_lake_at_topic_end(settings, topic)
    db = CoreBankingDB(postgres_server.dsn())
    generate_bank(settings.landing_uri, CONFIG, core_db=db)
    with postgres_server.connect() as con:
        ids = [r[0] for r in con.execute("SELECT customer_id FROM core.customers ORDER BY 1")]
    _land_until(
        settings, lambda evs: {(e["after"] or {}).get("customer_id") for e in evs} >= set(ids)
    )
    _run_lake(settings)
    return settings, db, ids


def test_accounts_stream_to_their_own_topic(bank, postgres_server):
    settings, _, _ = bank
    with postgres_server.connect() as con:
        accounts = {r[0] for r in con.execute("SELECT account_id FROM core.accounts")}
    assert accounts
    # Landed already by the fixture's last landing, or on a later one.
    deadline = time.monotonic() + 30
    while True:
        land_core_changes(TODAY, settings)
        landed = [e for e in _landed(settings, ACCOUNTS_TOPIC) if e["op"] == "c"]
        if {e["after"]["account_id"] for e in landed} >= accounts or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    assert {e["after"]["account_id"] for e in landed} == accounts
    assert all(isinstance(e["after"]["open_date"], int) for e in landed)  # raw: days since 1970


def test_update_reaches_silver_and_opens_a_version_delete_closes_it(bank):
    settings, db, ids = bank
    upd, gone = db.customer(ids[0]), db.customer(ids[1])
    segment = "private" if upd["segment"] != "private" else "premier"
    db.apply_events(
        [
            {"op": "u", "before": upd, "after": {**upd, "segment": segment}},
            {"op": "d", "before": gone, "after": None},
        ]
    )
    before = _versions(settings, ids[0])
    assert before and before[-1]["is_current"] and before[-1]["segment"] == upd["segment"]
    updated, deleted = _has(ids[0], "u", segment=segment), _has(ids[1], "d")
    events = _land_until(settings, lambda e: updated(e) and deleted(e))
    _run_lake(settings)

    assert [r["segment"] for r in _silver(settings, "customers", ids[0])] == [segment]
    assert _silver(settings, "customers", ids[1]) == []  # the delete removed the customer
    versions = _versions(settings, ids[0])
    assert len(versions) == len(before) + 1
    old, new = versions[-2:]
    assert (old["is_current"], new["is_current"]) == (False, True)
    assert (old["segment"], new["segment"]) == (upd["segment"], segment)
    commit = next(
        e["source"]["ts_ms"] for e in events
        if e["op"] == "u" and e["after"]["customer_id"] == ids[0]
        and e["after"]["segment"] == segment
    )  # fmt: skip
    at = dt.datetime.fromtimestamp(commit / 1000, dt.UTC)
    assert old["valid_to"] == new["valid_from"] == at  # the version starts at the DB commit
    closed = _versions(settings, ids[1])
    assert closed and not any(r["is_current"] for r in closed)
    assert (
        closed[-1]["deleted_at"] is not None and closed[-1]["valid_to"] == closed[-1]["deleted_at"]
    )


def test_connector_restart_neither_loses_nor_duplicates(bank, connect_worker):
    settings, db, ids = bank
    cid = ids[2]
    assert connect_worker.stop()
    try:
        row = db.customer(cid)
        status = "dormant" if row["status"] != "dormant" else "active"
        kyc = "high" if row["kyc_risk_rating"] != "high" else "low"
        changed = {**row, "status": status}
        db.apply_events(  # two commits while nothing reads the replication slot
            [
                {"op": "u", "before": row, "after": changed},
                {"op": "u", "before": changed, "after": {**changed, "kyc_risk_rating": kyc}},
            ]
        )
    finally:
        assert connect_worker.start()
    events = _land_until(settings, _has(cid, "u", kyc_risk_rating=kyc))
    keys = [((e["after"] or e["before"])["customer_id"], e["source"]["lsn"]) for e in events]
    assert len(keys) == len(set(keys))  # no change landed twice
    mine = [e for e in events if e["op"] == "u" and e["after"]["customer_id"] == cid]
    assert [(e["after"]["status"], e["after"]["kyc_risk_rating"]) for e in mine[-2:]] == [
        (status, row["kyc_risk_rating"]),
        (status, kyc),
    ]
    _run_lake(settings)
    changes = _silver(settings, "customer_changes", cid)
    assert sum(1 for c in changes if c["status"] == status and c["op"] == "u") == 2
    assert len(changes) == len({(c["event_ts"], c["kyc_risk_rating"]) for c in changes})
    current = [v for v in _versions(settings, cid) if v["is_current"]]
    assert [(v["status"], v["kyc_risk_rating"]) for v in current] == [(status, kyc)]


def test_account_insert_update_delete_reach_silver_accounts(bank, postgres_server):
    settings, db, ids = bank
    with postgres_server.connect() as con:  # a valid account to copy (type, product, IBAN)
        cur = con.execute("SELECT * FROM core.accounts ORDER BY account_id LIMIT 1")
        names = [d.name for d in cur.description]
        model = dict(zip(names, cur.fetchone(), strict=True))
    aid = f"{model['account_id']}-CDC"
    assert ids[-1] not in {ids[0], ids[1], ids[2]}  # a customer the other tests leave alone
    db.insert_accounts([{**model, "account_id": aid, "customer_id": ids[-1], "status": "active"}])
    _land_until(settings, _has(aid, "c", "account_id"), topic=ACCOUNTS_TOPIC)
    _run_lake(settings)
    rows = _silver(settings, "accounts", aid, key="account_id")
    assert [(r["customer_id"], r["status"]) for r in rows] == [(ids[-1], "active")]

    # 'dormant', not 'blocked': the contract allows active, dormant and closed only.
    with postgres_server.connect() as con:
        con.execute("UPDATE core.accounts SET status = 'dormant' WHERE account_id = %s", (aid,))
    _land_until(settings, _has(aid, "u", "account_id", status="dormant"), topic=ACCOUNTS_TOPIC)
    _run_lake(settings)
    assert [r["status"] for r in _silver(settings, "accounts", aid, key="account_id")] == [
        "dormant"
    ]

    with postgres_server.connect() as con:
        con.execute("DELETE FROM core.accounts WHERE account_id = %s", (aid,))
    events = _land_until(settings, _has(aid, "d", "account_id"), topic=ACCOUNTS_TOPIC)
    _run_lake(settings)
    assert _silver(settings, "accounts", aid, key="account_id") == []
    assert model["account_id"] in {
        r["account_id"] for r in table_store(settings).read("silver/accounts").to_pylist()
    }  # the others stay
    changes = _silver(settings, "account_changes", aid, key="account_id")
    commits = [_commit(events, aid, op) for op in ("c", "u", "d")]
    assert sorted((c["event_ts"], c["op"], c["status"]) for c in changes) == [
        (commits[0], "c", "active"),
        (commits[1], "u", "dormant"),
        (commits[2], "d", None),
    ]
    # dim_account's versions begin and end at the database commits; the delete closes the last.
    versions = _versions(settings, aid, wm.DIM_ACCOUNT, "account_id")
    assert [(v["valid_from"], v["valid_to"], v["is_current"], v["status"]) for v in versions] == [
        (commits[0], commits[1], False, "active"),
        (commits[1], commits[2], False, "dormant"),
    ]


def _commit(events: list[dict], aid: str, op: str) -> dt.datetime:
    ms = next(
        e["source"]["ts_ms"] for e in events
        if e["op"] == op and (e["after"] or e["before"])["account_id"] == aid
    )  # fmt: skip
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def test_the_daily_job_with_cdc_lands_and_applies_a_database_change(bank, ray_cluster):
    """`jobs.daily --cdc` as a user submits it: its ingest step lands, its silver applies."""
    from ray_platform.streaming import end_offsets, read_from
    from tests.fixtures.ray import job_result, submit_job

    settings, db, ids = bank
    cid = ids[3]  # a customer the other tests leave alone
    row = db.customer(cid)
    city = "Zaandam" if row["city"] != "Zaandam" else "Delft"
    start = end_offsets(TOPIC, settings)
    db.apply_events([{"op": "u", "before": row, "after": {**row, "city": city}}])
    assert read_from(TOPIC, start, 1, 60, settings), "Debezium did not publish the change"
    out = submit_job(
        ray_cluster, "ray_platform.jobs.daily", "--date", TODAY.isoformat(), "--to", "silver",
        "--no-kafka", "--cdc", "--no-sla", settings=settings,
    )  # fmt: skip
    day = job_result(out)["days"][0]
    assert day["ok"], day
    assert [r["city"] for r in _silver(settings, "customers", cid)] == [city]
    assert any(
        c["op"] == "u" and c["city"] == city for c in _silver(settings, "customer_changes", cid)
    )
