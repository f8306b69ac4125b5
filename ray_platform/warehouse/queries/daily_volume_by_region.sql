-- Daily card volume and value by merchant region.
SELECT f.business_date, g.region, count(*) AS txn_count,
       sum(f.amount_reporting) AS amount_reporting
FROM warehouse.fact_transactions f
JOIN warehouse.dim_geography g USING (geography_key)
GROUP BY ALL
ORDER BY f.business_date, g.region
