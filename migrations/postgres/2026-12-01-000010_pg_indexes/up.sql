-- A connector's cursor can be tens of megabytes (Entra keeps its group graph in it), written
-- on every successful run. PostgreSQL compresses such a value with pglz by default, which
-- cost over a second per write of 20 MB here; lz4 (PostgreSQL 14+, when built with it) takes
-- a tenth of that, and where it is missing the value is stored out of line uncompressed.
-- https://www.postgresql.org/docs/15/sql-altertable.html (SET COMPRESSION, SET STORAGE)
DO $$
BEGIN
    ALTER TABLE sync_state ALTER COLUMN cursor SET COMPRESSION lz4;
EXCEPTION WHEN OTHERS THEN
    ALTER TABLE sync_state ALTER COLUMN cursor SET STORAGE EXTERNAL;
END
$$;
