-- Net revenue per product since the first synced month (base currency). Rows without a
-- product are named after their kind: charges without invoice, and refunds not made by a
-- credit note (credit note lines keep the product of the line they credit).
SELECT
    coalesce(
        p.name,
        l.product_id,
        CASE l.kind
            WHEN 'charge' THEN 'Charges without invoice'
            WHEN 'refund' THEN 'Refunds (no product)'
            ELSE 'No product'
        END
    ) AS label,
    sum(l.amount) AS net_revenue
FROM {revenue}.revenue_line AS l
LEFT JOIN {revenue}.product AS p ON p.id = l.product_id
WHERE l.is_paid
GROUP BY ALL
HAVING sum(l.amount) IS NOT NULL
ORDER BY net_revenue DESC, label;
