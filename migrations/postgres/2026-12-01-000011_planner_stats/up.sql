-- SQLite gets planner statistics here (see the SQLite migration); PostgreSQL gathers its own
-- (autovacuum's ANALYZE). The number stays aligned.
SELECT 1;
