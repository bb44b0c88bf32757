-- Daemon state: who runs a connector now, failure streaks and quarantine, alert delivery.

-- One row per connector while a process runs it; a crashed holder's lease simply expires.
CREATE TABLE leases (
    connector TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

ALTER TABLE sync_state ADD COLUMN consecutive_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN quarantine_level BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN quarantined_until TIMESTAMP;
ALTER TABLE sync_state ADD COLUMN last_error TEXT;

-- One row per connector and alert condition: whether it is raised, and when mail went out.
CREATE TABLE alert_state (
    connector TEXT NOT NULL,
    condition TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    detail TEXT NOT NULL,
    raised_at TIMESTAMP NOT NULL,
    last_sent_at TIMESTAMP,
    PRIMARY KEY (connector, condition)
);
