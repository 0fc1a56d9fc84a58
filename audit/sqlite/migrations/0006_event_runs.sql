-- Runs of events: events of one session, complete (intent and outcome),
-- that the writer committed in the same transaction, kept as one row: the
-- columns they share once, and the rest of each event in body. A proxy
-- session's statements arrive by the thousand a second; one row for each
-- cost more than everything else the proxy does for a statement. Readers
-- (Get, List) see the events of both tables alike. Nothing here may ever
-- hold a secret, as in events.
CREATE TABLE event_runs (
    first_id    TEXT    NOT NULL PRIMARY KEY,  -- no higher than any ID in body (its lowest, until one moves out)
    last_id     TEXT    NOT NULL,              -- no lower than any; within maxRunSpan of first_id
    statuses    INTEGER NOT NULL,              -- the statuses in body, one bit each (statusBit)
    session     TEXT    NOT NULL DEFAULT '',
    transport   TEXT    NOT NULL DEFAULT '',
    identity    TEXT    NOT NULL DEFAULT '',
    groups_json TEXT    NOT NULL DEFAULT '[]',
    issuer      TEXT    NOT NULL DEFAULT '',
    tool        TEXT    NOT NULL DEFAULT '',
    connection  TEXT    NOT NULL DEFAULT '',
    credential  TEXT    NOT NULL DEFAULT '',
    approval    TEXT    NOT NULL DEFAULT '',
    token_id    TEXT    NOT NULL DEFAULT '',
    -- JSON array, one array per event, in ID order:
    -- [id, time, arguments, statement, decision, rule, reason, status,
    --  duration_us, row_count, truncated, masked, error]
    -- arguments is a JSON string holding the arguments' JSON text byte for
    -- byte (or null); masked is a JSON object (or null).
    body        TEXT    NOT NULL
);

-- List reads runs newest last_id first, and stops at the first run that
-- ends before the events it already has.
CREATE INDEX event_runs_last       ON event_runs (last_id);
CREATE INDEX event_runs_identity   ON event_runs (identity, last_id);
CREATE INDEX event_runs_connection ON event_runs (connection, last_id);
CREATE INDEX event_runs_session    ON event_runs (session, last_id);
