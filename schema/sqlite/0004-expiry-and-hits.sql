-- 0004-expiry-and-hits.sql - expiry with stale-if-error and the hit counters
-- behind `tickflow stats` (PRAGMA user_version 4).
--
-- calls.result_at is when result_json was produced (epoch seconds on the
-- cache clock, tf_app_set_cache_now): a work with max_age executes a
-- success again once result_at + max_age has passed. Until that refresh
-- succeeds, and when it fails, result_json keeps the last good result (the
-- call answers it as stale); so a row whose status is not 'succeeded' and
-- whose result_json is set is serving a stale result. Rows of earlier
-- versions are aged from their finished_at.
--
-- hits counts the calls answered from the cache, per work and UTC hour
-- (epoch seconds / 3600), and the seconds those hits did not spend (the
-- duration of the execution that produced each answer). The scheduler
-- counts in memory and adds here at most once per tick.

ALTER TABLE calls ADD COLUMN result_at REAL;

UPDATE calls SET result_at = (julianday(finished_at) - 2440587.5) * 86400.0
 WHERE status = 'succeeded' AND finished_at IS NOT NULL;

CREATE TABLE hits (
    work  TEXT    NOT NULL,                 -- work name
    hour  INTEGER NOT NULL,                 -- UTC hour of the flush: epoch seconds / 3600
    hits  INTEGER NOT NULL DEFAULT 0,       -- calls answered from the cache
    saved REAL    NOT NULL DEFAULT 0,       -- seconds of execution those answers did not spend
    PRIMARY KEY (work, hour)
) WITHOUT ROWID;
