-- The state file's tables: the event inbox, key-value settings, counters.
CREATE TABLE IF NOT EXISTS inbox_event (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,  -- cursor of the sensors, never reused
    event_id      TEXT NOT NULL UNIQUE,
    type          TEXT NOT NULL,
    created       INTEGER NOT NULL,                   -- event `created` (Unix seconds)
    api_version   TEXT,
    livemode      INTEGER NOT NULL,
    account       TEXT,
    object_id     TEXT,
    object_type   TEXT,                               -- data.object.object
    table_name    TEXT,                               -- synced table, NULL when not synced
    partition_key TEXT,                               -- YYYY-MM-01 of the object's created
    source        TEXT NOT NULL CHECK (source IN ('webhook', 'events_api')),
    received_at   REAL NOT NULL,                      -- Unix seconds
    payload       BLOB NOT NULL,                      -- the JSON bytes as received
    applied_at    REAL                                -- NULL until a run applied the event
);
CREATE INDEX IF NOT EXISTS inbox_event_pending
    ON inbox_event (table_name, partition_key, created, seq) WHERE applied_at IS NULL;
CREATE INDEX IF NOT EXISTS inbox_event_table_seq ON inbox_event (table_name, seq);
CREATE INDEX IF NOT EXISTS inbox_event_object ON inbox_event (object_id);
CREATE TABLE IF NOT EXISTS kv (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counter (
    name    TEXT PRIMARY KEY,
    value   INTEGER NOT NULL,
    last_at REAL                                      -- when it last went up
);
