-- `revenue_line`: every revenue-relevant money movement once, net of discounts, undeferred.
--   kind 'invoice_line': a line of a paid invoice (or, for MRR only, `is_paid` false, of an
--                        open one, or of one voided or written off since it was open);
--   kind 'charge':       a succeeded charge that no invoice paid (when enabled);
--   kind 'refund':       a refund not issued through a credit note (negative);
--   kind 'credit_note':  a line of a credit note on a paid invoice (negative).
-- Amounts are integer minor units; `amount` is the base-currency value at `created_at`: at the
-- ECB (or USD-peg) rate of that day, else, for a currency the ECB lacks, at the rate Stripe
-- itself settled the payment (or refund) at, from its balance transaction's `exchange_rate`.
-- `booked_at` is when the line became revenue as it was known then: an invoice's lines when it
-- was paid (`status_transitions.paid_at`), a credit note when issued (not before its invoice was
-- paid), a charge or refund when made; the accounting deferral starts a line from it.
-- revenue_item, deferred_revenue and mrr_history all derive from this one table.
CREATE OR REPLACE TEMP TABLE rl_invoices AS
SELECT
    id,
    customer,
    created,
    currency,
    coalesce(parent_subscription, subscription) AS subscription_id,
    to_timestamp(TRY_CAST(status_transitions ->> '$.paid_at' AS BIGINT)) AS paid_at,
    invoice_is_paid(status, paid) AS is_paid,
    amounts_sum(total_discount_amounts) AS total_discount,
    CASE WHEN discounts IS NOT NULL AND discounts::VARCHAR <> '[]'
        THEN ref_id(discounts, '$[0]') ELSE discount ->> '$.id' END AS first_discount
FROM {stripe}.invoice
WHERE NOT coalesce(_deleted, false)
    AND (status IN ('paid', 'open', 'uncollectible', 'void') OR (status IS NULL AND paid));

CREATE OR REPLACE TEMP TABLE rl_prices AS
SELECT
    id,
    product,
    unit_amount,
    json_extract_string(recurring, '$.interval') AS interval,
    TRY_CAST(json_extract_string(recurring, '$.interval_count') AS INTEGER) AS interval_count
FROM {stripe}.price;

CREATE OR REPLACE TEMP TABLE rl_lines AS
WITH raw_lines AS (
    SELECT
        l.id,
        l.invoice_id,
        l.amount,
        l.currency,
        coalesce(l.discountable, true) AS discountable,
        amounts_sum(l.discount_amounts) AS line_discount,
        l.period_start,
        l.period_end,
        l.quantity,
        l.subscription,
        l.subscription_item,
        l.proration,
        l.type,
        json_transform(l.parent, '{
            "type": "VARCHAR",
            "subscription_item_details": {"proration": "BOOLEAN", "subscription": "VARCHAR", "subscription_item": "VARCHAR"},
            "invoice_item_details": {"proration": "BOOLEAN", "subscription": "VARCHAR"}
        }') AS p,
        json_transform(l.pricing, '{
            "price_details": {"price": "VARCHAR", "product": "VARCHAR"},
            "unit_amount_decimal": "VARCHAR"
        }') AS pr,
        -- older payloads embed the price (or the plan) in the line
        CASE WHEN l.price IS NOT NULL THEN json_transform(l.price, '{
            "id": "VARCHAR", "product": "JSON", "unit_amount": "BIGINT", "unit_amount_decimal": "VARCHAR",
            "recurring": {"interval": "VARCHAR", "interval_count": "INTEGER"}
        }') END AS lp,
        CASE WHEN l.plan IS NOT NULL THEN json_transform(l.plan, '{
            "id": "VARCHAR", "product": "JSON", "amount": "BIGINT", "interval": "VARCHAR", "interval_count": "INTEGER"
        }') END AS lpl,
        CASE WHEN l.discounts IS NOT NULL AND l.discounts::VARCHAR <> '[]'
            THEN ref_id(l.discounts, '$[0]') END AS first_discount
    FROM {stripe}.invoice_line_item AS l
    WHERE NOT coalesce(l._deleted, false)
)
SELECT
    l.id,
    l.invoice_id,
    i.customer AS customer_id,
    i.created AS created_at,
    i.paid_at AS invoice_paid_at,
    i.is_paid,
    l.amount,
    coalesce(l.currency, i.currency) AS currency,
    l.discountable,
    l.line_discount,
    l.period_start,
    l.period_end,
    l.quantity,
    coalesce(
        l.subscription, l.p.subscription_item_details.subscription,
        l.p.invoice_item_details.subscription, i.subscription_id
    ) AS subscription_id,
    coalesce(l.subscription_item, l.p.subscription_item_details.subscription_item) AS subscription_item_id,
    coalesce(
        l.p.subscription_item_details.proration, l.p.invoice_item_details.proration,
        l.proration, false
    ) AS is_proration,
    coalesce(l.pr.price_details.price, l.lp.id, l.lpl.id) AS price_id,
    coalesce(
        l.pr.price_details.product, ref_id(l.lp.product, '$'), ref_id(l.lpl.product, '$')
    ) AS line_product,
    coalesce(
        TRY_CAST(l.pr.unit_amount_decimal AS DECIMAL(38, 6)),
        TRY_CAST(l.lp.unit_amount_decimal AS DECIMAL(38, 6)),
        l.lp.unit_amount
    ) AS unit_amount,
    coalesce(l.lp.recurring.interval, l.lpl.interval) AS legacy_interval,
    coalesce(l.lp.recurring.interval_count, l.lpl.interval_count) AS legacy_interval_count,
    (l.p.type = 'subscription_item_details' OR l.type = 'subscription') AS from_subscription,
    coalesce(l.first_discount, i.first_discount) AS first_discount,
    i.total_discount
FROM raw_lines AS l
JOIN rl_invoices AS i ON i.id = l.invoice_id;

CREATE OR REPLACE TEMP TABLE rl_line_totals AS
SELECT
    invoice_id,
    any_value(total_discount) - sum(line_discount) AS remainder,
    sum(CASE WHEN discountable AND amount - line_discount > 0 THEN amount - line_discount ELSE 0 END)
        AS weight_total,
    count(*) AS line_count
FROM rl_lines
GROUP BY invoice_id
HAVING any_value(total_discount) <> sum(line_discount);

-- Invoice-level discounts not already on the lines (older payloads) are allocated over the
-- discountable lines by cumulative rounding, in the invoice's own line order, so the parts
-- sum exactly: line i takes round(R·Wᵢ/W) − round(R·Wᵢ₋₁/W), Wᵢ the running weight.
CREATE OR REPLACE TEMP TABLE rl_weighted AS
SELECT
    l.id,
    l.invoice_id,
    t.remainder,
    CASE WHEN t.weight_total > 0 THEN t.weight_total ELSE t.line_count END AS total_weight,
    CASE
        WHEN t.weight_total = 0 THEN 1
        WHEN l.discountable AND l.amount - l.line_discount > 0 THEN l.amount - l.line_discount
        ELSE 0
    END AS weight,
    coalesce(list_position(json_extract_string(inv._raw, '$.lines.data[*].id'), l.id), 1000000)
        AS position
FROM rl_lines AS l
JOIN rl_line_totals AS t ON t.invoice_id = l.invoice_id
JOIN {stripe}.invoice AS inv ON inv.id = l.invoice_id;

CREATE OR REPLACE TEMP TABLE rl_allocation AS
SELECT
    id,
    div_round(remainder * running, total_weight)
        - div_round(remainder * (running - weight), total_weight) AS allocated
FROM (
    SELECT
        *,
        sum(weight) OVER (
            PARTITION BY invoice_id
            ORDER BY position, id ROWS UNBOUNDED PRECEDING
        ) AS running
    FROM rl_weighted
);

-- The charges with the invoice each paid, computed once: the `charge` view links them through
-- four aggregations over the invoices and their payments, and three statements below read it.
CREATE OR REPLACE TEMP TABLE rl_charge AS
SELECT
    id, customer_id, invoice_id, timestamp, status, original_currency, original_amount,
    balance_transaction_id
FROM {revenue}.charge;

-- The balance transaction of the charge that paid each invoice (the last one that succeeded).
CREATE OR REPLACE TEMP TABLE rl_invoice_settlement AS
SELECT invoice_id, arg_max(balance_transaction_id, timestamp) AS balance_transaction
FROM rl_charge
WHERE invoice_id IS NOT NULL AND status = 'succeeded' AND balance_transaction_id IS NOT NULL
GROUP BY ALL;

-- Payments and refunds Stripe converted into the account's settlement currency, with the rate
-- it applied, as a factor from the presentment currency's minor unit to the base currency.
CREATE OR REPLACE TEMP TABLE rl_settlement_rate AS
SELECT
    b.id AS balance_transaction,
    upper(p.currency) AS currency,
    settled_minor_to_base(b.exchange_rate, s.to_base, p.currency) AS minor_to_base
FROM {stripe}.balance_transaction AS b
JOIN (
    SELECT id, currency FROM {stripe}.charge
    UNION ALL
    SELECT id, currency FROM {stripe}.refund
) AS p ON p.id = b.source
JOIN {revenue}.exchange_rate AS s
    ON s.currency = upper(b.currency) AND s.date = CAST(utc(b.created) AS DATE)
WHERE b.exchange_rate IS NOT NULL AND lower(b.currency) <> lower(p.currency);

CREATE OR REPLACE TABLE {revenue}.revenue_line AS
WITH invoice_lines AS (
    SELECT
        'invoice_line' AS kind,
        l.id,
        l.id AS invoice_item_id,
        l.invoice_id,
        l.customer_id,
        l.subscription_id,
        l.subscription_item_id,
        l.price_id,
        coalesce(l.line_product, p.product) AS product_id,
        l.first_discount AS discount_id,
        coalesce(p.interval IS NOT NULL, l.legacy_interval IS NOT NULL, false) OR l.from_subscription
            AS is_recurring,
        l.is_proration,
        l.is_paid,
        l.created_at,
        coalesce(l.period_start, l.created_at) AS period_start,
        coalesce(l.period_end, l.period_start, l.created_at) AS period_end,
        l.currency,
        l.amount AS gross_amount,
        l.line_discount + coalesce(a.allocated, 0) AS discount_amount,
        l.amount - l.line_discount - coalesce(a.allocated, 0) AS original_amount,
        coalesce(p.interval, l.legacy_interval) AS interval,
        coalesce(p.interval_count, l.legacy_interval_count, 1) AS interval_count,
        -- the full-period amount a proration line stands for (unit price × quantity)
        coalesce(l.unit_amount, p.unit_amount) * coalesce(l.quantity, 1) AS full_period_amount,
        CASE WHEN l.is_paid THEN coalesce(l.invoice_paid_at, l.created_at) END AS booked_at,
        st.balance_transaction AS settled_by
    FROM rl_lines AS l
    LEFT JOIN rl_invoice_settlement AS st ON st.invoice_id = l.invoice_id
    LEFT JOIN rl_allocation AS a ON a.id = l.id
    LEFT JOIN rl_prices AS p ON p.id = l.price_id
),
paid_invoices AS (
    SELECT id, customer, subscription_id, coalesce(paid_at, created) AS paid_at
    FROM rl_invoices WHERE is_paid
),
charges AS (
    SELECT
        'charge' AS kind,
        c.id,
        NULL AS invoice_item_id,
        NULL AS invoice_id,
        c.customer_id,
        NULL AS subscription_id,
        NULL AS subscription_item_id,
        NULL AS price_id,
        NULL AS product_id,
        NULL AS discount_id,
        false AS is_recurring,
        false AS is_proration,
        true AS is_paid,
        c.timestamp AS created_at,
        c.timestamp AS period_start,
        c.timestamp AS period_end,
        lower(c.original_currency) AS currency,
        c.original_amount AS gross_amount,
        0 AS discount_amount,
        c.original_amount,
        NULL AS interval,
        NULL AS interval_count,
        NULL AS full_period_amount,
        c.timestamp AS booked_at,
        c.balance_transaction_id AS settled_by
    FROM rl_charge AS c
    WHERE getvariable('include_charges_without_invoice')
        AND c.invoice_id IS NULL AND c.status = 'succeeded' AND c.original_amount > 0
),
-- Refunds made by a credit note are that credit note's cash side: the credit note counts.
credit_note_refunds AS (
    SELECT DISTINCT ref_id(r.entry, '$.refund') AS refund_id
    FROM (
        SELECT unnest(json_extract(refunds, '$[*]')) AS entry
        FROM {stripe}.credit_note
        WHERE refunds IS NOT NULL AND refunds::VARCHAR <> '[]'
    ) AS r
    UNION
    SELECT ref_id(_raw, '$.refund')
    FROM {stripe}.credit_note
    WHERE json_exists(_raw, '$.refund')
),
refunds AS (
    SELECT
        'refund' AS kind,
        r.id,
        NULL AS invoice_item_id,
        c.invoice_id,
        coalesce(c.customer_id, r.customer) AS customer_id,
        pi.subscription_id,
        NULL AS subscription_item_id,
        NULL AS price_id,
        NULL AS product_id,
        NULL AS discount_id,
        pi.subscription_id IS NOT NULL AS is_recurring,
        false AS is_proration,
        true AS is_paid,
        r.created AS created_at,
        r.created AS period_start,
        r.created AS period_end,
        r.currency,
        -r.amount AS gross_amount,
        0 AS discount_amount,
        -r.amount AS original_amount,
        NULL AS interval,
        NULL AS interval_count,
        NULL AS full_period_amount,
        r.created AS booked_at,
        r.balance_transaction AS settled_by
    FROM {stripe}.refund AS r
    JOIN rl_charge AS c ON c.id = r.charge
    LEFT JOIN paid_invoices AS pi ON pi.id = c.invoice_id
    WHERE NOT coalesce(r._deleted, false)
        AND r.status = 'succeeded'
        AND r.id NOT IN (SELECT refund_id FROM credit_note_refunds WHERE refund_id IS NOT NULL)
        AND (
            pi.id IS NOT NULL
            OR (c.invoice_id IS NULL AND getvariable('include_charges_without_invoice'))
        )
),
notes AS (
    SELECT
        n.id,
        n.invoice,
        coalesce(n.customer, pi.customer) AS customer_id,
        pi.subscription_id,
        coalesce(n.effective_at, n.created) AS created_at,
        -- a credit note issued before its invoice was paid adjusts what was paid
        greatest(coalesce(n.effective_at, n.created), pi.paid_at) AS booked_at,
        coalesce(rb.balance_transaction, st.balance_transaction) AS settled_by,
        n.currency,
        coalesce(n.total_excluding_tax, n.subtotal - coalesce(n.discount_amount, 0), n.amount)
            AS net_total
    FROM {stripe}.credit_note AS n
    JOIN paid_invoices AS pi ON pi.id = n.invoice
    LEFT JOIN rl_invoice_settlement AS st ON st.invoice_id = n.invoice
    LEFT JOIN {stripe}.refund AS rb ON rb.id = CASE
        WHEN n.refunds IS NOT NULL AND n.refunds::VARCHAR <> '[]' THEN ref_id(n.refunds, '$[0].refund')
        ELSE ref_id(n._raw, '$.refund')
    END
    WHERE NOT coalesce(n._deleted, false) AND coalesce(n.status, 'issued') <> 'void'
),
credit_notes AS (
    SELECT
        'credit_note' AS kind,
        coalesce(li.id, n.id) AS id,
        li.invoice_line_item AS invoice_item_id,
        n.invoice AS invoice_id,
        n.customer_id,
        n.subscription_id,
        il.subscription_item_id,
        il.price_id,
        coalesce(il.line_product, ip.product) AS product_id,
        NULL AS discount_id,
        coalesce(ip.interval IS NOT NULL OR il.legacy_interval IS NOT NULL OR il.from_subscription,
            n.subscription_id IS NOT NULL) AS is_recurring,
        false AS is_proration,
        true AS is_paid,
        n.created_at,
        n.created_at AS period_start,
        n.created_at AS period_end,
        n.currency,
        -coalesce(li.amount, n.net_total) AS gross_amount,
        -greatest(amounts_sum(li.discount_amounts), coalesce(li.discount_amount, 0)) AS discount_amount,
        -(coalesce(li.amount, n.net_total)
            - greatest(amounts_sum(li.discount_amounts), coalesce(li.discount_amount, 0)))
            AS original_amount,
        NULL AS interval,
        NULL AS interval_count,
        NULL AS full_period_amount,
        n.booked_at,
        n.settled_by
    FROM notes AS n
    LEFT JOIN {stripe}.credit_note_line_item AS li
        ON li.credit_note_id = n.id AND NOT coalesce(li._deleted, false)
    LEFT JOIN rl_lines AS il ON il.id = li.invoice_line_item
    LEFT JOIN rl_prices AS ip ON ip.id = il.price_id
),
all_lines AS (
    SELECT * FROM invoice_lines
    UNION ALL BY NAME SELECT * FROM charges
    UNION ALL BY NAME SELECT * FROM refunds
    UNION ALL BY NAME SELECT * FROM credit_notes
)
SELECT
    a.kind,
    a.id,
    a.invoice_item_id,
    a.invoice_id,
    a.customer_id,
    a.subscription_id,
    a.subscription_item_id,
    a.price_id,
    a.product_id,
    dc.coupon,
    dc.coupon_id,
    dc.promotion_code_id,
    dc.promotion_code,
    a.is_recurring,
    a.is_proration,
    a.is_paid,
    a.created_at,
    a.period_start,
    a.period_end,
    upper(a.currency) AS original_currency,
    a.gross_amount::BIGINT AS gross_original_amount,
    a.discount_amount::BIGINT AS discount_original_amount,
    a.original_amount::BIGINT AS original_amount,
    a.interval,
    a.interval_count::INTEGER AS interval_count,
    a.full_period_amount::DECIMAL(38, 6) AS full_period_original_amount,
    getvariable('base_currency') AS currency,
    rate.minor_to_base,
    base_amount(a.original_amount, rate.minor_to_base) AS amount,
    a.booked_at,
    rate.source AS rate_source
FROM all_lines AS a
LEFT JOIN discount_coupon AS dc ON dc.discount_id = a.discount_id
LEFT JOIN {revenue}.exchange_rate AS fx
    ON fx.currency = upper(a.currency) AND fx.date = CAST(utc(a.created_at) AS DATE)
LEFT JOIN rl_settlement_rate AS sr
    ON sr.balance_transaction = a.settled_by AND sr.currency = upper(a.currency)
-- a published (or pegged) rate first; else the rate Stripe settled this very payment at; else
-- the last rate Stripe settled the currency at (exchange_rate's `stripe_settlement` rows)
CROSS JOIN LATERAL (
    SELECT
        CASE WHEN fx.source IN ('ecb', 'usd_peg', 'identity') OR sr.minor_to_base IS NULL
            THEN fx.minor_to_base ELSE sr.minor_to_base END AS minor_to_base,
        CASE WHEN fx.source IN ('ecb', 'usd_peg', 'identity') OR sr.minor_to_base IS NULL
            THEN fx.source ELSE 'stripe_settlement' END AS source
) AS rate;
