-- Statistics for SQLite's query planner, written by hand (https://sqlite.org/optoverview.html
-- and "Manual Control Of Query Plans Using SQLITE_STAT Tables" in
-- https://sqlite.org/queryplanner-ng.html). idsync never runs ANALYZE, and without statistics
-- the planner assumes that `tenant_id = ?` alone selects a handful of rows: it then scans a
-- whole tenant through a tenant-led index instead of using the index that names the row
-- (a SCIM `userName eq` filter read every user of the tenant). These rows describe a large
-- database shared by many tenants: a tenant is a large share of a table, and the columns
-- after `tenant_id` in an index name one row or a few. Each `stat` is the index's row count,
-- then the rows that match its first column, its first two, and so on.
ANALYZE tenants;
DELETE FROM sqlite_stat1;
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('users', 'sqlite_autoindex_users_1', '1000000 1'),
    ('users', 'users_upn_key_unique', '1000000 100000 1'),
    ('users', 'users_upn_key', '1000000 100000 1'),
    ('users', 'users_email_key', '1000000 100000 1'),
    ('users', 'users_source_external_id', '1000000 100000 50000 1'),
    ('users', 'users_external_id', '1000000 100000 1'),
    ('users', 'users_lower_display_name', '1000000 100000 2'),
    ('users', 'users_upn_key_missing', '10 1'),
    ('groups', 'sqlite_autoindex_groups_1', '100000 1'),
    ('groups', 'groups_source_external_id', '100000 10000 5000 1'),
    ('groups', 'groups_name_key', '100000 10000 1'),
    ('groups', 'groups_lower_display_name', '100000 10000 1'),
    ('groups', 'groups_name_key_missing', '10 1'),
    ('user_links', 'sqlite_autoindex_user_links_1', '1000000 100000 50000 1'),
    ('user_links', 'user_links_user_id', '1000000 1'),
    ('group_members', 'sqlite_autoindex_group_members_1', '5000000 100 1'),
    ('group_members', 'group_members_user_id', '5000000 5'),
    ('conflicts', 'conflicts_open', '1000 100 50 1 1'),
    ('runs', 'runs_connector_started', '100000 1000 500 1'),
    ('events', 'events_object', '10000000 5000000 10'),
    ('events', 'events_run', '10000000 1000'),
    ('changes', 'changes_tenant_seq', '10000000 1000000 1'),
    ('changes', 'changes_occurred_at', '10000000 10');
