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
-- Each line is worked out in one row, on lists of its months (a line spans few months), and
-- unnested at the end: no window over millions of rows, no join back.
CREATE OR REPLACE TABLE {revenue}.deferred_revenue AS
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
        epoch(created_at)::BIGINT AS b
    FROM {revenue}.revenue_line
    WHERE is_paid AND kind IN ('invoice_line', 'charge')
),
months AS (
    SELECT
        *,
        greatest(e - s, 0) AS total,
        generate_series(
            date_trunc('month', make_timestamp(least(b, s) * 1000000)),
            date_trunc('month', make_timestamp(CASE WHEN e > s THEN e - 1 ELSE s END * 1000000)),
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
        greatest(total, 1) AS total_seconds
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
recognized AS (
    SELECT
        *,
        [sign(a) * (floor_parts[i] + CASE
            WHEN list_position(by_remainder, i) <= magnitude - list_sum(floor_parts) THEN 1 ELSE 0
        END) FOR i IN range(1, len(floor_parts) + 1)] AS parts
    FROM floors
),
balances AS (
    SELECT
        *,
        [CASE WHEN b < me[i] THEN a - list_sum(parts[1:i]) ELSE 0 END
            FOR i IN range(1, len(parts) + 1)] AS deferred
    FROM recognized
),
rows AS (
    SELECT
        id,
        kind,
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
    FROM balances
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
    base_amount(balance, minor_to_base) AS deferred_amount
FROM rows;
