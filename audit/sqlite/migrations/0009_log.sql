-- The audit log (package auditlog): an append-only Merkle tree whose
-- leaves are the events as each commit wrote them and the recording
-- chunks, in the order they were committed. The writer appends the
-- leaves of a transaction as one batch, in that transaction, with a
-- signed head of the tree after it; a checkpointer keeps a signed
-- checkpoint now and then. `warden audit verify` recomputes it all.

-- The log's name (the origin line of its heads), made once; backfill is 1
-- until the events and chunks written before this version are logged.
CREATE TABLE log_origin (
    origin   TEXT    NOT NULL,
    backfill INTEGER NOT NULL
);
INSERT INTO log_origin (origin, backfill) SELECT 'warden-audit/' || lower(hex(randomblob(8))), 1;

CREATE TABLE log_batches (
    first  INTEGER NOT NULL PRIMARY KEY, -- index of the batch's first leaf; batches follow each other
    keys   TEXT    NOT NULL,             -- what each leaf is, one a line: an event ID, or recording ID/seq
    hashes BLOB    NOT NULL,             -- the leaves' hashes (tlog.RecordHash), 32 bytes each, in order
    head   TEXT    NOT NULL              -- the tree after the batch: a note (auditlog.Head), signed by the writer
);

CREATE TABLE log_checkpoints (
    size     INTEGER NOT NULL PRIMARY KEY, -- leaves in the tree
    time     TEXT    NOT NULL,             -- when it was made, UTC (TimeLayout)
    note     TEXT    NOT NULL,             -- the signed checkpoint (auditlog.Head)
    frontier BLOB    NOT NULL              -- the tree's compact range (auditlog.Frontier), to extend it from
);
