-- Which coupon each discount applies, and the promotion code it was redeemed through (if any),
-- as a temporary table for the statements that follow.
-- Current payloads reference discounts by id (`discounts: ["di_…"]`) and Stripe has no list
-- endpoint for them, so the coupon is found wherever a discount object appears: embedded by
-- older API versions (`invoice.discount`, `subscription.discount`, `customer.discount`),
-- in a `discounts` list the sync expanded (invoices, their lines, subscriptions), or as the
-- object of a discount event.
CREATE OR REPLACE TEMP TABLE discount_coupon AS
WITH embedded AS (
    SELECT discount FROM {stripe}.invoice WHERE discount IS NOT NULL
    UNION ALL
    SELECT discount FROM {stripe}.subscription WHERE discount IS NOT NULL
    UNION ALL
    SELECT discount FROM {stripe}.customer WHERE discount IS NOT NULL
    UNION ALL
    SELECT unnest(json_extract(discounts, '$[*]')) AS discount
    FROM {stripe}.invoice
    WHERE discounts IS NOT NULL AND contains(discounts::VARCHAR, '{')
    UNION ALL
    SELECT unnest(json_extract(discounts, '$[*]')) AS discount
    FROM {stripe}.invoice_line_item
    WHERE discounts IS NOT NULL AND contains(discounts::VARCHAR, '{')
    UNION ALL
    SELECT unnest(json_extract(discounts, '$[*]')) AS discount
    FROM {stripe}.subscription
    WHERE discounts IS NOT NULL AND contains(discounts::VARCHAR, '{')
    UNION ALL
    SELECT _raw -> '$.data.object' AS discount
    FROM {stripe}.event
    WHERE object_type = 'discount'
),
found AS (
    SELECT
        discount ->> '$.id' AS discount_id,
        coalesce(ref_id(discount, '$.source.coupon'), ref_id(discount, '$.coupon')) AS coupon_id,
        ref_id(discount, '$.promotion_code') AS promotion_code_id
    FROM embedded
    WHERE json_type(discount) = 'OBJECT'
)
SELECT
    f.discount_id,
    any_value(f.coupon_id) AS coupon_id,
    any_value(coalesce(c.name, c.id)) AS coupon,
    any_value(f.promotion_code_id) AS promotion_code_id,
    any_value(pc.code) AS promotion_code
FROM found AS f
LEFT JOIN {stripe}.coupon AS c ON c.id = f.coupon_id
LEFT JOIN {stripe}.promotion_code AS pc ON pc.id = f.promotion_code_id
WHERE f.discount_id IS NOT NULL AND f.coupon_id IS NOT NULL
GROUP BY f.discount_id;
