-- The customers who brought in the most net revenue (paid invoice lines and charges without
-- invoice, less refunds and credit notes, base currency), with their current MRR and the
-- person and group `customer_link` found for them. $top: how many.
WITH revenue AS (
    SELECT customer_id, sum(amount) AS net_revenue
    FROM {revenue}.revenue_line
    WHERE is_paid AND customer_id IS NOT NULL
    GROUP BY ALL
),
current_mrr AS (
    SELECT customer_id, sum(mrr) AS mrr
    FROM {revenue}.mrr
    GROUP BY ALL
)
SELECT
    r.customer_id,
    c.name,
    c.email,
    c.country,
    l.distinct_id,
    l.link_source,
    l.group_key,
    r.net_revenue,
    coalesce(m.mrr, 0) AS mrr
FROM revenue AS r
LEFT JOIN {revenue}.customer AS c ON c.id = r.customer_id
LEFT JOIN {revenue}.customer_link AS l ON l.customer_id = r.customer_id
LEFT JOIN current_mrr AS m ON m.customer_id = r.customer_id
WHERE r.net_revenue IS NOT NULL
ORDER BY r.net_revenue DESC, r.customer_id
LIMIT $top;
