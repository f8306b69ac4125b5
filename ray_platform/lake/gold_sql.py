"""The gold zone's aggregates, as DuckDB SQL over the silver tables.

Each query reads views named after the silver tables (registered pyarrow datasets) and binds
``$d`` (the business date), ``$y``/``$m``/``$dd`` (its partition values, so the scan prunes to
that day's files), ``$lo`` (the first day of the 30-day window), ``$rc`` (reporting currency)
and ``$base`` (the FX base). Rules shared by the queries:

* The business date of a card transaction or trade is the UTC date of its event (the silver
  ``year``/``month``/``day`` partitions); of a position, its ``as_of`` date.
* FX: silver ``fx_rates`` holds units of ``quote`` per one unit of ``base`` (EUR). An amount in
  currency C becomes ``amount / rate(C) * rate(reporting)``, each rate the latest on or before
  the business date (the base's own rate is 1). No rate at all gives NULL, never zero.
* Prices: a position's close is the latest silver ``prices`` close on or before the business
  date; ``stale`` is true when that close is from an earlier date. A position with no close at
  all is kept with ``priced = false`` and NULL values.
* Market value and trade notional are ``quantity * price`` as quoted.
"""

from __future__ import annotations

from ray_platform.contracts.reference import CARD_CHANNELS

FX = """
fx AS (
    SELECT quote AS currency, arg_max(rate, date)::DOUBLE AS rate
    FROM fx_rates WHERE base = $base AND date <= $d GROUP BY quote
    UNION ALL SELECT $base, 1.0
),
rc AS (SELECT rate AS rc_rate FROM fx WHERE currency = $rc)
"""

TXN_DAY = "card_transactions WHERE year = $y AND month = $m AND day = $dd"


def _to_reporting(expr: str, rate: str) -> str:
    return f"round(({expr})::DOUBLE / {rate} * rc.rc_rate, 2)::DECIMAL(38, 2)"


_CHANNELS = ",\n    ".join(
    f"count(*) FILTER (WHERE t.channel = '{c}') AS {c}_count" for c in CARD_CHANNELS
)

DAILY_CUSTOMER_SUMMARY = f"""
SELECT
    $d::DATE AS business_date,
    t.customer_id,
    count(*) AS txn_count,
    sum(t.amount_reporting)::DECIMAL(38, 2) AS total_amount_reporting,
    round(avg(t.amount_reporting), 2)::DECIMAL(38, 2) AS avg_amount_reporting,
    max(t.amount_reporting)::DECIMAL(38, 2) AS max_amount_reporting,
    count(DISTINCT t.merchant_id) AS distinct_merchants,
    count(DISTINCT t.merchant_country) AS distinct_countries,
    count(*) FILTER (WHERE t.merchant_country <> c.country) AS foreign_txn_count,
    coalesce(sum(t.is_fraud), 0)::BIGINT AS fraud_count,
    {_CHANNELS},
    min(t.timestamp) AS first_txn_ts,
    max(t.timestamp) AS last_txn_ts
FROM (SELECT * FROM {TXN_DAY}) t
LEFT JOIN customers c ON c.customer_id = t.customer_id
GROUP BY t.customer_id
ORDER BY t.customer_id
"""

DAILY_MERCHANT_STATS = f"""
SELECT
    $d::DATE AS business_date,
    merchant_id,
    any_value(merchant_name) AS merchant_name,
    mcc,
    merchant_country,
    count(*) AS txn_count,
    sum(amount_reporting)::DECIMAL(38, 2) AS total_amount_reporting,
    round(avg(amount_reporting), 2)::DECIMAL(38, 2) AS avg_amount_reporting,
    coalesce(sum(is_fraud), 0)::BIGINT AS fraud_count,
    coalesce(sum(is_fraud), 0)::DOUBLE / count(*) AS fraud_rate,
    count(DISTINCT card_id) AS distinct_cards
FROM {TXN_DAY}
GROUP BY merchant_id, mcc, merchant_country
ORDER BY merchant_id, mcc, merchant_country
"""

DAILY_MCC_STATS = f"""
SELECT
    $d::DATE AS business_date,
    mcc,
    merchant_country,
    count(*) AS txn_count,
    sum(amount_reporting)::DECIMAL(38, 2) AS total_amount_reporting,
    coalesce(sum(is_fraud), 0)::BIGINT AS fraud_count,
    coalesce(sum(is_fraud), 0)::DOUBLE / count(*) AS fraud_rate
FROM {TXN_DAY}
GROUP BY mcc, merchant_country
ORDER BY mcc, merchant_country
"""

DAILY_DESK_ACTIVITY = f"""
WITH {FX}
SELECT
    $d::DATE AS business_date,
    t.desk,
    count(*) AS trades,
    count(*) FILTER (WHERE t.side = 'BUY') AS buy_count,
    count(*) FILTER (WHERE t.side = 'SELL') AS sell_count,
    sum({_to_reporting("t.price * t.quantity", "fx.rate")})::DECIMAL(38, 2)
        AS gross_notional_reporting,
    count(*) FILTER (WHERE fx.rate IS NULL OR rc.rc_rate IS NULL) AS unconverted_trades,
    sum(CASE WHEN t.side = 'BUY' THEN t.quantity ELSE -t.quantity END)::BIGINT AS net_quantity,
    count(DISTINCT t.isin) AS distinct_instruments,
    count(DISTINCT t.counterparty_lei) AS distinct_counterparties
FROM (SELECT * FROM trades WHERE year = $y AND month = $m AND day = $dd) t
LEFT JOIN fx ON fx.currency = t.currency
CROSS JOIN (SELECT max(rc_rate) AS rc_rate FROM rc) rc
GROUP BY t.desk
ORDER BY t.desk
"""

POSITIONS_VALUED = f"""
WITH {FX},
px AS (
    SELECT isin, arg_max(close, date) AS close, arg_max(currency, date) AS currency,
           max(date) AS price_date
    FROM prices WHERE date <= $d GROUP BY isin
),
pos AS (
    SELECT desk, isin, sum(quantity)::BIGINT AS quantity
    FROM positions WHERE year = $y AND month = $m AND day = $dd AND as_of = $d
    GROUP BY desk, isin
)
SELECT
    $d::DATE AS business_date,
    p.desk,
    p.isin,
    i.asset_class,
    p.quantity,
    px.close,
    px.price_date,
    coalesce(px.price_date < $d, false) AS stale,
    coalesce(px.currency, i.currency) AS currency,
    (p.quantity * px.close)::DECIMAL(38, 2) AS market_value,
    {_to_reporting("p.quantity * px.close", "fx.rate")} AS market_value_reporting,
    px.close IS NOT NULL AS priced
FROM pos p
LEFT JOIN instruments i ON i.isin = p.isin
LEFT JOIN px ON px.isin = p.isin
LEFT JOIN fx ON fx.currency = coalesce(px.currency, i.currency)
CROSS JOIN (SELECT max(rc_rate) AS rc_rate FROM rc) rc
ORDER BY p.desk, p.isin
"""

CUSTOMER_FEATURES = """
WITH tx AS (
    SELECT customer_id, merchant_id, amount_reporting
    FROM card_transactions
    WHERE year IN (year($lo), year($d)) AND month IN (month($lo), month($d))
      AND timestamp >= $lo::TIMESTAMPTZ AND timestamp < ($d + 1)::TIMESTAMPTZ
),
agg AS (
    SELECT customer_id,
           count(*) AS txn_count_30d,
           sum(amount_reporting)::DECIMAL(38, 2) AS amount_30d,
           -- from exact decimal sums, so reruns give bit-identical floats
           (sum(amount_reporting) / count(amount_reporting))::DOUBLE AS avg_amount_30d,
           CASE WHEN count(amount_reporting) > 1 THEN sqrt(greatest(0, (
               count(amount_reporting) * sum(amount_reporting * amount_reporting)
               - sum(amount_reporting) * sum(amount_reporting))::DOUBLE
               / (count(amount_reporting) * (count(amount_reporting) - 1)))) END
               AS std_amount_30d,
           count(DISTINCT merchant_id) AS distinct_merchants_30d
    FROM tx GROUP BY customer_id
),
acct AS (
    SELECT customer_id, min(open_date) AS first_open_date
    FROM accounts WHERE open_date <= $d GROUP BY customer_id
)
SELECT
    $d::DATE AS business_date,
    c.customer_id,
    c.country AS home_country,
    c.segment,
    c.kyc_risk_rating,
    c.status,
    ($d::DATE - a.first_open_date)::INTEGER AS account_age_days,
    coalesce(g.txn_count_30d, 0) AS txn_count_30d,
    coalesce(g.amount_30d, 0)::DECIMAL(38, 2) AS amount_30d,
    g.avg_amount_30d,
    g.std_amount_30d,
    coalesce(g.distinct_merchants_30d, 0) AS distinct_merchants_30d
FROM customers c
LEFT JOIN acct a ON a.customer_id = c.customer_id
LEFT JOIN agg g ON g.customer_id = c.customer_id
WHERE c.created_at IS NULL OR c.created_at < ($d + 1)::TIMESTAMPTZ
ORDER BY c.customer_id
"""
