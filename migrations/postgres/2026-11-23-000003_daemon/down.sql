DROP TABLE alert_state;
ALTER TABLE sync_state DROP COLUMN last_error;
ALTER TABLE sync_state DROP COLUMN quarantined_until;
ALTER TABLE sync_state DROP COLUMN quarantine_level;
ALTER TABLE sync_state DROP COLUMN consecutive_failures;
DROP TABLE leases;
