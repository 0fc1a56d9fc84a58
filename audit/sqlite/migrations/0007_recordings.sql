-- Session recordings (package recording: asciicast v2), in chunks of
-- whole lines: chunk 0 is the header, and the chunks of a recording
-- concatenated in seq order are a .cast file. id is the audit event ID of
-- the operation recorded (an exec, a shell); its event may be written
-- after the first chunks, so there is no foreign key. A chunk is never
-- updated: the store refuses a (id, seq) already there. Recordings arrive
-- masked; nothing here may ever hold a secret, as in events.
CREATE TABLE recording_chunks (
    id    TEXT    NOT NULL,
    seq   INTEGER NOT NULL CHECK (seq >= 0),
    size  INTEGER NOT NULL,   -- length(chunk), kept so that listing reads no chunk
    chunk BLOB    NOT NULL,
    PRIMARY KEY (id, seq)
);
