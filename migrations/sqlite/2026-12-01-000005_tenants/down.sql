-- Back to one organization: only the `default` tenant's rows can be kept.
DELETE FROM users WHERE tenant_id <> 'default';
DELETE FROM groups WHERE tenant_id <> 'default';
DELETE FROM runs WHERE tenant_id <> 'default';
DELETE FROM events WHERE tenant_id <> 'default';
DELETE FROM conflicts WHERE tenant_id <> 'default';
DELETE FROM scim_tokens WHERE tenant_id <> 'default';

CREATE TABLE alert_state_old (
    connector TEXT NOT NULL,
    condition TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    detail TEXT NOT NULL,
    raised_at TIMESTAMP NOT NULL,
    last_sent_at TIMESTAMP,
    PRIMARY KEY (connector, condition)
);
INSERT INTO alert_state_old SELECT connector, condition, active, detail, raised_at, last_sent_at
    FROM alert_state WHERE tenant_id = 'default';
DROP TABLE alert_state;
ALTER TABLE alert_state_old RENAME TO alert_state;

CREATE TABLE leases_old (
    connector TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
INSERT INTO leases_old SELECT connector, holder, expires_at FROM leases WHERE tenant_id = 'default';
DROP TABLE leases;
ALTER TABLE leases_old RENAME TO leases;

CREATE TABLE sync_state_old (
    connector TEXT PRIMARY KEY NOT NULL,
    cursor TEXT,
    last_success_at TIMESTAMP,
    last_full_sync_at TIMESTAMP,
    guard_approved BOOLEAN NOT NULL DEFAULT 0,
    updated_at TIMESTAMP NOT NULL,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    quarantine_level BIGINT NOT NULL DEFAULT 0,
    quarantined_until TIMESTAMP,
    last_error TEXT
);
INSERT INTO sync_state_old SELECT connector, cursor, last_success_at, last_full_sync_at,
        guard_approved, updated_at, consecutive_failures, quarantine_level, quarantined_until, last_error
    FROM sync_state WHERE tenant_id = 'default';
DROP TABLE sync_state;
ALTER TABLE sync_state_old RENAME TO sync_state;

CREATE TABLE user_links_old (
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    linked_at TIMESTAMP NOT NULL,
    removed_at TIMESTAMP,
    PRIMARY KEY (source, external_id)
);
INSERT INTO user_links_old SELECT source, external_id, user_id, linked_at, removed_at
    FROM user_links WHERE tenant_id = 'default';
DROP TABLE user_links;
ALTER TABLE user_links_old RENAME TO user_links;
CREATE INDEX user_links_user_id ON user_links (user_id);

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

ALTER TABLE scim_tokens DROP COLUMN tenant_id;
ALTER TABLE conflicts DROP COLUMN tenant_id;
ALTER TABLE events DROP COLUMN tenant_id;
ALTER TABLE runs DROP COLUMN tenant_id;
ALTER TABLE groups DROP COLUMN tenant_id;
ALTER TABLE users DROP COLUMN tenant_id;
DROP TABLE tenants;
