"""Encryption at rest: key managers (one contract, local and AWS KMS), column and bronze
encryption, rotation, tampering, and a real lake whose files hold none of the planted PII."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import os
import stat
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from ray_platform.errors import EncryptionError
from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.governance import crypto
from ray_platform.governance.kms import AwsKmsKeyManager, LocalKeyManager, key_manager
from ray_platform.lake.bronze import land_landing_date, read_manifest
from ray_platform.lake.gold import run_gold
from ray_platform.lake.silver import run_silver
from ray_platform.lake.tokens import token, token_key
from ray_platform.settings import load_settings
from ray_platform.storage import storage_for
from ray_platform.tables import table_store

pytestmark = pytest.mark.unit

# -- the key-manager contract ------------------------------------------------------------------


class KeyManagerContract:
    """What every key manager must do; subclasses provide the ``km`` fixture."""

    __test__ = False

    def test_data_key_round_trips_and_is_stored_only_wrapped(self, km):
        plain, wrapped = km.generate_data_key()
        assert len(plain) == 32 and plain not in wrapped
        assert km.unwrap(wrapped) == plain
        assert km.generate_data_key()[0] != plain

    def test_tampered_wrapped_key_is_refused(self, km):
        _, wrapped = km.generate_data_key()
        bad = wrapped[:-1] + bytes([wrapped[-1] ^ 1])
        with pytest.raises(EncryptionError):
            km.unwrap(bad)

    def test_rotation_rewraps_without_changing_the_data_key(self, km):
        plain, wrapped = km.generate_data_key()
        before = km.current_version()
        after = km.rotate()
        assert after != before and km.current_version() == after
        assert km.unwrap(wrapped) == plain  # old wraps still open until their version goes
        rewrapped = km.rewrap(wrapped)
        assert rewrapped != wrapped and km.unwrap(rewrapped) == plain
        if km.destroys_versions:
            km.destroy_version(before)
            assert km.unwrap(rewrapped) == plain
            with pytest.raises(EncryptionError):
                km.unwrap(wrapped)


class TestLocalKeyManager(KeyManagerContract):
    __test__ = True

    @pytest.fixture
    def km(self, tmp_path):
        km = LocalKeyManager(tmp_path)
        assert not km.initialised()
        km.initialise()
        return km

    def test_master_keys_are_private_files(self, km, tmp_path):
        (path,) = (tmp_path / "keys" / "master").iterdir()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    def test_the_current_version_cannot_be_destroyed(self, km):
        from ray_platform.errors import InvalidArgument

        with pytest.raises(InvalidArgument):
            km.destroy_version(km.current_version())

    def test_settings_choose_the_implementation(self, tmp_path):
        assert isinstance(key_manager(load_settings(home=tmp_path)), LocalKeyManager)
        aws = key_manager(load_settings(home=tmp_path, kms="aws", kms_key_id="alias/lake"))
        assert isinstance(aws, AwsKmsKeyManager) and aws.key_id == "alias/lake"


class TestAwsKmsKeyManager(KeyManagerContract):
    """AWS KMS as moto emulates it (GenerateDataKey, Decrypt, ReEncrypt, RotateKeyOnDemand)."""

    __test__ = True

    @pytest.fixture
    def km(self, monkeypatch):
        import boto3
        from moto import mock_aws

        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "eu-west-1"}.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        with mock_aws():
            client = boto3.client("kms", region_name="eu-west-1")
            key_id = client.create_key(Description="lake master")["KeyMetadata"]["KeyId"]
            yield AwsKmsKeyManager(key_id, client=client)


# -- columns and bronze files ------------------------------------------------------------------


@pytest.fixture
def home(tmp_path):
    settings = load_settings(home=tmp_path)
    key_manager(settings).initialise()
    return settings


def test_writers_leave_data_in_clear_until_keys_exist(tmp_path):
    s = load_settings(home=tmp_path)
    table = pa.table({"customer_id": ["C0000001"], "email": ["tok_1"]})
    assert not crypto.encryption_enabled(s)
    assert crypto.encrypt_columns(table, "silver/customers", s).equals(table)


def test_classified_columns_are_encrypted_and_decrypt_back(home):
    table = pa.table({"customer_id": ["C0000001", "C0000002"], "email": ["tok_a", None],
                      "iban": ["tok_b", "tok_c"], "city": ["Lyon", "Oslo"]})  # fmt: skip
    enc = crypto.encrypt_columns(table, "silver/customers", home)
    assert enc.schema == table.schema
    assert enc.column("customer_id").equals(table.column("customer_id"))
    assert enc.column("city").equals(table.column("city"))  # CLEAR_FOR_COMPUTE
    emails, ibans = enc.column("email").to_pylist(), enc.column("iban").to_pylist()
    assert emails[0].startswith("enc1:t-") and emails[1] is None
    assert all(v.startswith("enc1:") and "tok_" not in v for v in ibans)
    assert crypto.encrypt_columns(enc, "silver/customers", home).equals(enc)  # not twice
    assert crypto.decrypt_columns(enc, settings=home).equals(table)


def test_tampered_column_value_fails_authentication(home):
    enc = crypto.encrypt_columns(pa.table({"email": ["tok_a"]}), "silver/customers", home)
    value = enc.column("email")[0].as_py()
    swapped = value[:-3] + ("A" if value[-3] != "A" else "B") + value[-2:]
    with pytest.raises(EncryptionError, match="authentication"):
        crypto.decrypt_columns(pa.table({"email": [swapped]}), settings=home)


CSV = (b"customer_id,first_name,email\r\nC0000001,Ann,ann@x.example\r\n"
       b'C0000002,"Bob, Jr",bob@y.example\r\nC0000001,Ann,ann2@x.example\r\n')  # fmt: skip
JSONL = b"\n".join([
    b'{"card_id":"K0000001","customer_id":"C0000001","card_number":"4111111111111111"}',
    b"not json at all",
    b'{"card_id":"K0000002","customer_id":"C0000002","card_number":"5500000000000004"}',
])  # fmt: skip


@pytest.mark.parametrize(
    ("source", "name", "data"),
    [("core_banking", "customers.csv", CSV), ("cards", "cards.jsonl", JSONL),
     ("cards", "cards.jsonl.gz", gzip.compress(JSONL)), ("cards", "cards.jsonl", b"")],
)  # fmt: skip
def test_bronze_files_seal_per_customer_and_open_byte_exact(home, source, name, data):
    sealed = crypto.seal_bronze(data, source, name, home)
    for secret in (
        b"ann@x.example",
        b"Bob, Jr",
        b"4111111111111111",
        b"5500000000000004",
        b"C0000001",
        b"C0000002",
    ):
        assert secret not in sealed
    opened = crypto.open_bronze(sealed, home).data
    assert (gzip.decompress(opened) if name.endswith(".gz") else opened) == (
        gzip.decompress(data) if name.endswith(".gz") else data
    )
    if data:
        keys = crypto.frame_keys(sealed)
        assert crypto.customer_key_id("C0000001", home) in keys
        assert sum(k.startswith("f-") for k in keys) == 1  # the header / unattributable lines


def test_destroying_a_customer_key_shreds_only_their_records(home):
    sealed = crypto.seal_bronze(CSV, "core_banking", "customers.csv", home)
    crypto.KeyRing(home).destroy([crypto.customer_key_id("C0000001", home)])
    opened = crypto.open_bronze(sealed, home)
    assert opened.data == b'customer_id,first_name,email\r\nC0000002,"Bob, Jr",bob@y.example\r\n'
    assert opened.shredded_frames == 1
    # A record of the erased customer landing again is unreadable at once.
    again = crypto.seal_bronze(CSV, "core_banking", "customers.csv", home)
    assert b"ann" not in crypto.open_bronze(again, home).data


def test_tampered_bronze_frame_fails_authentication(home):
    sealed = bytearray(crypto.seal_bronze(CSV, "core_banking", "customers.csv", home))
    sealed[-5] ^= 0x01
    with pytest.raises(EncryptionError, match="authentication"):
        crypto.open_bronze(bytes(sealed), home)


def test_non_personal_feeds_are_not_sealed(home):
    assert crypto.personal_feed("market_data", "prices.csv") is None
    assert crypto.personal_feed("trading", "trades.xml") is None
    assert crypto.personal_feed("cards", "transactions-p0-0-9.jsonl") == "jsonl"  # Kafka batch
    # where kafka_landing really puts the topic's batches
    from ray_platform.lake.kafka_landing import stream_source

    stream = stream_source("transactions")
    assert crypto.personal_feed(stream, "transactions-p0-0-9.jsonl") == "jsonl"
    assert crypto.personal_feed(stream, "other-p0-0-9.jsonl") is None
    assert crypto.personal_feed("customer_mgmt", "customer_changes.jsonl.gz") == "jsonl"


def test_rotation_rewraps_every_data_key_and_the_old_master_can_go(home):
    sealed = crypto.seal_bronze(CSV, "core_banking", "customers.csv", home)
    enc = crypto.encrypt_columns(pa.table({"email": ["tok_a"]}), "silver/customers", home)
    registry = home.home / "keys" / "registry.db"
    mtime = {p: p.stat().st_mtime_ns for p in [registry]}
    done = crypto.KeyRing(home).rotate(destroy_old=True)
    assert done.version == "2" and done.destroyed_versions == ("1",)
    assert done.rewrapped == crypto.KeyRing(home).count() == 4  # 2 customers, file, table
    assert not (home.home / "keys" / "master" / "v000001.key").exists()
    assert registry.stat().st_mtime_ns != mtime[registry]
    fresh = crypto.KeyRing(home)  # nothing cached: every key is unwrapped under version 2
    assert crypto.open_bronze(sealed, home, fresh).data == CSV
    assert crypto.decrypt_columns(enc, settings=home, ring=fresh).column("email")[0].as_py() == (
        "tok_a"
    )


# -- a real lake -------------------------------------------------------------------------------

START = dt.date(2026, 1, 5)
DAYS = [START, START + dt.timedelta(days=1)]
PLANTED = {"first_name": "Zebulonplanted", "last_name": "Quixotewright",
           "email": "zebulon.quixotewright@planted.example", "phone": "+44 7700 900123",
           "national_id": "GB987654321"}  # fmt: skip


def _build(home: Path, encrypted: bool):
    s = load_settings(home=home)
    if encrypted:
        key_manager(s).initialise()
    generate_bank(s.landing_uri, GeneratorConfig(customers=30, days=len(DAYS), seed=11,
                                                 history_days=2, instruments=10, bad_rate=0.05,
                                                 trades_per_day=5))  # fmt: skip
    extract = Path(storage_for(s.landing_uri).path(f"core_banking/{START}/customers.csv"))
    rows = list(csv.DictReader(io.StringIO(extract.read_text())))
    victim = next(r for r in rows if r["customer_id"] and "@" in r["email"])
    victim.update(PLANTED)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[k for k in rows[0] if k], lineterminator="\n",
                            extrasaction="ignore")  # fmt: skip
    writer.writeheader()
    writer.writerows(rows)
    extract.write_text(out.getvalue())
    cards = Path(storage_for(s.landing_uri).path(f"cards/{START}/cards.jsonl")).read_text()
    card_numbers = []
    for line in cards.splitlines():
        try:
            card_numbers.append(str(json.loads(line)["card_number"]))
        except (ValueError, KeyError, TypeError):
            continue
    card_numbers = [c for c in card_numbers if len(c) >= 12][:3]
    for day in DAYS:
        land_landing_date(day, ingest_date=day, settings=s)
        run_silver(day.isoformat(), s, use_ray=False)
        run_gold(day, s)
    return s, victim, card_numbers


def _hits(root: Path, needles: list[str]) -> set[str]:
    """Needles found in any file under ``root``: raw bytes, gunzipped, and Parquet values."""
    found = set()
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        views = [data]
        if data[:2] == b"\x1f\x8b":
            views.append(gzip.decompress(data))
        if path.suffix == ".parquet":
            views.append(repr(pq.read_table(path).to_pylist()).encode())
        found |= {n for n in needles if any(n.encode() in v for v in views)}
    return found


@pytest.fixture(scope="module")
def lakes(tmp_path_factory):
    enc = _build(tmp_path_factory.mktemp("enc"), encrypted=True)
    clear = _build(tmp_path_factory.mktemp("clear"), encrypted=False)
    return enc, clear


def test_no_planted_pii_anywhere_in_the_encrypted_lake(lakes):
    (s, victim, cards), (clear_s, _, _) = lakes
    needles = [*PLANTED.values(), victim["iban"], victim["address_line"], *cards]
    landing = Path(storage_for(s.landing_uri).path())
    assert _hits(landing, needles) == set(needles)  # the search finds what is there
    assert _hits(Path(storage_for(clear_s.lake_uri).path("bronze")), needles) == set(needles)
    lake = Path(storage_for(s.lake_uri).path())
    assert {p.name for p in lake.iterdir()} >= {"bronze", "silver", "gold"}
    assert _hits(lake, needles) == set()


def test_encryption_is_transparent_to_the_pipeline(lakes):
    (s, victim, _), (clear_s, _, _) = lakes
    store, clear_store = table_store(s), table_store(clear_s)
    for name, keys in [("silver/customers", ["customer_id"]), ("silver/cards", ["card_id"]),
                       ("silver/_quarantine/customers", ["source_file", "record"])]:  # fmt: skip
        order = [(k, "ascending") for k in keys]
        got = crypto.decrypt_columns(store.read(name), name, s).sort_by(order)
        want = clear_store.read(name).sort_by(order)
        assert got.num_rows == want.num_rows > 0 and got.schema == want.schema
        for col in want.column_names:
            if col in ("_run_id", "run_id"):
                continue
            g, w = got.column(col).to_pylist(), want.column(col).to_pylist()
            if any(isinstance(v, str) and v.startswith("tok_") for v in w):
                # Tokens differ between the homes (each has its own token key): same shape.
                assert [v is None for v in g] == [v is None for v in w], col
            else:
                assert g == w, col
    customers = store.read("silver/customers")
    assert all(v.startswith("enc1:") for v in customers.column("email").to_pylist() if v)
    mine = crypto.decrypt_columns(customers, settings=s).filter(
        pc.equal(customers.column("customer_id"), victim["customer_id"])
    )
    assert mine.column("email")[0].as_py() == token(token_key(s), PLANTED["email"])
    assert set(store.read("gold/daily_customer_summary").column_names) == set(
        clear_store.read("gold/daily_customer_summary").column_names
    )
    assert store.read("gold/daily_customer_summary").num_rows == (
        clear_store.read("gold/daily_customer_summary").num_rows
    )


def test_bronze_keeps_the_manifest_sha_of_what_landed(lakes):
    (s, _, _), _ = lakes
    import hashlib

    lake = storage_for(s.lake_uri)
    landed = read_manifest(s).to_pylist()
    sealed = [r for r in landed if crypto.personal_feed(r["source"], r["file_name"])]
    assert sealed and len(sealed) < len(landed)  # market and trading data stay as they came
    for row in sealed:
        with lake.open(row["bronze_path"]) as fh:
            assert fh.read().startswith(crypto.BRONZE_MAGIC)
        plain = crypto.read_bronze(lake, row["bronze_path"], s)
        assert hashlib.sha256(plain).hexdigest() == row["sha256"]


def test_rotation_in_a_real_lake_rewrites_no_data(lakes, tmp_path):
    (s, _, _), _ = lakes
    lake = Path(storage_for(s.lake_uri).path())
    before = {p: p.stat().st_mtime_ns for p in lake.rglob("*") if p.is_file()}
    done = crypto.KeyRing(s).rotate(destroy_old=True)
    assert done.rewrapped > 30  # a key per customer, per file, per table
    assert {p: p.stat().st_mtime_ns for p in lake.rglob("*") if p.is_file()} == before
    masters = os.listdir(s.home / "keys" / "master")
    assert masters == [f"v{int(done.version):06d}.key"]
    store = table_store(s)
    assert crypto.decrypt_columns(store.read("silver/customers"), settings=s).num_rows > 0
    row = next(r for r in read_manifest(s).to_pylist() if r["file_name"] == "customers.csv")
    assert crypto.read_bronze(storage_for(s.lake_uri), row["bronze_path"], s)
