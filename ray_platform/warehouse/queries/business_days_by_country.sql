-- Business days and public holidays per country in January 2026 (business calendars).
SELECT country, count(*) FILTER (WHERE is_business_day) AS business_days,
       count(*) FILTER (WHERE is_holiday) AS holidays,
       string_agg(holiday_name, ', ' ORDER BY date) FILTER (WHERE is_holiday) AS holiday_names
FROM warehouse.dim_business_calendar
WHERE date BETWEEN DATE '2026-01-01' AND DATE '2026-01-31'
GROUP BY country
ORDER BY country
