-- Child objects embedded in the parent pages of a spool file (an invoice's first 10 lines, a
-- subscription's first 10 items), with their parent's id and creation time. Only complete
-- embedded lists: when `has_more` is set, the listing pages the child endpoint from the first
-- child, so those children arrive in the child's own spool file and are never counted twice.
SELECT unnest(parent.{field}.data) AS o, parent.id AS p, parent.{created} AS pc, v, s, false AS d, false AS t
FROM (
    SELECT unnest(page.data) AS parent, v, s
    FROM read_json(
        '{spool}', format = 'newline_delimited',
        columns = {page: 'STRUCT(data STRUCT(id VARCHAR, {created} BIGINT, {field} STRUCT(data JSON[], has_more BOOLEAN))[])', v: 'DOUBLE', s: 'VARCHAR'}
    )
    WHERE page IS NOT NULL
) AS parents
WHERE NOT coalesce(parent.{field}.has_more, false)
