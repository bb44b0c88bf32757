-- Schedules in the database, so any number of worker processes share them. One row per
-- connector a worker serves: `origin` says where it is defined (`file`: a `[[connectors]]`
-- entry, `stored`: a row of `connectors`, whose `updated_at` is copied into `version` so a
-- changed connector is due at once). `next_due_at` is when it should run next; a worker claims
-- a due row whose lease (the `leases` table) is free or expired. The failure streak and the
-- quarantine stay in `sync_state`.
CREATE TABLE schedules (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    connector TEXT NOT NULL,
    origin TEXT NOT NULL,
    version TIMESTAMP,
    next_due_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, connector)
);
CREATE INDEX schedules_next_due_at ON schedules (next_due_at);

-- Which process ran a run (`host:pid:suffix`, unique per process).
ALTER TABLE runs ADD COLUMN worker TEXT;
