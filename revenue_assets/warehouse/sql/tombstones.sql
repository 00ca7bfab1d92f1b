-- Apply deletion stubs (a retrieve of a deleted object answers only `{id, object, deleted}`):
-- keep the row's last known fields and mark it deleted, unless a newer snapshot exists.
UPDATE {target}
SET _deleted = true, _version = to_timestamp(stub.v), _source = stub.s, _synced_at = now()
FROM (
    SELECT o ->> '$.id' AS id, max(v) AS v, any_value(s) AS s
    FROM read_json('{spool}', format = 'newline_delimited', columns = {spool_columns})
    WHERE coalesce(t, false)
    GROUP BY 1
) AS stub
WHERE {target}.id = stub.id AND {target}._version <= to_timestamp(stub.v)
