-- 0007-command-digest.sql - what command an attempt ran, as a digest
-- (PRAGMA user_version 7).
--
-- The command is not part of a call's key: a success stays cached when the
-- command of its work changes (the work's "version" is how to invalidate
-- successes). A failure is different: it may be the command's fault, and
-- a fixed command should not wait for its retry budget or `tickflow retry`.
-- So each claim records the SHA-256 (hex) of the work's command as it was
-- configured: the RFC 8785 canonical JSON of {"argv": [...], "cwd": ...,
-- "env": {...}} before any placeholder is filled (src/work.c,
-- command_digest). A failed or interrupted call whose digest differs from
-- the current command's runs again at once, with a new retry budget.
-- NULL for works without a command (C functions) and for attempts
-- recorded before this migration (never judged "changed").

ALTER TABLE calls ADD COLUMN command_sha256 TEXT;      -- the command of the latest claim
ALTER TABLE history ADD COLUMN command_sha256 TEXT;    -- the command of this attempt
