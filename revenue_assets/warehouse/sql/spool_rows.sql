-- The objects of a spool file: single-object lines as they are, list pages unnested. The page
-- is read as a typed struct, so DuckDB parses it once while reading the line.
SELECT
    unnest(CASE WHEN page IS NULL THEN [o] ELSE page.data END) AS o,
    p, pc, v, s, d, t
FROM read_json('{spool}', format = 'newline_delimited', columns = {spool_columns})
