-- `subscription_mrr`: current MRR per subscription computed the way Stripe Billing's dashboard
-- does, beside ours (invoice-based, the `mrr` view), so that every difference can be explained.
-- Stripe's figure: for an active or past_due subscription (trialing, canceled, unpaid, paused,
-- incomplete: 0), the sum of its licensed (not metered) items' unit price × quantity normalized
-- to a month (weekly ×52/12, yearly ÷12, daily ×365/12, each ÷ interval_count), net of the
-- discounts active at the evaluation time (item discounts on their item, then the
-- subscription's: percent off, or an amount off per billing period normalized the same way),
-- never below 0. Discounts of every duration count; Stripe lets a user count only `forever`
-- ones, so the finite ones are kept apart (`finite_discount_original_mrr`).
-- Ours, for comparison: the invoice-based MRR at the evaluation time, and the discounts of the
-- invoice lines behind it (normalized alike), which tell a discount that changed since the
-- invoice from a price or quantity that did.
-- All in exact integers: millionths of a minor unit, rounded once per subscription.
CREATE OR REPLACE TEMP TABLE sm_items AS
SELECT
    i.subscription_id,
    i.id AS item_id,
    coalesce(i.quantity, 1) AS quantity,
    coalesce(
        TRY_CAST(i.price ->> '$.unit_amount_decimal' AS DECIMAL(38, 6)),
        TRY_CAST(i.price ->> '$.unit_amount' AS DECIMAL(38, 6)),
        CAST(p.unit_amount AS DECIMAL(38, 6)),
        TRY_CAST(i.plan ->> '$.amount' AS DECIMAL(38, 6))
    ) AS unit_amount,
    coalesce(
        i.price ->> '$.recurring.interval', json_extract_string(p.recurring, '$.interval'),
        i.plan ->> '$.interval'
    ) AS interval,
    greatest(coalesce(
        TRY_CAST(i.price ->> '$.recurring.interval_count' AS INTEGER),
        TRY_CAST(json_extract_string(p.recurring, '$.interval_count') AS INTEGER),
        TRY_CAST(i.plan ->> '$.interval_count' AS INTEGER),
        1
    ), 1) AS interval_count,
    coalesce(
        i.price ->> '$.recurring.usage_type', json_extract_string(p.recurring, '$.usage_type'),
        i.plan ->> '$.usage_type', 'licensed'
    ) AS usage_type
FROM {stripe}.subscription_item AS i
LEFT JOIN {stripe}.price AS p ON p.id = ref_id(i.price, '$')
WHERE NOT coalesce(i._deleted, false);

-- monthly rates in millionths of a minor unit
CREATE OR REPLACE TEMP TABLE sm_item_rates AS
SELECT
    *,
    per_month_num(interval) AS per_num,
    per_month_den(interval, interval_count) AS per_den,
    CASE WHEN usage_type = 'metered' OR interval IS NULL THEN 0 ELSE div_round(
        CAST(unit_amount * 1000000 AS HUGEINT) * quantity * per_month_num(interval),
        per_month_den(interval, interval_count)
    ) END AS list_micros
FROM sm_items;

-- discounts active at the evaluation time, on a subscription or one of its items
CREATE OR REPLACE TEMP TABLE sm_discounts AS
WITH listed AS (
    SELECT id AS subscription_id, NULL::VARCHAR AS item_id,
        unnest(json_extract(discounts, '$[*]')) AS d
    FROM {stripe}.subscription
    WHERE discounts IS NOT NULL AND contains(discounts::VARCHAR, '{')
    UNION ALL
    SELECT id, NULL, discount FROM {stripe}.subscription WHERE discount IS NOT NULL
    UNION ALL
    SELECT subscription_id, id, unnest(json_extract(discounts, '$[*]'))
    FROM {stripe}.subscription_item
    WHERE NOT coalesce(_deleted, false)
        AND discounts IS NOT NULL AND contains(discounts::VARCHAR, '{')
),
found AS (
    SELECT DISTINCT
        subscription_id,
        item_id,
        d ->> '$.id' AS discount_id,
        coalesce(ref_id(d, '$.source.coupon'), ref_id(d, '$.coupon')) AS coupon_id,
        TRY_CAST(d ->> '$.start' AS BIGINT) AS start_s,
        TRY_CAST(d ->> '$.end' AS BIGINT) AS end_s
    FROM listed
    WHERE json_type(d) = 'OBJECT'
)
SELECT f.*, c.percent_off, c.amount_off, c.duration
FROM found AS f
JOIN {stripe}.coupon AS c ON c.id = f.coupon_id
WHERE coalesce(f.start_s, 0) <= epoch(getvariable('as_of')::TIMESTAMPTZ)
    AND epoch(getvariable('as_of')::TIMESTAMPTZ) < coalesce(f.end_s, 9223372036854775807);

CREATE OR REPLACE TEMP TABLE sm_stripe AS
WITH item_discounts AS (
    SELECT
        r.subscription_id,
        r.item_id,
        r.list_micros,
        r.per_num,
        r.per_den,
        -- an item's own discounts: percent off its amount, or an amount off per period
        coalesce(sum(CASE
            WHEN d.percent_off IS NOT NULL
                THEN CAST(r.list_micros * CAST(d.percent_off AS DECIMAL(9, 4)) / 100 AS HUGEINT)
            ELSE div_round(d.amount_off::HUGEINT * 1000000 * r.per_num, r.per_den)
        END), 0) AS discounts,
        coalesce(sum(CASE WHEN d.duration <> 'forever' THEN 1 ELSE 0 END), 0) > 0 AS finite
    FROM sm_item_rates AS r
    LEFT JOIN sm_discounts AS d ON d.item_id = r.item_id
    GROUP BY r.subscription_id, r.item_id, r.list_micros, r.per_num, r.per_den
),
items AS (
    SELECT *, least(list_micros, discounts) AS discount_micros FROM item_discounts
),
subscriptions AS (
    SELECT
        subscription_id,
        sum(list_micros) AS list_micros,
        sum(discount_micros) AS item_discount_micros,
        sum(discount_micros) FILTER (WHERE finite) AS finite_item_discount_micros,
        -- an amount off the subscription is per billing period: the first item's
        arg_min(per_num, item_id) AS per_num,
        arg_min(per_den, item_id) AS per_den
    FROM items
    GROUP BY ALL
),
with_discounts AS (
    SELECT
        s.*,
        coalesce(sum(CASE
            WHEN d.percent_off IS NOT NULL THEN CAST(
                (s.list_micros - s.item_discount_micros) * CAST(d.percent_off AS DECIMAL(9, 4))
                    / 100 AS HUGEINT)
            ELSE div_round(d.amount_off::HUGEINT * 1000000 * s.per_num, s.per_den)
        END), 0) AS subscription_discount_micros,
        coalesce(sum(CASE
            WHEN d.duration = 'forever' THEN 0
            WHEN d.percent_off IS NOT NULL THEN CAST(
                (s.list_micros - s.item_discount_micros) * CAST(d.percent_off AS DECIMAL(9, 4))
                    / 100 AS HUGEINT)
            ELSE div_round(d.amount_off::HUGEINT * 1000000 * s.per_num, s.per_den)
        END), 0) AS finite_subscription_discount_micros
    FROM subscriptions AS s
    LEFT JOIN sm_discounts AS d ON d.subscription_id = s.subscription_id AND d.item_id IS NULL
    GROUP BY s.subscription_id, s.list_micros, s.item_discount_micros,
        s.finite_item_discount_micros, s.per_num, s.per_den
)
SELECT
    subscription_id,
    div_round(list_micros, 1000000) AS list_original_mrr,
    div_round(
        least(list_micros, item_discount_micros + subscription_discount_micros), 1000000
    ) AS discount_original_mrr,
    div_round(
        least(
            list_micros,
            coalesce(finite_item_discount_micros, 0) + finite_subscription_discount_micros
        ),
        1000000
    ) AS finite_discount_original_mrr
FROM with_discounts;

-- the discounts of the invoice lines behind our MRR: recurring, not prorations, of a paid or
-- open invoice, their period covering the evaluation time
CREATE OR REPLACE TEMP TABLE sm_invoice_discounts AS
SELECT
    l.subscription_id,
    div_round(sum(div_round(
        l.discount_original_amount::HUGEINT * 1000000 * per_month_num(l.interval),
        per_month_den(l.interval, l.interval_count)
    )), 1000000) AS invoice_discount_original_mrr
FROM {revenue}.revenue_line AS l
JOIN {stripe}.invoice AS i ON i.id = l.invoice_id
WHERE l.kind = 'invoice_line' AND NOT l.is_proration AND l.subscription_id IS NOT NULL
    AND l.interval IN ('day', 'week', 'month', 'year')
    AND i.status IN ('paid', 'open')
    AND l.period_start <= getvariable('as_of')::TIMESTAMPTZ
    AND getvariable('as_of')::TIMESTAMPTZ < l.period_end
GROUP BY ALL;

CREATE OR REPLACE TABLE {revenue}.subscription_mrr AS
WITH subscriptions AS (
    SELECT
        s.id AS subscription_id,
        s.customer_id,
        s.status,
        upper(s.original_currency) AS original_currency,
        s.trial_end,
        -- what Stripe counts: active or past_due, out of any free trial
        s.status IN ('active', 'past_due')
            AND NOT coalesce(s.trial_end > getvariable('as_of')::TIMESTAMPTZ, false) AS counted,
        ref_id(r._raw, '$.latest_invoice') AS latest_invoice
    FROM {revenue}.subscription AS s
    LEFT JOIN {stripe}.subscription AS r ON r.id = s.id
    WHERE NOT coalesce(s.deleted, false)
)
SELECT
    s.subscription_id,
    s.customer_id,
    s.status,
    s.original_currency,
    coalesce(st.list_original_mrr, 0)::BIGINT AS list_original_mrr,
    coalesce(st.discount_original_mrr, 0)::BIGINT AS discount_original_mrr,
    coalesce(st.finite_discount_original_mrr, 0)::BIGINT AS finite_discount_original_mrr,
    CASE WHEN s.counted THEN greatest(
        0, coalesce(st.list_original_mrr, 0) - coalesce(st.discount_original_mrr, 0)
    ) ELSE 0 END::BIGINT AS stripe_original_mrr,
    coalesce(m.original_mrr, 0)::BIGINT AS invoice_original_mrr,
    coalesce(d.invoice_discount_original_mrr, 0)::BIGINT AS invoice_discount_original_mrr,
    (CASE WHEN s.counted THEN greatest(
        0, coalesce(st.list_original_mrr, 0) - coalesce(st.discount_original_mrr, 0)
    ) ELSE 0 END - coalesce(m.original_mrr, 0))::BIGINT AS difference_original_mrr,
    li.status AS latest_invoice_status,
    getvariable('base_currency') AS currency,
    base_amount(CASE WHEN s.counted THEN greatest(
        0, coalesce(st.list_original_mrr, 0) - coalesce(st.discount_original_mrr, 0)
    ) ELSE 0 END, fx.minor_to_base) AS stripe_mrr,
    base_amount(coalesce(m.original_mrr, 0), fx.minor_to_base) AS invoice_mrr,
    getvariable('as_of')::TIMESTAMPTZ AS evaluated_at
FROM subscriptions AS s
LEFT JOIN sm_stripe AS st ON st.subscription_id = s.subscription_id
LEFT JOIN {revenue}.mrr AS m ON m.subscription_id = s.subscription_id
LEFT JOIN sm_invoice_discounts AS d ON d.subscription_id = s.subscription_id
LEFT JOIN {stripe}.invoice AS li ON li.id = s.latest_invoice
LEFT JOIN {revenue}.exchange_rate AS fx
    ON fx.currency = s.original_currency
    AND fx.date = CAST(utc(getvariable('as_of')::TIMESTAMPTZ) AS DATE)
WHERE s.counted OR coalesce(m.original_mrr, 0) > 0 OR s.status = 'trialing';
