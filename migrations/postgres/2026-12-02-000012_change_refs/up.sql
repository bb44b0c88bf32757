-- A row of the change feed may stand for a run of changes and hold objects by reference, so a
-- first sync's 500,000 membership changes take a few thousand rows and store each group and
-- user once (see `src/store/apply/changes.rs`):
-- - `last_seq`: the row holds the changes `seq` to `last_seq` (a run of one group's
--   `group.member_added` or `group.member_removed`; `last_seq = seq` for a single change).
--   Runs never overlap, so readers find the changes after a `seq` by `last_seq`.
-- - `object_seq`: an earlier row of the same transaction whose `data` holds this row's
--   `object`, as that transaction left it (NULL: `data` holds it).
-- A transaction's rows share `occurred_at`, so pruning keeps or removes them together.
ALTER TABLE changes ADD COLUMN last_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE changes ADD COLUMN object_seq BIGINT;
UPDATE changes SET last_seq = seq;
DROP INDEX changes_tenant_seq;
CREATE INDEX changes_tenant_last_seq ON changes (tenant_id, last_seq);
CREATE UNIQUE INDEX changes_last_seq ON changes (last_seq);
