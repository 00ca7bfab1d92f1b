-- Raw Stripe tables of a generated SaaS account for bench/revenue.py, written directly in DuckDB
-- (no HTTP): typed columns as schema.py lays them out, plus a realistic `_raw` JSON object.
-- Parameters (DuckDB variables): lines (invoice lines wanted), seed.
-- Shape: one subscription per customer; every subscription bills monthly (10% yearly, 5%
-- weekly) from a random start in 2021; each invoice has a subscription line and, on average, one
-- more line (a one-off item, a discounted add-on or a proration pair); every paid invoice has a
-- charge, an invoice payment and a balance transaction; 5% more charges have no invoice; 2% of
-- charges are partly refunded; 1% of invoices get a credit note.
SELECT setseed(getvariable('seed'));

CREATE OR REPLACE TEMP TABLE plan AS
SELECT
    getvariable('lines') * 10 // 17 AS invoices,  -- 1.7 lines per invoice on average
    greatest(getvariable('lines') // 20, 10) AS customers;

INSERT INTO stripe.product (id, active, created, name, _raw, _synced_at, _source, _version, _deleted)
SELECT 'prod_' || i, true, TIMESTAMPTZ '2020-06-01', 'Product ' || i,
    json_object('id', 'prod_' || i, 'object', 'product', 'name', 'Product ' || i, 'active', true),
    now(), 'list', now(), false
FROM range(20) AS t(i);

INSERT INTO stripe.price (id, active, created, currency, product, recurring, type, unit_amount,
    _raw, _synced_at, _source, _version, _deleted)
SELECT
    'price_' || i, true, TIMESTAMPTZ '2020-06-01',
    ['usd', 'usd', 'usd', 'eur', 'gbp', 'jpy'][1 + i % 6],
    'prod_' || (i % 20),
    json_object('interval', CASE WHEN i % 20 = 0 THEN 'year' WHEN i % 20 = 1 THEN 'week' ELSE 'month' END,
        'interval_count', 1, 'usage_type', 'licensed'),
    'recurring',
    CASE WHEN i % 6 = 5 THEN 1000 ELSE 100 END * (10 + i % 7 * 5),
    json_object('id', 'price_' || i, 'object', 'price', 'currency', ['usd', 'usd', 'usd', 'eur', 'gbp', 'jpy'][1 + i % 6],
        'product', 'prod_' || (i % 20), 'type', 'recurring'),
    now(), 'list', now(), false
FROM range(60) AS t(i);

CREATE OR REPLACE TEMP TABLE gen_customer AS
SELECT
    i,
    'cus_' || lpad(i::VARCHAR, 10, '0') AS id,
    TIMESTAMPTZ '2021-01-01' + to_seconds((random() * 365 * 86400)::BIGINT) AS created,
    (i * 7) % 60 AS price_index
FROM range((SELECT customers FROM plan)) AS t(i);

INSERT INTO stripe.customer (id, created, currency, email, name, metadata, address, _raw,
    _synced_at, _source, _version, _deleted)
SELECT
    id, created, 'usd', 'user' || i || '@example.com', 'Customer ' || i,
    CASE WHEN i % 3 = 0 THEN json_object('posthog_person_distinct_id', 'person-' || i)
         WHEN i % 5 = 0 THEN json_object('posthog_group_key', 'group-' || (i % 97))
         ELSE '{}'::JSON END,
    json_object('country', ['US', 'DE', 'FR', 'GB', 'JP'][1 + i % 5]),
    json_object('id', id, 'object', 'customer', 'email', 'user' || i || '@example.com',
        'name', 'Customer ' || i, 'created', epoch(created)::BIGINT, 'livemode', false,
        'invoice_settings', json_object('default_payment_method', 'pm_' || i)),
    now(), 'list', now(), false
FROM gen_customer;

CREATE OR REPLACE TEMP TABLE gen_subscription AS
SELECT
    c.i,
    'sub_' || lpad(c.i::VARCHAR, 10, '0') AS id,
    c.id AS customer,
    c.created,
    p.id AS price_id,
    p.product,
    p.currency,
    p.unit_amount,
    p.recurring ->> '$.interval' AS interval
FROM gen_customer AS c
JOIN stripe.price AS p ON p.id = 'price_' || c.price_index;

-- invoices: the i-th invoice belongs to subscription i mod S, its k-th billing period
CREATE OR REPLACE TEMP TABLE gen_invoice AS
SELECT
    n,
    'in_' || lpad(n::VARCHAR, 12, '0') AS id,
    s.id AS subscription,
    s.customer,
    s.currency,
    s.price_id,
    s.product,
    s.unit_amount,
    s.interval,
    CASE s.interval
        WHEN 'year' THEN s.created + to_years(k::INTEGER)
        WHEN 'week' THEN s.created + to_days(7 * k::INTEGER)
        ELSE s.created + to_months(k::INTEGER) END AS period_start,
    CASE s.interval
        WHEN 'year' THEN s.created + to_years(k::INTEGER + 1)
        WHEN 'week' THEN s.created + to_days(7 * k::INTEGER + 7)
        ELSE s.created + to_months(k::INTEGER + 1) END AS period_end,
    n % 10 AS shape  -- 0-3: one line; 4-6: + one-off; 7-8: + discounted add-on; 9: + proration pair
FROM (
    SELECT n, n % (SELECT customers FROM plan) AS s_index, n // (SELECT customers FROM plan) AS k
    FROM range((SELECT invoices FROM plan)) AS t(n)
) AS g
JOIN gen_subscription AS s ON s.i = g.s_index;

CREATE OR REPLACE TEMP TABLE gen_line AS
SELECT
    v.*,
    CASE WHEN v.discount > 0 THEN json_array(json_object('amount', v.discount, 'discount', 'di_' || v.invoice_id))
         ELSE '[]'::JSON END AS discount_amounts
FROM (
    -- the subscription line
    SELECT i.id AS invoice_id, 'il_' || i.n || '_0' AS id, i.unit_amount AS amount, 0 AS discount,
        i.period_start, i.period_end, i.price_id, i.product, i.subscription, false AS proration,
        'subscription_item_details' AS parent_type, i.currency
    FROM gen_invoice AS i
    UNION ALL
    -- a one-off item
    SELECT i.id, 'il_' || i.n || '_1', 2500, 0, i.period_start, i.period_start, NULL, NULL,
        i.subscription, false, 'invoice_item_details', i.currency
    FROM gen_invoice AS i WHERE i.shape BETWEEN 4 AND 6
    UNION ALL
    -- a discounted add-on (20% off)
    SELECT i.id, 'il_' || i.n || '_2', 5000, 1000, i.period_start, i.period_end, i.price_id,
        i.product, i.subscription, false, 'subscription_item_details', i.currency
    FROM gen_invoice AS i WHERE i.shape IN (7, 8)
    UNION ALL
    -- a proration pair: credit for unused time, charge for the new plan
    SELECT i.id, 'il_' || i.n || '_3', -(i.unit_amount // 2), 0,
        i.period_start + (i.period_end - i.period_start) / 2, i.period_end, i.price_id, i.product,
        i.subscription, true, 'subscription_item_details', i.currency
    FROM gen_invoice AS i WHERE i.shape = 9
    UNION ALL
    SELECT i.id, 'il_' || i.n || '_4', i.unit_amount, 0,
        i.period_start + (i.period_end - i.period_start) / 2, i.period_end, i.price_id, i.product,
        i.subscription, true, 'subscription_item_details', i.currency
    FROM gen_invoice AS i WHERE i.shape = 9
) AS v;

INSERT INTO stripe.invoice_line_item (id, invoice_id, _parent_created, amount, currency,
    description, discount_amounts, discountable, discounts, invoice, livemode, metadata, period,
    quantity, subscription, parent, pricing, subtotal, period_start, period_end, _raw,
    _synced_at, _source, _version, _deleted)
SELECT
    l.id, l.invoice_id, i.period_start, l.amount, l.currency, 'Line ' || l.id, l.discount_amounts,
    true, '[]'::JSON, l.invoice_id, false, '{}'::JSON,
    json_object('start', epoch(l.period_start)::BIGINT, 'end', epoch(l.period_end)::BIGINT),
    1, l.subscription,
    json_object('type', l.parent_type,
        'subscription_item_details', CASE WHEN l.parent_type = 'subscription_item_details' THEN json_object(
            'invoice_item', NULL, 'proration', l.proration, 'proration_details', json_object('credited_items', NULL),
            'subscription', l.subscription, 'subscription_item', 'si_' || substr(l.subscription, 5)) END,
        'invoice_item_details', CASE WHEN l.parent_type = 'invoice_item_details' THEN json_object(
            'invoice_item', 'ii_' || l.id, 'proration', false, 'subscription', l.subscription) END),
    json_object('type', 'price_details', 'price_details', CASE WHEN l.price_id IS NOT NULL THEN
        json_object('price', l.price_id, 'product', l.product) END,
        'unit_amount_decimal', abs(l.amount)::VARCHAR),
    l.amount, l.period_start, l.period_end,
    json_object('id', l.id, 'object', 'line_item', 'amount', l.amount, 'currency', l.currency,
        'description', 'Line ' || l.id, 'discount_amounts', l.discount_amounts, 'discountable', true,
        'invoice', l.invoice_id, 'livemode', false, 'metadata', '{}'::JSON,
        'period', json_object('start', epoch(l.period_start)::BIGINT, 'end', epoch(l.period_end)::BIGINT),
        'quantity', 1, 'subscription', l.subscription, 'taxes', '[]'::JSON),
    now(), 'list', now(), false
FROM gen_line AS l
JOIN gen_invoice AS i ON i.id = l.invoice_id;

CREATE OR REPLACE TEMP TABLE gen_invoice_total AS
SELECT invoice_id, sum(amount) AS subtotal, sum(discount) AS discount
FROM gen_line GROUP BY ALL;

INSERT INTO stripe.invoice (id, amount_due, amount_paid, amount_remaining, billing_reason,
    collection_method, created, currency, customer, discounts, livemode, metadata,
    period_end, period_start, status, status_transitions, subtotal, subtotal_excluding_tax, total,
    total_discount_amounts, total_excluding_tax, parent, parent_subscription, _raw, _synced_at,
    _source, _version, _deleted)
SELECT
    i.id, t.subtotal - t.discount, t.subtotal - t.discount, 0, 'subscription_cycle',
    'charge_automatically', i.period_start, i.currency, i.customer, '[]'::JSON,
    false, '{}'::JSON, i.period_end, i.period_start, 'paid',
    json_object('paid_at', epoch(i.period_start)::BIGINT, 'finalized_at', epoch(i.period_start)::BIGINT),
    t.subtotal, t.subtotal, t.subtotal - t.discount,
    CASE WHEN t.discount > 0 THEN json_array(json_object('amount', t.discount, 'discount', 'di_' || i.id))
         ELSE '[]'::JSON END,
    t.subtotal - t.discount,
    json_object('type', 'subscription_details',
        'subscription_details', json_object('subscription', i.subscription, 'metadata', '{}'::JSON)),
    i.subscription,
    json_object('id', i.id, 'object', 'invoice', 'customer', i.customer, 'currency', i.currency,
        'status', 'paid', 'subtotal', t.subtotal, 'total', t.subtotal - t.discount,
        'created', epoch(i.period_start)::BIGINT, 'billing_reason', 'subscription_cycle',
        'account_country', 'US', 'account_name', 'Bench Co', 'collection_method', 'charge_automatically',
        'parent', json_object('type', 'subscription_details',
            'subscription_details', json_object('subscription', i.subscription)),
        'lines', json_object('object', 'list', 'has_more', true, 'data', '[]'::JSON)),
    now(), 'list', now(), false
FROM gen_invoice AS i
JOIN gen_invoice_total AS t ON t.invoice_id = i.id;

INSERT INTO stripe.subscription (id, created, currency, customer, status, start_date,
    billing_cycle_anchor, metadata, discounts, cancel_at_period_end, _raw, _synced_at,
    _source, _version, _deleted)
SELECT id, created, currency, customer, 'active', created, created,
    '{}'::JSON, '[]'::JSON, false,
    json_object('id', id, 'object', 'subscription', 'customer', customer, 'status', 'active',
        'currency', currency, 'created', epoch(created)::BIGINT),
    now(), 'list', now(), false
FROM gen_subscription;

INSERT INTO stripe.subscription_item (id, subscription_id, _parent_created, created, price,
    quantity, subscription, current_period_start, current_period_end, _raw, _synced_at, _source,
    _version, _deleted)
SELECT 'si_' || substr(s.id, 5), s.id, s.created, s.created,
    json_object('id', s.price_id, 'object', 'price', 'product', s.product, 'currency', s.currency,
        'unit_amount', s.unit_amount, 'recurring', json_object('interval', s.interval, 'interval_count', 1)),
    1, s.id, s.created, s.created,
    json_object('id', 'si_' || substr(s.id, 5), 'object', 'subscription_item'),
    now(), 'list', now(), false
FROM gen_subscription AS s;

-- charges: one per invoice, plus 5% without invoice
CREATE OR REPLACE TEMP TABLE gen_charge AS
SELECT 'ch_' || lpad(i.n::VARCHAR, 12, '0') AS id, i.customer, i.currency, i.period_start AS created,
    t.subtotal - t.discount AS amount, i.id AS invoice
FROM gen_invoice AS i JOIN gen_invoice_total AS t ON t.invoice_id = i.id
WHERE t.subtotal - t.discount > 0
UNION ALL
SELECT 'ch_x' || n, 'cus_' || lpad((n % (SELECT customers FROM plan))::VARCHAR, 10, '0'), 'usd',
    TIMESTAMPTZ '2021-06-01' + to_seconds((random() * 3 * 365 * 86400)::BIGINT), 1990, NULL
FROM range((SELECT invoices FROM plan) // 20) AS t(n);

INSERT INTO stripe.charge (id, amount, amount_captured, amount_refunded, balance_transaction,
    captured, created, currency, customer, metadata, paid, payment_intent, refunded, status,
    _raw, _synced_at, _source, _version, _deleted)
SELECT id, amount, amount, CASE WHEN hash(id) % 50 = 0 THEN amount // 4 ELSE 0 END,
    'txn_' || substr(id, 4), true, created, currency, customer, '{}'::JSON, true,
    'pi_' || substr(id, 4), false, 'succeeded',
    json_object('id', id, 'object', 'charge', 'amount', amount, 'amount_captured', amount,
        'currency', currency, 'customer', customer, 'status', 'succeeded', 'paid', true,
        'captured', true, 'created', epoch(created)::BIGINT, 'payment_intent', 'pi_' || substr(id, 4),
        'balance_transaction', 'txn_' || substr(id, 4),
        'outcome', json_object('network_status', 'approved_by_network', 'type', 'authorized')),
    now(), 'list', now(), false
FROM gen_charge;

INSERT INTO stripe.invoice_payment (id, amount_paid, created, currency, invoice, is_default,
    payment, status, payment_intent, payment_charge, _raw, _synced_at, _source, _version, _deleted)
SELECT 'inpay_' || substr(id, 4), amount, created, currency, invoice, true,
    json_object('type', 'payment_intent', 'payment_intent', 'pi_' || substr(id, 4)), 'paid',
    'pi_' || substr(id, 4), NULL,
    json_object('id', 'inpay_' || substr(id, 4), 'object', 'invoice_payment', 'invoice', invoice),
    now(), 'list', now(), false
FROM gen_charge WHERE invoice IS NOT NULL;

INSERT INTO stripe.balance_transaction (id, amount, created, currency, fee, net, source, status,
    type, reporting_category, _raw, _synced_at, _source, _version, _deleted)
SELECT 'txn_' || substr(id, 4), amount, created, currency, amount * 29 // 1000 + 30,
    amount - (amount * 29 // 1000 + 30), id, 'available', 'charge', 'charge',
    json_object('id', 'txn_' || substr(id, 4), 'object', 'balance_transaction', 'amount', amount),
    now(), 'list', now(), false
FROM gen_charge;

INSERT INTO stripe.refund (id, amount, charge, created, currency, status, _raw, _synced_at,
    _source, _version, _deleted)
SELECT 're_' || substr(id, 4), amount // 4, id, created + INTERVAL 3 DAY, currency, 'succeeded',
    json_object('id', 're_' || substr(id, 4), 'object', 'refund', 'charge', id, 'amount', amount // 4),
    now(), 'list', now(), false
FROM gen_charge WHERE hash(id) % 50 = 0;

-- credit notes (out of band, no refund) on 1% of invoices, crediting their first line in part
INSERT INTO stripe.credit_note (id, amount, created, currency, customer, invoice, status,
    subtotal, total, total_excluding_tax, discount_amount, refunds, type, _raw, _synced_at,
    _source, _version, _deleted)
SELECT 'cn_' || i.n, 500, i.period_start + INTERVAL 5 DAY, i.currency, i.customer, i.id, 'issued',
    500, 500, 500, 0, '[]'::JSON, 'post_payment',
    json_object('id', 'cn_' || i.n, 'object', 'credit_note', 'invoice', i.id, 'amount', 500),
    now(), 'list', now(), false
FROM gen_invoice AS i WHERE i.n % 100 = 42;

INSERT INTO stripe.credit_note_line_item (id, credit_note_id, _parent_created, amount,
    discount_amount, discount_amounts, invoice_line_item, quantity, type, _raw, _synced_at,
    _source, _version, _deleted)
SELECT 'cnli_' || i.n, 'cn_' || i.n, i.period_start + INTERVAL 5 DAY, 500, 0, '[]'::JSON,
    'il_' || i.n || '_0', 1, 'invoice_line_item',
    json_object('id', 'cnli_' || i.n, 'object', 'credit_note_line_item', 'amount', 500),
    now(), 'list', now(), false
FROM gen_invoice AS i WHERE i.n % 100 = 42;
