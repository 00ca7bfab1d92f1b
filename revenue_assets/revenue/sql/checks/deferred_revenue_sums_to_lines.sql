-- Revenue lines (invoice lines, charges, refunds, credit notes) whose monthly recognition does
-- not sum exactly to the line (or is missing).
WITH months AS (
    SELECT kind, invoice_item_id, sum(recognized_original_amount) AS recognized, count(*) AS months
    FROM {revenue}.deferred_revenue
    GROUP BY ALL
)
SELECT l.kind, l.id, l.original_amount, m.recognized, coalesce(m.months, 0) AS months
FROM {revenue}.revenue_line AS l
LEFT JOIN months AS m ON m.kind = l.kind AND m.invoice_item_id = l.id
WHERE l.is_paid
    AND l.original_amount IS DISTINCT FROM m.recognized
ORDER BY l.id
