-- Desk P&L of each day's trades marked to that day's close, per trade currency:
-- signed quantity * (close - execution price).
SELECT t.business_date, t.desk, t.currency, count(*) AS trades,
       round(sum(t.signed_quantity * (p.close - t.price)), 2) AS pnl,
       count(*) FILTER (WHERE p.close IS NULL) AS unpriced_trades
FROM warehouse.fact_trades t
LEFT JOIN silver.prices p ON p.isin = t.isin AND p.date = t.business_date
GROUP BY ALL
ORDER BY t.business_date, t.desk, t.currency
