-- `revenue_metrics`: one row per calendar month (UTC), in the base currency.
--   gross_revenue: paid invoice lines and charges without invoice, by billing date;
--   refunds: refunds and credit notes (a positive figure), net_revenue = gross − refunds;
--   recognized_revenue / deferred_revenue_balance: from deferred_revenue (month, month end);
--   mrr, arr: month-end MRR of mrr_history, as of the month's last second;
--   movements: customer_mrr_history's, classified per customer (signed: contraction and churn
--   are negative), and fx_effect_mrr, what exchange-rate moves changed, from the same rows:
--   mrr = previous mrr + movements + fx, which an asset check verifies;
--   customers / subscriptions: those with MRR > 0 at month end; new = first paying month (the
--   customers whose movement is new: new_mrr is theirs alone); churned = paying last month,
--   not this month; arpu = recognized_revenue / customers (the
--   month's revenue per paying customer: one-off revenue included, an annual plan a twelfth a
--   month); customer_churn_rate = churned / customers of last month;
--   ltv = arpu / customer_churn_rate, NULL when nobody churned;
--   unconverted_lines / unconverted_original_amounts: revenue lines booked in the month that
--   have no base-currency amount (a currency with neither an ECB rate nor a rate Stripe settled
--   it at), so the month's revenue figures leave them out: how many, and their original amounts
--   (minor units) by currency. Never silently partial: an asset check warns while any exist.
CREATE OR REPLACE TABLE {revenue}.revenue_metrics AS
WITH as_of AS (
    SELECT CAST(date_trunc('month', getvariable('as_of')::TIMESTAMPTZ) AS DATE) AS m
),
revenue AS (
    SELECT
        CAST(date_trunc('month', created_at) AS DATE) AS month,
        sum(amount) FILTER (WHERE kind IN ('invoice_line', 'charge')) AS gross_revenue,
        -sum(amount) FILTER (WHERE kind IN ('refund', 'credit_note')) AS refunds
    FROM {revenue}.revenue_line
    WHERE is_paid
    GROUP BY ALL
),
deferral AS (
    SELECT month, sum(amount) AS recognized_revenue, sum(deferred_amount) AS deferred_revenue_balance
    FROM {revenue}.deferred_revenue
    GROUP BY ALL
),
unconverted AS (
    SELECT
        month,
        sum(lines)::BIGINT AS lines,
        map_from_entries(list({'key': original_currency, 'value': amount} ORDER BY original_currency))
            AS amounts
    FROM (
        SELECT
            CAST(date_trunc('month', created_at) AS DATE) AS month,
            original_currency,
            count(*) AS lines,
            sum(original_amount)::BIGINT AS amount
        FROM {revenue}.revenue_line
        WHERE is_paid AND amount IS NULL AND original_amount <> 0
        GROUP BY ALL
    )
    GROUP BY ALL
),
mrr AS (
    SELECT
        month,
        sum(mrr) AS mrr,
        sum(arr) AS arr,
        count(DISTINCT subscription_id) FILTER (WHERE original_mrr > 0) AS subscriptions
    FROM {revenue}.mrr_history
    GROUP BY ALL
),
customers AS (
    SELECT
        month,
        sum(mrr_change) FILTER (WHERE movement = 'new') AS new_mrr,
        sum(mrr_change) FILTER (WHERE movement = 'expansion') AS expansion_mrr,
        sum(mrr_change) FILTER (WHERE movement = 'contraction') AS contraction_mrr,
        sum(mrr_change) FILTER (WHERE movement = 'churn') AS churned_mrr,
        sum(mrr_change) FILTER (WHERE movement = 'reactivation') AS reactivation_mrr,
        sum(fx_effect) AS fx_effect_mrr,
        count(DISTINCT customer_id) FILTER (WHERE original_mrr > 0) AS customers,
        count(DISTINCT customer_id) FILTER (WHERE movement = 'new') AS new_customers,
        count(DISTINCT customer_id) FILTER (WHERE movement = 'churn') AS churned_customers
    FROM {revenue}.customer_mrr_history
    GROUP BY ALL
),
calendar AS (
    SELECT CAST(unnest(generate_series(
        (SELECT min(month) FROM (
            SELECT month FROM revenue UNION ALL SELECT month FROM deferral
            UNION ALL SELECT month FROM mrr
        ) WHERE month <= (SELECT m FROM as_of)),
        (SELECT m FROM as_of),
        INTERVAL 1 MONTH
    )) AS DATE) AS month
),
joined AS (
    SELECT
        k.month,
        getvariable('base_currency') AS currency,
        coalesce(r.gross_revenue, 0) AS gross_revenue,
        coalesce(r.refunds, 0) AS refunds,
        coalesce(r.gross_revenue, 0) - coalesce(r.refunds, 0) AS net_revenue,
        coalesce(d.recognized_revenue, 0) AS recognized_revenue,
        coalesce(d.deferred_revenue_balance, 0) AS deferred_revenue_balance,
        coalesce(m.mrr, 0) AS mrr,
        coalesce(m.arr, 0) AS arr,
        coalesce(c.new_mrr, 0) AS new_mrr,
        coalesce(c.expansion_mrr, 0) AS expansion_mrr,
        coalesce(c.contraction_mrr, 0) AS contraction_mrr,
        coalesce(c.churned_mrr, 0) AS churned_mrr,
        coalesce(c.reactivation_mrr, 0) AS reactivation_mrr,
        coalesce(c.fx_effect_mrr, 0) AS fx_effect_mrr,
        coalesce(m.subscriptions, 0) AS subscriptions,
        coalesce(c.customers, 0) AS customers,
        coalesce(c.new_customers, 0) AS new_customers,
        coalesce(c.churned_customers, 0) AS churned_customers,
        coalesce(u.lines, 0) AS unconverted_lines,
        coalesce(u.amounts, MAP {}::MAP(VARCHAR, BIGINT)) AS unconverted_original_amounts
    FROM calendar AS k
    LEFT JOIN revenue AS r ON r.month = k.month
    LEFT JOIN deferral AS d ON d.month = k.month
    LEFT JOIN mrr AS m ON m.month = k.month
    LEFT JOIN customers AS c ON c.month = k.month
    LEFT JOIN unconverted AS u ON u.month = k.month
),
with_previous AS (
    SELECT
        *,
        coalesce(lag(mrr) OVER (ORDER BY month), 0) AS previous_mrr,
        coalesce(lag(customers) OVER (ORDER BY month), 0) AS previous_customers
    FROM joined
)
SELECT
    month,
    currency,
    CAST(gross_revenue AS DECIMAL(38, 6)) AS gross_revenue,
    CAST(refunds AS DECIMAL(38, 6)) AS refunds,
    CAST(net_revenue AS DECIMAL(38, 6)) AS net_revenue,
    CAST(recognized_revenue AS DECIMAL(38, 6)) AS recognized_revenue,
    CAST(deferred_revenue_balance AS DECIMAL(38, 6)) AS deferred_revenue_balance,
    CAST(mrr AS DECIMAL(38, 6)) AS mrr,
    CAST(arr AS DECIMAL(38, 6)) AS arr,
    CAST(new_mrr AS DECIMAL(38, 6)) AS new_mrr,
    CAST(expansion_mrr AS DECIMAL(38, 6)) AS expansion_mrr,
    CAST(contraction_mrr AS DECIMAL(38, 6)) AS contraction_mrr,
    CAST(churned_mrr AS DECIMAL(38, 6)) AS churned_mrr,
    CAST(reactivation_mrr AS DECIMAL(38, 6)) AS reactivation_mrr,
    CAST(fx_effect_mrr AS DECIMAL(38, 6)) AS fx_effect_mrr,
    customers,
    new_customers,
    churned_customers,
    subscriptions,
    decimal_div(recognized_revenue, customers) AS arpu,
    decimal_div(churned_customers, previous_customers) AS customer_churn_rate,
    CASE WHEN churned_customers > 0 AND previous_customers > 0
        THEN decimal_div(recognized_revenue * previous_customers, customers * churned_customers)
    END AS ltv,
    unconverted_lines,
    unconverted_original_amounts
FROM with_previous
ORDER BY month;

-- Revenue the base-currency figures leave out: per currency with neither an ECB rate, a USD
-- peg nor a rate Stripe settled it at, its original amount over all months (minor units) and
-- how many revenue lines carry it (revenue_line keeps them, their `amount` NULL). The finance
-- check and the dashboard both read this view.
CREATE OR REPLACE VIEW {revenue}.unconverted_revenue AS
WITH amounts AS (
    SELECT
        unnest(map_keys(unconverted_original_amounts)) AS currency,
        unnest(map_values(unconverted_original_amounts)) AS original_amount
    FROM {revenue}.revenue_metrics
),
lines AS (
    SELECT original_currency AS currency, count(*) AS lines
    FROM {revenue}.revenue_line
    WHERE is_paid AND amount IS NULL AND original_amount <> 0
    GROUP BY ALL
)
SELECT a.currency, coalesce(any_value(l.lines), 0) AS lines, sum(a.original_amount) AS original_amount
FROM amounts AS a
LEFT JOIN lines AS l ON l.currency = a.currency
GROUP BY a.currency;
