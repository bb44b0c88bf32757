DROP INDEX groups_lower_display_name;
DROP INDEX users_external_id;
DROP INDEX users_lower_display_name;
DROP TABLE scim_tokens;
