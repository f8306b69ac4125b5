-- Card spend by day of week, weekday against weekend (date dimension).
SELECT d.day_of_week, d.day_name, count(*) AS txn_count,
       sum(f.amount_reporting) AS amount_reporting,
       avg(f.amount_reporting) AS avg_ticket
FROM warehouse.fact_transactions f
JOIN warehouse.dim_date d USING (date_key)
GROUP BY ALL
ORDER BY d.day_of_week
