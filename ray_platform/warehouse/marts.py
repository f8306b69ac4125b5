"""Aggregate tables (written by the load) and the four marts (views defined here, in code).

Aggregates are recomputed for the partitions a load touched: the day (``agg_daily_customer``),
its month (``agg_monthly_product``), its quarter (``agg_quarterly_risk``, from the risk engine's
``fact_risk_metrics`` when it exists) and its year (``agg_annual_regulatory``).

Marts are DuckDB views over the warehouse, created in every :mod:`ray_platform.warehouse.sql`
session under the schemas ``mart_risk``, ``mart_customer``, ``mart_regulatory`` and
``mart_operational``; :data:`MARTS` documents each view and its columns.
"""

from __future__ import annotations

from dataclasses import dataclass

from ray_platform.warehouse import model as m

# Each aggregate query binds $lo/$hi (inclusive date range of the partition) and $part.
AGG_DAILY_CUSTOMER = """
SELECT f.business_date, f.customer_id,
       arg_max(c.segment, f.event_ts) AS segment,
       count(*) AS txn_count,
       sum(f.amount_reporting)::DECIMAL(38, 2) AS amount_reporting,
       max(f.amount_reporting)::DECIMAL(38, 2) AS max_amount_reporting,
       count(DISTINCT f.merchant_id) AS distinct_merchants,
       count(*) FILTER (WHERE f.merchant_country <> c.country) AS foreign_txn_count,
       sum(f.is_fraud)::BIGINT AS fraud_count
FROM fact_transactions f LEFT JOIN dim_customer c ON c.customer_sk = f.customer_sk
WHERE f.business_date BETWEEN $lo AND $hi
GROUP BY f.business_date, f.customer_id ORDER BY f.business_date, f.customer_id
"""
AGG_MONTHLY_PRODUCT = """
SELECT $part AS year_month, coalesce(p.product_code, 'UNKNOWN') AS product_code,
       coalesce(p.product_family, 'UNKNOWN') AS product_family,
       count(DISTINCT f.account_id) AS active_accounts, count(*) AS txn_count,
       sum(f.amount_reporting)::DECIMAL(38, 2) AS amount_reporting,
       round(avg(f.amount_reporting), 2)::DECIMAL(38, 2) AS avg_ticket_reporting,
       sum(f.is_fraud)::BIGINT AS fraud_count, sum(f.is_fraud)::DOUBLE / count(*) AS fraud_rate
FROM fact_transactions f LEFT JOIN dim_product p ON p.product_key = f.product_key
WHERE f.business_date BETWEEN $lo AND $hi
GROUP BY ALL ORDER BY product_code
"""
AGG_QUARTERLY_RISK = """
SELECT $part AS year_quarter, scope, desk, method, confidence, horizon_days,
       count(DISTINCT as_of) AS days, avg(var) AS avg_var, max(var) AS max_var,
       avg(es) AS avg_es, max(es) AS max_es, arg_max(var, as_of) AS last_var
FROM fact_risk_metrics WHERE as_of BETWEEN $lo AND $hi
GROUP BY ALL ORDER BY scope, desk NULLS FIRST, method, confidence, horizon_days
"""
AGG_ANNUAL_REGULATORY = f"""
SELECT $part::INTEGER AS year, coalesce(c.country, 'UNKNOWN') AS country,
       coalesce(c.region, 'UNKNOWN') AS region,
       count(DISTINCT f.customer_id) AS active_customers, count(*) AS txn_count,
       sum(f.amount_reporting)::DECIMAL(38, 2) AS amount_reporting,
       count(*) FILTER (WHERE f.amount_reporting >= {m.LARGE_TXN_THRESHOLD}) AS large_txn_count,
       coalesce(sum(f.amount_reporting)
           FILTER (WHERE f.amount_reporting >= {m.LARGE_TXN_THRESHOLD}), 0)::DECIMAL(38, 2)
           AS large_txn_amount_reporting,
       count(*) FILTER (WHERE f.merchant_country <> c.country) AS cross_border_txn_count,
       sum(f.is_fraud)::BIGINT AS fraud_count,
       coalesce(sum(f.amount_reporting) FILTER (WHERE f.is_fraud = 1), 0)::DECIMAL(38, 2)
           AS fraud_amount_reporting
FROM fact_transactions f LEFT JOIN dim_customer c ON c.customer_sk = f.customer_sk
WHERE f.business_date BETWEEN $lo AND $hi
GROUP BY ALL ORDER BY country
"""


@dataclass(frozen=True)
class AggSpec:
    """One aggregate: its table, the period its partitions cover, its query and inputs."""

    table: m.TableSpec
    period: str  # day, month, quarter or year
    sql: str
    inputs: tuple[str, ...]


AGGREGATES: tuple[AggSpec, ...] = (
    AggSpec(m.AGG_DAILY_CUSTOMER, "day", AGG_DAILY_CUSTOMER, ("fact_transactions", "dim_customer")),
    AggSpec(
        m.AGG_MONTHLY_PRODUCT, "month", AGG_MONTHLY_PRODUCT, ("fact_transactions", "dim_product")
    ),
    AggSpec(m.AGG_QUARTERLY_RISK, "quarter", AGG_QUARTERLY_RISK, ("fact_risk_metrics",)),
    AggSpec(
        m.AGG_ANNUAL_REGULATORY,
        "year",
        AGG_ANNUAL_REGULATORY,
        ("fact_transactions", "dim_customer"),
    ),
)


@dataclass(frozen=True)
class MartView:
    """One mart view: schema, name, what it answers, its SQL and its documented columns."""

    mart: str
    name: str
    description: str
    sql: str
    columns: tuple[tuple[str, str], ...]
    needs: tuple[str, ...]  # warehouse/_system tables the view reads

    @property
    def qualified(self) -> str:
        """``mart_x.name``."""
        return f"{self.mart}.{self.name}"


W = "warehouse"
MARTS: tuple[MartView, ...] = (
    MartView(
        "mart_risk",
        "var_by_desk",
        "Daily VaR and ES per desk and firm-wide, latest run per date.",
        f"SELECT as_of, scope, coalesce(desk, 'FIRM') AS desk, method, confidence, horizon_days, "
        f"var, es, component_var, currency FROM {W}.fact_risk_metrics",
        (
            ("as_of", "business date"),
            ("scope", "firm or desk"),
            ("desk", "desk or FIRM"),
            ("method", "VaR method"),
            ("confidence", "confidence level"),
            ("horizon_days", "horizon"),
            ("var", "value at risk"),
            ("es", "expected shortfall"),
            ("component_var", "desk's share of firm VaR"),
            ("currency", "reporting currency"),
        ),
        ("fact_risk_metrics",),
    ),
    MartView(
        "mart_risk",
        "desk_trading",
        "Trades per date, desk, asset class and currency.",
        f"SELECT f.business_date, f.desk, i.asset_class, f.currency, count(*) AS trades, "
        f"sum(f.signed_quantity) AS net_quantity, sum(f.notional) AS gross_notional "
        f"FROM {W}.fact_trades f LEFT JOIN {W}.dim_instrument i USING (instrument_key) "
        f"GROUP BY ALL",
        (
            ("business_date", "UTC trade date"),
            ("desk", "desk"),
            ("asset_class", "asset class"),
            ("currency", "trade currency"),
            ("trades", "executions"),
            ("net_quantity", "bought minus sold"),
            ("gross_notional", "sum of price * quantity"),
        ),
        ("fact_trades", "dim_instrument"),
    ),
    MartView(
        "mart_risk",
        "quarterly_risk",
        "Quarterly VaR/ES statistics (agg_quarterly_risk).",
        f"SELECT * FROM {W}.agg_quarterly_risk",
        tuple((c.name, c.doc) for c in m.AGG_QUARTERLY_RISK.columns),
        ("agg_quarterly_risk",),
    ),
    MartView(
        "mart_customer",
        "customer_current",
        "Current version of every customer (no unknown member).",
        f"SELECT customer_sk, customer_id, segment, kyc_risk_rating, status, country, region, "
        f"city, "
        f"created_at, valid_from AS current_since FROM {W}.dim_customer "
        f"WHERE is_current AND customer_sk <> -1",
        (
            ("customer_sk", "surrogate key of the current version"),
            ("customer_id", "natural key"),
            ("segment", "segment now"),
            ("kyc_risk_rating", "KYC rating now"),
            ("status", "status now"),
            ("country", "home country"),
            ("region", "region"),
            ("city", "city"),
            ("created_at", "customer since"),
            ("current_since", "when this version began"),
        ),
        ("dim_customer",),
    ),
    MartView(
        "mart_customer",
        "daily_summary",
        "Daily card spend per customer (agg_daily_customer).",
        f"SELECT * FROM {W}.agg_daily_customer",
        tuple((c.name, c.doc) for c in m.AGG_DAILY_CUSTOMER.columns),
        ("agg_daily_customer",),
    ),
    MartView(
        "mart_customer",
        "interactions",
        "Interactions with the customer's segment at the time.",
        f"SELECT f.business_date, f.customer_id, c.segment, f.channel, f.interaction_type, "
        f"f.duration_s, f.outcome FROM {W}.fact_customer_interactions f "
        f"LEFT JOIN {W}.dim_customer c USING (customer_sk)",
        (
            ("business_date", "UTC date"),
            ("customer_id", "customer"),
            ("segment", "segment at the interaction"),
            ("channel", "branch, call_centre, app"),
            ("interaction_type", "request"),
            ("duration_s", "seconds"),
            ("outcome", "outcome"),
        ),
        ("fact_customer_interactions", "dim_customer"),
    ),
    MartView(
        "mart_regulatory",
        "annual_figures",
        "Annual card figures per home country.",
        f"SELECT * FROM {W}.agg_annual_regulatory",
        tuple((c.name, c.doc) for c in m.AGG_ANNUAL_REGULATORY.columns),
        ("agg_annual_regulatory",),
    ),
    MartView(
        "mart_regulatory",
        "large_transactions",
        f"Card transactions of {m.LARGE_TXN_THRESHOLD:,} or more in the reporting currency.",
        f"SELECT f.business_date, f.transaction_id, f.customer_id, c.country AS home_country, "
        f"f.merchant_country, f.mcc, f.amount, f.currency, f.amount_reporting, f.is_fraud "
        f"FROM {W}.fact_transactions f LEFT JOIN {W}.dim_customer c USING (customer_sk) "
        f"WHERE f.amount_reporting >= {m.LARGE_TXN_THRESHOLD}",
        (
            ("business_date", "UTC date"),
            ("transaction_id", "transaction"),
            ("customer_id", "customer"),
            ("home_country", "home country at the time"),
            ("merchant_country", "merchant country"),
            ("mcc", "category"),
            ("amount", "original amount"),
            ("currency", "original currency"),
            ("amount_reporting", "reporting-currency amount"),
            ("is_fraud", "fraud label"),
        ),
        ("fact_transactions", "dim_customer"),
    ),
    MartView(
        "mart_regulatory",
        "counterparty_exposure",
        "Gross traded notional per counterparty.",
        f"SELECT f.business_date, cp.lei, cp.name, cp.country, cp.type, f.currency, "
        f"count(*) AS trades, sum(f.notional) AS gross_notional FROM {W}.fact_trades f "
        f"LEFT JOIN {W}.dim_counterparty cp USING (counterparty_key) GROUP BY ALL",
        (
            ("business_date", "UTC date"),
            ("lei", "counterparty LEI"),
            ("name", "legal name"),
            ("country", "country"),
            ("type", "counterparty type"),
            ("currency", "trade currency"),
            ("trades", "executions"),
            ("gross_notional", "sum of price * quantity"),
        ),
        ("fact_trades", "dim_counterparty"),
    ),
    MartView(
        "mart_operational",
        "reconciliation",
        "Every silver-vs-warehouse reconciliation check.",
        "SELECT * FROM platform.warehouse_reconciliation",
        (
            ("business_date", "date checked"),
            ("fact_table", "warehouse fact"),
            ("currency", "currency (n/a for interactions)"),
            ("silver_rows", "rows in silver"),
            ("warehouse_rows", "rows in the warehouse"),
            ("silver_amount", "amount sum in silver"),
            ("warehouse_amount", "amount sum in the warehouse"),
            ("ok", "both agree"),
            ("run_id", "load run"),
            ("checked_at", "when"),
        ),
        ("_system/warehouse_reconciliation",),
    ),
    MartView(
        "mart_operational",
        "interaction_kpis",
        "Contact-centre KPIs per date and channel.",
        f"SELECT business_date, channel, count(*) AS interactions, "
        f"avg(duration_s) AS avg_duration_s, "
        f"count(*) FILTER (WHERE outcome = 'resolved')::DOUBLE / count(*) AS resolution_rate, "
        f"count(*) FILTER (WHERE outcome = 'escalated') AS escalations "
        f"FROM {W}.fact_customer_interactions GROUP BY ALL",
        (
            ("business_date", "UTC date"),
            ("channel", "channel"),
            ("interactions", "count"),
            ("avg_duration_s", "mean duration"),
            ("resolution_rate", "share resolved"),
            ("escalations", "escalated interactions"),
        ),
        ("fact_customer_interactions",),
    ),
)
"""Every mart view, by mart."""


def markdown() -> str:
    """The marts and their columns as Markdown (for docs/warehouse.md)."""
    out = []
    for v in MARTS:
        out.append(f"### `{v.qualified}`\n\n{v.description}\n\n| column | meaning |\n|---|---|")
        out += [f"| `{c}` | {d} |" for c, d in v.columns]
        out.append("")
    return "\n".join(out)
