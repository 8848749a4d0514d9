-- 0004-runner-identity.sql - who a runner is, beyond a host name and a pid
-- (tickflow_schema.version 4); mirrors schema/sqlite/0006-runner-identity.sql
-- (read its comment). On PostgreSQL, runners of other boots (other hosts)
-- are judged by lease_until on the server's clock (now()); runners of our
-- boot and time namespace in another PID namespace by lease_boot_until on
-- that boot's monotonic clock.

ALTER TABLE calls ADD COLUMN runner_boot text;                 -- boot id of the last claimer
ALTER TABLE calls ADD COLUMN runner_pidns bigint;              -- its PID namespace (inode of /proc/self/ns/pid)
ALTER TABLE calls ADD COLUMN runner_timens bigint;             -- its time namespace (inode of /proc/self/ns/time)
ALTER TABLE calls ADD COLUMN lease_boot_until double precision; -- running: claim valid until, monotonic clock of runner_boot/runner_timens

ALTER TABLE history ADD COLUMN runner_boot text;               -- the scheduler's boot id
ALTER TABLE history ADD COLUMN runner_pidns bigint;            -- its PID namespace
ALTER TABLE history ADD COLUMN runner_start bigint;            -- its start time (/proc/PID/stat field 22)
ALTER TABLE history ADD COLUMN exec_start bigint;              -- start time of the execution's group leader
ALTER TABLE history ADD COLUMN signal_note text;               -- takeover: what was done to this attempt's group, and why

DROP VIEW running_calls;
CREATE VIEW running_calls AS
SELECT work, version, substr(args_sha256, 1, 12) AS key, attempts,
       runner_host, runner_pid, runner_boot, runner_pidns, started_at,
       round(extract(epoch FROM now() - started_at::timestamptz)::numeric, 1) AS elapsed,
       round((lease_until - extract(epoch FROM now()))::numeric, 1) AS lease_left,
       args_json
  FROM calls
 WHERE status = 'running' AND status <> 'succeeded';
