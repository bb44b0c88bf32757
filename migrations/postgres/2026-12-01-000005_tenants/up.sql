-- Tenants: the customer organizations one idsync serves. Every row of the application tables
-- and of idsync's own belongs to one tenant (`tenant_id`); what was there before lands in
-- `default`. The DEFAULT stays, so an application that inserts its own users without naming a
-- tenant keeps working (they belong to `default`).
CREATE TABLE tenants (
    id TEXT PRIMARY KEY NOT NULL,
    display_name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
INSERT INTO tenants (id, display_name) VALUES ('default', 'default');

ALTER TABLE users ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id);
ALTER TABLE groups ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id);
ALTER TABLE runs ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id);
ALTER TABLE events ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id);
ALTER TABLE conflicts ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id);
ALTER TABLE scim_tokens ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id);
ALTER TABLE user_links ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id);
ALTER TABLE sync_state ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id);
ALTER TABLE leases ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id);
ALTER TABLE alert_state ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id);

-- Keys per tenant: two tenants may each have a connector `entra` and the same external ids.
ALTER TABLE user_links DROP CONSTRAINT user_links_pkey, ADD PRIMARY KEY (tenant_id, source, external_id);
ALTER TABLE sync_state DROP CONSTRAINT sync_state_pkey, ADD PRIMARY KEY (tenant_id, connector);
ALTER TABLE leases DROP CONSTRAINT leases_pkey, ADD PRIMARY KEY (tenant_id, connector);
ALTER TABLE alert_state DROP CONSTRAINT alert_state_pkey, ADD PRIMARY KEY (tenant_id, connector, condition);

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
