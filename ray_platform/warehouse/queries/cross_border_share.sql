-- Share of card transactions made abroad, by home country (home country at transaction time).
SELECT c.country AS home_country, count(*) AS txn_count,
       count(*) FILTER (WHERE f.merchant_country <> c.country) AS cross_border,
       (count(*) FILTER (WHERE f.merchant_country <> c.country))::DOUBLE / count(*) AS share
FROM warehouse.fact_transactions f
JOIN warehouse.dim_customer c USING (customer_sk)
GROUP BY ALL
ORDER BY share DESC, home_country
