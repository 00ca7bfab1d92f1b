-- After a complete re-list: child rows (invoice lines, subscription items, credit note lines)
-- of re-listed parents that are no longer among the parent's children are gone in Stripe.
UPDATE {target}
SET _deleted = true, _synced_at = now()
WHERE NOT coalesce(_deleted, false)
  AND _synced_at < {run_started}
  AND {parent_column} IN (
      SELECT id FROM read_json('{parents_seen}', format = 'newline_delimited', columns = {seen_columns})
      WHERE EXISTS (
          SELECT 1 FROM (VALUES {windows}) AS w(window_start, window_end)
          WHERE to_timestamp(c) >= w.window_start AND to_timestamp(c) < w.window_end
      )
  )
  AND NOT EXISTS (
      SELECT 1 FROM read_json('{seen}', format = 'newline_delimited', columns = {seen_columns}) AS seen
      WHERE seen.p = {target}.{parent_column} AND seen.id = {target}.id
  )
