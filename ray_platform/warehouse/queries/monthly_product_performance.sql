-- Monthly product performance: spend, active accounts and fraud rate per product.
SELECT year_month, product_family, product_code, active_accounts, txn_count,
       amount_reporting, fraud_rate
FROM warehouse.agg_monthly_product
ORDER BY year_month, amount_reporting DESC
