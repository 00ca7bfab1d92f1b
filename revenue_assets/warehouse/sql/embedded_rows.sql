-- Child objects embedded in the parent pages of a spool file (an invoice's first 10 lines, a
-- subscription's first 10 items), with their parent's id and creation time.
SELECT
    unnest(from_json(parent -> '$.{field}', '{{"data": ["JSON"]}}').data) AS o,
    parent ->> '$.id' AS p,
    CAST(coalesce(parent ->> '$.created', parent ->> '$.date') AS BIGINT) AS pc,
    v, s, false AS d, false AS t
FROM (
    SELECT unnest(from_json(page, '{{"data": ["JSON"]}}').data) AS parent, v, s
    FROM read_json('{spool}', format = 'newline_delimited', columns = {spool_columns})
    WHERE page IS NOT NULL
) AS parents
