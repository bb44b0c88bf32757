-- The inbound SCIM endpoint's bearer token: at most one row, stored as a SHA-256 digest.
CREATE TABLE scim_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_sha256 TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX users_lower_display_name ON users (lower(display_name));
-- The matcher looks up external ids of any source.
CREATE INDEX users_external_id ON users (external_id);
CREATE INDEX groups_lower_display_name ON groups (lower(display_name));
