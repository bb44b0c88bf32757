-- Tenants: the customer organizations one idsync serves. Every row of the application tables
-- and of idsync's own belongs to one tenant (`tenant_id`); what was there before lands in
-- `default`. The DEFAULT stays, so an application that inserts its own users without naming a
-- tenant keeps working (they belong to `default`).
--
-- SQLite cannot add a column with a REFERENCES clause and a non-NULL default while foreign
-- keys are enforced, nor change a primary key: the store turns enforcement off around its
-- migrations (src/store/db.rs), and the tables whose key changes are rebuilt here.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY NOT NULL,
    display_name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
INSERT INTO tenants (id, display_name) VALUES ('default', 'default');

ALTER TABLE users ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id);
ALTER TABLE groups ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id);
ALTER TABLE runs ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id);
ALTER TABLE events ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id);
ALTER TABLE conflicts ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id);
ALTER TABLE scim_tokens ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id);

-- A sign-in name belongs to one person at a time within a tenant; loads filter by tenant first.
DROP INDEX users_upn_key_unique;
DROP INDEX users_upn_key;
DROP INDEX users_email_key;
DROP INDEX users_source_external_id;
DROP INDEX users_external_id;
DROP INDEX users_lower_display_name;
CREATE UNIQUE INDEX users_upn_key_unique ON users (tenant_id, upn_key) WHERE archived_at IS NULL;
CREATE INDEX users_upn_key ON users (tenant_id, upn_key);
CREATE INDEX users_email_key ON users (tenant_id, email_key);
CREATE INDEX users_source_external_id ON users (tenant_id, source, external_id);
CREATE INDEX users_external_id ON users (tenant_id, external_id);
CREATE INDEX users_lower_display_name ON users (tenant_id, lower(display_name));
-- The rows whose comparison keys are still to be filled (src/store/keys.rs looks for them
-- before every targeted load; the key indexes above lead with the tenant and cannot serve it).
CREATE INDEX users_upn_key_missing ON users (id) WHERE upn_key IS NULL;

DROP INDEX groups_source_external_id;
DROP INDEX groups_name_key;
DROP INDEX groups_lower_display_name;
CREATE UNIQUE INDEX groups_source_external_id ON groups (tenant_id, source, external_id) WHERE source IS NOT NULL;
CREATE INDEX groups_name_key ON groups (tenant_id, name_key);
CREATE INDEX groups_lower_display_name ON groups (tenant_id, lower(display_name));
CREATE INDEX groups_name_key_missing ON groups (id) WHERE name_key IS NULL;

DROP INDEX runs_connector_started;
CREATE INDEX runs_connector_started ON runs (tenant_id, connector, started_at);
DROP INDEX conflicts_open;
CREATE UNIQUE INDEX conflicts_open ON conflicts (tenant_id, connector, external_id, reason) WHERE status = 'open';
-- One SCIM token per tenant; a request's token is looked up by its digest.
CREATE UNIQUE INDEX scim_tokens_tenant ON scim_tokens (tenant_id);
CREATE INDEX scim_tokens_digest ON scim_tokens (token_sha256);

CREATE TABLE user_links_new (
    tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id),
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    linked_at TIMESTAMP NOT NULL,
    removed_at TIMESTAMP,
    PRIMARY KEY (tenant_id, source, external_id)
);
INSERT INTO user_links_new (tenant_id, source, external_id, user_id, linked_at, removed_at)
    SELECT 'default', source, external_id, user_id, linked_at, removed_at FROM user_links;
DROP TABLE user_links;
ALTER TABLE user_links_new RENAME TO user_links;
CREATE INDEX user_links_user_id ON user_links (user_id);

CREATE TABLE sync_state_new (
    tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id),
    connector TEXT NOT NULL,
    cursor TEXT,
    last_success_at TIMESTAMP,
    last_full_sync_at TIMESTAMP,
    guard_approved BOOLEAN NOT NULL DEFAULT 0,
    updated_at TIMESTAMP NOT NULL,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    quarantine_level BIGINT NOT NULL DEFAULT 0,
    quarantined_until TIMESTAMP,
    last_error TEXT,
    PRIMARY KEY (tenant_id, connector)
);
INSERT INTO sync_state_new (tenant_id, connector, cursor, last_success_at, last_full_sync_at,
        guard_approved, updated_at, consecutive_failures, quarantine_level, quarantined_until, last_error)
    SELECT 'default', connector, cursor, last_success_at, last_full_sync_at, guard_approved,
        updated_at, consecutive_failures, quarantine_level, quarantined_until, last_error
    FROM sync_state;
DROP TABLE sync_state;
ALTER TABLE sync_state_new RENAME TO sync_state;

CREATE TABLE leases_new (
    tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id),
    connector TEXT NOT NULL,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, connector)
);
INSERT INTO leases_new (tenant_id, connector, holder, expires_at)
    SELECT 'default', connector, holder, expires_at FROM leases;
DROP TABLE leases;
ALTER TABLE leases_new RENAME TO leases;

CREATE TABLE alert_state_new (
    tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id),
    connector TEXT NOT NULL,
    condition TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    detail TEXT NOT NULL,
    raised_at TIMESTAMP NOT NULL,
    last_sent_at TIMESTAMP,
    PRIMARY KEY (tenant_id, connector, condition)
);
INSERT INTO alert_state_new (tenant_id, connector, condition, active, detail, raised_at, last_sent_at)
    SELECT 'default', connector, condition, active, detail, raised_at, last_sent_at FROM alert_state;
DROP TABLE alert_state;
ALTER TABLE alert_state_new RENAME TO alert_state;
