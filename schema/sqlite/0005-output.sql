-- 0005-output.sql - an execution's output lives with its attempt (PRAGMA user_version 5).
--
-- A command's standard output and error used to go to one log file per
-- execution under <db>.logs: a file even for a command that printed nothing
-- (10,000 executions of `true` left 10,000 files), at a predictable name in
-- a folder anyone could plant a symlink in, and found only on the host that
-- ran it. Now the latest TF_OUTPUT_MAX bytes (64 KiB; tickflow.h) are kept
-- in memory while the command runs and stored here, with the attempt, when
-- it ends: `tickflow logs KEY` reads them on any host, gc deletes them with
-- their rows, and a silent execution stores nothing.
--   output            the tail as UTF-8 text (an invalid byte or NUL became
--                     U+FFFD), or NULL when the execution printed nothing
--   output_bytes      bytes it wrote in all (stdout + stderr); NULL before
--                     this migration and for C works
--   output_truncated  1 when output is only the latest TF_OUTPUT_MAX bytes
-- history.log_path stays for attempts recorded before: their files are
-- read by `tickflow logs` as before and never written again.

ALTER TABLE history ADD COLUMN output TEXT;
ALTER TABLE history ADD COLUMN output_bytes INTEGER;
ALTER TABLE history ADD COLUMN output_truncated INTEGER NOT NULL DEFAULT 0;
