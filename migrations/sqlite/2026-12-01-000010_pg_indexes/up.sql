-- PostgreSQL's storage of the cursor changes here (see the PostgreSQL migration); SQLite keeps
-- a value as it is written, so it has nothing to change. The number stays aligned.
SELECT 1;
