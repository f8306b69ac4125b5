-- How interactions end, by channel and the customer's segment at the time.
SELECT channel, segment, count(*) AS interactions,
       avg(duration_s) AS avg_duration_s,
       (count(*) FILTER (WHERE outcome = 'resolved'))::DOUBLE / count(*) AS resolution_rate
FROM mart_customer.interactions
GROUP BY ALL
ORDER BY channel, segment
