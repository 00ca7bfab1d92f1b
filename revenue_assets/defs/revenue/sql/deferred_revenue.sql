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
CREATE OR REPLACE TABLE {revenue}.deferred_revenue AS
WITH lines AS (
    SELECT
        kind,
        id,
        invoice_id,
        customer_id,
        subscription_id,
        product_id,
        created_at,
        period_start,
        period_end,
        original_currency,
        original_amount,
        currency,
        to_base,
        greatest(date_diff('second', period_start, period_end), 0) AS total_seconds
    FROM {revenue}.revenue_line
    WHERE is_paid AND kind IN ('invoice_line', 'charge')
),
months AS (
    SELECT
        *,
        unnest(generate_series(
            least(date_trunc('month', created_at), date_trunc('month', period_start)),
            date_trunc(
                'month',
                CASE WHEN total_seconds > 0 THEN period_end - INTERVAL 1 SECOND ELSE period_start END
            ),
            INTERVAL 1 MONTH
        )) AS month_start
    FROM lines
),
shares AS (
    SELECT
        *,
        CASE
            WHEN total_seconds = 0 THEN CASE WHEN month_start = date_trunc('month', period_start)
                THEN 1 ELSE 0 END
            ELSE greatest(0, date_diff(
                'second',
                greatest(period_start, month_start),
                least(period_end, month_start + INTERVAL 1 MONTH)
            ))
        END AS seconds_in_month,
        greatest(total_seconds, 1) AS seconds_total
    FROM months
),
floors AS (
    SELECT
        *,
        abs(original_amount)::HUGEINT * seconds_in_month // seconds_total AS floor_part,
        abs(original_amount)::HUGEINT * seconds_in_month % seconds_total AS remainder
    FROM shares
),
ranked AS (
    SELECT
        *,
        abs(original_amount) - sum(floor_part) OVER (PARTITION BY kind, id) AS leftover,
        row_number() OVER (PARTITION BY kind, id ORDER BY remainder DESC, month_start) AS rank
    FROM floors
),
recognized AS (
    SELECT
        *,
        (sign(original_amount) * (floor_part + CASE WHEN rank <= leftover THEN 1 ELSE 0 END))::BIGINT
            AS recognized_original_amount
    FROM ranked
),
balances AS (
    SELECT
        *,
        CASE
            WHEN created_at < month_start + INTERVAL 1 MONTH THEN original_amount - sum(
                recognized_original_amount
            ) OVER (PARTITION BY kind, id ORDER BY month_start ROWS UNBOUNDED PRECEDING)
            ELSE 0
        END::BIGINT AS deferred_original_amount
    FROM recognized
)
SELECT
    id AS invoice_item_id,
    kind,
    invoice_id,
    customer_id,
    subscription_id,
    product_id,
    CAST(month_start AS DATE) AS month,
    period_start,
    period_end,
    created_at AS billed_at,
    original_currency,
    original_amount AS line_original_amount,
    recognized_original_amount,
    deferred_original_amount,
    currency,
    base_amount(recognized_original_amount, original_currency, to_base) AS amount,
    base_amount(deferred_original_amount, original_currency, to_base) AS deferred_amount
FROM balances;
