-- `customer_link`: each Stripe customer → person `distinct_id` and → group key.
-- Person, in order: the customer's metadata `posthog_person_distinct_id`; else the most
-- recently created subscription, charge or invoice of the customer carrying that metadata; else
-- the one person of the persons file with the customer's email (ignored when several share it).
-- Group: the metadata key `group_key` on the customer, else on the newest subscription, charge
-- or invoice. `link_source` / `group_link_source` say how each link was made;
-- `person_found` / `group_found` whether the persons / groups file knows it (NULL: no file).
-- The persons and groups files are loaded by the asset into the temporary tables
-- `persons(distinct_id, email)` and `groups_file(group_key, name)`.
CREATE OR REPLACE TABLE {revenue}.customer_link AS
WITH tagged AS (
    SELECT id AS customer_id, created, 0 AS rank, 'customer_metadata' AS source, metadata
    FROM {stripe}.customer
    WHERE metadata IS NOT NULL AND metadata::VARCHAR <> '{}'
    UNION ALL
    SELECT customer, created, 1, 'subscription_metadata', metadata
    FROM {stripe}.subscription
    WHERE metadata IS NOT NULL AND metadata::VARCHAR <> '{}' AND NOT coalesce(_deleted, false)
    UNION ALL
    SELECT customer, created, 1, 'charge_metadata', metadata
    FROM {stripe}.charge
    WHERE metadata IS NOT NULL AND metadata::VARCHAR <> '{}' AND NOT coalesce(_deleted, false)
    UNION ALL
    SELECT customer, created, 1, 'invoice_metadata', metadata
    FROM {stripe}.invoice
    WHERE metadata IS NOT NULL AND metadata::VARCHAR <> '{}' AND NOT coalesce(_deleted, false)
),
values AS (
    SELECT
        customer_id,
        created,
        rank,
        source,
        nullif(trim(json_extract_string(metadata, '$.posthog_person_distinct_id')), '') AS distinct_id,
        nullif(trim(json_extract_string(
            metadata, '$."' || replace(getvariable('group_key'), '"', '\"') || '"'
        )), '') AS group_key
    FROM tagged
    WHERE customer_id IS NOT NULL
),
person_by_metadata AS (
    SELECT customer_id, arg_min(distinct_id, (rank, -epoch(created), source)) AS distinct_id,
        arg_min(source, (rank, -epoch(created), source)) AS source
    FROM values
    WHERE distinct_id IS NOT NULL
    GROUP BY ALL
),
group_by_metadata AS (
    SELECT customer_id, arg_min(group_key, (rank, -epoch(created), source)) AS group_key,
        arg_min(source, (rank, -epoch(created), source)) AS source
    FROM values
    WHERE group_key IS NOT NULL
    GROUP BY ALL
),
unique_emails AS (
    SELECT lower(trim(email)) AS email, any_value(distinct_id) AS distinct_id
    FROM persons
    WHERE email IS NOT NULL AND trim(email) <> ''
    GROUP BY ALL
    HAVING count(DISTINCT distinct_id) = 1
),
links AS (
    SELECT
        c.id AS customer_id,
        c.email,
        coalesce(p.distinct_id, e.distinct_id) AS distinct_id,
        CASE WHEN p.distinct_id IS NOT NULL THEN p.source
             WHEN e.distinct_id IS NOT NULL THEN 'email' END AS link_source,
        g.group_key,
        g.source AS group_link_source
    FROM {stripe}.customer AS c
    LEFT JOIN person_by_metadata AS p ON p.customer_id = c.id
    LEFT JOIN unique_emails AS e ON e.email = lower(trim(c.email))
    LEFT JOIN group_by_metadata AS g ON g.customer_id = c.id
)
SELECT
    l.customer_id,
    getvariable('source_label') AS source_label,
    l.email,
    l.distinct_id,
    l.link_source,
    CASE WHEN getvariable('persons_loaded') AND l.distinct_id IS NOT NULL
        THEN l.distinct_id IN (SELECT distinct_id FROM persons) END AS person_found,
    l.group_key,
    l.group_link_source,
    CASE WHEN getvariable('groups_loaded') AND l.group_key IS NOT NULL
        THEN l.group_key IN (SELECT group_key FROM groups_file) END AS group_found
FROM links AS l;
