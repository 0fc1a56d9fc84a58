-- Credential leases: every just-in-time credential Warden mints, until it
-- is revoked. Never a secret: principal is the role's name, not its password.
CREATE TABLE leases (
    id         TEXT    NOT NULL PRIMARY KEY,
    connection TEXT    NOT NULL,
    principal  TEXT    NOT NULL,            -- the database role minted
    identity   TEXT    NOT NULL DEFAULT '',
    session    TEXT    NOT NULL DEFAULT '',
    instance   TEXT    NOT NULL DEFAULT '', -- the Warden process that minted it
    grants     TEXT    NOT NULL DEFAULT '', -- a summary of what it holds
    created    TEXT    NOT NULL,
    expires    TEXT    NOT NULL,
    revoked_at TEXT    NOT NULL DEFAULT '',
    state      TEXT    NOT NULL,            -- active, revoked, failed
    attempts   INTEGER NOT NULL DEFAULT 0,  -- revocations tried
    last_error TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX leases_state ON leases (state, expires);

-- Warden processes sharing this store, so that one can tell whether the
-- process that minted a lease is still alive.
CREATE TABLE instances (
    id        TEXT    NOT NULL PRIMARY KEY,
    host      TEXT    NOT NULL,
    pid       INTEGER NOT NULL,
    boot      TEXT    NOT NULL DEFAULT '',  -- process start marker, against PID reuse
    started   TEXT    NOT NULL,
    heartbeat TEXT    NOT NULL
);
