-- How an events-only table stands against the change history it is built from: how many of
-- its events `stripe.event` holds and the newest one's time (together they change whenever
-- the history gains one), and how many objects' rows are older than their newest event (or
-- missing). $1: the objects' `object` (e.g. 'discount'); $2: the table's event types.
WITH history AS (
    SELECT object_id, created
    FROM {events}
    WHERE object_type = $1 AND list_contains($2, type) AND object_id IS NOT NULL
),
newest AS (
    SELECT object_id, max(created) AS created FROM history GROUP BY object_id
)
SELECT
    (SELECT count(*) FROM history) AS events,
    (SELECT coalesce(epoch(max(created))::BIGINT, 0) FROM history) AS newest,
    count(*) FILTER (WHERE t.id IS NULL OR t._version < n.created) AS behind
FROM newest AS n
LEFT JOIN {target} AS t ON t.id = n.object_id
