-- `customer_mrr_history`: month-end MRR per customer with the customer's movement, the way
-- Stripe's MRR report and the dbt MRR playbook classify: a customer's first paying month is
-- new, a second subscription of a paying customer is expansion, a customer paying again after
-- a month or more at 0 is reactivation (even on a new subscription), churn is the customer's
-- whole MRR going to 0. The customer's MRR is the sum of its subscriptions' (mrr_history), per
-- currency (Stripe bills a customer in one currency).
-- Base currency: `mrr` is this month end's value and `previous_mrr` last month end's, each at
-- its own day's rate; the movement `mrr_change` is the change in the original currency valued
-- at this month end's rate, and `fx_effect` the rest: what the rate move did to last month's
-- MRR (plus the millionths by which rounding each subscription differs from rounding their
-- sum), so previous_mrr + mrr_change + fx_effect = mrr exactly and an unchanged customer's
-- movement is exactly 0.
CREATE OR REPLACE TABLE {revenue}.customer_mrr_history AS
WITH months AS (
    SELECT
        customer_id,
        original_currency,
        month,
        any_value(evaluated_at) AS evaluated_at,
        sum(original_mrr)::BIGINT AS original_mrr,
        sum(mrr) AS mrr,
        sum(arr) AS arr,
        count(*) FILTER (WHERE original_mrr > 0) AS subscriptions
    FROM {revenue}.mrr_history
    GROUP BY ALL
),
moves AS (
    SELECT
        *,
        lag(month) OVER w = month - INTERVAL 1 MONTH AS follows,
        lag(original_mrr) OVER w AS prior_original_mrr,
        lag(mrr) OVER w AS prior_mrr,
        coalesce(max(original_mrr) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) > 0
            AS had_mrr_before
    FROM months
    WINDOW w AS (PARTITION BY customer_id, original_currency ORDER BY month)
),
valued AS (
    SELECT
        m.*,
        CASE WHEN m.follows THEN m.prior_original_mrr ELSE 0 END::BIGINT AS previous_original_mrr,
        CASE WHEN m.follows THEN m.prior_mrr ELSE 0 END AS previous_mrr,
        fx.minor_to_base
    FROM moves AS m
    LEFT JOIN {revenue}.exchange_rate AS fx
        ON fx.currency = m.original_currency
        AND fx.date = CAST(utc(m.evaluated_at) AS DATE)
)
SELECT
    month,
    getvariable('source_label') AS source_label,
    customer_id,
    evaluated_at,
    original_currency,
    original_mrr,
    previous_original_mrr,
    original_mrr - previous_original_mrr AS original_mrr_change,
    CASE
        WHEN previous_original_mrr = 0 AND original_mrr > 0
            THEN CASE WHEN had_mrr_before THEN 'reactivation' ELSE 'new' END
        WHEN previous_original_mrr > 0 AND original_mrr = 0 THEN 'churn'
        WHEN original_mrr > previous_original_mrr THEN 'expansion'
        WHEN original_mrr < previous_original_mrr THEN 'contraction'
        ELSE 'unchanged'
    END AS movement,
    subscriptions,
    getvariable('base_currency') AS currency,
    CAST(mrr AS DECIMAL(18, 6)) AS mrr,
    CAST(previous_mrr AS DECIMAL(18, 6)) AS previous_mrr,
    base_amount(original_mrr - previous_original_mrr, minor_to_base) AS mrr_change,
    CAST(mrr - previous_mrr - base_amount(original_mrr - previous_original_mrr, minor_to_base)
        AS DECIMAL(18, 6)) AS fx_effect,
    CAST(arr AS DECIMAL(18, 6)) AS arr
FROM valued
WHERE original_mrr > 0 OR previous_original_mrr > 0;
