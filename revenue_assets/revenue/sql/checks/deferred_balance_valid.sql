-- Deferred balances that are impossible:
--   'wrong_sign': a line's balance of the opposite sign of the line (revenue deferred below
--                 zero, or a credit deferred above zero);
--   'not_zero_after_period': a balance left after the line's last service month (for a credit:
--                 after the last month of the line it reduces);
--   'credited_below_zero': an invoice line whose balance net of its credits (credit notes,
--                 refunds) is below zero at a month end;
--   'negative_total': the balance of a currency at a month end below zero, beyond the rounding
--                 that negative lines (proration credits, each rounded by itself) can explain.
WITH last_months AS (
    SELECT kind, invoice_item_id, credited_line_id, max(month) AS last_month
    FROM {revenue}.deferred_revenue
    GROUP BY ALL
),
credited AS (
    SELECT coalesce(credited_line_id, invoice_item_id) AS line_id, month,
        sum(deferred_original_amount) AS balance
    FROM {revenue}.deferred_revenue
    WHERE kind = 'invoice_line' OR credited_line_id IS NOT NULL
    GROUP BY ALL
)
SELECT 'wrong_sign' AS problem, d.invoice_item_id AS subject, d.month,
    d.deferred_original_amount AS balance
FROM {revenue}.deferred_revenue AS d
WHERE d.deferred_original_amount * sign(d.line_original_amount) < 0
    OR (d.line_original_amount = 0 AND d.deferred_original_amount <> 0)
UNION ALL
SELECT 'not_zero_after_period', d.invoice_item_id, d.month, d.deferred_original_amount
FROM {revenue}.deferred_revenue AS d
JOIN last_months AS l ON l.kind = d.kind AND l.invoice_item_id = d.invoice_item_id
    AND l.credited_line_id IS NOT DISTINCT FROM d.credited_line_id
WHERE d.month = l.last_month AND d.deferred_original_amount <> 0
UNION ALL
SELECT 'credited_below_zero', c.line_id, c.month, c.balance
FROM credited AS c
JOIN {revenue}.deferred_revenue AS d
    ON d.kind = 'invoice_line' AND d.invoice_item_id = c.line_id AND d.month = c.month
WHERE c.balance < 0 AND d.line_original_amount > 0
UNION ALL
SELECT 'negative_total', original_currency, month, sum(deferred_original_amount)
FROM {revenue}.deferred_revenue
GROUP BY original_currency, month
HAVING sum(deferred_original_amount)
    < -count(*) FILTER (
        WHERE kind = 'invoice_line' AND line_original_amount < 0 AND deferred_original_amount <> 0
    )
ORDER BY 1, 2, 3
