"""Access control with dynamic masking: the role matrix, bad policies, audit, and escape attempts.

A small real lake (generated bank -> bronze -> silver -> gold -> warehouse) with planted clear
values in ``silver.customers``; an analyst must never see them, whatever SQL is tried.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ray_platform.cli import run
from ray_platform.errors import AccessDenied, ConfigError
from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.governance.access import (
    Principal,
    authorize,
    classification_of,
    governed_connection,
    read_table,
    readable,
)
from ray_platform.governance.audit import audit_trail
from ray_platform.governance.masking import REDACTED
from ray_platform.lake.bronze import land_landing_date
from ray_platform.lake.gold import run_gold
from ray_platform.lake.silver import run_silver
from ray_platform.lake.tokens import token, token_key
from ray_platform.settings import get_settings, load_settings
from ray_platform.tables import table_store
from ray_platform.warehouse import sql
from ray_platform.warehouse.load import load_warehouse
from ray_platform.warehouse.marts import MARTS

pytestmark = pytest.mark.unit
DAY = dt.date(2026, 1, 5)
ROLES = (
    "data_engineer",
    "compliance_officer",
    "data_scientist",
    "risk_manager",
    "analyst",
    "business_user",
)
PLANT = {
    "customer_id": "C-PLANTED-1",
    "city": "Zzplantville",
    "email": "zz.planted@example.invalid",
    "national_id": "ZZ-NATID-424242",
    "iban": "ZZ99PLANTED00001234",
}
TOKEN = re.compile(r"^tok_[0-9a-f]{32}$")


def who(role: str) -> Principal:
    return Principal(f"u_{role}", role)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    s = load_settings(home=tmp_path_factory.mktemp("access_home"))
    generate_bank(
        s.landing_uri,
        GeneratorConfig(customers=40, days=1, seed=5, history_days=2, interaction_rate=0.05),
    )
    land_landing_date(DAY, ingest_date=DAY, settings=s)
    run_silver(DAY.isoformat(), s, use_ray=False)
    run_gold(DAY, s)
    load_warehouse(DAY, s)
    # Plant clear values (silver stores PII as tokens; these must stay hidden all the same).
    store = table_store(s)
    row = store.read("silver/customers").slice(0, 1).to_pylist()[0]
    planted = pa.Table.from_pylist(
        [{**row, **PLANT}], schema=store.dataset("silver/customers").schema
    )
    store.merge("silver/customers", planted, ["customer_id"])
    return s


@pytest.fixture(scope="module")
def secrets(lake):
    """Exact values an analyst must never see: the planted ones and every clear city."""
    cities = table_store(lake).read("silver/customers", columns=["city"])["city"]
    return {PLANT["city"], PLANT["email"], PLANT["national_id"], PLANT["iban"]} | set(
        pc.drop_null(cities).to_pylist()
    )


def cells(table: pa.Table) -> set[str]:
    return {str(v) for col in table.columns for v in col.to_pylist() if v is not None}


def planted_row(table: pa.Table) -> dict:
    rows = [r for r in table.to_pylist() if r["customer_id"] == PLANT["customer_id"]]
    assert len(rows) == 1
    return rows[0]


# -- the role matrix ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_bronze_only_for_data_engineers_and_compliance(lake, role):
    allowed = role in ("data_engineer", "compliance_officer")
    assert ("bronze.customers" in readable(who(role), lake)) == allowed
    if not allowed:
        with pytest.raises(AccessDenied, match=rf"bronze.customers: roles.{role}.read allows only"):
            read_table(who(role), "bronze.customers", settings=lake)
        with pytest.raises(AccessDenied, match=r"bronze\.customers"):
            sql.query("SELECT count(*) FROM bronze.customers", lake, who(role))
        return
    raw = read_table(who(role), "bronze/customers", settings=lake)
    assert raw.num_rows >= 40
    n = sql.query("SELECT count(*) AS n FROM bronze.customers", lake, who(role))["n"][0]
    assert n.as_py() == raw.num_rows
    ids = pc.drop_null(raw["national_id"]).to_pylist()
    if role == "compliance_officer":  # raw, clear national ids
        assert ids and not any(v == REDACTED or TOKEN.match(v) for v in ids)
    else:  # restricted columns are redacted for engineers, even in bronze
        assert ids and set(ids) == {REDACTED}


@pytest.mark.parametrize("role", ["analyst", "data_scientist"])
def test_analysts_see_tokenised_pii_in_silver(lake, role):
    t = read_table(who(role), "silver.customers", settings=lake)
    assert {"national_id", "iban", "date_of_birth"}.isdisjoint(t.column_names)
    for col in ("email", "first_name", "last_name", "phone", "city", "postcode"):
        values = pc.drop_null(t[col]).to_pylist()
        assert values and all(TOKEN.match(v) for v in values), col
    row = planted_row(t)
    key = token_key(lake)
    assert row["city"] == token(key, PLANT["city"])
    assert row["email"] == token(key, PLANT["email"])
    assert row["segment"] in {"retail", "premier", "private", "sme", "corporate"}  # internal: clear
    with pytest.raises(AccessDenied, match=r"national_id \(roles\.\w+\.masks\.restricted = deny"):
        read_table(who(role), "silver.customers", ["customer_id", "national_id"], settings=lake)


@pytest.mark.parametrize("role", ROLES)
def test_restricted_columns_only_for_compliance_officers(lake, role):
    if role in ("risk_manager", "business_user"):
        with pytest.raises(AccessDenied, match=r"may not read silver\.customers"):
            read_table(who(role), "silver.customers", settings=lake)
        return
    t = read_table(who(role), "silver.customers", settings=lake)
    row = planted_row(t)
    if role == "compliance_officer":
        assert row["national_id"] == PLANT["national_id"] and row["iban"] == PLANT["iban"]
        assert row["city"] == PLANT["city"]
        return
    seen = cells(t)
    assert PLANT["national_id"] not in seen and PLANT["iban"] not in seen
    if role == "data_engineer":  # redacted, and the IBAN override shows only its last four
        assert row["national_id"] == REDACTED
        assert row["iban"] == "*" * (len(PLANT["iban"]) - 4) + PLANT["iban"][-4:]


def test_risk_managers_see_hashed_confidential_columns(lake):
    t = read_table(who("risk_manager"), "silver.trades", ["trade_id", "trader"], settings=lake)
    clear = table_store(lake).read("silver/trades", columns=["trade_id", "trader"])
    assert t.num_rows == clear.num_rows > 0
    assert set(t["trader"].to_pylist()).isdisjoint(clear["trader"].to_pylist())
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in t["trader"].to_pylist())


def test_business_users_read_marts_masked_but_not_the_warehouse(lake, secrets):
    view = next(v for v in MARTS if v.mart == "mart_customer" and "city" in dict(v.columns))
    t = read_table(who("business_user"), view.qualified, settings=lake)
    assert t.num_rows > 0 and set(pc.drop_null(t["city"]).to_pylist()) == {REDACTED}
    assert not cells(t) & secrets
    analyst = read_table(who("analyst"), view.qualified, settings=lake)
    assert all(TOKEN.match(v) for v in pc.drop_null(analyst["city"]).to_pylist())
    with pytest.raises(AccessDenied, match=r"warehouse\.dim_customer: roles\.business_user\.read"):
        read_table(who("business_user"), "warehouse.dim_customer", settings=lake)


def test_unknown_role_gets_nothing(lake):
    nobody = Principal("mallory", "intern")
    with pytest.raises(AccessDenied, match="no rule for role 'intern'"):
        read_table(nobody, "gold.daily_mcc_stats", settings=lake)
    with pytest.raises(AccessDenied, match="no rule for role 'intern'"):
        governed_connection(nobody, lake)
    with pytest.raises(AccessDenied, match="no rule for role 'intern'"):
        sql.query("SELECT 1 AS x", lake, nobody)
    with pytest.raises(AccessDenied, match="no rule for role 'intern'"):
        readable(nobody, lake)
    assert not authorize(nobody, "mart_risk.var_by_desk", settings=lake).allowed
    denied = audit_trail(lake).query(event="access", actor="mallory")
    assert denied and {r.outcome for r in denied} == {"denied"}


def test_the_catalog_is_the_source_of_classifications(lake, monkeypatch):
    from dataclasses import replace

    from ray_platform.governance import access
    from ray_platform.governance.catalog import Catalog

    cat = access._catalog()
    assert cat is not None
    for dataset, entry, column in [
        ("silver.customers", "silver/customers", "national_id"),
        ("silver.card_transactions", "silver/card_transactions", "amount_minor"),
        ("bronze.customers", "bronze/core_banking/customers", "email"),
        ("warehouse.dim_customer", "gold/warehouse/dim_customer", "city"),
        ("gold.daily_customer_summary", "gold/daily_customer_summary", "customer_id"),
    ]:
        assert classification_of(dataset, column) == cat.classification_of(entry, column)
    # What the catalog does not hold falls back to the contracts and the rule by name.
    assert classification_of("bronze.customers", "_file") == "internal"
    assert classification_of("mart_customer.customer_current", "city") == "confidential"
    assert classification_of("platform.lineage", "run_id") == "internal"
    # A changed declaration changes what a role sees.
    customers = cat.datasets["silver/customers"]
    columns = tuple(
        replace(c, classification="restricted") if c.name == "segment" else c
        for c in customers.columns
    )
    changed = Catalog({**cat.datasets, "silver/customers": replace(customers, columns=columns)})
    monkeypatch.setattr(access, "_catalog", lambda: changed)
    assert classification_of("silver.customers", "segment") == "restricted"
    t = read_table(who("analyst"), "silver.customers", settings=lake)
    assert "segment" not in t.column_names and "customer_id" in t.column_names


GOOD_ROLE = """\
  analyst:
    read: ["silver.*"]
    masks: {public: clear, internal: clear, confidential: tokenise, restricted: deny}
"""


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        (
            "version: 1\nroles:\n" + GOOD_ROLE + "  intern:\n    read: ['silver.*']\n"
            "    masks: {public: clear, internal: clear, confidential: peek, restricted: deny}\n",
            8,
            r"roles\.intern\.masks\.confidential: Input should be 'clear'",
        ),
        (
            "version: 1\nroles:\n" + GOOD_ROLE + "  intern:\n    read: ['silver.*'\n",
            8,
            "not valid YAML: expected ',' or ']'.*flow sequence at line 7",
        ),
        ("version: 1\nroles:\n" + GOOD_ROLE + "    reads: ['gold.*']\n", 6, "reads"),
        ("version: 1\nroles:\n" + GOOD_ROLE + GOOD_ROLE, 6, "duplicate key 'analyst'"),
        (
            "version: 1\nroles:\n" + GOOD_ROLE.replace('"silver.*"', '"silver"'),
            4,
            r"roles\.analyst\.read\.0: .*pattern",
        ),
        ("version: 2\nroles: {}\n", 1, "version"),
    ],
)
def test_malformed_policy_is_refused_naming_its_line(lake, tmp_path, text, line, says):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    bad = load_settings(home=lake.home, access_policy=path)
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}:{line}: .*{says}"):
        read_table(who("analyst"), "silver.customers", settings=bad)


# -- the SQL path, the CLI and the audit trail -------------------------------------------------


def test_sql_names_the_rule_for_a_denied_column_and_audits_every_decision(lake):
    analyst = who("analyst")
    with pytest.raises(AccessDenied, match=r"column national_id of silver.customers: roles"):
        sql.query("SELECT customer_id, national_id FROM silver.customers", lake, analyst)
    q = "SELECT count(DISTINCT city) AS n FROM silver.customers"
    assert sql.query(q, lake, analyst)["n"][0].as_py() >= 2
    records = audit_trail(lake).query(event="access", actor=analyst.user)
    allowed = [r for r in records if r.outcome == "allowed" and r.details.get("query") == q]
    assert allowed and allowed[-1].details["dataset"] == "silver/customers"
    assert allowed[-1].details["masked"]["city"] == "tokenise"
    assert "national_id" in allowed[-1].details["withheld"]
    denied = [r for r in records if r.outcome == "denied"]
    assert any("national_id" in r.details.get("columns", []) for r in denied)
    assert audit_trail(lake).verify().ok


def test_filters_apply_after_masking(lake):
    analyst = who("analyst")
    cols = ["customer_id", "city"]
    probe = read_table(
        analyst, "silver.customers", cols, f"city = '{PLANT['city']}'", settings=lake
    )
    assert probe.num_rows == 0  # the clear value cannot be probed through a filter
    tok = token(token_key(lake), PLANT["city"])
    hit = read_table(analyst, "silver.customers", cols, pc.field("city") == tok, settings=lake)
    assert hit["customer_id"].to_pylist() == [PLANT["customer_id"]]


def test_cli_read_commands_take_user_and_role(lake, monkeypatch, capsys):
    monkeypatch.setenv("GBANK_HOME", str(lake.home))
    get_settings.cache_clear()
    try:
        q = "SELECT national_id FROM silver.customers WHERE customer_id = 'C-PLANTED-1'"
        assert run(["sql", q, "--role", "analyst", "--user", "ann"]) == 3
        err = capsys.readouterr().err
        assert err.startswith("gbank: error: ann (role analyst) may not read column national_id")
        assert run(["sql", q, "--role", "compliance_officer", "--format", "csv"]) == 0
        assert PLANT["national_id"] in capsys.readouterr().out
        assert run(["sql", "--tables", "--role", "business_user"]) == 0
        listed = capsys.readouterr().out.split()
        assert "mart_customer.customer_current" in listed and "silver.customers" not in listed
        assert run(["report", "basel3", "--date", "2026-01-05", "--role", "analyst"]) == 3
        assert "may not read reports.basel3" in capsys.readouterr().err
        assert run(["lineage", "silver/customers", "--role", "business_user"]) == 3
        assert "may not read platform.lineage" in capsys.readouterr().err
        # Without --user/--role, the settings' identity reads.
        monkeypatch.setenv("GBANK_USER", "env_user")
        monkeypatch.setenv("GBANK_ROLE", "analyst")
        get_settings.cache_clear()
        assert run(["sql", q]) == 3
        assert "env_user (role analyst) may not read column" in capsys.readouterr().err
    finally:
        get_settings.cache_clear()


# -- escape attempts through the governed connection -------------------------------------------


@pytest.fixture(scope="module")
def analyst_con(lake):
    con = governed_connection(who("analyst"), lake)
    yield con
    con.close()


def _escapes(lake: object, tmp: Path) -> list[tuple[str, list[str]]]:
    root = Path(lake.home) / "lake"  # type: ignore[attr-defined]
    parquet = next((root / "silver" / "customers").rglob("*.parquet"))
    bronze = next((root / "bronze" / "core_banking").rglob("customers*.csv*"))
    return [
        ("select star", ["SELECT * FROM silver.customers"]),
        (
            "view",
            [
                "CREATE OR REPLACE VIEW v AS SELECT customer_id, city, email FROM silver.customers",
                "SELECT * FROM v",
            ],
        ),
        ("cte", ["WITH c AS (SELECT city, email FROM silver.customers) SELECT * FROM c"]),
        (
            "join",
            [
                "SELECT a.account_id, c.* FROM silver.accounts a "
                "JOIN silver.customers c USING (customer_id)"
            ],
        ),
        (
            "functions",
            [
                "SELECT upper(city), substr(city, 1, 4), length(city), lower(email), "
                "reverse(city), city || '' FROM silver.customers"
            ],
        ),
        ("restricted column", ["SELECT length(national_id) FROM silver.customers"]),
        ("hidden relation", ['SELECT * FROM "__silver__customers"']),
        ("warehouse copy", ["SELECT * FROM warehouse.dim_customer"]),
        ("mart", ["SELECT * FROM mart_customer.customer_current"]),
        ("copy table", [f"COPY silver.customers TO '{tmp}/out.csv'"]),
        (
            "copy query",
            [f"COPY (SELECT * FROM silver.customers) TO '{tmp}/o.parquet' (FORMAT parquet)"],
        ),
        ("read_parquet", [f"SELECT * FROM read_parquet('{parquet}')"]),
        ("parquet path", [f"SELECT * FROM '{parquet}'"]),
        ("read_csv bronze", [f"SELECT * FROM read_csv('{bronze}')"]),
        ("read_text bronze", [f"SELECT * FROM read_text('{bronze}')"]),
        ("glob", [f"SELECT * FROM glob('{root}/**')"]),
        ("delta_scan", [f"SELECT * FROM delta_scan('{root}/silver/customers')"]),
        ("attach", [f"ATTACH '{tmp}/x.duckdb' AS x"]),
        ("unlock", ["SET lock_configuration = false"]),
        ("external on", ["SET enable_external_access = true"]),
        ("reset", ["RESET enable_external_access"]),
        ("install", ["INSTALL httpfs"]),
        ("bronze table", ["SELECT * FROM bronze.customers"]),
        ("python variable", ["SELECT * FROM raw_customers"]),
    ]


def test_escape_attempts_fail_or_see_only_masked_values(lake, analyst_con, secrets, tmp_path):
    raw_customers = table_store(lake).read("silver/customers")  # noqa: F841 - a replacement scan bait
    outcomes = {}
    for name, statements in _escapes(lake, tmp_path):
        try:
            for stmt in statements:
                rel = analyst_con.sql(stmt)
                result = rel.to_arrow_table() if rel is not None else pa.table({})
        except duckdb.Error:
            outcomes[name] = "failed"
            continue
        assert result.num_rows > 0, name  # a masked answer, not an empty one
        leaked = cells(result) & secrets
        text = " ".join(cells(result))
        assert not leaked, (name, sorted(leaked)[:3])
        assert PLANT["city"] not in text and PLANT["national_id"] not in text, name
        outcomes[name] = "masked"
    assert not list(tmp_path.iterdir())  # nothing was written or attached
    must_fail = {
        "restricted column", "copy table", "copy query", "read_parquet", "parquet path",
        "read_csv bronze", "read_text bronze", "glob", "delta_scan", "attach", "unlock",
        "external on", "reset", "install", "bronze table", "python variable",
    }  # fmt: skip
    assert {n for n, o in outcomes.items() if o == "failed"} >= must_fail
    for name in ("select star", "view", "cte", "join", "functions", "mart"):
        assert outcomes[name] == "masked", name


def test_the_same_queries_show_clear_values_to_compliance(lake):
    """The control: the planted values are there, so the analyst test above can fail."""
    con = governed_connection(who("compliance_officer"), lake)
    try:
        got = con.sql("SELECT city, national_id FROM silver.customers").to_arrow_table()
    finally:
        con.close()
    assert PLANT["city"] in got["city"].to_pylist()
    assert PLANT["national_id"] in got["national_id"].to_pylist()


def test_bronze_feeds_include_batches_landed_from_kafka(lake):
    from ray_platform.lake.kafka_landing import stream_source

    root = Path(lake.home) / "lake" / "bronze"
    landed = next((root / "cards").rglob("card_transactions*.jsonl*"))
    line = landed.read_bytes().splitlines()[0].decode()
    batch = root / stream_source("transactions") / "ingest_date=2026-01-05"
    batch.mkdir(parents=True)
    (batch / "transactions-p0-0-0.jsonl").write_text(line + "\n")
    t = read_table(who("compliance_officer"), "bronze.card_transactions", settings=lake)
    files = set(t["_file"].to_pylist())
    assert any(f.endswith("transactions-p0-0-0.jsonl") for f in files) and len(files) >= 2


def test_http_apis_take_the_principal_from_the_token(lake):
    from ray_platform.governance.access import principal_from_token
    from ray_platform.governance.auth import issue_token

    token = issue_token("svc-dash", kind="service", role="business_user", settings=lake)
    assert principal_from_token(token, lake) == Principal("svc-dash", "business_user")
    with pytest.raises(AccessDenied, match=r"roles\.business_user\.read"):
        read_table(principal_from_token(token, lake), "silver.customers", settings=lake)
    roleless = issue_token("svc-x", kind="service", settings=lake)
    with pytest.raises(AccessDenied, match="no rule for a token without a role"):
        principal_from_token(roleless, lake)
