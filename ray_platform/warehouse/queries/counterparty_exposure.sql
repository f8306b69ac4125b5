-- Gross traded notional per counterparty type and currency.
SELECT type AS counterparty_type, currency, count(DISTINCT lei) AS counterparties,
       sum(trades) AS trades, sum(gross_notional) AS gross_notional
FROM mart_regulatory.counterparty_exposure
GROUP BY ALL
ORDER BY gross_notional DESC
