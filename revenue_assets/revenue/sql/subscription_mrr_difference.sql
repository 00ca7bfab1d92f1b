-- `subscription_mrr_difference`: every subscription whose Stripe-style MRR differs from ours,
-- the difference (Stripe's − ours) split into reasons whose amounts sum to it exactly:
--   'trial':          Stripe counts a subscription in a free trial as 0;
--   'not_active':     Stripe counts only active and past_due subscriptions (this one is
--                     canceled, unpaid, paused or incomplete) while an invoice still covers now;
--   'unpaid_invoice': Stripe counts the subscription, but no paid or open invoice covers now
--                     (the latest one was voided, written off or is still a draft);
--   'not_invoiced':   Stripe counts the subscription, its latest invoice is paid, yet none
--                     covers now (no invoice for the current period yet);
--   'discount_changed': a discount ended, started or changed since the invoice (Stripe's
--                     active discounts − the invoice lines' discounts);
--   'price_or_quantity_changed': the items' price or quantity changed since the invoice and the
--                     proration is still pending (or a proration invoiced mid-period): the rest.
CREATE OR REPLACE TABLE {revenue}.subscription_mrr_difference AS
WITH differing AS (
    SELECT * FROM {revenue}.subscription_mrr WHERE difference_original_mrr <> 0
),
parts AS (
    SELECT subscription_id, 'trial' AS reason, difference_original_mrr AS original_amount
    FROM differing
    WHERE status = 'trialing' OR (stripe_original_mrr = 0 AND status IN ('active', 'past_due')
        AND list_original_mrr > 0 AND discount_original_mrr < list_original_mrr)
    UNION ALL
    SELECT subscription_id, 'not_active', difference_original_mrr
    FROM differing
    WHERE status NOT IN ('trialing', 'active', 'past_due')
    UNION ALL
    SELECT subscription_id,
        CASE WHEN coalesce(latest_invoice_status, '') = 'paid' THEN 'not_invoiced'
            ELSE 'unpaid_invoice' END,
        difference_original_mrr
    FROM differing
    WHERE status IN ('active', 'past_due') AND invoice_original_mrr = 0 AND stripe_original_mrr > 0
    UNION ALL
    SELECT subscription_id, 'discount_changed',
        invoice_discount_original_mrr - discount_original_mrr
    FROM differing
    WHERE status IN ('active', 'past_due') AND invoice_original_mrr > 0 AND stripe_original_mrr > 0
        AND invoice_discount_original_mrr <> discount_original_mrr
    UNION ALL
    SELECT subscription_id, 'price_or_quantity_changed',
        difference_original_mrr - (invoice_discount_original_mrr - discount_original_mrr)
    FROM differing
    WHERE status IN ('active', 'past_due') AND invoice_original_mrr > 0 AND stripe_original_mrr > 0
        AND difference_original_mrr <> invoice_discount_original_mrr - discount_original_mrr
    UNION ALL
    -- counted by Stripe at 0 (discounted to nothing) while an invoice covers now
    SELECT subscription_id, 'discount_changed', difference_original_mrr
    FROM differing
    WHERE status IN ('active', 'past_due') AND stripe_original_mrr = 0
        AND list_original_mrr > 0 AND discount_original_mrr >= list_original_mrr
)
SELECT
    d.subscription_id,
    d.customer_id,
    d.status,
    p.reason,
    d.original_currency,
    p.original_amount::BIGINT AS original_amount,
    d.stripe_original_mrr,
    d.invoice_original_mrr,
    d.currency,
    base_amount(p.original_amount, fx.minor_to_base) AS amount
FROM differing AS d
JOIN parts AS p ON p.subscription_id = d.subscription_id
LEFT JOIN {revenue}.exchange_rate AS fx
    ON fx.currency = d.original_currency AND fx.date = CAST(utc(d.evaluated_at) AS DATE)
ORDER BY d.subscription_id, p.reason;
