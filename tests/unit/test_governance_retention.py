"""Retention over a small lake whose dates span more than seven years (dates set explicitly).

As of 2026-11-28 the cutoffs are bronze 2019-11-28, silver 2021-11-28, gold 2023-11-28: a unit
whose last day is before its cutoff expires, the cutoff day itself is kept.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ray_platform.cli.retention import app as retention_cli
from ray_platform.errors import DataQualityError, InvalidArgument
from ray_platform.governance import crypto
from ray_platform.governance import retention as ret
from ray_platform.governance.audit import audit_trail
from ray_platform.governance.kms import key_manager
from ray_platform.lake.bronze import land_file
from ray_platform.settings import get_settings, load_settings
from ray_platform.tables import table_store

pytestmark = pytest.mark.unit

AS_OF = dt.date(2026, 11, 28)
BRONZE_DAYS = [
    dt.date(2017, 6, 1),
    dt.date(2019, 11, 27),
    dt.date(2019, 11, 28),
    dt.date(2024, 1, 1),
]
SILVER_DAYS = [
    dt.date(2018, 3, 5),
    dt.date(2021, 11, 27),
    dt.date(2021, 11, 28),
    dt.date(2026, 1, 5),
]
GOLD_DAYS = [dt.date(2022, 1, 1), dt.date(2023, 11, 27), dt.date(2023, 11, 28)]
EXPIRED = {
    "bronze/cards/ingest_date=2017-06-01",
    "bronze/cards/ingest_date=2019-11-27",
    "bronze/market_data/ingest_date=2017-06-01",
    "silver/card_transactions/year=2018/month=3/day=5",
    "silver/card_transactions/year=2021/month=11/day=27",
    "gold/daily_customer_summary/business_date=2022-01-01",
    "gold/daily_customer_summary/business_date=2023-11-27",
}


def _customer(day: dt.date) -> str:
    return f"CU-{day:%Y%m%d}"


def build_lake(home: Path):
    """Bronze files landed on four ingest dates, a silver fact table partitioned by
    year/month/day/hour, a gold table by business_date, an unpartitioned silver entity table."""
    s = load_settings(home=home)
    src = home / "src"
    for day in BRONZE_DAYS:
        folder = src / day.isoformat()
        folder.mkdir(parents=True)
        rows = [
            {"transaction_id": f"T{day:%Y%m%d}{i}", "customer_id": _customer(day)} for i in range(3)
        ]
        (folder / "card_transactions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        land_file(str(folder / "card_transactions.jsonl"), "cards", ingest_date=day, settings=s)
    gz = src / "fx" / "fx_rates.csv.gz"
    gz.parent.mkdir()
    gz.write_bytes(gzip.compress(b"date,base,quote,rate\n2017-06-01,EUR,USD,1.120000\n"))
    land_file(str(gz), "market_data", ingest_date=BRONZE_DAYS[0], settings=s)

    store = table_store(s)
    rows = []
    for day in SILVER_DAYS:
        for hour in (1, 13):
            rows.append(
                {
                    "transaction_id": f"T{day:%Y%m%d}{hour}",
                    "customer_id": _customer(day),
                    "amount": 10.0 + hour,
                    "year": day.year,
                    "month": day.month,
                    "day": day.day,
                    "hour": hour,
                    "_ingest_date": day.isoformat(),
                }
            )
    schema = pa.schema(
        [
            ("transaction_id", pa.string()),
            ("customer_id", pa.string()),
            ("amount", pa.float64()),
            ("year", pa.int16()),
            ("month", pa.int8()),
            ("day", pa.int8()),
            ("hour", pa.int8()),
            ("_ingest_date", pa.string()),
        ]
    )
    for day in SILVER_DAYS:  # one commit per day, as silver runs write them
        part = [r for r in rows if r["_ingest_date"] == day.isoformat()]
        store.write(
            "silver/card_transactions",
            pa.Table.from_pylist(part, schema),
            partition_by=["year", "month", "day", "hour"],
        )
    gold = pa.table(
        {
            "business_date": pa.array(GOLD_DAYS, pa.date32()),
            "customer_id": [_customer(d) for d in GOLD_DAYS],
            "spend": [1.0, 2.0, 3.0],
        }
    )
    store.write("gold/daily_customer_summary", gold, partition_by=["business_date"])
    store.write("silver/customers", pa.table({"customer_id": ["CU-1"], "country": ["DE"]}))
    return s


@pytest.fixture
def lake(tmp_path):
    return build_lake(tmp_path)


def _files(home: Path) -> dict[str, str]:
    """Every file under the lake with its sha256."""
    root = home / "lake"
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _units(items) -> set[str]:
    return {f"{i.unit.dataset}/{i.unit.key}" for i in items}


def test_dry_run_lists_exactly_the_expired_partitions_and_changes_nothing(
    lake, capsys, monkeypatch
):
    before = _files(lake.home)
    p = ret.plan(AS_OF, lake)
    assert _units(p.expiring) == EXPIRED
    assert not p.held
    assert p.skipped == {"silver/customers": "not partitioned by date"}
    by_unit = {f"{i.unit.dataset}/{i.unit.key}": i for i in p.items}
    hours = by_unit["silver/card_transactions/year=2018/month=3/day=5"]
    assert hours.unit.rows == 2 and len(hours.unit.files) == 2  # both hours, one unit
    assert hours.cutoff == dt.date(2021, 11, 28) and hours.years == 5

    from ray_platform.jobs import retention as job

    monkeypatch.setenv("GBANK_HOME", str(lake.home))
    get_settings.cache_clear()
    try:
        assert job.main(["--as-of", AS_OF.isoformat(), "--dry-run"]) == 0
    finally:
        get_settings.cache_clear()
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    assert result["dry_run"] and result["expiring"] == len(EXPIRED)
    assert _files(lake.home) == before


def test_apply_archives_then_deletes_exactly_the_expired_partitions(lake):
    before = _files(lake.home)
    store = table_store(lake)
    silver_before = store.read("silver/card_transactions")
    result = ret.apply(ret.plan(AS_OF, lake), lake, actor="tester")
    assert not result.failed
    assert {f"{a['dataset']}/{a['partition']}" for a in result.archived} == EXPIRED
    after = _files(lake.home)
    gone = {p for p in before if p not in after}
    # Only data files of expired units went; nothing else (the Delta logs stay, grown).
    assert gone and all(any(p.startswith(u + "/") for u in EXPIRED) for p in gone)
    for unit in EXPIRED:
        assert not any(p.startswith(unit + "/") for p in after), unit
    assert (lake.home / "lake/bronze/cards/ingest_date=2019-11-28").is_dir()
    assert not (lake.home / "lake/bronze/cards/ingest_date=2017-06-01").exists()

    silver = store.read("silver/card_transactions")
    kept_days = {d for d in SILVER_DAYS if d >= dt.date(2021, 11, 28)}
    assert sorted(set(silver["_ingest_date"].to_pylist())) == sorted(
        d.isoformat() for d in kept_days
    )
    kept = silver_before.filter(
        pc.is_in(silver_before["_ingest_date"], pa.array([d.isoformat() for d in kept_days]))
    )
    assert silver.sort_by("transaction_id").equals(kept.sort_by("transaction_id"))
    gold = store.read("gold/daily_customer_summary")
    assert gold["business_date"].to_pylist() == [dt.date(2023, 11, 28)]

    # Each archive has a manifest whose checksums match the archive and every original file.
    for a in result.archived:
        m = ret.read_manifest(a["manifest"], lake)
        archive = lake.home / "lake" / m["archive"]["path"]
        assert hashlib.sha256(archive.read_bytes()).hexdigest() == m["archive"]["sha256"]
        assert {e["path"]: e["sha256"] for e in m["files"]} == {
            e["path"]: before[e["path"]] for e in m["files"]
        }
    log = store.read(ret.LOG_TABLE)
    assert sorted(log["action"].to_pylist()) == ["archived"] * len(EXPIRED)
    audited = audit_trail(lake).query(event="retention")
    assert audited[-1].actor == "tester" and len(audited[-1].details["archived"]) == len(EXPIRED)
    # Nothing left to do.
    assert not ret.plan(AS_OF, lake).items


def test_legal_holds_keep_their_partitions_until_released(lake):
    hold_partition = ret.place_hold(
        scope="partition",
        dataset="bronze/cards",
        partition="ingest_date=2017-06-01",
        reason="case 2026/117",
        placed_by="counsel",
        settings=lake,
    )
    hold_customer = ret.place_hold(
        scope="customer",
        customer_id=_customer(SILVER_DAYS[0]),
        reason="subpoena",
        placed_by="counsel",
        settings=lake,
    )
    policy = ret.load_policy().model_copy(
        update={
            "holds": [
                ret.LegalHold(
                    id="LH-POLICY",
                    scope="dataset",
                    dataset="gold/daily_customer_*",
                    reason="audit",
                    placed_by="cro",
                    placed_at=dt.datetime.now(dt.UTC),
                )
            ]
        }
    )
    p = ret.plan(AS_OF, lake, policy)
    held = {f"{i.unit.dataset}/{i.unit.key}": set(i.held_by) for i in p.held}
    assert held == {
        "bronze/cards/ingest_date=2017-06-01": {hold_partition.id},  # the partition hold
        "silver/card_transactions/year=2018/month=3/day=5": {hold_customer.id},  # customer
        "gold/daily_customer_summary/business_date=2022-01-01": {"LH-POLICY"},
        "gold/daily_customer_summary/business_date=2023-11-27": {"LH-POLICY"},
    }
    before = _files(lake.home)
    result = ret.apply(p, lake)
    after = _files(lake.home)
    for unit in held:
        assert [f for f in before if f.startswith(unit)] == [f for f in after if f.startswith(unit)]
    assert {f"{h['dataset']}/{h['partition']}" for h in result.held} == set(held)

    with pytest.raises(InvalidArgument, match=r"retention\.yaml"):
        ret.release_hold("LH-POLICY", released_by="x", reason="done", settings=lake, policy=policy)
    ret.release_hold(hold_partition.id, released_by="counsel", reason="case closed", settings=lake)
    again = ret.plan(AS_OF, lake, policy)
    assert "bronze/cards/ingest_date=2017-06-01" in _units(again.expiring)
    assert hold_customer.id in {h.id for h in ret.active_holds(lake, policy)}


def test_customer_hold_finds_the_customer_in_raw_bronze_files(lake):
    h = ret.place_hold(
        scope="customer",
        customer_id=_customer(BRONZE_DAYS[1]),
        reason="r",
        placed_by="p",
        settings=lake,
    )
    p = ret.plan(AS_OF, lake)
    assert {f"{i.unit.dataset}/{i.unit.key}" for i in p.held} == {
        "bronze/cards/ingest_date=2019-11-27"
    }
    assert p.held[0].held_by == (h.id,)


def test_customer_hold_keeps_an_expiring_encrypted_bronze_partition(tmp_path, caplog):
    """Encryption on: bronze files are sealed, so the customer id is found by its frame key."""
    key_manager(load_settings(home=tmp_path)).initialise()
    s = build_lake(tmp_path)
    held_day, other_day = BRONZE_DAYS[1], BRONZE_DAYS[0]
    folder = tmp_path / "lake" / "bronze" / "cards"
    (held_file,) = (folder / f"ingest_date={held_day}").iterdir()
    sealed = held_file.read_bytes()
    assert sealed.startswith(crypto.BRONZE_MAGIC)
    assert _customer(held_day).encode() not in sealed  # a text search alone would miss it
    assert crypto.customer_key_id(_customer(held_day), s) in crypto.frame_keys(sealed)

    h = ret.place_hold(
        scope="customer", customer_id=_customer(held_day), reason="r", placed_by="p", settings=s
    )
    p = ret.plan(AS_OF, s)
    assert {f"{i.unit.dataset}/{i.unit.key}": i.held_by for i in p.held} == {
        f"bronze/cards/ingest_date={held_day}": (h.id,)
    }
    expiring = _units(p.expiring)
    assert f"bronze/cards/ingest_date={other_day}" in expiring
    assert f"bronze/cards/ingest_date={held_day}" not in expiring

    # A sealed file that cannot be opened is kept for a customer hold, not searched past.
    (other_file,) = (folder / f"ingest_date={other_day}").iterdir()
    tampered = bytearray(other_file.read_bytes())
    tampered[-5] ^= 0x01
    other_file.write_bytes(bytes(tampered))
    with caplog.at_level("WARNING", logger=ret.__name__):
        again = ret.plan(AS_OF, s)
    assert f"bronze/cards/ingest_date={other_day}" in _units(again.held)
    assert "cannot be opened" in caplog.text

    result = ret.apply(p, s)  # the plan made before tampering: archives the other day
    assert not result.failed
    assert held_file.read_bytes() == sealed
    assert not (folder / f"ingest_date={other_day}").exists()
    assert f"bronze/cards/ingest_date={held_day}" in {
        f"{x['dataset']}/{x['partition']}" for x in result.held
    }


def test_archive_restores_byte_identical_files(lake):
    root = lake.home / "lake"
    originals = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    result = ret.apply(ret.plan(AS_OF, lake), lake)
    by_unit = {f"{a['dataset']}/{a['partition']}": a["manifest"] for a in result.archived}

    # Bronze: back where it was, byte for byte, gzip included.
    for unit in (
        "bronze/cards/ingest_date=2017-06-01",
        "bronze/market_data/ingest_date=2017-06-01",
    ):
        restored = ret.restore(by_unit[unit], lake)
        assert restored and all(p.startswith(unit + "/") for p in restored)
        for p in restored:
            assert (root / p).read_bytes() == originals[p]
    # Delta: the partition's Parquet files under _restored/, byte-identical, same rows.
    unit = "silver/card_transactions/year=2018/month=3/day=5"
    restored = ret.restore(by_unit[unit], lake)
    m = ret.read_manifest(by_unit[unit], lake)
    assert len(restored) == 2
    for entry, path in zip(sorted(m["files"], key=lambda e: e["member"]), restored, strict=True):
        assert (root / path).read_bytes() == originals[entry["path"]]
    rows = pa.concat_tables(pq.read_table(root / p) for p in restored)
    assert sorted(rows["transaction_id"].to_pylist()) == ["T201803051", "T2018030513"]
    with pytest.raises(InvalidArgument, match="overwrite"):
        ret.restore(by_unit[unit], lake)


def test_an_archive_that_does_not_verify_deletes_nothing(lake, monkeypatch):
    before = _files(lake.home)

    def corrupt(storage, archive, entries):
        raise DataQualityError(f"archive {archive['path']} fails verification")

    monkeypatch.setattr(ret, "_verify", corrupt)
    result = ret.apply(ret.plan(AS_OF, lake), lake)
    assert not result.archived and len(result.failed) == len(EXPIRED)
    after = _files(lake.home)
    assert {p: h for p, h in after.items() if p in before} == before  # nothing removed
    assert not any(p.endswith("manifest.json") for p in after)  # no archive counts as valid


def test_policy_cutoffs_and_overrides():
    policy = ret.load_policy()
    assert {z: p.years for z, p in policy.zones.items()} == {"bronze": 7, "silver": 5, "gold": 3}
    assert policy.years_for("gold", "gold/warehouse/fact_card_transactions") == 7
    assert policy.years_for("gold", "gold/daily_mcc_stats") == 3
    assert ret.cutoff(dt.date(2024, 2, 29), 5) == dt.date(2019, 2, 28)
    with pytest.raises(ValueError, match="needs customer_id"):
        ret.LegalHold(
            id="x", scope="customer", reason="r", placed_by="p", placed_at=dt.datetime.now(dt.UTC)
        )


def test_cli_plan_hold_release(lake, monkeypatch):
    monkeypatch.setenv("GBANK_HOME", str(lake.home))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = runner.invoke(retention_cli, ["plan", "--as-of", AS_OF.isoformat()])
        assert out.exit_code == 0, out.output
        assert f"{len(EXPIRED)} partitions expire" in out.output
        out = runner.invoke(
            retention_cli, ["hold", "--dataset", "gold/*", "--reason", "audit", "--by", "cro"]
        )
        assert out.exit_code == 0, out.output
        hold_id = out.output.split()[0]
        out = runner.invoke(retention_cli, ["plan", "--as-of", AS_OF.isoformat()])
        assert f"{len(EXPIRED) - 2} partitions expire" in out.output and "2 held" in out.output
        out = runner.invoke(retention_cli, ["release", hold_id, "--reason", "done"])
        assert out.exit_code == 0, out.output
        out = runner.invoke(retention_cli, ["apply", "--as-of", AS_OF.isoformat(), "--yes"])
        assert out.exit_code == 0, out.output
        assert f"{len(EXPIRED)} archived and deleted" in out.output
    finally:
        get_settings.cache_clear()
