-- 0003-insertion-order.sql - one index write fewer per new call (PRAGMA user_version 3).
--
-- calls_created (created_at) ordered `tickflow ls` newest first. Ids grow
-- with every insertion and are never reused (AUTOINCREMENT), so id order is
-- insertion order: newest first is ORDER BY id DESC, read straight off the
-- table, and the clock (which may step back) no longer decides it. Every
-- claim of a new call wrote a page of this index (about one WAL page in
-- seven on the recording path). Filters on created_at (ls --since, clear
-- --before) now scan the table; ls stops as soon as its page is full.

DROP INDEX calls_created;
