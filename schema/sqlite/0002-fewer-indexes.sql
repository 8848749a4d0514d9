-- 0002-fewer-indexes.sql - cheaper writes on the recording path (PRAGMA user_version 2).
--
-- Every new call inserts into each index of `calls`, and every finish moves
-- its status entry, so each index costs page writes on every call.
--
-- calls_status indexed every row, though almost all rows are 'succeeded'
-- and nothing looks succeeded calls up by status (the cached path uses the
-- UNIQUE key). The partial index keeps only the rows worth finding by
-- status (running, failed, interrupted): a success leaves it, and succeeded
-- rows cost nothing. SQLite uses a partial index only when the query
-- repeats its condition, so the views below say `status <> 'succeeded'`.
--
-- calls_work (work, created_at) duplicated the prefix of the UNIQUE
-- (work, version, args_sha256) index, which serves every lookup by work;
-- no query used its created_at order.

DROP INDEX calls_status;
DROP INDEX calls_work;
CREATE INDEX calls_unsettled ON calls (status) WHERE status <> 'succeeded';

DROP VIEW failed_calls;
DROP VIEW running_calls;

-- Calls that failed, with the time of the next retry if one is due.
CREATE VIEW failed_calls AS
SELECT work, version, substr(args_sha256, 1, 12) AS key, attempts, failures,
       error, finished_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', next_retry_at, 'unixepoch') AS next_retry_at,
       args_json
  FROM calls
 WHERE status = 'failed' AND status <> 'succeeded';

-- Calls being executed now, with seconds elapsed and seconds of lease left.
CREATE VIEW running_calls AS
SELECT work, version, substr(args_sha256, 1, 12) AS key, attempts,
       runner_host, runner_pid, started_at,
       round((julianday('now') - julianday(started_at)) * 86400.0, 1) AS elapsed,
       round(lease_until - (julianday('now') - 2440587.5) * 86400.0, 1) AS lease_left,
       args_json
  FROM calls
 WHERE status = 'running' AND status <> 'succeeded';
