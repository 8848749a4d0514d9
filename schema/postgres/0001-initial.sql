-- 0001-initial.sql - the tickflow schema on PostgreSQL (tickflow_schema.version 1).
--
-- The same tables, columns and views as SQLite after schema/sqlite/0001-0003,
-- created in the connection's current schema (the first schema of
-- search_path that exists; ?options=-csearch_path%3Dtickflow picks one), so
-- the README's inspection SQL runs in psql too. Timestamps are the same
-- ISO-8601 UTC text with milliseconds; lease_until and next_retry_at are
-- epoch seconds of the server's clock (extract(epoch FROM now())). Ids come
-- from identity columns and are never reused, so (id, fence) names one
-- claim for ever, even across a clear. The migration runs in one
-- transaction under an advisory lock (postgres.c); tickflow_schema is
-- created by the engine, not here.

CREATE TABLE calls (
    id            bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    work          text    NOT NULL,                 -- work name
    version       text    NOT NULL DEFAULT '',      -- work version, part of the key
    args_sha256   text    NOT NULL                  -- SHA-256 of args_json, 64 lowercase hex
                  CHECK (args_sha256 ~ '^[0-9a-f]{64}$'),
    args_json     text    NOT NULL,                 -- canonical (RFC 8785) argument set
    status        text    NOT NULL
                  CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    result_json   text,                             -- canonical result of the last success
    error         text,                             -- last error (failed, interrupted)
    attempts      integer NOT NULL DEFAULT 0,       -- executions started
    failures      integer NOT NULL DEFAULT 0,       -- consecutive failures (retry budget)
    fence         bigint  NOT NULL DEFAULT 0,       -- fencing token, +1 on every claim
    lease_until   double precision,                 -- running: claim valid until (server epoch s)
    next_retry_at double precision,                 -- failed: next attempt allowed at (server epoch s)
    runner_host   text,                             -- host of the last claimer
    runner_pid    bigint,                           -- its process id
    runner_start  bigint,                           -- its start time (/proc/PID/stat field 22)
    created_at    text    NOT NULL,                 -- first claim
    started_at    text,                             -- start of the last execution
    finished_at   text,                             -- end of the last execution
    duration      double precision,                 -- seconds of the last execution
    UNIQUE (work, version, args_sha256)             -- the cache key; also the lookup index
);

-- Only the rows worth finding by status (running, failed, interrupted).
CREATE INDEX calls_unsettled ON calls (status) WHERE status <> 'succeeded';

CREATE TABLE history (
    id          bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id     bigint  NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    attempt     integer NOT NULL,                   -- 1, 2, ... (calls.attempts at the claim)
    fence       bigint  NOT NULL,                   -- the claim's fencing token
    status      text    NOT NULL
                CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    runner_host text,                               -- scheduler host
    runner_pid  bigint,                             -- scheduler process
    exec_pid    bigint,                             -- execution child
    exec_pgid   bigint,                             -- its process group
    started_at  text    NOT NULL,
    finished_at text,
    duration    double precision,                   -- seconds
    exit_code   integer,                            -- child exit status, NULL if killed
    signal      integer,                            -- signal that ended the child
    error       text,                               -- reason of a failure or interruption
    log_path    text                                -- output of a command work
);

CREATE INDEX history_call ON history (call_id, attempt);

CREATE TABLE clears (
    id       bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       text    NOT NULL,                      -- when (ISO-8601 UTC)
    "user"   text,                                  -- who ran it ("user" is a keyword here)
    selector text,                                  -- the filter as the user typed it
    count    bigint  NOT NULL                       -- calls deleted
);

-- Every committed change to calls notifies the channel "tickflow.<schema>"
-- once per transaction: schedulers listening there drop their in-memory
-- view of succeeded calls (a clear on one host is seen on the next tick of
-- the others) without polling.
CREATE FUNCTION tickflow_calls_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tickflow.' || TG_TABLE_SCHEMA, '');
    RETURN NULL;
END
$$;

CREATE TRIGGER calls_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON calls
    FOR EACH STATEMENT EXECUTE FUNCTION tickflow_calls_changed();

-- Calls that finished today (UTC), whatever their outcome.
CREATE VIEW ran_today AS
SELECT work, version, substr(args_sha256, 1, 12) AS key, status, attempts,
       started_at, finished_at, round(duration::numeric, 3) AS duration, args_json
  FROM calls
 WHERE substr(finished_at, 1, 10) = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD');

-- Calls that failed, with the time of the next retry if one is due.
CREATE VIEW failed_calls AS
SELECT work, version, substr(args_sha256, 1, 12) AS key, attempts, failures,
       error, finished_at,
       to_char(to_timestamp(next_retry_at) AT TIME ZONE 'UTC',
               'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS next_retry_at,
       args_json
  FROM calls
 WHERE status = 'failed' AND status <> 'succeeded';

-- Calls being executed now, with seconds elapsed and seconds of lease left (server clock).
CREATE VIEW running_calls AS
SELECT work, version, substr(args_sha256, 1, 12) AS key, attempts,
       runner_host, runner_pid, started_at,
       round(extract(epoch FROM now() - started_at::timestamptz)::numeric, 1) AS elapsed,
       round((lease_until - extract(epoch FROM now()))::numeric, 1) AS lease_left,
       args_json
  FROM calls
 WHERE status = 'running' AND status <> 'succeeded';

-- The last 100 execution attempts, newest first.
CREATE VIEW recent_history AS
SELECT h.id, c.work, substr(c.args_sha256, 1, 12) AS key, h.attempt, h.status,
       h.started_at, h.finished_at, round(h.duration::numeric, 3) AS duration,
       h.exit_code, h.signal, h.error, h.runner_host, h.runner_pid, h.log_path
  FROM history AS h JOIN calls AS c ON c.id = h.call_id
 ORDER BY h.id DESC
 LIMIT 100;
