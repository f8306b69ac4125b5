-- Who are the 20 biggest card spenders (reporting currency), with their current segment?
SELECT f.customer_id, c.segment, c.country, count(*) AS txn_count,
       sum(f.amount_reporting) AS spend_reporting
FROM warehouse.fact_transactions f
JOIN mart_customer.customer_current c USING (customer_id)
GROUP BY ALL
ORDER BY spend_reporting DESC, f.customer_id
LIMIT 20
