-- Write the newest snapshot of every spooled object into a raw Stripe table.
-- As an upsert (with the ON CONFLICT clause below), a row is only replaced by a snapshot at
-- least as new (`_version`): webhooks and events arrive out of order, and a list fetched before
-- an event must not undo it. Without it, a plain append of objects not yet in the table (a first
-- sync), which costs a fraction of the upsert. Deletion stubs (`{id, object, deleted: true}`)
-- carry no fields and are applied by tombstones.sql instead.
INSERT INTO {target} ({columns})
SELECT {expressions}
FROM (
    SELECT o, p, pc, v, s, d, json_transform(o, '{structure}') AS x
    FROM ({rows}) AS spooled_rows
    WHERE NOT coalesce(t, false)
    {qualify}
) AS spooled
{on_conflict}
