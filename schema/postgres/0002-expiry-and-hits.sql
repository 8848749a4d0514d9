-- 0002-expiry-and-hits.sql - expiry with stale-if-error and the hit counters
-- behind `tickflow stats` (tickflow_schema.version 2); mirrors
-- schema/sqlite/0004-expiry-and-hits.sql.
--
-- calls.result_at is when result_json was produced (epoch seconds on the
-- cache clock): a work with max_age executes a success again once
-- result_at + max_age has passed; a row whose status is not 'succeeded'
-- and whose result_json is set is serving a stale result. Rows of earlier
-- versions are aged from their finished_at.
--
-- hits counts the calls answered from the cache, per work and UTC hour
-- (epoch seconds / 3600), and the seconds those hits did not spend.

ALTER TABLE calls ADD COLUMN result_at double precision;

UPDATE calls SET result_at = extract(epoch FROM finished_at::timestamptz)
 WHERE status = 'succeeded' AND finished_at IS NOT NULL;

CREATE TABLE hits (
    work  text             NOT NULL,            -- work name
    hour  bigint           NOT NULL,            -- UTC hour of the flush: epoch seconds / 3600
    hits  bigint           NOT NULL DEFAULT 0,  -- calls answered from the cache
    saved double precision NOT NULL DEFAULT 0,  -- seconds of execution those answers did not spend
    PRIMARY KEY (work, hour)
);
