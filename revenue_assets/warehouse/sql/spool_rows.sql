-- The objects of a spool file: single-object lines as they are, list pages unnested.
SELECT
    unnest(CASE WHEN page IS NULL THEN [o] ELSE from_json(page, '{{"data": ["JSON"]}}').data END) AS o,
    p, pc, v, s, d, t
FROM read_json('{spool}', format = 'newline_delimited', columns = {spool_columns})
