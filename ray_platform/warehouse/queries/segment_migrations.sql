-- Customers whose segment changed, with the old and new segment and when (from SCD2 history).
SELECT customer_id, prev_segment, segment AS new_segment, valid_from AS changed_at
FROM (
    SELECT customer_id, segment, valid_from,
           lag(segment) OVER (PARTITION BY customer_id ORDER BY valid_from) AS prev_segment
    FROM warehouse.dim_customer WHERE customer_sk <> -1
)
WHERE prev_segment IS NOT NULL AND prev_segment <> segment
ORDER BY changed_at, customer_id
