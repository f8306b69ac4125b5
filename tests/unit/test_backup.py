"""Backup and restore: a small real lake, an MLflow run and the Feast registry into an empty home.

The restored home must answer the same SQL, list the same MLflow runs, params and artifacts and
the same Feast views; a table pinned to an older version comes back at that version; a tampered
backup and a non-empty target are refused before anything is written.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from features.store import apply, feature_store
from ray_platform.errors import DataQualityError, EncryptionError, InvalidArgument, NotFound
from ray_platform.ops.backup import backup, restore
from ray_platform.settings import load_settings
from ray_platform.tables import table_store
from tests.unit.features_contract import build_small_lake

pytestmark = pytest.mark.unit
OLD = "silver/card_transactions"  # backed up at an older version than its latest
QUERIES = {
    "spend": "SELECT t.customer_id, c.customer_id IS NOT NULL AS known, count(*) AS n, "
    "sum(t.amount_reporting) AS total FROM card_transactions t "
    "LEFT JOIN customers c USING (customer_id) GROUP BY ALL ORDER BY ALL",
    "transactions": "SELECT * FROM card_transactions ORDER BY ALL",
    "customers": "SELECT * FROM customers ORDER BY ALL",
    "manifest": "SELECT * FROM bronze_manifest ORDER BY ALL",
}


def _sql(settings, versions: dict[str, int] | None = None) -> dict[str, list[tuple]]:
    """Each query's rows, DuckDB over the tables as ray_platform.tables opens them."""
    store, versions = table_store(settings), versions or {}
    con = duckdb.connect()
    for name in (OLD, "silver/customers", "_system/bronze_manifest"):
        con.register(name.rsplit("/", 1)[-1], store.dataset(name, versions.get(name)))
    return {q: con.execute(sql).fetchall() for q, sql in QUERIES.items()}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    from mlflow import MlflowClient

    from ray_platform.governance.crypto import KeyRing
    from ray_platform.governance.kms import key_manager

    s = load_settings(home=tmp_path_factory.mktemp("backup_home"))
    build_small_lake(s)
    apply(s, "sqlite")
    client = MlflowClient(tracking_uri=s.mlflow_uri)
    exp = client.create_experiment(
        "fraud", artifact_location=(s.home / "mlflow" / "artifacts").as_uri()
    )
    run = client.create_run(exp)
    client.log_param(run.info.run_id, "max_depth", "6")
    client.log_metric(run.info.run_id, "auc", 0.91)
    client.log_text(run.info.run_id, "feature list v1", "model/features.txt")
    client.set_terminated(run.info.run_id)
    key_manager(s).initialise()
    KeyRing(s).keys(["customer:CU-1"], purpose="test")
    return s


@pytest.fixture(scope="module")
def backed_up(source, tmp_path_factory):
    dest = tmp_path_factory.mktemp("backups") / "full"
    done = backup(dest, source, as_of_versions={OLD: 2})
    return dest, done


@pytest.fixture(scope="module")
def restored(backed_up, tmp_path_factory):
    home = tmp_path_factory.mktemp("restored") / "home"
    done = restore(backed_up[0], home)
    return load_settings(home=home), done


def test_restored_lake_answers_the_same_sql(source, backed_up, restored):
    assert table_store(source).version(OLD) > 2  # the pin is older than the table's latest
    settings, done = restored
    assert done.tables[OLD] == 2 and table_store(settings).version(OLD) == 2
    got, want = _sql(settings), _sql(source, {OLD: 2})
    assert got == want
    assert all(want[q] for q in QUERIES)
    # Version 2 is not the latest: the restore did not bring the later rows back.
    assert want["transactions"] != _sql(source)["transactions"]
    # Every other table comes back at its latest version.
    latest = {n: table_store(source).version(n) for n in done.tables if n != OLD}
    assert {n: v for n, v in done.tables.items() if n != OLD} == latest


def test_restored_bronze_is_what_its_manifest_lists(restored):
    settings, _ = restored
    manifest = table_store(settings).read("_system/bronze_manifest").to_pylist()
    lake = settings.home / "lake"
    on_disk = {p.relative_to(lake).as_posix() for p in (lake / "bronze").rglob("*") if p.is_file()}
    assert on_disk == {r["bronze_path"] for r in manifest} and on_disk
    import hashlib

    for r in manifest:
        assert hashlib.sha256((lake / r["bronze_path"]).read_bytes()).hexdigest() == r["sha256"]


def test_bronze_files_follow_the_pinned_manifest(source, tmp_path):
    table = "_system/bronze_manifest"
    listed = {r["bronze_path"] for r in table_store(source).read(table, 3).to_pylist()}
    done = backup(tmp_path / "b", source, [table], {table: 3})
    files = json.loads((tmp_path / "b" / "manifest.json").read_text())["files"]
    bronze = {f.removeprefix("lake/") for f in files if f.startswith("lake/bronze/")}
    assert bronze == listed and len(listed) < len(table_store(source).read(table).to_pylist())
    assert done.tables == {table: 3}


def test_restored_mlflow_has_the_same_runs_params_and_artifacts(source, restored):
    from mlflow import MlflowClient

    settings, done = restored
    assert settings.mlflow_uri != source.mlflow_uri and done.mlflow_runs == 1
    before, after = MlflowClient(source.mlflow_uri), MlflowClient(settings.mlflow_uri)
    [old] = before.search_runs(
        before.search_experiments(filter_string="name = 'fraud'")[0].experiment_id
    )
    [new] = after.search_runs(
        after.search_experiments(filter_string="name = 'fraud'")[0].experiment_id
    )
    assert new.info.run_id == old.info.run_id
    assert new.data.params == old.data.params == {"max_depth": "6"}
    assert new.data.metrics == old.data.metrics
    # The artifacts are read from the restored home, not the source's.
    assert new.info.artifact_uri.startswith((settings.home / "mlflow" / "artifacts").as_uri())
    assert [a.path for a in after.list_artifacts(new.info.run_id, "model")] == [
        "model/features.txt"
    ]
    path = after.download_artifacts(new.info.run_id, "model/features.txt", str(settings.home))
    assert Path(path).read_text() == "feature list v1"


def test_restored_feast_registry_lists_the_same_views(source, restored):
    settings, done = restored
    names = sorted(v.name for v in feature_store(source).list_feature_views())
    views = feature_store(settings).list_feature_views()
    assert sorted(v.name for v in views) == names == done.feature_views and names
    # Sources point at the restored lake, so offline reads do not reach back to the source.
    for v in views:
        assert v.batch_source.path.startswith(str(settings.home / "lake"))


def test_keys_wrapped_by_default_master_only_when_asked(source, backed_up, restored, tmp_path):
    from ray_platform.governance.crypto import KeyRing

    dest, done = backed_up
    assert (dest / "keys" / "registry.db").exists() and not (dest / "keys" / "master").exists()
    assert not done.master_keys
    settings, _ = restored
    with pytest.raises(EncryptionError, match="master key"):  # wrapped keys need the master key
        KeyRing(settings).keys(["customer:CU-1"], create=False)
    with_keys = backup(tmp_path / "k", source, ["silver/cards"], include_keys=True)
    assert with_keys.master_keys and (tmp_path / "k" / "keys" / "master").is_dir()
    restore(tmp_path / "k", tmp_path / "home")
    keyring = KeyRing(load_settings(home=tmp_path / "home"))
    got = keyring.keys(["customer:CU-1"], create=False)
    assert got == KeyRing(source).keys(["customer:CU-1"], create=False)


def test_tampered_backup_is_refused_naming_the_file(backed_up, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(backed_up[0], copy)
    files = json.loads((copy / "manifest.json").read_text())["files"]
    victim = next(f for f in files if f.startswith(f"lake/{OLD}/") and f.endswith(".parquet"))
    data = bytearray((copy / victim).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / victim).write_bytes(bytes(data))
    with pytest.raises(DataQualityError, match=re.escape(victim)):
        restore(copy, tmp_path / "target")
    assert not (tmp_path / "target").exists()  # refused before writing anything
    (copy / victim).write_bytes(bytes(data[: len(data) // 2]))  # truncated
    with pytest.raises(DataQualityError, match=re.escape(victim)):
        restore(copy, tmp_path / "target")
    shutil.copyfile(backed_up[0] / victim, copy / victim)
    (copy / "lake" / "extra.parquet").write_bytes(b"x")
    with pytest.raises(DataQualityError, match=r"lake/extra\.parquet"):
        restore(copy, tmp_path / "target")
    (copy / "manifest.json").unlink()  # an interrupted backup has no manifest
    with pytest.raises(NotFound, match="not a complete backup"):
        restore(copy, tmp_path / "target")


def test_non_empty_target_refused_unless_forced(backed_up, tmp_path):
    target = tmp_path / "busy"
    (target / "lake" / OLD / "_delta_log").mkdir(parents=True)
    stale = target / "lake" / OLD / "_delta_log" / f"{9:020d}.json"
    stale.write_text("{}")
    with pytest.raises(InvalidArgument, match="not empty"):
        restore(backed_up[0], target)
    done = restore(backed_up[0], target, force=True)
    # The table folder was replaced, so a later commit left there cannot shadow version 2.
    assert not stale.exists() and done.tables[OLD] == 2


def test_backup_refuses_bad_requests(source, backed_up, tmp_path):
    with pytest.raises(InvalidArgument, match="not empty"):
        backup(backed_up[0], source)
    with pytest.raises(NotFound, match="silver/nope"):
        backup(tmp_path / "a", source, ["silver/nope"])
    with pytest.raises(InvalidArgument, match=r"versions 0\.\."):
        backup(tmp_path / "b", source, as_of_versions={OLD: 999})


def test_cli_backup_and_restore(source, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from ray_platform.cli.backup import app
    from ray_platform.settings import get_settings

    monkeypatch.setenv("GBANK_HOME", str(source.home))
    get_settings.cache_clear()
    try:
        cli = CliRunner()
        dest, home = tmp_path / "b", tmp_path / "h"
        done = cli.invoke(app, ["backup", "--dest", str(dest), "--table", "silver/cards",
                                "--version", f"{OLD}=1"])  # fmt: skip
        assert done.exit_code == 0, done.output
        assert f"{OLD} v1" in done.output and "silver/cards v" in done.output
        assert "without master keys" in done.output
        done = cli.invoke(app, ["restore", "--from", str(dest), "--home", str(home)])
        assert done.exit_code == 0, done.output
        assert "restored and verified 2 tables" in done.output
        assert table_store(load_settings(home=home)).version(OLD) == 1
        again = cli.invoke(app, ["restore", "--from", str(dest), "--home", str(home)])
        assert again.exit_code != 0 and isinstance(again.exception, InvalidArgument)
        bad = cli.invoke(app, ["backup", "--dest", str(tmp_path / "c"), "--version", "x"])
        assert isinstance(bad.exception, InvalidArgument)
    finally:
        get_settings.cache_clear()


def test_checkpoints_before_and_after_the_pinned_version(tmp_path):
    import pyarrow as pa
    from deltalake import DeltaTable

    s = load_settings(home=tmp_path / "home")
    store = table_store(s)
    for i in range(5):
        store.write("gold/t", pa.table({"i": [i]}))
        if i in (1, 3):  # checkpoints at versions 1 and 3; _last_checkpoint names 3
            DeltaTable(store.uri("gold/t")).create_checkpoint()
    done = backup(tmp_path / "b", s, as_of_versions={"gold/t": 2})
    files = json.loads((tmp_path / "b" / "manifest.json").read_text())["files"]
    log = {f.rsplit("/", 1)[-1] for f in files if "/_delta_log/" in f}
    assert log == {f"{v:020d}.json" for v in range(3)} | {f"{1:020d}.checkpoint.parquet"}
    restore(tmp_path / "b", tmp_path / "r")
    back = table_store(load_settings(home=tmp_path / "r"))
    assert done.tables == {"gold/t": 2} and back.version("gold/t") == 2
    assert sorted(back.read("gold/t").column("i").to_pylist()) == [0, 1, 2]
    # At the latest version the newest checkpoint and _last_checkpoint come along.
    backup(tmp_path / "c", s, ["gold/t"])
    assert (tmp_path / "c" / "lake" / "gold/t/_delta_log/_last_checkpoint").exists()
    restore(tmp_path / "c", tmp_path / "r2")
    assert sorted(table_store(load_settings(home=tmp_path / "r2")).read("gold/t").column("i")
                  .to_pylist()) == [0, 1, 2, 3, 4]  # fmt: skip
