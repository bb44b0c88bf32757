-- Connectors stored in the database (the admin API's), beside the configuration file's. A
-- connector's name is unique within its tenant. `settings` is the JSON of a `[[connectors]]`
-- entry without `name`, each inline secret replaced by its encrypted envelope
-- (`{"encrypted": "v1:<key id>:..."}`); `key_id` names the key those envelopes are sealed
-- with (NULL: the settings carry no inline secret), so a key rotation finds what it must
-- re-encrypt. `updated_at` tells a running daemon that a connector changed. A tenant's
-- removal (with its data) removes its stored connectors.
CREATE TABLE connectors (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    settings TEXT NOT NULL,
    key_id TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
