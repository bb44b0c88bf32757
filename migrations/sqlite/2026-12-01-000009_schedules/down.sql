ALTER TABLE runs DROP COLUMN worker;
DROP TABLE schedules;
