-- Managed view `subscription`: one row per subscription (all statuses). Plan and product come
-- from the first item in the current API (prices live on subscription items) and from
-- `subscription.plan` in older payloads; so do the current period's bounds.
CREATE OR REPLACE TABLE {revenue}.subscription AS
WITH items AS (
    SELECT
        subscription_id,
        count(*) AS item_count,
        arg_min(coalesce(price ->> '$.id', plan ->> '$.id'), (created, id)) AS price_id,
        arg_min(
            coalesce(ref_id(price, '$.product'), ref_id(plan, '$.product')), (created, id)
        ) AS product_id,
        arg_min(
            coalesce(price -> '$.recurring.interval', plan -> '$.interval') ->> '$', (created, id)
        ) AS interval,
        arg_min(
            coalesce(
                TRY_CAST(price ->> '$.recurring.interval_count' AS INTEGER),
                TRY_CAST(plan ->> '$.interval_count' AS INTEGER)
            ),
            (created, id)
        ) AS interval_count,
        min(current_period_start) AS current_period_start,
        max(current_period_end) AS current_period_end
    FROM {stripe}.subscription_item
    WHERE NOT coalesce(_deleted, false)
    GROUP BY subscription_id
)
SELECT
    s.id,
    getvariable('source_label') AS source_label,
    coalesce(s.plan ->> '$.id', i.price_id) AS plan_id,
    coalesce(ref_id(s.plan, '$.product'), i.product_id) AS product_id,
    s.customer AS customer_id,
    s.status,
    coalesce(s.start_date, s.created) AS started_at,
    -- A canceled subscription has ended, even if an old snapshot lacks `ended_at`.
    coalesce(s.ended_at, CASE WHEN s.status = 'canceled' THEN s.canceled_at END) AS ended_at,
    s.metadata,
    s.created,
    s.canceled_at,
    s.cancel_at,
    s.cancel_at_period_end,
    s.trial_start,
    s.trial_end,
    s.pause_collection,
    upper(s.currency) AS original_currency,
    coalesce(s.plan ->> '$.interval', i.interval) AS interval,
    coalesce(TRY_CAST(s.plan ->> '$.interval_count' AS INTEGER), i.interval_count) AS interval_count,
    coalesce(s.current_period_start, i.current_period_start) AS current_period_start,
    coalesce(s.current_period_end, i.current_period_end) AS current_period_end,
    coalesce(i.item_count, 0) AS item_count,
    coalesce(s._deleted, false) AS deleted
FROM {stripe}.subscription AS s
LEFT JOIN items AS i ON i.subscription_id = s.id;
