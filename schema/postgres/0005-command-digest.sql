-- 0005-command-digest.sql - what command an attempt ran, as a digest
-- (tickflow_schema.version 5); mirrors schema/sqlite/0007-command-digest.sql
-- (read its comment).

ALTER TABLE calls ADD COLUMN command_sha256 text;      -- the command of the latest claim
ALTER TABLE history ADD COLUMN command_sha256 text;    -- the command of this attempt
