ALTER TABLE groups DROP COLUMN attributes;
ALTER TABLE users DROP COLUMN attributes;
