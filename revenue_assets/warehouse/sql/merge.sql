-- Upsert the newest snapshot of every spooled object into a raw Stripe table.
-- A row is only replaced by a snapshot at least as new (`_version`): webhooks and events arrive
-- out of order, and a list fetched before an event must not undo it. Deletion stubs
-- (`{{id, object, deleted: true}}`) carry no fields and are applied by tombstones.sql instead.
-- ON CONFLICT probes the primary key's index per row; a MERGE join (no index) measured 20-50%
-- more CPU per row, growing with the table.
INSERT INTO {target} ({columns})
SELECT {expressions}
FROM (
    SELECT o, p, pc, v, s, d, json_transform(o, '{structure}') AS x
    FROM ({rows}) AS spooled_rows
    WHERE NOT coalesce(t, false)
    {qualify}
) AS spooled
ON CONFLICT ({key_columns}) DO UPDATE SET {assignments}
WHERE excluded._version >= {target}._version
