DROP INDEX changes_last_seq;
DROP INDEX changes_tenant_last_seq;
CREATE INDEX changes_tenant_seq ON changes (tenant_id, seq);
ALTER TABLE changes DROP COLUMN object_seq;
ALTER TABLE changes DROP COLUMN last_seq;
