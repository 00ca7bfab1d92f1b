-- Deferred balances that are impossible:
--   'wrong_sign': a line's balance of the opposite sign of the line (revenue deferred below
--                 zero, or a credit deferred above zero);
--   'not_zero_after_period': a balance left after the line's last service month;
--   'negative_total': the balance of a currency at a month end below zero, beyond the rounding
--                 that negative lines (proration credits, each rounded by itself) can explain.
WITH last_months AS (
    SELECT kind, invoice_item_id, max(month) AS last_month
    FROM {revenue}.deferred_revenue
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
WHERE d.month = l.last_month AND d.deferred_original_amount <> 0
UNION ALL
SELECT 'negative_total', original_currency, month, sum(deferred_original_amount)
FROM {revenue}.deferred_revenue
GROUP BY original_currency, month
HAVING sum(deferred_original_amount)
    < -count(*) FILTER (WHERE line_original_amount < 0 AND deferred_original_amount <> 0)
ORDER BY 1, 2, 3
