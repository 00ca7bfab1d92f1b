-- `mrr_history`: month-end MRR per customer and subscription, with its movement.
-- MRR at an instant t = the monthly-normalized recurring amount billed (paid or open invoices)
-- for the service periods covering t, net of discounts: a line of a monthly price counts its
-- amount, weekly ×52/12, yearly ÷12, daily ×365/12, each divided by `interval_count`. A
-- proration line stands for the full-period rate it adds or removes (unit price × quantity,
-- scaled by its own discount), so an upgrade from 100 to 150 mid-period nets 100 − 100 + 150.
-- MRR is 0 once the subscription has ended and during a free trial; canceled, paused or unpaid
-- periods have no billed line covering them and so count 0 too. t is each month's last second,
-- or the evaluation time for the current month. All arithmetic is in exact integers (millionths
-- of a minor unit), rounded once per subscription and month to whole minor units.
CREATE OR REPLACE TABLE {revenue}.mrr_history AS
WITH lines AS (
    SELECT
        id,
        subscription_id,
        customer_id,
        original_currency,
        period_start,
        period_end,
        is_proration,
        original_amount,
        gross_original_amount,
        full_period_original_amount,
        CASE interval WHEN 'week' THEN 52 WHEN 'day' THEN 365 ELSE 1 END AS per_num,
        CASE interval WHEN 'month' THEN 1 ELSE 12 END * greatest(interval_count, 1) AS per_den,
        date_diff('second', period_start, period_end) AS line_seconds,
        date_diff('second', CASE interval
            WHEN 'month' THEN period_end - to_months(greatest(interval_count, 1))
            WHEN 'year' THEN period_end - to_years(greatest(interval_count, 1))
            WHEN 'week' THEN period_end - to_days(7 * greatest(interval_count, 1))
            ELSE period_end - to_days(greatest(interval_count, 1))
        END, period_end) AS full_seconds
    FROM {revenue}.revenue_line
    WHERE kind = 'invoice_line'
        AND subscription_id IS NOT NULL
        AND interval IN ('day', 'week', 'month', 'year')
        AND period_end > period_start
),
rated AS (
    SELECT
        *,
        CASE
            WHEN NOT is_proration THEN div_round(original_amount::HUGEINT * per_num * 1000000, per_den)
            WHEN full_period_original_amount IS NOT NULL AND gross_original_amount <> 0 THEN div_round(
                CAST(full_period_original_amount * 1000000 AS HUGEINT) * original_amount * per_num,
                abs(gross_original_amount)::HUGEINT * per_den
            )
            ELSE div_round(
                original_amount::HUGEINT * 1000000 * full_seconds * per_num,
                greatest(line_seconds, 1)::HUGEINT * per_den
            )
        END AS rate_micros
    FROM lines
),
as_of AS (SELECT getvariable('as_of')::TIMESTAMPTZ AS t, date_trunc('month', getvariable('as_of')::TIMESTAMPTZ) AS m),
covered AS (
    -- every month whose end (or the evaluation time) falls inside the line's period
    SELECT c.subscription_id, c.month_start, sum(c.rate_micros) AS rate_micros
    FROM (
        SELECT *, unnest(generate_series(
            date_trunc('month', period_start), date_trunc('month', period_end - INTERVAL 1 SECOND),
            INTERVAL 1 MONTH
        )) AS month_start
        FROM rated
    ) AS c
    CROSS JOIN as_of
    WHERE c.month_start <= as_of.m
        AND c.period_start <= least(c.month_start + INTERVAL 1 MONTH - INTERVAL 1 SECOND, as_of.t)
        AND least(c.month_start + INTERVAL 1 MONTH - INTERVAL 1 SECOND, as_of.t) < c.period_end
    GROUP BY ALL
),
subscriptions AS (
    SELECT
        f.subscription_id,
        coalesce(s.customer_id, l.customer_id) AS customer_id,
        l.original_currency,
        s.ended_at,
        s.trial_start,
        s.trial_end,
        f.first_month
    FROM (SELECT subscription_id, min(month_start) AS first_month FROM covered GROUP BY ALL) AS f
    JOIN (
        SELECT
            subscription_id,
            any_value(customer_id) AS customer_id,
            any_value(original_currency) AS original_currency
        FROM rated
        GROUP BY ALL
    ) AS l ON l.subscription_id = f.subscription_id
    LEFT JOIN {revenue}.subscription AS s ON s.id = f.subscription_id
),
calendar AS (
    SELECT
        s.*,
        unnest(generate_series(
            s.first_month,
            least(as_of.m, coalesce(date_trunc('month', s.ended_at) + INTERVAL 1 MONTH, as_of.m)),
            INTERVAL 1 MONTH
        )) AS month_start,
        as_of.t AS as_of_t
    FROM subscriptions AS s
    CROSS JOIN as_of
),
valued AS (
    SELECT
        k.*,
        least(k.month_start + INTERVAL 1 MONTH - INTERVAL 1 SECOND, k.as_of_t) AS evaluated_at,
        coalesce(c.rate_micros, 0) AS rate_micros
    FROM calendar AS k
    LEFT JOIN covered AS c ON c.subscription_id = k.subscription_id AND c.month_start = k.month_start
),
mrr AS (
    SELECT
        *,
        CASE
            WHEN ended_at IS NOT NULL AND ended_at <= evaluated_at THEN 0
            WHEN trial_start IS NOT NULL AND trial_start <= evaluated_at
                AND evaluated_at < coalesce(trial_end, trial_start) THEN 0
            ELSE greatest(0, div_round(rate_micros, 1000000))
        END::BIGINT AS original_mrr
    FROM valued
),
moves AS (
    SELECT
        *,
        coalesce(lag(original_mrr) OVER w, 0) AS previous_original_mrr,
        coalesce(max(original_mrr) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) > 0
            AS had_mrr_before
    FROM mrr
    WINDOW w AS (PARTITION BY subscription_id ORDER BY month_start)
)
SELECT
    CAST(m.month_start AS DATE) AS month,
    getvariable('source_label') AS source_label,
    m.customer_id,
    m.subscription_id,
    m.evaluated_at,
    m.original_currency,
    m.original_mrr,
    m.previous_original_mrr,
    m.original_mrr - m.previous_original_mrr AS original_mrr_change,
    CASE
        WHEN m.previous_original_mrr = 0 AND m.original_mrr > 0
            THEN CASE WHEN m.had_mrr_before THEN 'reactivation' ELSE 'new' END
        WHEN m.previous_original_mrr > 0 AND m.original_mrr = 0 THEN 'churn'
        WHEN m.original_mrr > m.previous_original_mrr THEN 'expansion'
        WHEN m.original_mrr < m.previous_original_mrr THEN 'contraction'
        ELSE 'unchanged'
    END AS movement,
    getvariable('base_currency') AS currency,
    base_amount(m.original_mrr, m.original_currency, fx.to_base) AS mrr,
    base_amount(m.previous_original_mrr, m.original_currency, fx.to_base) AS previous_mrr,
    base_amount(m.original_mrr - m.previous_original_mrr, m.original_currency, fx.to_base) AS mrr_change,
    base_amount(12 * m.original_mrr, m.original_currency, fx.to_base) AS arr
FROM moves AS m
ASOF LEFT JOIN {revenue}.exchange_rate AS fx
    ON fx.currency = m.original_currency AND CAST(m.evaluated_at AS DATE) >= fx.date
WHERE m.original_mrr > 0 OR m.previous_original_mrr > 0;
