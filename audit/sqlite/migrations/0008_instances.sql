-- The Warden process that wrote each event: <host>.<pid>.<start>, as its
-- intent journal is named ('' for events of earlier versions). A Warden
-- that opens the store closes the running events of processes that are
-- gone as 'interrupted' (their outcome is unknown); the partial index
-- finds them without reading the table. Events in runs are complete and
-- need no instance.
ALTER TABLE events ADD COLUMN instance TEXT NOT NULL DEFAULT '';
CREATE INDEX events_running ON events (instance) WHERE status = 'running';
