-- After a complete listing of a full-refresh table (listed whole, without a creation-time
-- filter): its rows that Stripe no longer returned are deleted in Stripe. Rows written after
-- the listing started (by a concurrent webhook run) are left alone.
UPDATE {target}
SET _deleted = true, _synced_at = now()
WHERE NOT coalesce(_deleted, false)
  AND _synced_at < {run_started}
  AND id NOT IN (
      SELECT id FROM read_json('{seen}', format = 'newline_delimited', columns = {seen_columns})
  )
