-- The change feed (a transactional outbox): one row per change a plan applied, written in the
-- apply's transaction. `seq` is taken from `change_counter` at the end of that transaction, so
-- changes commit in `seq` order and a reader that follows `seq` never skips one (see
-- `src/store/apply/changes.rs`). `changed_fields` is a JSON array of names; `data` is the JSON
-- of the object after the change (and, for memberships, the group and the user). A change
-- outlives the object it names; a tenant's removal removes its changes.
CREATE TABLE changes (
    seq BIGINT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    change_type TEXT NOT NULL,
    object_id BIGINT NOT NULL,
    scim_id TEXT,
    external_id TEXT,
    source TEXT NOT NULL,
    run_id BIGINT,
    occurred_at TIMESTAMP NOT NULL,
    changed_fields TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX changes_tenant_seq ON changes (tenant_id, seq);
CREATE INDEX changes_occurred_at ON changes (occurred_at);

-- The last `seq` handed out: one row, whose lock orders the writers' commits.
CREATE TABLE change_counter (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    last BIGINT NOT NULL
);
INSERT INTO change_counter (id, last) VALUES (1, 0);

-- Webhook endpoints, per tenant. `secret` is the sealed `whsec_` secret (an envelope of
-- `src/secrets`; NULL for an endpoint of the configuration file, whose secret stays in the
-- file). `types` is a JSON array (empty: every type). `delivered_seq` is the last `seq` the
-- endpoint acknowledged or does not want; `created_after_seq` the feed's end when it was
-- created. `failures` counts the failed attempts at the change after `delivered_seq`, whose next
-- attempt is due at `next_attempt_at`; `disabled_at` is set once the retry schedule is spent.
CREATE TABLE webhooks (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT,
    key_id TEXT,
    types TEXT NOT NULL,
    batch_size BIGINT NOT NULL DEFAULT 1,
    from_config BOOLEAN NOT NULL DEFAULT 0,
    created_after_seq BIGINT NOT NULL,
    delivered_seq BIGINT NOT NULL,
    failures BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP,
    disabled_at TIMESTAMP,
    disabled_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- Every delivery attempt: the changes it carried, the answer's status (NULL: none came), how
-- long it took and what went wrong.
CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    webhook TEXT NOT NULL,
    message_id TEXT NOT NULL,
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    attempted_at TIMESTAMP NOT NULL,
    status BIGINT,
    duration_ms BIGINT NOT NULL,
    error TEXT,
    FOREIGN KEY (tenant_id, webhook) REFERENCES webhooks (tenant_id, name) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_webhook ON webhook_attempts (tenant_id, webhook, id);
