-- The store's indexes: built once at the end of a bulk load (by sorting, much faster than
-- maintaining them row by row), or at once for a store written object by object.
CREATE UNIQUE INDEX IF NOT EXISTS objects_by_id ON objects (id);
CREATE UNIQUE INDEX IF NOT EXISTS objects_by_seq ON objects (seq);
CREATE INDEX IF NOT EXISTS objects_by_list ON objects (account, kind, deleted, created, seq);
CREATE INDEX IF NOT EXISTS objects_by_parent ON objects (parent, kind, seq);
CREATE INDEX IF NOT EXISTS objects_by_customer ON objects (customer, kind, created, seq);
CREATE INDEX IF NOT EXISTS schedule_by_due ON schedule (due, key);
