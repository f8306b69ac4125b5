"""Fact rows for one UTC date, keyed to the dimension versions current at the event time.

Each query reads one silver partition (``$y``/``$m``/``$dd``) and joins every dimension: SCD2
dimensions on the natural key and ``valid_from <= event_ts < valid_to`` (a range join, so a
transaction after a segment change gets the new version), type 1 dimensions on the natural key.
A missing dimension row gives the unknown member ``-1``. :data:`FIXUP` finds the dates whose
unknown members a dimension can now resolve, and the load rebuilds those dates.
"""

from __future__ import annotations

from dataclasses import dataclass

from ray_platform.warehouse import model as m


def _pit(dim: str, alias: str, natural: str, src: str, ts: str) -> str:
    return (
        f"LEFT JOIN {dim} {alias} ON {alias}.{natural} = {src}.{natural} "
        f"AND {src}.{ts} >= {alias}.valid_from AND {src}.{ts} < {alias}.valid_to"
    )


TRANSACTIONS = f"""
SELECT
    t.transaction_id, 'card' AS transaction_source, $d::DATE AS business_date,
    $dk::INTEGER AS date_key, t.timestamp AS event_ts,
    coalesce(c.customer_sk, -1) AS customer_sk, coalesce(a.account_sk, -1) AS account_sk,
    coalesce(mr.merchant_key, -1) AS merchant_key, coalesce(p.product_key, -1) AS product_key,
    coalesce(g.geography_key, -1) AS geography_key,
    t.customer_id, t.account_id, t.card_id, t.merchant_id, t.mcc, t.merchant_country, t.channel,
    t.amount, t.currency, t.amount_reporting, t.is_fraud::INTEGER AS is_fraud, t.fraud_pattern
FROM (SELECT * FROM card_transactions WHERE year = $y AND month = $m AND day = $dd) t
{_pit("dim_customer", "c", "customer_id", "t", "timestamp")}
{_pit("dim_account", "a", "account_id", "t", "timestamp")}
LEFT JOIN dim_merchant mr ON mr.merchant_id = t.merchant_id
LEFT JOIN dim_product p ON p.product_code = a.product_code
LEFT JOIN dim_geography g ON g.country = t.merchant_country AND g.level = 'country'
ORDER BY t.transaction_id
"""

TRADES = """
SELECT
    t.trade_id, $d::DATE AS business_date, $dk::INTEGER AS date_key, t.execution_ts AS event_ts,
    coalesce(i.instrument_key, -1) AS instrument_key,
    coalesce(cp.counterparty_key, -1) AS counterparty_key,
    t.isin, t.counterparty_lei, t.desk, t.trader, t.venue, t.side, t.price, t.quantity,
    CASE WHEN t.side = 'BUY' THEN t.quantity ELSE -t.quantity END AS signed_quantity,
    (t.price * t.quantity)::DECIMAL(38, 6) AS notional, t.currency
FROM (SELECT * FROM trades WHERE year = $y AND month = $m AND day = $dd) t
LEFT JOIN dim_instrument i ON i.isin = t.isin
LEFT JOIN dim_counterparty cp ON cp.lei = t.counterparty_lei
ORDER BY t.trade_id
"""

INTERACTIONS = f"""
SELECT
    i.interaction_id, $d::DATE AS business_date, $dk::INTEGER AS date_key,
    i.timestamp AS event_ts, coalesce(c.customer_sk, -1) AS customer_sk,
    coalesce(gb.geography_key, gc.geography_key, -1) AS geography_key,
    i.customer_id, i.channel, i.type AS interaction_type, i.branch_id, i.duration_s, i.outcome
FROM (SELECT * FROM interactions WHERE year = $y AND month = $m AND day = $dd) i
{_pit("dim_customer", "c", "customer_id", "i", "timestamp")}
LEFT JOIN dim_geography gb ON gb.branch_id = i.branch_id AND gb.level = 'branch'
LEFT JOIN dim_geography gc ON gc.country = c.country AND gc.level = 'country'
ORDER BY i.interaction_id
"""


def _fix(fact: str, key: str, dim: str, natural: str, pit: bool) -> str:
    cond = " AND f.event_ts >= d.valid_from AND f.event_ts < d.valid_to" if pit else ""
    return (
        f"SELECT DISTINCT f.business_date FROM {fact} f JOIN {dim} d "
        f"ON d.{natural} = f.{natural}{cond} WHERE f.{key} = -1"
    )


@dataclass(frozen=True)
class FactSpec:
    """One fact table: its spec, silver source, build query and fix-up query."""

    table: m.TableSpec
    source: str
    sql: str
    fixup: str
    dims: tuple[str, ...]


FACT_BUILDS: tuple[FactSpec, ...] = (
    FactSpec(
        m.FACT_TRANSACTIONS,
        "card_transactions",
        TRANSACTIONS,
        " UNION ".join(
            (
                _fix("fact_transactions", "customer_sk", "dim_customer", "customer_id", True),
                _fix("fact_transactions", "account_sk", "dim_account", "account_id", True),
                _fix("fact_transactions", "merchant_key", "dim_merchant", "merchant_id", False),
            )
        ),
        ("dim_customer", "dim_account", "dim_merchant", "dim_product", "dim_geography"),
    ),
    FactSpec(
        m.FACT_TRADES,
        "trades",
        TRADES,
        " UNION ".join(
            (
                _fix("fact_trades", "instrument_key", "dim_instrument", "isin", False),
                "SELECT DISTINCT f.business_date FROM fact_trades f JOIN dim_counterparty d "
                "ON d.lei = f.counterparty_lei WHERE f.counterparty_key = -1",
            )
        ),
        ("dim_instrument", "dim_counterparty"),
    ),
    FactSpec(
        m.FACT_CUSTOMER_INTERACTIONS,
        "interactions",
        INTERACTIONS,
        _fix("fact_customer_interactions", "customer_sk", "dim_customer", "customer_id", True),
        ("dim_customer", "dim_geography"),
    ),
)
"""Every fact the load builds (``fact_risk_metrics`` is the risk engine's), in load order."""
