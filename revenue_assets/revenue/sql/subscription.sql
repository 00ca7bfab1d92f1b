-- Managed view `subscription`: one row per subscription (all statuses). Plan and product come
-- from the first item in the current API (prices live on subscription items) and from
-- `subscription.plan` in older payloads; so do the current period's bounds.
-- What the subscription's open schedule (not_started or active) books next: the phase after the
-- current one (the one whose start is the schedule's `current_phase`, else the last one started
-- by the evaluation time) is a downgrade, an upgrade or a price change by its licensed items'
-- price × quantity per month against the current phase's; past the last phase, a schedule
-- ending in `cancel` books the cancellation at its end. A next phase billing the same prices
-- books nothing (NULL), nor does a schedule that just releases.
CREATE OR REPLACE TEMP TABLE open_schedule AS
SELECT subscription AS subscription_id, arg_max(id, created) AS schedule_id
FROM {stripe}.subscription_schedule
WHERE status IN ('not_started', 'active') AND subscription IS NOT NULL
    AND NOT coalesce(_deleted, false)
GROUP BY subscription;

CREATE OR REPLACE TEMP TABLE schedule_phase AS
WITH phases AS (
    SELECT
        s.id AS schedule_id,
        n,
        s.phases -> ('$[' || n || ']') AS phase,
        s.current_phase ->> '$.start_date' AS current_start
    FROM {stripe}.subscription_schedule AS s
    JOIN open_schedule AS o ON o.schedule_id = s.id
    CROSS JOIN LATERAL (SELECT unnest(range(json_array_length(s.phases)::BIGINT)) AS n)
),
items AS (
    SELECT
        ph.schedule_id,
        ph.n,
        ph.phase -> ('$.items[' || m || ']') AS item
    FROM phases AS ph
    CROSS JOIN LATERAL (SELECT unnest(range(json_array_length(ph.phase -> '$.items')::BIGINT)) AS m)
),
amounts AS (
    SELECT
        i.schedule_id,
        i.n,
        list_sort(list(ref_id(i.item, '$.price') || 'x' || coalesce(i.item ->> '$.quantity', '1')))
            AS prices,
        sum(
            div_round(
                CAST(p.unit_amount AS HUGEINT) * 1000000
                    * coalesce(TRY_CAST(i.item ->> '$.quantity' AS BIGINT), 1)
                    * per_month_num(json_extract_string(p.recurring, '$.interval')),
                per_month_den(
                    json_extract_string(p.recurring, '$.interval'),
                    TRY_CAST(json_extract_string(p.recurring, '$.interval_count') AS INTEGER)
                )
            )
        ) AS monthly_micros
    FROM items AS i
    LEFT JOIN {stripe}.price AS p ON p.id = ref_id(i.item, '$.price')
    WHERE coalesce(json_extract_string(p.recurring, '$.usage_type'), 'licensed') = 'licensed'
    GROUP BY ALL
)
SELECT
    ph.schedule_id,
    ph.n,
    to_timestamp(CAST(ph.phase ->> '$.start_date' AS BIGINT)) AS start_date,
    to_timestamp(CAST(ph.phase ->> '$.end_date' AS BIGINT)) AS end_date,
    ph.phase ->> '$.start_date' = ph.current_start AS is_current,
    a.prices,
    a.monthly_micros
FROM phases AS ph
LEFT JOIN amounts AS a ON a.schedule_id = ph.schedule_id AND a.n = ph.n;

CREATE OR REPLACE TEMP TABLE scheduled_change AS
WITH current AS (
    SELECT schedule_id, arg_max(n, (is_current IS TRUE, n)) AS n
    FROM schedule_phase
    WHERE is_current OR start_date <= getvariable('as_of')::TIMESTAMPTZ
    GROUP BY schedule_id
),
next AS (
    SELECT o.schedule_id, coalesce(c.n, -1) AS current_n, min(ph.n) AS next_n
    FROM open_schedule AS o
    LEFT JOIN current AS c ON c.schedule_id = o.schedule_id
    LEFT JOIN schedule_phase AS ph ON ph.schedule_id = o.schedule_id AND ph.n > coalesce(c.n, -1)
    GROUP BY ALL
)
SELECT
    o.subscription_id,
    o.schedule_id,
    CASE
        WHEN nx.next_n IS NULL THEN CASE WHEN s.end_behavior = 'cancel' THEN 'cancel' END
        WHEN cur.n IS NULL THEN 'price_change'
        WHEN nph.monthly_micros < cur.monthly_micros THEN 'downgrade'
        WHEN nph.monthly_micros > cur.monthly_micros THEN 'upgrade'
        WHEN nph.prices IS DISTINCT FROM cur.prices THEN 'price_change'
    END AS scheduled_change,
    CASE
        WHEN nx.next_n IS NULL THEN CASE WHEN s.end_behavior = 'cancel' THEN last.end_date END
        WHEN cur.n IS NULL
            OR nph.monthly_micros IS DISTINCT FROM cur.monthly_micros
            OR nph.prices IS DISTINCT FROM cur.prices
            THEN nph.start_date
    END AS scheduled_change_at
FROM open_schedule AS o
JOIN {stripe}.subscription_schedule AS s ON s.id = o.schedule_id
JOIN next AS nx ON nx.schedule_id = o.schedule_id
LEFT JOIN schedule_phase AS cur ON cur.schedule_id = o.schedule_id AND cur.n = nx.current_n
LEFT JOIN schedule_phase AS nph ON nph.schedule_id = o.schedule_id AND nph.n = nx.next_n
LEFT JOIN (
    SELECT schedule_id, arg_max(end_date, n) AS end_date FROM schedule_phase GROUP BY ALL
) AS last ON last.schedule_id = o.schedule_id;

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
    coalesce(s._deleted, false) AS deleted,
    sc.schedule_id,
    sc.scheduled_change,
    sc.scheduled_change_at
FROM {stripe}.subscription AS s
LEFT JOIN items AS i ON i.subscription_id = s.id
LEFT JOIN scheduled_change AS sc ON sc.subscription_id = s.id;
