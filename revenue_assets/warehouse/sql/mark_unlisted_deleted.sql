-- After a complete re-list of some partitions: rows of those partitions that Stripe no longer
-- returned are deleted in Stripe (deleted customers, products, prices and coupons vanish from
-- lists). Rows written after the listing started (by a concurrent webhook run) are left alone.
UPDATE {target}
SET _deleted = true, _synced_at = now()
WHERE NOT coalesce(_deleted, false)
  AND _synced_at < {run_started}
  AND EXISTS (
      SELECT 1 FROM (VALUES {windows}) AS w(window_start, window_end)
      WHERE {target}.{created_column} >= w.window_start
        AND {target}.{created_column} < w.window_end
  )
  AND id NOT IN (
      SELECT id FROM read_json('{seen}', format = 'newline_delimited', columns = {seen_columns})
  )
