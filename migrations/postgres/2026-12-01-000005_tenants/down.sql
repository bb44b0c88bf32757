-- Back to one organization: only the `default` tenant's rows can be kept.
DELETE FROM users WHERE tenant_id <> 'default';
DELETE FROM groups WHERE tenant_id <> 'default';
DELETE FROM runs WHERE tenant_id <> 'default';
DELETE FROM events WHERE tenant_id <> 'default';
DELETE FROM conflicts WHERE tenant_id <> 'default';
DELETE FROM scim_tokens WHERE tenant_id <> 'default';
DELETE FROM user_links WHERE tenant_id <> 'default';
DELETE FROM sync_state WHERE tenant_id <> 'default';
DELETE FROM leases WHERE tenant_id <> 'default';
DELETE FROM alert_state WHERE tenant_id <> 'default';

DROP INDEX scim_tokens_digest;
DROP INDEX scim_tokens_tenant;
DROP INDEX conflicts_open;
CREATE UNIQUE INDEX conflicts_open ON conflicts (connector, external_id, reason) WHERE status = 'open';
DROP INDEX runs_connector_started;
CREATE INDEX runs_connector_started ON runs (connector, started_at);

DROP INDEX groups_name_key_missing;
DROP INDEX groups_lower_display_name;
DROP INDEX groups_name_key;
DROP INDEX groups_source_external_id;
CREATE UNIQUE INDEX groups_source_external_id ON groups (source, external_id) WHERE source IS NOT NULL;
CREATE INDEX groups_name_key ON groups (name_key);
CREATE INDEX groups_lower_display_name ON groups (lower(display_name));

DROP INDEX users_upn_key_missing;
DROP INDEX users_lower_display_name;
DROP INDEX users_external_id;
DROP INDEX users_source_external_id;
DROP INDEX users_email_key;
DROP INDEX users_upn_key;
DROP INDEX users_upn_key_unique;
CREATE UNIQUE INDEX users_upn_key_unique ON users (upn_key) WHERE archived_at IS NULL;
CREATE INDEX users_upn_key ON users (upn_key);
CREATE INDEX users_email_key ON users (email_key);
CREATE INDEX users_source_external_id ON users (source, external_id);
CREATE INDEX users_external_id ON users (external_id);
CREATE INDEX users_lower_display_name ON users (lower(display_name));

ALTER TABLE alert_state DROP CONSTRAINT alert_state_pkey, ADD PRIMARY KEY (connector, condition);
ALTER TABLE leases DROP CONSTRAINT leases_pkey, ADD PRIMARY KEY (connector);
ALTER TABLE sync_state DROP CONSTRAINT sync_state_pkey, ADD PRIMARY KEY (connector);
ALTER TABLE user_links DROP CONSTRAINT user_links_pkey, ADD PRIMARY KEY (source, external_id);

ALTER TABLE alert_state DROP COLUMN tenant_id;
ALTER TABLE leases DROP COLUMN tenant_id;
ALTER TABLE sync_state DROP COLUMN tenant_id;
ALTER TABLE user_links DROP COLUMN tenant_id;
ALTER TABLE scim_tokens DROP COLUMN tenant_id;
ALTER TABLE conflicts DROP COLUMN tenant_id;
ALTER TABLE events DROP COLUMN tenant_id;
ALTER TABLE runs DROP COLUMN tenant_id;
ALTER TABLE groups DROP COLUMN tenant_id;
ALTER TABLE users DROP COLUMN tenant_id;
DROP TABLE tenants;
