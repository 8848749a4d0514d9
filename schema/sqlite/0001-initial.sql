-- 0001-initial.sql - the first tickflow schema (PRAGMA user_version 1).
--
-- One row in `calls` per (work, version, argument set); `history` keeps one
-- row per execution attempt; `clears` audits every `tickflow clear`.
-- Timestamps are ISO-8601 UTC text with milliseconds
-- (2026-11-25T15:32:56.123Z); lease_until and next_retry_at are epoch
-- seconds (REAL) because the store compares them with its clock.
-- Ids are AUTOINCREMENT so a deleted row's id is never reused: (id, fence)
-- then names one claim for ever, even across a clear.

CREATE TABLE calls (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    work          TEXT    NOT NULL,                 -- work name
    version       TEXT    NOT NULL DEFAULT '',      -- work version, part of the key
    args_sha256   TEXT    NOT NULL                  -- SHA-256 of args_json, 64 lowercase hex
                  CHECK (length(args_sha256) = 64 AND args_sha256 NOT GLOB '*[^0-9a-f]*'),
    args_json     TEXT    NOT NULL,                 -- canonical (RFC 8785) argument set
    status        TEXT    NOT NULL
                  CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    result_json   TEXT,                             -- canonical result of the last success
    error         TEXT,                             -- last error (failed, interrupted)
    attempts      INTEGER NOT NULL DEFAULT 0,       -- executions started
    failures      INTEGER NOT NULL DEFAULT 0,       -- consecutive failures (retry budget)
    fence         INTEGER NOT NULL DEFAULT 0,       -- fencing token, +1 on every claim
    lease_until   REAL,                             -- running: claim valid until (epoch s)
    next_retry_at REAL,                             -- failed: next attempt allowed at (epoch s)
    runner_host   TEXT,                             -- host of the last claimer
    runner_pid    INTEGER,                          -- its process id
    runner_start  INTEGER,                          -- its start time (/proc/PID/stat field 22)
    created_at    TEXT    NOT NULL,                 -- first claim
    started_at    TEXT,                             -- start of the last execution
    finished_at   TEXT,                             -- end of the last execution
    duration      REAL,                             -- seconds of the last execution
    UNIQUE (work, version, args_sha256)             -- the cache key; also the lookup index
);

CREATE INDEX calls_work    ON calls (work, created_at);
CREATE INDEX calls_status  ON calls (status);
CREATE INDEX calls_created ON calls (created_at);

CREATE TABLE history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id     INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,                   -- 1, 2, ... (calls.attempts at the claim)
    fence       INTEGER NOT NULL,                   -- the claim's fencing token
    status      TEXT    NOT NULL
                CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    runner_host TEXT,                               -- scheduler host
    runner_pid  INTEGER,                            -- scheduler process
    exec_pid    INTEGER,                            -- execution child
    exec_pgid   INTEGER,                            -- its process group
    started_at  TEXT    NOT NULL,
    finished_at TEXT,
    duration    REAL,                               -- seconds
    exit_code   INTEGER,                            -- child exit status, NULL if killed
    signal      INTEGER,                            -- signal that ended the child
    error       TEXT,                               -- reason of a failure or interruption
    log_path    TEXT                                -- output of a command work
);

CREATE INDEX history_call ON history (call_id, attempt);

CREATE TABLE clears (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT    NOT NULL,                      -- when (ISO-8601 UTC)
    user     TEXT,                                  -- who ran it
    selector TEXT,                                  -- the filter as the user typed it
    count    INTEGER NOT NULL                       -- calls deleted
);

-- Calls that finished today (UTC), whatever their outcome.
CREATE VIEW ran_today AS
SELECT work, version, substr(args_sha256, 1, 12) AS key, status, attempts,
       started_at, finished_at, round(duration, 3) AS duration, args_json
  FROM calls
 WHERE date(finished_at) = date('now');

-- Calls that failed, with the time of the next retry if one is due.
CREATE VIEW failed_calls AS
SELECT work, version, substr(args_sha256, 1, 12) AS key, attempts, failures,
       error, finished_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', next_retry_at, 'unixepoch') AS next_retry_at,
       args_json
  FROM calls
 WHERE status = 'failed';

-- Calls being executed now, with seconds elapsed and seconds of lease left.
CREATE VIEW running_calls AS
SELECT work, version, substr(args_sha256, 1, 12) AS key, attempts,
       runner_host, runner_pid, started_at,
       round((julianday('now') - julianday(started_at)) * 86400.0, 1) AS elapsed,
       round(lease_until - (julianday('now') - 2440587.5) * 86400.0, 1) AS lease_left,
       args_json
  FROM calls
 WHERE status = 'running';

-- The last 100 execution attempts, newest first.
CREATE VIEW recent_history AS
SELECT h.id, c.work, substr(c.args_sha256, 1, 12) AS key, h.attempt, h.status,
       h.started_at, h.finished_at, round(h.duration, 3) AS duration,
       h.exit_code, h.signal, h.error, h.runner_host, h.runner_pid, h.log_path
  FROM history AS h JOIN calls AS c ON c.id = h.call_id
 ORDER BY h.id DESC
 LIMIT 100;
