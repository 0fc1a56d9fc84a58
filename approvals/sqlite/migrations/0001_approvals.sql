-- Approval requests: calls held by a review rule until people decide
-- (package approvals). Until approvals/sqlite owned its schema these
-- tables were audit's migration 5, so a database made then has them
-- already: IF NOT EXISTS keeps them as they are. A request is bound to
-- the digest of exactly what will run; it is executed at most once. Never
-- a secret: arguments are the tool arguments as the agent sent them.
CREATE TABLE IF NOT EXISTS approvals (
    id                  TEXT    NOT NULL PRIMARY KEY,
    digest              TEXT    NOT NULL,            -- hex SHA-256 (approvals.Digest)
    state               TEXT    NOT NULL,            -- pending, approved, denied, expired, executed, failed
    subject             TEXT    NOT NULL,            -- the requester
    issuer              TEXT    NOT NULL DEFAULT '',
    groups_json         TEXT    NOT NULL DEFAULT '[]',
    session             TEXT    NOT NULL DEFAULT '',
    transport           TEXT    NOT NULL DEFAULT '',
    connection          TEXT    NOT NULL,
    tool                TEXT    NOT NULL,
    arguments           TEXT    NOT NULL,            -- JSON, byte for byte as received
    statement           TEXT    NOT NULL DEFAULT '',
    justification       TEXT    NOT NULL DEFAULT '',
    rule                TEXT    NOT NULL DEFAULT '',
    reason              TEXT    NOT NULL DEFAULT '',
    policy_version      TEXT    NOT NULL DEFAULT '',
    kinds_json          TEXT    NOT NULL DEFAULT '[]',
    tables_read_json    TEXT    NOT NULL DEFAULT '[]',
    tables_written_json TEXT    NOT NULL DEFAULT '[]',
    approver_groups_json TEXT   NOT NULL DEFAULT '[]',
    quorum              INTEGER NOT NULL DEFAULT 1,
    created             TEXT    NOT NULL,
    expires             TEXT    NOT NULL,
    decided             TEXT    NOT NULL DEFAULT '',
    executed            TEXT    NOT NULL DEFAULT '',
    audit_id            TEXT    NOT NULL DEFAULT '',  -- the event of the execution
    error               TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS approvals_digest ON approvals (digest, created);
CREATE INDEX IF NOT EXISTS approvals_state  ON approvals (state, expires);
CREATE INDEX IF NOT EXISTS approvals_created ON approvals (created);

-- Every verdict, one per approver and request.
CREATE TABLE IF NOT EXISTS approval_decisions (
    approval    TEXT NOT NULL REFERENCES approvals (id),
    approver    TEXT NOT NULL,
    issuer      TEXT NOT NULL DEFAULT '',
    groups_json TEXT NOT NULL DEFAULT '[]',
    verdict     TEXT NOT NULL,                       -- approve, deny
    comment     TEXT NOT NULL DEFAULT '',
    time        TEXT NOT NULL,
    via         TEXT NOT NULL DEFAULT '',            -- api, web
    PRIMARY KEY (approval, approver)
);

-- Browser sessions of the approval pages. Only a hash of the cookie is
-- kept, so the table cannot be used to sign in.
CREATE TABLE IF NOT EXISTS approval_sessions (
    id_hash     TEXT NOT NULL PRIMARY KEY,
    subject     TEXT NOT NULL,
    issuer      TEXT NOT NULL DEFAULT '',
    groups_json TEXT NOT NULL DEFAULT '[]',
    csrf        TEXT NOT NULL,
    created     TEXT NOT NULL,
    expires     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS approval_sessions_expires ON approval_sessions (expires);
