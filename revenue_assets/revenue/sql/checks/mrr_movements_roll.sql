-- MRR that does not roll from month to month (previous + movement = current):
--   'row': a row whose change is not current − previous, or whose previous is not the
--          subscription's MRR of the month before (0 when it had no row);
--   'total': per currency, last month's total + this month's movements ≠ this month's total.
WITH ordered AS (
    SELECT
        *,
        lag(month) OVER w AS prior_month,
        lag(original_mrr) OVER w AS prior_mrr
    FROM {revenue}.mrr_history
    WINDOW w AS (PARTITION BY subscription_id ORDER BY month)
),
totals AS (
    SELECT original_currency, month, sum(original_mrr) AS total,
        sum(original_mrr_change) AS movements
    FROM {revenue}.mrr_history
    GROUP BY ALL
),
rolled AS (
    SELECT
        *,
        coalesce(
            CASE WHEN lag(month) OVER w = month - INTERVAL 1 MONTH THEN lag(total) OVER w END, 0
        ) AS previous_total
    FROM totals
    WINDOW w AS (PARTITION BY original_currency ORDER BY month)
)
SELECT 'row' AS problem, subscription_id AS subject, month, original_mrr AS found,
    previous_original_mrr + original_mrr_change AS expected
FROM ordered
WHERE original_mrr <> previous_original_mrr + original_mrr_change
    OR previous_original_mrr <> CASE
        WHEN prior_month = month - INTERVAL 1 MONTH THEN prior_mrr ELSE 0 END
UNION ALL
SELECT 'total', original_currency, month, total, previous_total + movements
FROM rolled
WHERE total <> previous_total + movements
ORDER BY 1, 2, 3
