-- The MRR bridge that does not reconcile (start + movements + FX effect = end):
--   'month':        revenue_metrics: last month's mrr + new + expansion + contraction + churn
--                   + reactivation + fx_effect ≠ this month's mrr;
--   'customer':     a customer_mrr_history row whose previous MRR (original or base) is not
--                   the customer's MRR of the month before (0 without a row), or whose
--                   previous_mrr + mrr_change + fx_effect ≠ mrr;
--   'subscriptions': a month whose customers' MRR does not sum to its subscriptions' MRR;
--   'new_customers': a month whose new_customers is not the number of customers whose movement
--                   is new, or whose new_mrr is positive without a new customer (or not
--                   positive with one whose MRR converts to the base currency).
WITH metrics AS (
    SELECT
        *,
        coalesce(lag(mrr) OVER (ORDER BY month), 0) AS start_mrr
    FROM {revenue}.revenue_metrics
),
customers AS (
    SELECT
        *,
        lag(month) OVER w AS prior_month,
        lag(original_mrr) OVER w AS prior_original_mrr,
        lag(mrr) OVER w AS prior_mrr
    FROM {revenue}.customer_mrr_history
    WINDOW w AS (PARTITION BY customer_id, original_currency ORDER BY month)
),
per_month AS (
    SELECT
        month,
        sum(mrr) AS mrr,
        count(DISTINCT customer_id) FILTER (WHERE movement = 'new') AS new_customers,
        -- the new customers whose MRR converts to the base currency (new_mrr counts only them)
        count(DISTINCT customer_id) FILTER (WHERE movement = 'new' AND mrr_change > 0)
            AS new_converted
    FROM {revenue}.customer_mrr_history
    GROUP BY ALL
),
per_subscription_month AS (
    SELECT month, sum(mrr) AS mrr
    FROM {revenue}.mrr_history
    GROUP BY ALL
)
SELECT
    'month' AS problem,
    CAST(month AS VARCHAR) AS subject,
    month,
    CAST(start_mrr + new_mrr + expansion_mrr + contraction_mrr + churned_mrr + reactivation_mrr
        + fx_effect_mrr AS VARCHAR) AS expected,
    CAST(mrr AS VARCHAR) AS found
FROM metrics
WHERE start_mrr + new_mrr + expansion_mrr + contraction_mrr + churned_mrr + reactivation_mrr
    + fx_effect_mrr <> mrr
UNION ALL
SELECT
    'customer',
    customer_id,
    month,
    CAST(previous_mrr + mrr_change + fx_effect AS VARCHAR),
    CAST(mrr AS VARCHAR)
FROM customers
WHERE previous_original_mrr <> CASE
        WHEN prior_month = month - INTERVAL 1 MONTH THEN prior_original_mrr ELSE 0 END
    OR previous_mrr IS DISTINCT FROM CASE
        WHEN prior_month = month - INTERVAL 1 MONTH THEN prior_mrr ELSE 0 END
    OR previous_mrr + mrr_change + fx_effect <> mrr
UNION ALL
SELECT
    'subscriptions',
    CAST(coalesce(s.month, c.month) AS VARCHAR),
    coalesce(s.month, c.month),
    CAST(s.mrr AS VARCHAR),
    CAST(c.mrr AS VARCHAR)
FROM per_subscription_month AS s
FULL JOIN per_month AS c ON c.month = s.month
WHERE s.mrr IS DISTINCT FROM c.mrr
UNION ALL
SELECT
    'new_customers',
    CAST(m.month AS VARCHAR),
    m.month,
    CAST(coalesce(c.new_customers, 0) AS VARCHAR),
    CAST(m.new_customers AS VARCHAR)
FROM metrics AS m
LEFT JOIN per_month AS c ON c.month = m.month
WHERE m.new_customers <> coalesce(c.new_customers, 0)
    OR (m.new_mrr > 0) <> (coalesce(c.new_converted, 0) > 0)
ORDER BY 1, 2, 3
