-- 0006-runner-identity.sql - who a runner is, beyond a host name and a pid
-- (PRAGMA user_version 6).
--
-- A pid names a process only inside one PID namespace of one boot: two
-- containers sharing a volume and a host name, or a host that rebooted,
-- reuse the same pids for other processes. A runner is therefore judged by
-- pid only when its boot id and PID namespace are the judge's own; any
-- other runner is judged by its lease alone. Leases between runners of one
-- boot and time namespace are compared on that boot's monotonic clock
-- (CLOCK_MONOTONIC: it never steps with the wall clock, and stands still
-- in a suspend, like every runner); lease_until stays the wall-clock
-- deadline that other hosts compare.
--
-- history also records how to prove, later, that a process group still is
-- that execution (the leader's start time), and what a takeover did to the
-- group a dead runner left: killed it after proving it, or did not signal
-- it and why.

ALTER TABLE calls ADD COLUMN runner_boot TEXT;         -- boot id of the last claimer (/proc/sys/kernel/random/boot_id)
ALTER TABLE calls ADD COLUMN runner_pidns INTEGER;     -- its PID namespace (inode of /proc/self/ns/pid)
ALTER TABLE calls ADD COLUMN runner_timens INTEGER;    -- its time namespace (inode of /proc/self/ns/time)
ALTER TABLE calls ADD COLUMN lease_boot_until REAL;    -- running: claim valid until, on the monotonic clock of runner_boot/runner_timens

ALTER TABLE history ADD COLUMN runner_boot TEXT;       -- the scheduler's boot id
ALTER TABLE history ADD COLUMN runner_pidns INTEGER;   -- its PID namespace
ALTER TABLE history ADD COLUMN runner_start INTEGER;   -- its start time (/proc/PID/stat field 22)
ALTER TABLE history ADD COLUMN exec_start INTEGER;     -- start time of the execution's group leader
ALTER TABLE history ADD COLUMN signal_note TEXT;       -- takeover: what was done to this attempt's group, and why

-- Calls being executed now, with seconds elapsed, seconds of lease left,
-- and who runs them.
DROP VIEW running_calls;
CREATE VIEW running_calls AS
SELECT work, version, substr(args_sha256, 1, 12) AS key, attempts,
       runner_host, runner_pid, runner_boot, runner_pidns, started_at,
       round((julianday('now') - julianday(started_at)) * 86400.0, 1) AS elapsed,
       round(lease_until - (julianday('now') - 2440587.5) * 86400.0, 1) AS lease_left,
       args_json
  FROM calls
 WHERE status = 'running' AND status <> 'succeeded';
