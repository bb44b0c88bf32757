DROP TABLE conflicts;
DROP TABLE events;
DROP TABLE runs;
DROP TABLE sync_state;
DROP TABLE user_links;
DROP TABLE group_members;
DROP TABLE groups;
DROP TABLE users;
