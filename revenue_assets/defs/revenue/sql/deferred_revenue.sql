-- `deferred_revenue` (accounting mode): each paid revenue line recognized straight-line by the
-- second over its service period [period_start, period_end), per calendar month (UTC).
-- Cent-exact by largest remainder: every month takes floor(amount × seconds_in_month / seconds)
-- and the units left over go to the months with the largest remainders (earliest first on a
-- tie), so the months sum exactly to the line. A line without a period (a one-off item, a
-- charge) is recognized in full in the month of its date.
-- Deferred balance at a month end = amount − recognized so far, once the line is billed (before
-- its invoice exists nothing is deferred; revenue earned before billing is accrued, not
-- deferred). Months run from the earlier of billing and service start to the service end.
-- Base-currency amounts use the rate of the billing date: revenue recognized out of deferred
-- income keeps the rate at which the consideration was received (IAS 21 / IFRIC 22).
-- The work is done on narrow integer rows (epoch seconds, minor units) in temporary tables;
-- descriptive columns are joined back at the end.
CREATE OR REPLACE TEMP TABLE dr_lines AS
SELECT
    row_number() OVER () AS n,
    kind,
    id,
    invoice_id,
    customer_id,
    subscription_id,
    product_id,
    original_currency,
    original_amount,
    minor_to_base,
    epoch(period_start)::BIGINT AS s,
    epoch(period_end)::BIGINT AS e,
    epoch(created_at)::BIGINT AS b
FROM {revenue}.revenue_line
WHERE is_paid AND kind IN ('invoice_line', 'charge');

CREATE OR REPLACE TEMP TABLE dr_parts AS
WITH months AS (
    SELECT
        n,
        original_amount AS a,
        s,
        e,
        b,
        greatest(e - s, 0) AS total,
        unnest(generate_series(
            date_trunc('month', make_timestamp(least(b, s) * 1000000)),
            date_trunc('month', make_timestamp(CASE WHEN e > s THEN e - 1 ELSE s END * 1000000)),
            INTERVAL 1 MONTH
        )) AS month_start
    FROM dr_lines
),
shares AS (
    SELECT
        n,
        a,
        b,
        month_start,
        epoch(month_start + INTERVAL 1 MONTH)::BIGINT AS next_month,
        CASE
            WHEN total = 0 THEN CASE WHEN epoch(month_start) <= s
                AND s < epoch(month_start + INTERVAL 1 MONTH) THEN 1 ELSE 0 END
            ELSE greatest(0, least(e, epoch(month_start + INTERVAL 1 MONTH)::BIGINT)
                - greatest(s, epoch(month_start)::BIGINT))
        END AS seconds_in_month,
        greatest(total, 1) AS seconds_total
    FROM months
),
floors AS (
    SELECT
        n,
        a,
        b,
        month_start,
        next_month,
        (abs(a) * seconds_in_month // seconds_total)::BIGINT AS floor_part,
        (abs(a) * seconds_in_month % seconds_total)::BIGINT AS remainder
    FROM shares
),
ranked AS (
    SELECT
        *,
        abs(a) - sum(floor_part) OVER (PARTITION BY n) AS leftover,
        row_number() OVER (PARTITION BY n ORDER BY remainder DESC, month_start) AS rank
    FROM floors
)
SELECT
    n,
    month_start,
    next_month,
    b,
    a,
    sign(a) * (floor_part + CASE WHEN rank <= leftover THEN 1 ELSE 0 END) AS recognized
FROM ranked;

CREATE OR REPLACE TABLE {revenue}.deferred_revenue AS
WITH balances AS (
    SELECT
        n,
        month_start,
        recognized,
        CASE
            WHEN b < next_month
                THEN a - sum(recognized) OVER (PARTITION BY n ORDER BY month_start ROWS UNBOUNDED PRECEDING)
            ELSE 0
        END AS deferred
    FROM dr_parts
)
SELECT
    l.id AS invoice_item_id,
    l.kind,
    l.invoice_id,
    l.customer_id,
    l.subscription_id,
    l.product_id,
    CAST(p.month_start AS DATE) AS month,
    l.original_currency,
    l.original_amount AS line_original_amount,
    p.recognized::BIGINT AS recognized_original_amount,
    p.deferred::BIGINT AS deferred_original_amount,
    getvariable('base_currency') AS currency,
    base_amount(p.recognized, l.minor_to_base) AS amount,
    base_amount(p.deferred, l.minor_to_base) AS deferred_amount
FROM balances AS p
JOIN dr_lines AS l ON l.n = p.n;
