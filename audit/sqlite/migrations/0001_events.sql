-- Audit events: one row per governed operation. Begin inserts the intent
-- (status 'running') before the operation runs; Finish fills in the outcome.
-- Nothing in this table may ever hold a secret.
CREATE TABLE events (
    id          TEXT    NOT NULL PRIMARY KEY,  -- 26-char ULID-style, sorts by time
    time        TEXT    NOT NULL,              -- start, UTC, fixed-width RFC 3339 with nanoseconds
    session     TEXT    NOT NULL DEFAULT '',
    transport   TEXT    NOT NULL DEFAULT '',   -- stdio, http, proxy
    identity    TEXT    NOT NULL DEFAULT '',
    groups_json TEXT    NOT NULL DEFAULT '[]', -- JSON array of group names
    issuer      TEXT    NOT NULL DEFAULT '',
    tool        TEXT    NOT NULL DEFAULT '',
    connection  TEXT    NOT NULL DEFAULT '',
    arguments   TEXT,                          -- JSON, secret-free, stored byte for byte
    statement   TEXT    NOT NULL DEFAULT '',   -- the SQL or command
    decision    TEXT    NOT NULL DEFAULT '',   -- allow, deny, review
    rule        TEXT    NOT NULL DEFAULT '',
    reason      TEXT    NOT NULL DEFAULT '',
    status      TEXT    NOT NULL,              -- running, ok, denied, failed, error
    duration_us INTEGER NOT NULL DEFAULT 0,
    row_count   INTEGER NOT NULL DEFAULT 0,
    truncated   INTEGER NOT NULL DEFAULT 0,    -- 0 or 1
    masked_json TEXT,                          -- JSON object: entity kind or column -> count
    credential  TEXT    NOT NULL DEFAULT '',   -- "static" or a lease id, never a secret
    error       TEXT    NOT NULL DEFAULT '',
    approval    TEXT    NOT NULL DEFAULT ''
);

-- List returns newest first by id; the filtered indexes end in id so that a
-- filtered page is read in order straight from the index.
CREATE INDEX events_time       ON events (time);
CREATE INDEX events_identity   ON events (identity, id);
CREATE INDEX events_connection ON events (connection, id);
CREATE INDEX events_session    ON events (session, id);
