-- The newest event of each object of an events-only table, from the change history: its
-- payload, when it happened (the row's `_version`) and whether it removed the object.
-- $1: the objects' `object` (e.g. 'discount'); $2: the table's event types.
-- Events of one second have no knowable order: a deletion goes last (nothing follows one),
-- then the greater event id. The webhook path (event_apply.py) breaks ties the same way.
SELECT
    (_raw -> '$.data.object')::VARCHAR AS payload,
    epoch(created) AS created,
    ends_with(type, '.deleted') AS deleted
FROM {events}
WHERE object_type = $1 AND list_contains($2, type) AND object_id IS NOT NULL
QUALIFY row_number() OVER (
    PARTITION BY object_id ORDER BY created DESC, ends_with(type, '.deleted') DESC, id DESC
) = 1
