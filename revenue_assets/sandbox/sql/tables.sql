-- The sandbox's object store. {db} is the schema prefix: empty, or `ordered.` for the
-- attached file a generated store is copied into in list order.
--
-- Rows sit in `objects` in rowid order, which is not their list order: `seq` (insertion
-- order, the tie-break of lists and the order of child lists) is a column of its own, so a
-- generated store can be laid out in list order while every object keeps its `seq`.
CREATE TABLE IF NOT EXISTS {db}objects (
    seq      INTEGER NOT NULL,
    id       TEXT NOT NULL,
    account  TEXT NOT NULL,
    kind     TEXT NOT NULL,
    created  INTEGER NOT NULL,
    parent   TEXT,
    customer TEXT,
    status   TEXT,
    deleted  INTEGER NOT NULL DEFAULT 0,
    body     BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS {db}meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS {db}schedule (
    key TEXT PRIMARY KEY, account TEXT NOT NULL, due INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS {db}persons (
    distinct_id TEXT PRIMARY KEY, email TEXT, name TEXT, group_key TEXT, account TEXT
);
