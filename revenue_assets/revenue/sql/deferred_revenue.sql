-- `deferred_revenue` (accounting mode): each paid revenue line recognized straight-line by the
-- second over its service period [period_start, period_end), per calendar month (UTC).
-- Cent-exact by largest remainder: every month takes floor(amount × seconds_in_month / seconds)
-- and the units left over go to the months with the largest remainders (earliest first on a
-- tie), so the months sum exactly to the line. A line without a period (a one-off item, a
-- charge) is recognized in full in the month of its date.
-- Point in time: a line counts from the instant it was booked (`revenue_line.booked_at`: its
-- invoice paid, its charge made). Before that month it has no row; its booking month takes
-- what its service had earned so far (a late payment does not rewrite a closed month). The
-- deferred balance at a month end = amount − recognized so far, once booked.
-- Credit notes and refunds (Stripe Revenue Recognition's methodology): the part covering
-- service already recognized reduces revenue in the month they are issued; the part covering
-- service not yet delivered reduces the deferred balance and the revenue recognized later.
-- A credit on an invoice line (a credit note line) applies to that line; one without a line (a
-- refund of an invoice, a credit note without lines) is spread over the invoice's positive
-- lines by cumulative rounding. At each month end from its issue, a credit keeps deferred the
-- share of the line's own deferred balance it credits: with S the credits issued on the line
-- so far (capped at the line), they hold round(S × balance / amount) of it, each credit the
-- increase its own amount brings. So a line's balance net of its credits never goes below zero
-- and reaches zero with the line; the rest of each credit is recognized (negative) in its issue
-- month. A credit on nothing deferred (a charge, a line whose period is over) is recognized at
-- once.
-- Base-currency amounts use the rate of the line's billing date: revenue recognized out of
-- deferred income keeps the rate at which the consideration was received (IAS 21 / IFRIC 22),
-- and so does a credit applied to a line (the difference to the refund's own rate is an
-- exchange gain or loss, not revenue); a credit applied to no line uses its own rate.
-- Each line is worked out in one row, on lists of its months (a line spans few months), and
-- unnested at the end: no window over millions of rows, no join back.
CREATE OR REPLACE TEMP TABLE dr_lines AS
WITH lines AS (
    SELECT
        kind,
        id,
        invoice_id,
        customer_id,
        subscription_id,
        product_id,
        original_currency,
        original_amount AS a,
        abs(original_amount) AS magnitude,
        minor_to_base,
        epoch(period_start)::BIGINT AS s,
        epoch(period_end)::BIGINT AS e,
        epoch(coalesce(booked_at, created_at))::BIGINT AS b
    FROM {revenue}.revenue_line
    WHERE is_paid AND kind IN ('invoice_line', 'charge')
),
months AS (
    SELECT
        *,
        greatest(e - s, 0) AS total,
        generate_series(
            date_trunc('month', make_timestamp(least(b, s) * 1000000)),
            date_trunc('month', make_timestamp(
                greatest(b, CASE WHEN e > s THEN e - 1 ELSE s END) * 1000000
            )),
            INTERVAL 1 MONTH
        ) AS month_starts
    FROM lines
),
bounds AS (
    SELECT
        *,
        [epoch(m)::BIGINT FOR m IN month_starts] AS ms,
        [epoch(m + INTERVAL 1 MONTH)::BIGINT FOR m IN month_starts] AS me
    FROM months
),
seconds AS (
    SELECT
        *,
        CASE
            WHEN total = 0 THEN [CASE WHEN ms[i] <= s AND s < me[i] THEN 1 ELSE 0 END
                FOR i IN range(1, len(ms) + 1)]
            ELSE [greatest(0, least(e, me[i]) - greatest(s, ms[i])) FOR i IN range(1, len(ms) + 1)]
        END AS secs,
        greatest(total, 1) AS total_seconds,
        -- the booking month's position: the first month ending after the booking
        len([x FOR x IN me IF x <= b]) + 1 AS k
    FROM bounds
),
floors AS (
    SELECT
        *,
        [magnitude * x // total_seconds FOR x IN secs] AS floor_parts,
        -- remainders, made unique and ordered: larger first, then the earlier month
        list_grade_up(
            [(magnitude * secs[i] % total_seconds) * 1000 + (999 - i) FOR i IN range(1, len(secs) + 1)],
            'DESC'
        ) AS by_remainder
    FROM seconds
),
scheduled AS (
    SELECT
        *,
        [sign(a) * (floor_parts[i] + CASE
            WHEN list_position(by_remainder, i) <= magnitude - list_sum(floor_parts) THEN 1 ELSE 0
        END) FOR i IN range(1, len(floor_parts) + 1)] AS schedule
    FROM floors
)
SELECT
    kind,
    id,
    invoice_id,
    customer_id,
    subscription_id,
    product_id,
    original_currency,
    a,
    minor_to_base,
    month_starts[k:] AS month_starts,
    -- the booking month catches up on what the months before it earned
    [CASE WHEN i = k THEN list_sum(schedule[1:k]) ELSE schedule[i] END
        FOR i IN range(k, len(schedule) + 1)] AS parts,
    [a - list_sum(schedule[1:i]) FOR i IN range(k, len(schedule) + 1)] AS deferred
FROM scheduled;

-- Each credit on the invoice lines it reduces, with the credits issued on the same line up to
-- and including it (S) and before it.
CREATE OR REPLACE TEMP TABLE dr_credit_parts AS
WITH credits AS (
    SELECT
        kind,
        id,
        invoice_item_id,
        invoice_id,
        customer_id,
        subscription_id,
        product_id,
        original_currency,
        original_amount AS a,
        minor_to_base,
        epoch(coalesce(booked_at, created_at))::BIGINT AS t
    FROM {revenue}.revenue_line
    WHERE is_paid AND kind IN ('refund', 'credit_note')
),
targets AS (
    SELECT id AS line_id, invoice_id, a AS weight
    FROM dr_lines
    WHERE kind = 'invoice_line' AND a > 0
),
spread AS (
    SELECT
        c.*,
        t.line_id,
        t.weight,
        sum(t.weight) OVER (PARTITION BY c.kind, c.id ORDER BY t.line_id ROWS UNBOUNDED PRECEDING)
            AS running,
        sum(t.weight) OVER (PARTITION BY c.kind, c.id) AS total_weight
    FROM credits AS c
    JOIN targets AS t ON t.invoice_id = c.invoice_id
    WHERE c.invoice_item_id IS NULL
),
parts AS (
    SELECT *, invoice_item_id AS line_id, -a AS m
    FROM credits
    WHERE invoice_item_id IS NOT NULL
    UNION ALL BY NAME
    SELECT
        * EXCLUDE (weight, running, total_weight),
        div_round(-a * running, total_weight) - div_round(-a * (running - weight), total_weight)
            AS m
    FROM spread
    UNION ALL BY NAME
    SELECT *, NULL AS line_id, -a AS m
    FROM credits AS c
    WHERE c.invoice_item_id IS NULL
        AND NOT EXISTS (SELECT 1 FROM targets AS t WHERE t.invoice_id = c.invoice_id)
)
SELECT
    *,
    sum(m) OVER (PARTITION BY line_id ORDER BY t, kind, id ROWS UNBOUNDED PRECEDING) AS credited
FROM parts;

CREATE OR REPLACE TEMP TABLE dr_credits AS
WITH joined AS (
    SELECT
        p.kind,
        p.id,
        p.line_id,
        p.invoice_id,
        p.customer_id,
        p.subscription_id,
        p.product_id,
        p.original_currency,
        p.a,
        p.m,
        -- the part applies to a line's deferral only when there is one to reduce
        CASE WHEN l.a > 0 THEN l.a ELSE 0 END AS line_amount,
        least(p.credited, l.a) AS upto,
        least(p.credited - p.m, l.a) AS before,
        coalesce(l.minor_to_base, p.minor_to_base) AS minor_to_base,
        l.month_starts AS line_months,
        l.deferred AS line_deferred,
        date_trunc('month', make_timestamp(p.t * 1000000)) AS issued_month
    FROM dr_credit_parts AS p
    LEFT JOIN dr_lines AS l ON l.kind = 'invoice_line' AND l.id = p.line_id
),
months AS (
    SELECT
        *,
        generate_series(
            issued_month,
            greatest(issued_month, coalesce(list_last(line_months), issued_month)),
            INTERVAL 1 MONTH
        ) AS month_starts
    FROM joined
),
balances AS (
    SELECT
        *,
        -- the credited line's own balance at each of these month ends (0 past its period)
        [CASE WHEN line_amount > 0 AND x >= line_months[1] THEN coalesce(
            line_deferred[date_diff('month', line_months[1], x) + 1], 0
        ) ELSE 0 END FOR x IN month_starts] AS line_balance
    FROM months
),
held AS (
    SELECT
        *,
        [CASE WHEN line_amount > 0
            THEN div_round(upto * x, line_amount) - div_round(before * x, line_amount)
            ELSE 0 END FOR x IN line_balance] AS kept
    FROM balances
)
SELECT
    kind,
    id,
    line_id,
    invoice_id,
    customer_id,
    subscription_id,
    product_id,
    original_currency,
    a,
    minor_to_base,
    month_starts,
    -- recognized so far = −m + kept: each month takes the change
    [CASE WHEN i = 1 THEN -m + kept[1] ELSE kept[i] - kept[i - 1] END
        FOR i IN range(1, len(kept) + 1)] AS parts,
    [-x FOR x IN kept] AS deferred
FROM held;

CREATE OR REPLACE TABLE {revenue}.deferred_revenue AS
WITH schedules AS (
    -- lines and charges have no line of their own; credits name the line they reduce
    SELECT *, NULL::VARCHAR AS line_id FROM dr_lines
    UNION ALL BY NAME
    SELECT * FROM dr_credits
),
rows AS (
    SELECT
        id,
        kind,
        line_id,
        invoice_id,
        customer_id,
        subscription_id,
        product_id,
        original_currency,
        a,
        minor_to_base,
        unnest(month_starts) AS month_start,
        unnest(parts) AS part,
        unnest(deferred) AS balance
    FROM schedules
)
SELECT
    id AS invoice_item_id,
    kind,
    invoice_id,
    customer_id,
    subscription_id,
    product_id,
    CAST(month_start AS DATE) AS month,
    original_currency,
    a AS line_original_amount,
    part::BIGINT AS recognized_original_amount,
    balance::BIGINT AS deferred_original_amount,
    getvariable('base_currency') AS currency,
    base_amount(part, minor_to_base) AS amount,
    base_amount(balance, minor_to_base) AS deferred_amount,
    line_id AS credited_line_id
FROM rows;
