-- Insert or replace one object. A new object takes the next `seq` (one more than the
-- largest, found through `objects_by_seq`), evaluated per row so that a batch numbers its new
-- objects in order; a replaced object keeps its `seq`, hence its position in lists.
INSERT INTO objects (seq, id, account, kind, created, parent, customer, status, deleted, body)
VALUES ((SELECT ifnull(max(seq), 0) + 1 FROM objects), ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    parent = excluded.parent, customer = excluded.customer,
    status = excluded.status, deleted = excluded.deleted, body = excluded.body
