-- Fraud rate by merchant category and merchant country (groups with at least 20 transactions).
SELECT f.mcc, m.mcc_name, f.merchant_country, count(*) AS txn_count,
       sum(f.is_fraud) AS fraud_count, sum(f.is_fraud)::DOUBLE / count(*) AS fraud_rate
FROM warehouse.fact_transactions f
LEFT JOIN warehouse.dim_merchant m USING (merchant_key)
GROUP BY ALL
HAVING count(*) >= 20
ORDER BY fraud_rate DESC, txn_count DESC
