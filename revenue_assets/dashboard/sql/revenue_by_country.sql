-- Net revenue per customer country (the customer's address) since the first synced month,
-- base currency.
SELECT
    coalesce(c.country, 'Unknown') AS label,
    sum(l.amount) AS net_revenue
FROM {revenue}.revenue_line AS l
LEFT JOIN {revenue}.customer AS c ON c.id = l.customer_id
WHERE l.is_paid
GROUP BY ALL
HAVING sum(l.amount) IS NOT NULL
ORDER BY net_revenue DESC, label;
