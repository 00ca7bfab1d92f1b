-- `payment_failures`: one row per failed payment attempt that never became revenue, for dunning.
-- Two kinds: a payment intent left declined (status requires_payment_method or canceled with a
-- `last_payment_error`), and a failed charge outside such an intent that no later success of
-- its own intent made good (an invoice's automatic collection attempt charges without an
-- intent). A failed charge of an intent that is itself a row, or that later succeeded, is not
-- a row of its own. `recovered`: a later succeeded charge paid the same invoice, or, without an
-- invoice, one charged the same customer within 7 days. Amounts are what was asked for,
-- converted to the base currency at the rate of the failure's date like every other table.
CREATE OR REPLACE TABLE {revenue}.payment_failures AS
-- The `charge` view links each charge to its invoice through four aggregations over the
-- invoices and their payments: computed once here, not once per use below.
WITH charges AS MATERIALIZED (
    SELECT
        id, customer_id, invoice_id, timestamp, status, original_amount,
        original_amount_requested, original_currency, payment_intent
    FROM {revenue}.charge
),
declined_intents AS (
    SELECT
        pi.id,
        'payment_intent' AS kind,
        pi.customer AS customer_id,
        coalesce(ip.invoice_id, ch.invoice_id) AS invoice_id,
        pi.amount,
        pi.currency,
        pi.last_payment_error ->> '$.code' AS failure_code,
        pi.last_payment_error ->> '$.decline_code' AS decline_code,
        coalesce(ch.timestamp, pi.created) AS failed_at
    FROM {stripe}.payment_intent AS pi
    LEFT JOIN charges AS ch
        ON ch.id = coalesce(ref_id(pi.last_payment_error, '$.charge'), pi.latest_charge)
    LEFT JOIN (
        SELECT payment_intent, arg_max(invoice, created) AS invoice_id
        FROM {stripe}.invoice_payment
        WHERE payment_intent IS NOT NULL AND NOT coalesce(_deleted, false)
        GROUP BY ALL
    ) AS ip ON ip.payment_intent = pi.id
    WHERE pi.status IN ('requires_payment_method', 'canceled')
        AND pi.last_payment_error IS NOT NULL
        AND json_type(pi.last_payment_error) = 'OBJECT'
        AND NOT coalesce(pi._deleted, false)
),
failed_charges AS (
    SELECT
        c.id,
        'charge' AS kind,
        c.customer_id,
        c.invoice_id,
        c.original_amount_requested AS amount,
        c.original_currency AS currency,
        raw.failure_code,
        raw.outcome ->> '$.reason' AS decline_code,
        c.timestamp AS failed_at
    FROM charges AS c
    JOIN {stripe}.charge AS raw ON raw.id = c.id
    LEFT JOIN {stripe}.payment_intent AS pi ON pi.id = c.payment_intent
    WHERE c.status = 'failed'
        AND (pi.id IS NULL OR pi.status <> 'succeeded')
        AND NOT EXISTS (SELECT 1 FROM declined_intents AS d WHERE d.id = c.payment_intent)
),
failures AS (
    SELECT * FROM declined_intents
    UNION ALL
    SELECT * FROM failed_charges
),
succeeded AS (
    SELECT customer_id, invoice_id, timestamp
    FROM charges
    WHERE status = 'succeeded' AND original_amount > 0
)
SELECT
    f.id,
    {source_label} AS source_label,
    f.kind,
    f.customer_id,
    f.invoice_id,
    upper(f.currency) AS original_currency,
    f.amount::BIGINT AS original_amount,
    {base_currency} AS currency,
    {revenue}.base_amount(f.amount, fx.minor_to_base) AS amount,
    f.failure_code,
    f.decline_code,
    f.failed_at,
    EXISTS (
        SELECT 1 FROM succeeded AS s
        WHERE s.timestamp > f.failed_at AND (
            (f.invoice_id IS NOT NULL AND s.invoice_id = f.invoice_id)
            OR (
                f.invoice_id IS NULL AND s.customer_id = f.customer_id
                AND s.timestamp <= f.failed_at + INTERVAL 7 DAY
            )
        )
    ) AS recovered,
    CAST(date_trunc('month', {revenue}.utc(f.failed_at)) AS DATE) AS month
FROM failures AS f
LEFT JOIN {revenue}.exchange_rate AS fx
    ON fx.currency = upper(f.currency) AND fx.date = CAST({revenue}.utc(f.failed_at) AS DATE);
