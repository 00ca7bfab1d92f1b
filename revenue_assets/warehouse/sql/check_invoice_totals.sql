-- Invoices whose amounts do not follow from their lines:
--   subtotal = Σ line amounts, and total = subtotal − Σ invoice discounts + Σ exclusive taxes.
-- Returns (id, subtotal, Σ lines, total, expected total) for each mismatch.
WITH lines AS (
    SELECT invoice_id, sum(amount) AS line_total
    FROM {schema}.invoice_line_item
    WHERE NOT _deleted
    GROUP BY invoice_id
),
invoices AS (
    SELECT
        id,
        subtotal,
        total,
        coalesce((
            SELECT sum(CAST(d ->> '$.amount' AS BIGINT))
            FROM unnest(CAST(total_discount_amounts AS JSON[])) AS t(d)
        ), 0) AS discounts,
        coalesce((
            SELECT sum(CAST(x ->> '$.amount' AS BIGINT))
            FROM unnest(CAST(total_taxes AS JSON[])) AS t(x)
            WHERE coalesce(x ->> '$.tax_behavior', 'exclusive') = 'exclusive'
        ), tax, 0) AS taxes  -- older API versions: `tax`
    FROM {schema}.invoice
    WHERE NOT _deleted
)
SELECT
    i.id,
    i.subtotal,
    coalesce(l.line_total, 0) AS line_total,
    i.total,
    i.subtotal - i.discounts + i.taxes AS expected_total
FROM invoices i
LEFT JOIN lines l ON l.invoice_id = i.id
WHERE i.subtotal IS DISTINCT FROM coalesce(l.line_total, 0)
   OR i.total IS DISTINCT FROM i.subtotal - i.discounts + i.taxes
ORDER BY i.id
LIMIT 100
