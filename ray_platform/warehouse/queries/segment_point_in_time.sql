-- Customers per segment as they stood at noon UTC on 2026-01-07 (SCD2 point-in-time).
SELECT segment, count(*) AS customers
FROM warehouse.dim_customer
WHERE customer_sk <> -1
  AND valid_from <= TIMESTAMPTZ '2026-01-07 12:00:00+00'
  AND valid_to > TIMESTAMPTZ '2026-01-07 12:00:00+00'
GROUP BY segment
ORDER BY segment
