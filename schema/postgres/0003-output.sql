-- 0003-output.sql - an execution's output lives with its attempt (tickflow_schema.version 3).
--
-- The same columns as schema/sqlite/0005-output.sql (read its comment): the
-- latest TF_OUTPUT_MAX bytes of a command's standard output and error, as
-- UTF-8 text (invalid bytes and NUL were replaced by U+FFFD before they
-- reach the database, so text accepts them), the byte count, and whether
-- it was cut. `tickflow logs KEY` reads them on any host.

ALTER TABLE history ADD COLUMN output text;              -- the tail, or NULL if nothing printed
ALTER TABLE history ADD COLUMN output_bytes bigint;      -- bytes written in all; NULL: not recorded
ALTER TABLE history ADD COLUMN output_truncated integer NOT NULL DEFAULT 0; -- 1: only the tail kept
