-- The application database. `users`, `groups` and `group_members` are a contract: the
-- application reads them. All times are UTC.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scim_id TEXT NOT NULL UNIQUE DEFAULT (lower(hex(randomblob(16)))),
    external_id TEXT,
    source TEXT,
    upn TEXT NOT NULL,
    email TEXT,
    display_name TEXT,
    given_name TEXT,
    family_name TEXT,
    job_title TEXT,
    department TEXT,
    preferred_language TEXT,
    active BOOLEAN NOT NULL DEFAULT 1,
    archived_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
-- A sign-in name belongs to one person at a time; an archived person keeps theirs on record
-- while a new hire may reuse it.
CREATE UNIQUE INDEX users_upn_unique ON users (lower(upn)) WHERE archived_at IS NULL;
CREATE INDEX users_upn ON users (lower(upn));
CREATE INDEX users_email ON users (lower(email));
CREATE INDEX users_source_external_id ON users (source, external_id);

CREATE TABLE groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scim_id TEXT NOT NULL UNIQUE DEFAULT (lower(hex(randomblob(16)))),
    external_id TEXT,
    source TEXT,
    display_name TEXT NOT NULL,
    read_only BOOLEAN NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX groups_source_external_id ON groups (source, external_id) WHERE source IS NOT NULL;

CREATE TABLE group_members (
    group_id BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user_id ON group_members (user_id);

-- Every identity a user is known by: the owning source's (mirrored in users.source and
-- users.external_id) and any other source that matched the same person.
CREATE TABLE user_links (
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    linked_at TIMESTAMP NOT NULL,
    -- Set while the source no longer lists the identity; retention counts from the archive.
    removed_at TIMESTAMP,
    PRIMARY KEY (source, external_id)
);
CREATE INDEX user_links_user_id ON user_links (user_id);

-- Per connector: where the next incremental fetch resumes, and the deletion guard's state.
CREATE TABLE sync_state (
    connector TEXT PRIMARY KEY NOT NULL,
    cursor TEXT,
    last_success_at TIMESTAMP,
    last_full_sync_at TIMESTAMP,
    guard_approved BOOLEAN NOT NULL DEFAULT 0,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    connector TEXT NOT NULL,
    mode TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    fetched_users BIGINT NOT NULL DEFAULT 0,
    fetched_groups BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL DEFAULT 0,
    updated BIGINT NOT NULL DEFAULT 0,
    deactivated BIGINT NOT NULL DEFAULT 0,
    reactivated BIGINT NOT NULL DEFAULT 0,
    purged BIGINT NOT NULL DEFAULT 0,
    groups_changed BIGINT NOT NULL DEFAULT 0,
    memberships_added BIGINT NOT NULL DEFAULT 0,
    memberships_removed BIGINT NOT NULL DEFAULT 0,
    conflicts BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    -- For a run the deletion guard held: the destructive changes it did not apply (JSON).
    held_changes TEXT
);
CREATE INDEX runs_connector_started ON runs (connector, started_at);

-- The provisioning log: one row per change to a user, group or membership.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id BIGINT,
    connector TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id BIGINT NOT NULL,
    object_key TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX events_object ON events (object_type, object_id);
CREATE INDEX events_run ON events (run_id);

-- Records the matcher refused to attach to anyone, left for a person to resolve.
CREATE TABLE conflicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    connector TEXT NOT NULL,
    run_id BIGINT,
    external_id TEXT NOT NULL,
    upn TEXT,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    local_user_id BIGINT,
    other_user_id BIGINT,
    record TEXT NOT NULL,
    status TEXT NOT NULL,
    first_seen_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    resolved_at TIMESTAMP
);
CREATE UNIQUE INDEX conflicts_open ON conflicts (connector, external_id, reason) WHERE status = 'open';
