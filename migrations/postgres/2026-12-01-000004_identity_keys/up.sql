-- The matcher's comparison keys (NFKC, lowercased, trimmed: `identity_key` in
-- src/matcher/normalize.rs), so every lookup, filter and uniqueness check compares what the
-- matcher compares. SQL `lower()` cannot compute them (SQLite folds ASCII only; neither
-- backend applies NFKC), so the columns are nullable: the store fills them for existing rows
-- when it migrates, and for rows written without them (by the application) before it reads.
ALTER TABLE users ADD COLUMN upn_key TEXT;
ALTER TABLE users ADD COLUMN email_key TEXT;
ALTER TABLE groups ADD COLUMN name_key TEXT;

-- A sign-in name belongs to one person at a time, compared by key.
DROP INDEX users_upn_unique;
DROP INDEX users_upn;
DROP INDEX users_email;
CREATE UNIQUE INDEX users_upn_key_unique ON users (upn_key) WHERE archived_at IS NULL;
CREATE INDEX users_upn_key ON users (upn_key);
CREATE INDEX users_email_key ON users (email_key);
CREATE INDEX groups_name_key ON groups (name_key);
