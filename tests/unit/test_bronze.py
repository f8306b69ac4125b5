from __future__ import annotations

import datetime as dt
import gzip
import hashlib
from pathlib import Path

import pytest

from ray_platform.errors import InvalidArgument, NotFound
from ray_platform.lake import bronze, layout
from ray_platform.settings import load_settings

pytestmark = pytest.mark.unit

DAY = dt.date(2024, 3, 1)
INGEST = dt.date(2024, 3, 2)

CSV = b"customer_id,name\nC1,Ann\nC2,Bob\nC3,Cy\n"
JSONL = b'{"id":1}\n{"id":2}\n{"id":3}\n{"id":4}\n'
XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<trades business_date="2024-03-01">\n'
    b"  <trade><trade_id>T1</trade_id><legs><leg>1</leg><leg>2</leg></legs></trade>\n"
    b"  <trade><trade_id>T2</trade_id></trade>\n</trades>\n"
)


@pytest.fixture
def env(tmp_path):
    settings = load_settings(home=tmp_path / "home")
    landing = tmp_path / "home" / "landing"
    return settings, landing, tmp_path / "home" / "lake"


def drop(landing: Path, source: str, name: str, data: bytes, day: dt.date = DAY) -> Path:
    path = landing / source / day.isoformat() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_land_file_is_byte_exact_with_manifest_row(env):
    settings, landing, lake = env
    src = drop(landing, "core_banking", "customers.csv", CSV)
    got = bronze.land_file(str(src), "core_banking", ingest_date=INGEST, settings=settings)
    assert got.status == "landed"
    assert got.bronze_path == "bronze/core_banking/ingest_date=2024-03-02/customers.csv"
    assert (lake / got.bronze_path).read_bytes() == CSV
    assert got.sha256 == sha(CSV) and got.size_bytes == len(CSV)
    rows = bronze.read_manifest(settings).to_pylist()
    assert len(rows) == 1
    row = rows[0]
    assert set(row) == set(bronze.MANIFEST_SCHEMA.names)
    assert row["record_count"] == 3 and row["count_error"] is None
    assert row["source"] == "core_banking" and row["file_name"] == "customers.csv"
    assert row["business_date"] == DAY and row["ingest_date"] == INGEST
    assert row["schema_version"] == "1" and row["run_id"] == got.run_id
    assert row["landing_path"] == src.as_uri()
    assert row["arrival_time"].tzinfo is not None


@pytest.mark.parametrize(
    ("name", "data", "records"),
    [
        ("customers.csv", CSV, 3),
        ("customers.csv", b"customer_id,name\n", 0),
        ("customers.csv", b"customer_id,name\nC1,Ann", 1),  # no final newline
        ("cards.jsonl", JSONL, 4),
        ("trades.xml", XML, 2),
        ("cards.jsonl.gz", gzip.compress(JSONL), 4),
        ("customers.csv.gz", gzip.compress(CSV[:20]) + gzip.compress(CSV[20:]), 3),
        ("trades.xml.gz", gzip.compress(XML), 2),
    ],
)
def test_record_counts(env, name, data, records):
    settings, landing, lake = env
    got = bronze.land_file(str(drop(landing, "cards", name, data)), "cards", settings=settings)
    assert (got.record_count, got.count_error) == (records, None)
    assert (lake / got.bronze_path).read_bytes() == data  # gz lands compressed, as it came
    assert got.compression == ("gzip" if name.endswith(".gz") else None)


@pytest.mark.parametrize(
    ("name", "data", "error"),
    [
        ("cards.jsonl.gz", gzip.compress(JSONL * 50)[:-30], "truncated"),
        ("cards.jsonl.gz", b"not gzip at all", "error"),
        ("cards.jsonl", b'{"x":"\xff\xfe"}\n', "UnicodeDecodeError"),
        ("trades.xml", b"<trades><trade></trades>", "ParseError"),
        ("notes.txt", b"hello\n", "cannot count"),
    ],
)
def test_uncountable_files_still_land(env, name, data, error):
    settings, landing, lake = env
    got = bronze.land_file(str(drop(landing, "cards", name, data)), "cards", settings=settings)
    assert got.status == "landed" and got.record_count is None
    assert error in got.count_error
    assert (lake / got.bronze_path).read_bytes() == data
    [row] = bronze.read_manifest(settings).to_pylist()
    assert row["record_count"] is None and error in row["count_error"]


def test_same_file_twice_keeps_one_copy(env):
    settings, landing, lake = env
    first = drop(landing, "cards", "cards.jsonl", JSONL)
    again = drop(landing, "cards", "cards.jsonl", JSONL, day=DAY + dt.timedelta(days=1))
    a = bronze.land_file(str(first), "cards", ingest_date=INGEST, settings=settings)
    b = bronze.land_file(
        str(again), "cards", ingest_date=INGEST + dt.timedelta(1), settings=settings
    )
    c = bronze.land_file(str(first), "cards", ingest_date=INGEST, settings=settings)
    assert a.status == "landed"
    assert b.status == c.status == "skipped_duplicate"
    assert b.bronze_path == c.bronze_path == a.bronze_path and b.record_count == 4
    assert len(bronze.read_manifest(settings)) == 1
    assert [p.name for p in (lake / "bronze").rglob("*") if p.is_file()] == ["cards.jsonl"]


def test_same_content_other_source_lands_for_each(env):
    settings, landing, _ = env
    for source in ("cards", "interactions"):
        src = drop(landing, source, "x.jsonl", JSONL)
        assert bronze.land_file(str(src), source, settings=settings).status == "landed"
    assert len(bronze.read_manifest(settings)) == 2


def test_same_name_other_content_keeps_both(env):
    settings, landing, lake = env
    # Compress once: gzip stamps the current second into its header, so a second
    # call could differ byte-for-byte from the file that was landed.
    one_bytes = gzip.compress(JSONL)
    one = drop(landing, "cards", "cards.jsonl.gz", one_bytes)
    other_bytes = gzip.compress(JSONL + b'{"id":5}\n')
    two = drop(landing, "cards", "cards.jsonl.gz", other_bytes, day=DAY + dt.timedelta(1))
    a = bronze.land_file(str(one), "cards", ingest_date=INGEST, settings=settings)
    b = bronze.land_file(str(two), "cards", ingest_date=INGEST, settings=settings)
    assert b.status == "landed"
    assert b.bronze_path.endswith(f"/cards.{sha(other_bytes)[:8]}.jsonl.gz")
    assert (lake / a.bronze_path).read_bytes() == one_bytes
    assert (lake / b.bronze_path).read_bytes() == other_bytes
    assert b.record_count == 5 and b.schema_version == "1"
    assert len(bronze.read_manifest(settings)) == 2


def test_rerun_never_modifies_bronze_files(env):
    settings, landing, lake = env
    drop(landing, "cards", "cards.jsonl", JSONL)
    drop(landing, "trading", "trades.xml", XML)
    first = bronze.land_landing_date(DAY, ingest_date=INGEST, settings=settings)
    files = sorted(p for p in (lake / "bronze").rglob("*") if p.is_file())
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    again = bronze.land_landing_date(DAY, ingest_date=INGEST, settings=settings)
    assert {f.status for f in first} == {"landed"}
    assert {f.status for f in again} == {"skipped_duplicate"}
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files} == before
    assert len(bronze.read_manifest(settings)) == 2


def test_landing_date_picks_up_every_source_and_skips_manifest(env):
    settings, landing, _ = env
    drop(landing, "core_banking", "customers.csv", CSV)
    drop(landing, "core_banking", "accounts.csv", CSV)
    drop(landing, "cards", "cards.jsonl", JSONL)
    drop(landing, "cards", "late.jsonl", b"{}\n", day=DAY + dt.timedelta(1))  # other day
    drop(landing, "_manifest", "run.json", b"{}")
    drop(landing, "cards", ".partial.jsonl", b"{}\n")
    got = bronze.land_landing_date(DAY, settings=settings)
    assert sorted((f.source, f.file_name) for f in got) == [
        ("cards", "cards.jsonl"),
        ("core_banking", "accounts.csv"),
        ("core_banking", "customers.csv"),
    ]
    assert {f.business_date for f in got} == {DAY}
    assert len({f.run_id for f in got}) == 1


def test_land_folder_recurses_and_reads_business_date(env):
    settings, landing, _ = env
    drop(landing, "cards", "cards.jsonl", JSONL)
    drop(landing, "cards", "cards.jsonl", JSONL + b"{}\n", day=DAY + dt.timedelta(1))
    got = bronze.land_path(str(landing / "cards"), "cards", settings=settings)
    assert sorted(f.business_date for f in got) == [DAY, DAY + dt.timedelta(1)]
    assert len({f.bronze_path for f in got}) == 2  # the second one suffixed


def test_crash_after_copy_registers_without_copying(env, monkeypatch):
    settings, landing, lake = env
    src = drop(landing, "cards", "cards.jsonl", JSONL)

    def crash(self):
        raise RuntimeError("crash before the manifest commit")

    with monkeypatch.context() as m:
        m.setattr(bronze._Lander, "commit", crash)
        with pytest.raises(RuntimeError):
            bronze.land_file(str(src), "cards", ingest_date=INGEST, settings=settings)
    copied = lake / layout.bronze_file("cards", INGEST, "cards.jsonl")
    mtime = copied.stat().st_mtime_ns
    got = bronze.land_file(str(src), "cards", ingest_date=INGEST, settings=settings)
    assert got.status == "registered" and got.record_count == 4
    assert copied.stat().st_mtime_ns == mtime
    assert len(bronze.read_manifest(settings)) == 1


def test_partial_unregistered_copy_is_replaced(env):
    settings, landing, lake = env
    src = drop(landing, "cards", "cards.jsonl", JSONL)
    partial = lake / layout.bronze_file("cards", INGEST, "cards.jsonl")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(JSONL[:5])
    got = bronze.land_file(str(src), "cards", ingest_date=INGEST, settings=settings)
    assert got.status == "landed" and got.bronze_path.endswith("/cards.jsonl")
    assert partial.read_bytes() == JSONL


def test_bad_arguments(env):
    settings, landing, _ = env
    with pytest.raises(InvalidArgument, match="unknown source"):
        bronze.land_path(str(landing), "nope", settings=settings)
    with pytest.raises(NotFound):
        bronze.land_path(str(landing / "missing.csv"), "cards", settings=settings)


def test_layout_paths():
    assert layout.bronze_dir("cards", DAY) == "bronze/cards/ingest_date=2024-03-01"
    assert layout.quarantine_table("accounts") == "silver/_quarantine/accounts"
    assert layout.BRONZE_MANIFEST == "_system/bronze_manifest"
    assert layout.KAFKA_OFFSETS == "_system/kafka_offsets"


@pytest.fixture
def cli(tmp_path, monkeypatch):
    import typer
    from typer.testing import CliRunner

    from ray_platform.cli import ingest
    from ray_platform.settings import get_settings

    app = typer.Typer()
    app.command("ingest")(ingest.ingest)
    app.command("ingest-kafka")(ingest.ingest_kafka)
    monkeypatch.setenv("GBANK_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield lambda *args: CliRunner().invoke(app, list(args))
    get_settings.cache_clear()


def test_cli_ingest(cli, env):
    _, landing, lake = env
    src = drop(landing, "cards", "cards.jsonl", JSONL)
    done = cli("ingest", "--source", "cards", "--path", str(src), "--ingest-date", "2024-03-02")
    assert done.exit_code == 0, done.output
    assert "landed\tbronze/cards/ingest_date=2024-03-02/cards.jsonl\t4 records" in done.output
    assert (lake / "bronze/cards/ingest_date=2024-03-02/cards.jsonl").read_bytes() == JSONL
    again = cli("ingest", "--source", "cards", "--path", str(landing))
    assert "1 skipped_duplicate" in again.output


def test_cli_ingest_bad_arguments(cli, env):
    _, landing, _ = env
    bad_date = cli("ingest", "--source", "cards", "--path", str(landing), "--ingest-date", "x")
    assert isinstance(bad_date.exception, InvalidArgument)
    bad_source = cli("ingest", "--source", "nope", "--path", str(landing))
    assert isinstance(bad_source.exception, InvalidArgument)
