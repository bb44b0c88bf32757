-- Every attribute a client or a mapping sets that has no column of its own: a JSON object
-- keyed by SCIM attribute name, extension attributes under their schema URN (README, "The
-- application's tables"). TEXT, as on SQLite, so both backends hand the application the same
-- type; queries cast it to jsonb. NULL when there is none.
ALTER TABLE users ADD COLUMN attributes TEXT;
ALTER TABLE groups ADD COLUMN attributes TEXT;

-- The client's `externalId` lives here from now on (`external_id` holds the link key, which
-- a client may change without the user changing identity); keep what SCIM has shown so far.
-- Keys starting with `~` were made up for resources posted without one.
UPDATE users SET attributes = json_build_object('externalId', external_id)::text
    WHERE source = 'scim' AND external_id IS NOT NULL AND substr(external_id, 1, 1) <> '~';
UPDATE groups SET attributes = json_build_object('externalId', external_id)::text
    WHERE source = 'scim' AND external_id IS NOT NULL AND substr(external_id, 1, 1) <> '~';
