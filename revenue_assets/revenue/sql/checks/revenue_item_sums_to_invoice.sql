-- Paid invoices whose revenue items (invoice lines, before refunds and credit notes) do not sum
-- to the invoice's net amount (total excluding tax: subtotal − discounts). Catches missing or
-- truncated lines and discount allocation errors.
WITH items AS (
    SELECT invoice_id, sum(original_amount) AS items_amount, count(*) AS items
    FROM {revenue}.revenue_item
    WHERE kind = 'invoice_line'
    GROUP BY ALL
),
invoices AS (
    SELECT
        id,
        coalesce(total_excluding_tax, subtotal - amounts_sum(total_discount_amounts)) AS net_amount
    FROM {stripe}.invoice
    WHERE NOT coalesce(_deleted, false)
        AND invoice_is_paid(status, paid)
)
SELECT i.id AS invoice_id, i.net_amount, coalesce(t.items_amount, 0) AS items_amount,
    coalesce(t.items, 0) AS items
FROM invoices AS i
LEFT JOIN items AS t ON t.invoice_id = i.id
WHERE i.net_amount IS DISTINCT FROM coalesce(t.items_amount, 0)
ORDER BY i.id
