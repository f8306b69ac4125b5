-- Card spend by the customer's segment at the time of each transaction and channel.
SELECT c.segment, f.channel, count(*) AS txn_count, sum(f.amount_reporting) AS amount_reporting,
       avg(f.amount_reporting) AS avg_ticket
FROM warehouse.fact_transactions f
JOIN warehouse.dim_customer c USING (customer_sk)
GROUP BY ALL
ORDER BY c.segment, f.channel
