"""Self-service SQL: the read-only guard, clear errors, the saved query suite and ``gbank sql``."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow.parquet as pq
import pytest

from ray_platform.cli import run
from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.lake.bronze import land_landing_date
from ray_platform.lake.gold import run_gold
from ray_platform.lake.silver import run_silver
from ray_platform.settings import load_settings
from ray_platform.warehouse import sql
from ray_platform.warehouse.load import load_warehouse
from ray_platform.warehouse.marts import MARTS

pytestmark = pytest.mark.unit
DAYS = (dt.date(2026, 1, 5), dt.date(2026, 1, 6))


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    s = load_settings(home=tmp_path_factory.mktemp("whsql_home"))
    generate_bank(
        s.landing_uri,
        GeneratorConfig(
            customers=100, days=2, seed=3, history_days=3, change_rate=0.05, interaction_rate=0.05
        ),
    )
    for day in DAYS:
        land_landing_date(day, ingest_date=day, settings=s)
        run_silver(day.isoformat(), s, use_ray=False)
        run_gold(day, s)
        load_warehouse(day, s)
    return s


REFUSED = [
    "INSERT INTO warehouse.dim_date VALUES (1)",
    "insert into t select 1",
    "UPDATE warehouse.dim_customer SET segment = 'x'",
    "delete from silver.customers",
    "DROP TABLE warehouse.fact_transactions",
    "drop view mart_customer.customer_current",
    "CREATE TABLE x AS SELECT 1",
    "ALTER TABLE silver.trades ADD COLUMN x INT",
    "COPY (SELECT 1) TO '/tmp/x'",
    "copy warehouse.fact_trades to '/tmp/trades.csv'",
    "ATTACH '/tmp/x.db' AS x",
    "DETACH x",
    "INSTALL httpfs",
    "LOAD httpfs",
    "PRAGMA database_list",
    "SET enable_external_access = true",
    "EXPORT DATABASE '/tmp/db'",
    "CALL pragma_version()",
    "/* just a comment */ DELETE FROM silver.trades",
    "-- comment\nWITH a AS (SELECT 1 AS x) INSERT INTO t SELECT x FROM a",
    "SELECT 1; DROP TABLE warehouse.dim_date",
    "SELECT 1; SELECT 2",
    "SELECT * FROM read_parquet('/etc/passwd')",
    "select * from READ_CSV_AUTO('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM 'data.parquet'",
    "WITH f AS (SELECT * FROM read_json('/tmp/x.json')) SELECT * FROM f",
    "SELECT (SELECT count(*) FROM read_blob('/etc/shadow'))",
    "SELECT * FROM delta_scan('/tmp/lake')",
    "SELECT * FROM sqlite_scan('/tmp/x.db', 't')",
]


@pytest.mark.parametrize("statement", REFUSED)
def test_modifying_or_file_reading_sql_is_refused(statement):
    with pytest.raises(sql.QueryRefused):
        sql.check(statement)


def test_file_access_is_off_even_past_the_guard(settings):
    con = sql.connect(settings)
    try:
        with pytest.raises(Exception, match="disabled by configuration"):
            con.execute("SELECT * FROM read_csv('/etc/passwd')")
        with pytest.raises(Exception, match="locked"):
            con.execute("SET enable_external_access = true")
    finally:
        con.close()


def test_bad_sql_and_unknown_tables_give_clear_errors(settings):
    with pytest.raises(sql.SqlError, match="does not parse"):
        sql.query("SELEC 1", settings)
    with pytest.raises(
        sql.SqlError, match=r"unknown table 'fact_transaction'.*warehouse\.fact_transactions"
    ):
        sql.query("SELECT * FROM warehouse.fact_transaction", settings)
    with pytest.raises(sql.SqlError, match="empty"):
        sql.query("  ", settings)
    with pytest.raises(KeyError, match="no saved query"):
        sql.saved("nope")


def test_lake_and_warehouse_tables_and_marts_are_queryable(settings):
    names = sql.tables(settings)
    assert {
        "silver.card_transactions",
        "gold.daily_mcc_stats",
        "warehouse.fact_transactions",
        "warehouse.dim_customer",
        "platform.warehouse_reconciliation",
    } <= set(names)
    got = sql.query("SELECT count(*) AS n FROM warehouse.fact_transactions", settings)
    want = sql.query("SELECT count(*) AS n FROM silver.card_transactions", settings)
    assert got.column("n")[0].as_py() == want.column("n")[0].as_py() > 0
    for view in MARTS:
        if view.qualified in names:
            result = sql.query(f"SELECT * FROM {view.qualified} LIMIT 5", settings)
            assert result.column_names == [c for c, _ in view.columns], view.qualified


def test_saved_queries_run(settings):
    suite = sql.saved_queries()
    assert len(suite) >= 10
    for q in suite.values():
        assert q.description, q.name
        result = sql.query(q.sql, settings)
        assert result.num_columns >= 2, q.name
    top = sql.query(suite["top_customers_by_spend"].sql, settings)
    assert top.num_rows > 0 and top.column_names[0] == "customer_id"


def test_cli_formats(settings, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("GBANK_HOME", str(settings.home))
    q = "SELECT region, count(*) AS n FROM warehouse.dim_geography GROUP BY 1 ORDER BY 1"
    assert run(["sql", q]) == 0
    assert "region" in capsys.readouterr().out
    assert run(["sql", q, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == '"region","n"'
    assert run(["sql", q, "--format", "json"]) == 0
    assert {r["region"] for r in json.loads(capsys.readouterr().out)} >= {"eu", "us", "apac"}
    out = tmp_path / "r.parquet"
    assert (
        run(["sql", "--saved", "daily_volume_by_region", "--format", "parquet", "--out", str(out)])
        == 0
    )
    assert pq.read_table(out).num_rows > 0
    capsys.readouterr()
    assert run(["sql", "DROP TABLE warehouse.dim_date"]) != 0
    err = capsys.readouterr().err
    assert err.startswith("gbank: error:") and "Traceback" not in err
    assert run(["sql", "SELECT * FROM nope.x"]) != 0
    assert "unknown table" in capsys.readouterr().err


def test_docs_list_every_table_and_mart():
    from pathlib import Path

    from ray_platform.warehouse.model import TABLES

    doc = (Path(__file__).parents[2] / "docs" / "warehouse.md").read_text()
    for name in TABLES:
        assert f"`warehouse.{name}`" in doc, name
    for view in MARTS:
        assert f"`{view.qualified}`" in doc, view.qualified
