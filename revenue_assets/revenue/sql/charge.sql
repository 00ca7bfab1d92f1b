-- Managed view `charge` (a DuckDB view): one row per charge, with the invoice it paid.
-- The current API no longer names a charge's invoice: `invoice_payment` links payments (a charge,
-- or a payment intent whose charge it is) to invoices. Older payloads carry `charge.invoice`,
-- `invoice.charge` and `invoice.payment_intent`; all five paths are read, newest link first.
CREATE OR REPLACE VIEW {revenue}.charge AS
WITH paid_by_charge AS (
    SELECT payment_charge AS charge_id, arg_max(invoice, created) AS invoice_id
    FROM {stripe}.invoice_payment
    WHERE payment_charge IS NOT NULL AND NOT coalesce(_deleted, false)
    GROUP BY ALL
),
paid_by_intent AS (
    SELECT payment_intent, arg_max(invoice, created) AS invoice_id
    FROM {stripe}.invoice_payment
    WHERE payment_intent IS NOT NULL AND NOT coalesce(_deleted, false)
    GROUP BY ALL
),
legacy_by_charge AS (
    SELECT charge AS charge_id, arg_max(id, created) AS invoice_id
    FROM {stripe}.invoice
    WHERE charge IS NOT NULL AND NOT coalesce(_deleted, false)
    GROUP BY ALL
),
legacy_by_intent AS (
    SELECT payment_intent, arg_max(id, created) AS invoice_id
    FROM {stripe}.invoice
    WHERE payment_intent IS NOT NULL AND NOT coalesce(_deleted, false)
    GROUP BY ALL
),
charges AS (
    SELECT
        c.*,
        coalesce(
            c.invoice, pc.invoice_id, pi.invoice_id, lc.invoice_id, li.invoice_id
        ) AS invoice_id,
        -- Captured money: a refund is its own (negative) revenue item, so it is not netted here.
        coalesce(c.amount_captured, CASE WHEN c.captured THEN c.amount ELSE 0 END) AS captured_amount
    FROM {stripe}.charge AS c
    LEFT JOIN paid_by_charge AS pc ON pc.charge_id = c.id
    LEFT JOIN paid_by_intent AS pi ON pi.payment_intent = c.payment_intent
    LEFT JOIN legacy_by_charge AS lc ON lc.charge_id = c.id
    LEFT JOIN legacy_by_intent AS li ON li.payment_intent = c.payment_intent
    WHERE NOT coalesce(c._deleted, false)
)
SELECT
    c.id,
    {source_label} AS source_label,
    c.created AS timestamp,
    c.customer AS customer_id,
    c.invoice_id,
    upper(c.currency) AS original_currency,
    c.captured_amount AS original_amount,
    {revenue}.minor_divider(c.currency) <> 100 AS enable_currency_aware_divider,
    {revenue}.minor_divider(c.currency) AS currency_aware_divider,
    {revenue}.major_amount(c.captured_amount, c.currency) AS currency_aware_amount,
    {base_currency} AS currency,
    {revenue}.base_amount(c.captured_amount, fx.minor_to_base) AS amount,
    c.status,
    c.paid,
    c.refunded,
    c.amount AS original_amount_requested,
    c.amount_refunded AS original_amount_refunded,
    c.payment_intent,
    c.balance_transaction AS balance_transaction_id,
    c.metadata
FROM charges AS c
LEFT JOIN {revenue}.exchange_rate AS fx
    ON fx.currency = upper(c.currency) AND fx.date = CAST({revenue}.utc(c.created) AS DATE);
