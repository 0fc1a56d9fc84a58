-- The approval tables were created here until approvals/sqlite took over
-- its own schema (approvals/sqlite/migrations, recorded in table
-- approvals_schema_migrations). This version stays, doing nothing, so that
-- a database that applied the old version 5 and a new one agree on what
-- every recorded version means.
SELECT 1;
