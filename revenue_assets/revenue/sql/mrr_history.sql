-- `mrr_history`: month-end MRR per customer and subscription, with its movement.
-- MRR at an instant t = the monthly-normalized recurring amount billed for the service periods
-- covering t, net of discounts: a line of a monthly price counts its amount, weekly ×52/12,
-- yearly ÷12, daily ×365/12, each divided by `interval_count`. A proration line stands for the
-- full-period rate it adds or removes (unit price × quantity, scaled by its own discount), so
-- an upgrade from 100 to 150 mid-period nets 100 − 100 + 150.
-- Billed means as of t, not as of now: a line counts while its invoice was open or paid at t,
-- and stops counting from the instant it was voided or written off (marked uncollectible), so
-- an invoice open at May's end and written off in June still counts in May. An invoice written
-- off and paid later counts again from its payment.
-- MRR is 0 once the subscription has ended and during a free trial; canceled, paused or unpaid
-- periods have no billed line covering them and so count 0 too. t is each month's last second,
-- or the evaluation time for the current month. All arithmetic is in exact integers (millionths
-- of a minor unit), rounded once per subscription and month to whole minor units.
-- Stages are temporary tables of narrow integer rows (epoch seconds, naive UTC months).
CREATE OR REPLACE TEMP TABLE mrr_as_of AS
SELECT
    epoch(getvariable('as_of')::TIMESTAMPTZ)::BIGINT AS t,
    date_trunc('month', make_timestamp(epoch_us(getvariable('as_of')::TIMESTAMPTZ))) AS m;

-- The instant each invoice stopped being billed (voided or written off) and, for one written
-- off then paid, the instant it was billed again: from `status_transitions`; where a payload
-- lacks the instant, from the event that announced it (events are kept 30 days); failing
-- both, since always, which is all its current status can say. Invoices never voided nor
-- written off have no row: billed throughout.
CREATE OR REPLACE TEMP TABLE mrr_invoice_states AS
WITH announced AS (
    SELECT
        object_id AS invoice_id,
        min(epoch(created)) FILTER (WHERE type = 'invoice.voided')::BIGINT AS voided,
        min(epoch(created)) FILTER (WHERE type = 'invoice.marked_uncollectible')::BIGINT
            AS written_off,
        max(epoch(created)) FILTER (WHERE type = 'invoice.paid')::BIGINT AS paid
    FROM {stripe}.event
    WHERE type IN ('invoice.voided', 'invoice.marked_uncollectible', 'invoice.paid')
    GROUP BY ALL
),
transitions AS (
    SELECT
        i.id,
        i.status,
        least(
            coalesce(TRY_CAST(i.status_transitions ->> '$.voided_at' AS BIGINT), a.voided),
            coalesce(
                TRY_CAST(i.status_transitions ->> '$.marked_uncollectible_at' AS BIGINT),
                a.written_off
            )
        ) AS stopped,
        coalesce(TRY_CAST(i.status_transitions ->> '$.paid_at' AS BIGINT), a.paid) AS paid
    FROM {stripe}.invoice AS i
    LEFT JOIN announced AS a ON a.invoice_id = i.id
    WHERE NOT coalesce(i._deleted, false) AND i.status IN ('void', 'uncollectible', 'paid')
)
SELECT
    id AS invoice_id,
    coalesce(stopped, 0) AS stopped,
    CASE WHEN status = 'paid' THEN coalesce(paid, stopped) END AS resumed
FROM transitions
WHERE status IN ('void', 'uncollectible') OR stopped IS NOT NULL;

CREATE OR REPLACE TEMP TABLE mrr_lines AS
WITH lines AS (
    SELECT
        invoice_id,
        subscription_id,
        customer_id,
        original_currency,
        epoch(period_start)::BIGINT AS s,
        epoch(period_end)::BIGINT AS e,
        period_end,
        interval,
        greatest(interval_count, 1) AS interval_count,
        is_proration,
        original_amount,
        gross_original_amount,
        full_period_original_amount,
        per_month_num(interval) AS per_num,
        per_month_den(interval, interval_count) AS per_den
    FROM {revenue}.revenue_line
    WHERE kind = 'invoice_line'
        AND subscription_id IS NOT NULL
        AND interval IN ('day', 'week', 'month', 'year')
        AND period_end > period_start
)
SELECT
    invoice_id,
    subscription_id,
    customer_id,
    original_currency,
    s,
    e,
    CASE
        WHEN NOT is_proration THEN div_round(original_amount::HUGEINT * per_num * 1000000, per_den)
        WHEN full_period_original_amount IS NOT NULL AND gross_original_amount <> 0 THEN div_round(
            CAST(full_period_original_amount * 1000000 AS HUGEINT) * original_amount * per_num,
            abs(gross_original_amount)::HUGEINT * per_den
        )
        -- no unit price (tiered prices): scale the proration to a full interval by time
        ELSE div_round(
            original_amount::HUGEINT * 1000000 * per_num * (e - epoch(CASE interval
                WHEN 'month' THEN period_end - to_months(interval_count)
                WHEN 'year' THEN period_end - to_years(interval_count)
                WHEN 'week' THEN period_end - to_days(7 * interval_count)
                ELSE period_end - to_days(interval_count)
            END)::BIGINT),
            greatest(e - s, 1)::HUGEINT * per_den
        )
    END AS rate_micros
FROM lines;

-- every month whose end (or the evaluation time) falls inside a line's period, while the
-- line's invoice was billed
CREATE OR REPLACE TEMP TABLE mrr_covered AS
WITH months AS (
    SELECT
        invoice_id,
        subscription_id,
        s,
        e,
        rate_micros,
        unnest(generate_series(
            date_trunc('month', make_timestamp(s * 1000000)),
            date_trunc('month', make_timestamp((e - 1) * 1000000)),
            INTERVAL 1 MONTH
        )) AS month_start
    FROM mrr_lines
),
instants AS (
    SELECT
        m.*,
        least(epoch(m.month_start + INTERVAL 1 MONTH)::BIGINT - 1, a.t) AS instant
    FROM months AS m
    CROSS JOIN mrr_as_of AS a
    WHERE m.month_start <= a.m
)
SELECT i.subscription_id, i.month_start, sum(i.rate_micros) AS rate_micros
FROM instants AS i
LEFT JOIN mrr_invoice_states AS b ON b.invoice_id = i.invoice_id
WHERE i.s <= i.instant AND i.instant < i.e
    AND (b.invoice_id IS NULL OR i.instant < b.stopped OR b.resumed <= i.instant)
GROUP BY ALL;

-- When each ended subscription ended: `ended_at`; where a snapshot lacks it, the
-- `customer.subscription.deleted` event (kept 30 days); failing both, `canceled_at`, which for
-- a cancellation at period end is when it was requested, earlier than the end.
CREATE OR REPLACE TEMP TABLE mrr_endings AS
WITH deleted AS (
    SELECT object_id AS subscription_id, min(epoch(created))::BIGINT AS ended
    FROM {stripe}.event
    WHERE type = 'customer.subscription.deleted'
    GROUP BY ALL
)
SELECT
    s.id AS subscription_id,
    coalesce(epoch(r.ended_at)::BIGINT, d.ended, epoch(s.ended_at)::BIGINT) AS ended
FROM {revenue}.subscription AS s
LEFT JOIN {stripe}.subscription AS r ON r.id = s.id
LEFT JOIN deleted AS d ON d.subscription_id = s.id
WHERE s.ended_at IS NOT NULL OR d.ended IS NOT NULL;

CREATE OR REPLACE TEMP TABLE mrr_months AS
WITH subscriptions AS (
    SELECT
        f.subscription_id,
        coalesce(s.customer_id, l.customer_id) AS customer_id,
        l.original_currency,
        x.ended,
        epoch(s.trial_start)::BIGINT AS trial_start,
        epoch(s.trial_end)::BIGINT AS trial_end,
        f.first_month,
        f.last_month
    FROM (
        SELECT subscription_id, min(month_start) AS first_month, max(month_start) AS last_month
        FROM mrr_covered
        GROUP BY ALL
    ) AS f
    JOIN (
        SELECT
            subscription_id,
            any_value(customer_id) AS customer_id,
            any_value(original_currency) AS original_currency
        FROM mrr_lines
        GROUP BY ALL
    ) AS l ON l.subscription_id = f.subscription_id
    LEFT JOIN {revenue}.subscription AS s ON s.id = f.subscription_id
    LEFT JOIN mrr_endings AS x ON x.subscription_id = f.subscription_id
),
calendar AS (
    -- from the first month with a covering line to the month after the last one (where MRR
    -- drops to 0, a churn); later months are 0 after 0 and have no row
    SELECT
        s.*,
        a.t AS as_of,
        unnest(generate_series(
            s.first_month, least(a.m, s.last_month + INTERVAL 1 MONTH), INTERVAL 1 MONTH
        )) AS month_start
    FROM subscriptions AS s
    CROSS JOIN mrr_as_of AS a
),
valued AS (
    SELECT
        k.*,
        least(epoch(k.month_start + INTERVAL 1 MONTH)::BIGINT - 1, k.as_of) AS instant,
        coalesce(c.rate_micros, 0) AS rate_micros
    FROM calendar AS k
    LEFT JOIN mrr_covered AS c
        ON c.subscription_id = k.subscription_id AND c.month_start = k.month_start
)
SELECT
    subscription_id,
    customer_id,
    original_currency,
    month_start,
    instant,
    CASE
        WHEN ended IS NOT NULL AND ended <= instant THEN 0
        WHEN trial_start IS NOT NULL AND trial_start <= instant
            AND instant < coalesce(trial_end, trial_start) THEN 0
        ELSE greatest(0, div_round(rate_micros, 1000000))
    END::BIGINT AS original_mrr
FROM valued;

CREATE OR REPLACE TABLE {revenue}.mrr_history AS
WITH moves AS (
    SELECT
        *,
        coalesce(lag(original_mrr) OVER w, 0) AS previous_original_mrr,
        coalesce(max(original_mrr) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) > 0
            AS had_mrr_before
    FROM mrr_months
    WINDOW w AS (PARTITION BY subscription_id ORDER BY month_start)
)
SELECT
    CAST(m.month_start AS DATE) AS month,
    getvariable('source_label') AS source_label,
    m.customer_id,
    m.subscription_id,
    to_timestamp(m.instant) AS evaluated_at,
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
    base_amount(m.original_mrr, fx.minor_to_base) AS mrr,
    base_amount(m.original_mrr - m.previous_original_mrr, fx.minor_to_base) AS mrr_change,
    base_amount(12 * m.original_mrr, fx.minor_to_base) AS arr
FROM moves AS m
LEFT JOIN {revenue}.exchange_rate AS fx
    ON fx.currency = m.original_currency
    AND fx.date = CAST(make_timestamp(m.instant * 1000000) AS DATE)
WHERE m.original_mrr > 0 OR m.previous_original_mrr > 0;
