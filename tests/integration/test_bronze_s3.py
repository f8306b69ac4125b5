from __future__ import annotations

import datetime as dt
import gzip
import hashlib

import pytest

from ray_platform.lake import bronze
from ray_platform.settings import load_settings
from ray_platform.storage import Storage, storage_for

pytestmark = pytest.mark.integration

DAY = dt.date(2024, 3, 1)
CSV = b"customer_id,name\nC1,Ann\nC2,Bob\n"
JSONL = b'{"id":1}\n{"id":2}\n{"id":3}\n'
XML = b"<trades><trade><id>1</id></trade><trade><id>2</id></trade></trades>\n"
FILES = {
    ("core_banking", "customers.csv"): (CSV, 2),
    ("cards", "card_transactions.jsonl.gz"): (gzip.compress(JSONL), 3),
    ("trading", "trades.xml"): (XML, 2),
}


def fill(landing: Storage) -> None:
    for (source, name), (data, _) in FILES.items():
        with landing.open(f"{source}/{DAY.isoformat()}/{name}", "wb") as out:
            out.write(data)
    with landing.open("_manifest/run.json", "wb") as out:
        out.write(b"{}")


def check_landed(settings, results) -> None:
    lake = storage_for(settings.lake_uri, settings.s3_endpoint_url)
    assert {f.status for f in results} == {"landed"}
    by_key = {(f.source, f.file_name): f for f in results}
    assert set(by_key) == set(FILES)
    for key, (data, records) in FILES.items():
        got = by_key[key]
        with lake.open(got.bronze_path) as handle:
            assert handle.read() == data
        assert got.sha256 == hashlib.sha256(data).hexdigest() and got.record_count == records
    manifest = bronze.read_manifest(settings)
    assert sorted(manifest["bronze_path"].to_pylist()) == sorted(f.bronze_path for f in results)


@pytest.fixture
def s3_lake(s3_server, tmp_path):
    bucket = s3_server.create_bucket()
    return load_settings(
        home=tmp_path, lake_uri=f"s3://{bucket}/lake", s3_endpoint_url=s3_server.endpoint_url
    )


def test_local_landing_to_s3_lake(s3_lake):
    landing = storage_for(s3_lake.landing_uri)
    fill(landing)
    first = bronze.land_landing_date(DAY, settings=s3_lake)
    check_landed(s3_lake, first)
    again = bronze.land_landing_date(DAY, settings=s3_lake)
    assert {f.status for f in again} == {"skipped_duplicate"}
    assert len(bronze.read_manifest(s3_lake)) == len(FILES)

    # Same name, other bytes, same ingest date: lands beside the first, suffixed.
    other = CSV + b"C3,Cy\n"
    with landing.open(f"core_banking/{DAY.isoformat()}/customers.csv", "wb") as out:
        out.write(other)
    [changed] = [f for f in bronze.land_landing_date(DAY, settings=s3_lake) if f.status == "landed"]
    assert changed.bronze_path.endswith(f"customers.{hashlib.sha256(other).hexdigest()[:8]}.csv")
    assert changed.record_count == 3


def test_s3_landing_to_local_lake(s3_server, tmp_path):
    bucket = s3_server.create_bucket()
    settings = load_settings(
        home=tmp_path, landing_uri=f"s3://{bucket}/landing", s3_endpoint_url=s3_server.endpoint_url
    )
    fill(storage_for(settings.landing_uri, settings.s3_endpoint_url))
    check_landed(settings, bronze.land_landing_date(DAY, settings=settings))
    single = bronze.land_path(
        f"s3://{bucket}/landing/trading/{DAY.isoformat()}/trades.xml", "trading", settings=settings
    )
    assert [f.status for f in single] == ["skipped_duplicate"]


class StorageContract:
    """What every Storage implementation must do; subclass with a ``storage`` fixture."""

    __test__ = False

    def test_write_then_read(self, storage: Storage):
        with storage.open("a/b/c.bin", "wb") as out:
            out.write(b"\x00\x01bytes")
        with storage.open("a/b/c.bin") as handle:
            assert handle.read() == b"\x00\x01bytes"

    def test_exists(self, storage: Storage):
        assert not storage.exists("x/y.txt")
        with storage.open("x/y.txt", "wb") as out:
            out.write(b"y")
        assert storage.exists("x/y.txt")

    def test_list(self, storage: Storage):
        for name in ("d/1.txt", "d/2.txt", "d/sub/3.txt"):
            with storage.open(name, "wb") as out:
                out.write(b"-")
        assert storage.list("d", recursive=True) == ["d/1.txt", "d/2.txt", "d/sub/3.txt"]
        assert storage.list("d") == ["d/1.txt", "d/2.txt", "d/sub"]
        assert storage.list("missing") == []

    def test_uri_and_path(self, storage: Storage):
        assert storage.uri("p/q") == f"{storage.root_uri}/p/q"
        assert storage.path("p/q").endswith("/p/q")
        assert storage.uri().startswith(f"{storage.scheme}://")


class TestLocalStorage(StorageContract):
    __test__ = True

    @pytest.fixture
    def storage(self, tmp_path):
        return storage_for(tmp_path.as_uri())


class TestS3Storage(StorageContract):
    __test__ = True

    @pytest.fixture
    def storage(self, s3_server):
        bucket = s3_server.create_bucket()
        return storage_for(f"s3://{bucket}/root", s3_server.endpoint_url)
