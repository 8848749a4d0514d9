/*
 * store/sqlite.c - the embedded engine of the store: SQLite (engine seam
 * store/engine.h).
 *
 * Owns: opening a database file (created 0600, WAL, pragmas, busy
 * timeout), the migrations (schema/sqlite/NNNN-name.sql embedded as
 * tf_schema_sqlite[], tracked by PRAGMA user_version, a newer database
 * refused untouched, concurrent openers migrating once under the write
 * lock), the SQL text of every statement id, and SQLite's transaction
 * rules: every state change is one BEGIN IMMEDIATE transaction; a lock held
 * by another connection is waited for (SQLite's busy timeout, then our own
 * retry of the step up to busy_total seconds) and only then reported as
 * TF_EBUSY, never as a call failure.
 *
 * Statements are prepared once (SQLITE_PREPARE_PERSISTENT), on first use,
 * and reused; every value is bound. A tf_q here is a sqlite3_stmt. Leases
 * are judged on the host clock through the handle's seam; the change
 * counter is PRAGMA data_version.
 */
#include "store/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "schema.h"

/* Statements of the engine itself, besides the protocol's ST_* (sq.own[]). */
enum { TX_BEGIN, TX_COMMIT, TX_ROLLBACK, TX_DATA_VERSION, TX_COUNT };

static const char *const own_sql[TX_COUNT] = {
    [TX_BEGIN] = "BEGIN IMMEDIATE",
    [TX_COMMIT] = "COMMIT",
    [TX_ROLLBACK] = "ROLLBACK",
    [TX_DATA_VERSION] = "PRAGMA data_version",
};

/* The connection of a SQLite handle (tf_store.impl). */
typedef struct sq {
    sqlite3 *db;                    /* the connection */
    int wait_ms;                    /* how long one step may wait for a lock (busy_wait) */
    double wait_start;              /* monotonic seconds when the current wait began */
    sqlite3_stmt *stmt[ST_COUNT];   /* prepared on first use, finalized at close */
    sqlite3_stmt *own[TX_COUNT];    /* the engine's own statements (TX_*), prepared on first use */
} sq;

#define DB(s) (((sq *)(s)->impl)->db)
#define ST(q) ((sqlite3_stmt *)(void *)(q))

/* The columns of a tf_call_row, in the order inspect.c reads them. */
#define CALL_COLS \
    "id, work, version, args_sha256, args_json, status, result_json, error," \
    " attempts, created_at, started_at, finished_at, duration, runner_pid," \
    " runner_host, (SELECT h.log_path FROM history AS h WHERE h.call_id = calls.id" \
    " ORDER BY h.attempt DESC, h.id DESC LIMIT 1), result_at, failures, next_retry_at, lease_until"

/* ISO-8601 text as epoch seconds (REAL), NULL stays NULL. */
#define EPOCH_OF(x) "((julianday(" x ") - 2440587.5) * 86400.0)"

/* A tf_filter as SQL: ?1 work, ?2 status, ?3 key prefix, ?4 key, ?5 since, ?6 before,
   ?16 version (TF_FILTER_VERSION_P). */
#define FILTER_SQL \
    "(?1 IS NULL OR work = ?1) AND (?2 IS NULL OR status = ?2)" \
    " AND (?3 IS NULL OR substr(args_sha256, 1, length(?3)) = ?3)" \
    " AND (?4 IS NULL OR args_sha256 = ?4)" \
    " AND (?5 IS NULL OR created_at >= ?5) AND (?6 IS NULL OR created_at < ?6)" \
    " AND (?16 IS NULL OR version = ?16)"

/*
 * clear spares every running call unless ?7 = 1 (the filter's status is
 * 'running'): its runner may be alive however its lease looks (stopped,
 * or a clock stepped), and deleting its row would run the call twice.
 */
#define CLEAR_GUARD " AND (status <> 'running' OR ?7 = 1)"

#define LOOKUP_SQL \
    "SELECT id, status, result_json, error, attempts, failures, fence," \
    " lease_until, next_retry_at, runner_host, runner_pid, runner_start, result_at, duration," \
    " runner_boot, runner_pidns, lease_boot_until, runner_timens, command_sha256" \
    " FROM calls WHERE work = ?1 AND version = ?2 AND args_sha256 = ?3"

static const char *const stmt_sql[ST_COUNT] = {
    [ST_LOOKUP] = LOOKUP_SQL,
    /* BEGIN IMMEDIATE already holds the write lock: no row lock needed */
    [ST_LOOKUP_LOCKED] = LOOKUP_SQL,
    [ST_INSERT_CALL] =
        "INSERT INTO calls (work, version, args_sha256, args_json, status,"
        " attempts, failures, fence, lease_until, runner_host, runner_pid,"
        " runner_start, created_at, started_at, runner_boot, runner_pidns, lease_boot_until,"
        " runner_timens, command_sha256)"
        " VALUES (?1, ?2, ?3, ?4, 'running', 1, 0, 1, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11, ?12, ?13,"
        " ?14)"
        " ON CONFLICT (work, version, args_sha256) DO NOTHING",
    /* ?7 = 1: the last good result stays while the refresh runs (stale-if-error);
       ?12 = 1: the command changed since the failure: a new retry budget; ?13 its digest */
    [ST_RECLAIM] =
        "UPDATE calls SET status = 'running', attempts = attempts + 1,"
        " fence = fence + 1, lease_until = ?2, runner_host = ?3, runner_pid = ?4,"
        " runner_start = ?5, started_at = ?6, finished_at = NULL,"
        " result_json = CASE WHEN ?7 THEN result_json END,"
        " result_at = CASE WHEN ?7 THEN result_at END, runner_boot = ?8,"
        " runner_pidns = ?9, lease_boot_until = ?10, runner_timens = ?11,"
        " failures = CASE WHEN ?12 THEN 0 ELSE failures END,"
        " next_retry_at = CASE WHEN ?12 THEN NULL ELSE next_retry_at END,"
        " command_sha256 = ?13 WHERE id = ?1",
    [ST_SET_RETRY_AT] = "UPDATE calls SET next_retry_at = ?2 WHERE id = ?1",
    [ST_HIST_INSERT] =
        "INSERT INTO history (call_id, attempt, fence, status, runner_host,"
        " runner_pid, started_at, runner_boot, runner_pidns, runner_start, command_sha256)"
        " VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_HIST_RUNNING] =
        "SELECT id, exec_pgid, exec_start, runner_boot, runner_pidns FROM history"
        " WHERE call_id = ?1 AND fence = ?2 AND status = 'running'",
    [ST_HIST_INTERRUPT] =
        "UPDATE history SET status = 'interrupted', finished_at = ?2, error = ?3"
        " WHERE id = ?1",
    [ST_EXEC_STARTED] =
        "UPDATE history SET exec_pid = ?2, exec_pgid = ?3, log_path = ?4, exec_start = ?5"
        " WHERE id = ?1",
    [ST_HIST_SIGNAL_NOTE] = "UPDATE history SET signal_note = ?2 WHERE id = ?1",
    [ST_RENEW] =
        "UPDATE calls SET lease_until = ?3, lease_boot_until = ?4"
        " WHERE id = ?1 AND fence = ?2 AND status = 'running'",
    [ST_FENCE_CHECK] =
        "SELECT failures, next_retry_at FROM calls"
        " WHERE id = ?1 AND fence = ?2 AND status = 'running'",
    /* a failure: ?10 = 1 keeps the last good result (stale-if-error) */
    [ST_FINISH_CALL] =
        "UPDATE calls SET status = ?3, error = ?5, failures = ?6,"
        " result_json = CASE WHEN ?10 THEN result_json ELSE ?4 END,"
        " result_at = CASE WHEN ?10 THEN result_at END,"
        " next_retry_at = ?7, lease_until = NULL, lease_boot_until = NULL, finished_at = ?8,"
        " duration = ?9"
        " WHERE id = ?1 AND fence = ?2",
    /* a success (?6 = 0: failures reset) or an interruption (?6 NULL: failures and
       next retry kept), fenced in the WHERE clause: no row changed = fenced out */
    /* ?9: a success's result_at; an interruption with ?10 = 1 keeps the last good result */
    [ST_FINISH_SETTLE] =
        "UPDATE calls SET status = ?3, error = ?5,"
        " result_json = CASE WHEN ?4 IS NULL AND ?10 THEN result_json ELSE ?4 END,"
        " result_at = CASE WHEN ?4 IS NOT NULL THEN ?9 WHEN ?10 THEN result_at END,"
        " failures = coalesce(?6, failures),"
        " next_retry_at = CASE WHEN ?6 IS NULL THEN next_retry_at END,"
        " lease_until = NULL, lease_boot_until = NULL, finished_at = ?7, duration = ?8"
        " WHERE id = ?1 AND fence = ?2 AND status = 'running'",
    [ST_FINISH_HIST] =
        "UPDATE history SET status = ?3, finished_at = ?4, duration = ?5,"
        " exit_code = ?6, signal = ?7, error = ?8, output = ?9, output_bytes = ?10,"
        " output_truncated = ?11 WHERE id = ?1 AND call_id = ?2",
    [ST_HIST_ERROR] = "UPDATE history SET error = ?2 WHERE id = ?1",
    [ST_LIST] =
        "SELECT " CALL_COLS " FROM calls WHERE " FILTER_SQL
        " ORDER BY id DESC LIMIT ?7",
    /* ST_LIST for a status other than succeeded: the repeated condition lets
       SQLite use the partial index calls_unsettled (schema/sqlite/0002) */
    [ST_LIST_UNSETTLED] =
        "SELECT " CALL_COLS " FROM calls WHERE status = ?2 AND status <> 'succeeded' AND "
        FILTER_SQL " ORDER BY id DESC LIMIT ?7",
    /* ?1 key prefix, ?2 version or NULL (any); ST_FIND_WORK: ?3 work */
    [ST_FIND] =
        "SELECT " CALL_COLS " FROM calls WHERE substr(args_sha256, 1, length(?1)) = ?1"
        " AND (?2 IS NULL OR version = ?2) ORDER BY id DESC LIMIT 6",
    [ST_FIND_WORK] =
        "SELECT " CALL_COLS " FROM calls WHERE work = ?3 AND (?2 IS NULL OR version = ?2)"
        " AND substr(args_sha256, 1, length(?1)) = ?1 ORDER BY id DESC LIMIT 6",
    [ST_HISTORY] =
        "SELECT id, attempt, status, started_at, finished_at, duration,"
        " runner_host, runner_pid, exec_pid, exit_code, signal, error, log_path,"
        " output, output_bytes, output_truncated, command_sha256"
        " FROM history WHERE call_id = ?1 ORDER BY attempt, id",
    /* one batch, newest first: ids below ?8, at most ?9 rows */
    [ST_CLEAR_LIST] =
        "SELECT " CALL_COLS " FROM calls WHERE " FILTER_SQL CLEAR_GUARD
        " AND id < ?8 ORDER BY id DESC LIMIT ?9",
    /* a batch of the calls counted before asking: those of the ids ?10 (a JSON array)
       that still match, newest first, below ?8, at most ?9 */
    [ST_CLEAR_PICK] =
        "SELECT " CALL_COLS " FROM calls WHERE id IN (SELECT value FROM json_each(?10)) AND "
        FILTER_SQL CLEAR_GUARD " AND id < ?8 ORDER BY id DESC LIMIT ?9",
    /* exactly the batch just listed (?10: its ids, a JSON array, all in [?9, ?8)), in the
       same transaction */
    [ST_CLEAR] = "DELETE FROM calls WHERE id IN (SELECT value FROM json_each(?10)) AND "
                 FILTER_SQL CLEAR_GUARD " AND id < ?8 AND id >= ?9",
    [ST_AUDIT] =
        "INSERT INTO clears (at, user, selector, count) VALUES (?1, ?2, ?3, ?4)",
    [ST_AUDIT_ADD] = "UPDATE clears SET count = count + ?2 WHERE id = ?1",
    /* one batch of at most ?7 failed calls not yet runnable again */
    [ST_RETRY] =
        "UPDATE calls SET failures = 0, next_retry_at = NULL WHERE id IN"
        " (SELECT id FROM calls WHERE status = 'failed' AND status <> 'succeeded'"
        " AND (failures <> 0 OR next_retry_at IS NOT NULL) AND " FILTER_SQL " LIMIT ?7)",
    /* one batch of settled calls finished before ?1, newest first: ids below ?2, at most ?3 */
    [ST_GC_LIST] =
        "SELECT id FROM calls WHERE status IN ('succeeded', 'failed', 'interrupted')"
        " AND finished_at < ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
    /* those of the ids ?2 (a JSON array) still settled and finished before ?1 */
    [ST_GC] =
        "DELETE FROM calls WHERE id IN (SELECT value FROM json_each(?2))"
        " AND status IN ('succeeded', 'failed', 'interrupted') AND finished_at < ?1",
    [ST_PREV_ARGS] =
        "SELECT args_json FROM calls WHERE work = ?1 AND args_sha256 <> ?2"
        " ORDER BY id DESC LIMIT 1",
    /* ?7: count at most this many (-1: all) */
    [ST_COUNT_ROWS] = "SELECT count(*) FROM (SELECT 1 FROM calls WHERE " FILTER_SQL " LIMIT ?7)",
    /* two subqueries: each is one b-tree seek (max and min together scan the table) */
    /* a work's calls of one version, counted up to ?3 through the key index */
    [ST_COUNT_WORK] =
        "SELECT count(*) FROM (SELECT 1 FROM calls WHERE work = ?1 AND version = ?2 LIMIT ?3)",
    [ST_ROW_ESTIMATE] =
        "SELECT coalesce((SELECT max(id) FROM calls) - (SELECT min(id) FROM calls) + 1, 0)",
    /* per work: calls by status, failed for good, running with an ended lease (?1 = now) */
    [ST_TOTALS_CALLS] =
        "SELECT work, sum(status = 'running'), sum(status = 'succeeded'), sum(status = 'failed'),"
        " sum(status = 'interrupted'),"
        " sum(status = 'failed' AND failures > 0 AND next_retry_at IS NULL),"
        " sum(status = 'running' AND (lease_until IS NULL OR lease_until < ?1)), max(result_at)"
        " FROM calls GROUP BY work",
    /* per work: executions by outcome, end of the latest success */
    [ST_TOTALS_RUNS] =
        "SELECT c.work, sum(h.status = 'running'), sum(h.status = 'succeeded'),"
        " sum(h.status = 'failed'), sum(h.status = 'interrupted'),"
        " " EPOCH_OF("max(CASE WHEN h.status = 'succeeded' THEN h.finished_at END)")
        " FROM history AS h JOIN calls AS c ON c.id = h.call_id GROUP BY c.work",
    /* per work: the latest finished execution (SQLite takes the bare columns from the max row) */
    [ST_TOTALS_LAST] =
        "SELECT c.work, max(h.id), " EPOCH_OF("h.finished_at") ", h.duration, h.status"
        " FROM history AS h JOIN calls AS c ON c.id = h.call_id"
        " WHERE h.finished_at IS NOT NULL GROUP BY c.work",
    /* executions started at or after ?1 (ISO text), with their call, oldest first */
    [ST_EXECUTIONS] =
        "SELECT c.work, c.args_sha256, c.args_json, h.id, h.attempt, h.status, h.started_at,"
        " h.finished_at, h.duration, h.runner_host, h.runner_pid, h.exec_pid, h.exit_code,"
        " h.signal, h.error, h.log_path"
        " FROM history AS h JOIN calls AS c ON c.id = h.call_id"
        " WHERE h.started_at >= ?1 ORDER BY h.id",
    [ST_EACH_SUCCEEDED] =
        "SELECT args_sha256, result_json, result_at, duration FROM calls"
        " WHERE work = ?1 AND version = ?2 AND status = 'succeeded' LIMIT ?3",
    /* The same as one sequential pass over the table: faster for small tables. */
    [ST_EACH_SUCCEEDED_SCAN] =
        "SELECT args_sha256, result_json, result_at, duration FROM calls NOT INDEXED"
        " WHERE work = ?1 AND version = ?2 AND status = 'succeeded' LIMIT ?3",
    /* ?1 work, ?2 hour, ?3 hits, ?4 seconds saved */
    [ST_HITS_ADD] =
        "INSERT INTO hits (work, hour, hits, saved) VALUES (?1, ?2, ?3, ?4)"
        " ON CONFLICT (work, hour) DO UPDATE SET hits = hits + excluded.hits,"
        " saved = saved + excluded.saved",
    /* per work: hits and seconds saved, all time and from hour ?1 on; ?2 work or NULL */
    [ST_STATS_HITS] =
        "SELECT work, sum(hits), sum(saved), coalesce(sum(CASE WHEN hour >= ?1 THEN hits END), 0),"
        " coalesce(sum(CASE WHEN hour >= ?1 THEN saved END), 0)"
        " FROM hits WHERE (?2 IS NULL OR work = ?2) GROUP BY work ORDER BY work",
    /* per work: executions and their seconds, all time and started from ?1 (ISO) on */
    [ST_STATS_EXECS] =
        "SELECT c.work, count(*), coalesce(sum(h.duration), 0),"
        " coalesce(sum(h.started_at >= ?1), 0),"
        " coalesce(sum(CASE WHEN h.started_at >= ?1 THEN h.duration END), 0)"
        " FROM history AS h JOIN calls AS c ON c.id = h.call_id"
        " WHERE (?2 IS NULL OR c.work = ?2) GROUP BY c.work ORDER BY c.work",
};

/* ---- errors ------------------------------------------------------------ */

/*
 * Translate a failed SQLite result into a TF code and a message naming the
 * operation (what) and the database.
 */
static int db_err(tf_store *s, int src, const char *what)
{
    sqlite3 *db = s->impl ? DB(s) : NULL;
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(src);
    switch (src & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        tf_store_set_err(s, "cannot %s: database '%s' stayed locked for %.0f s: %s",
                         what, s->path, s->busy_total, msg);
        return TF_EBUSY;
    case SQLITE_NOMEM:
        tf_store_set_err(s, "cannot %s: out of memory", what);
        return TF_ENOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        tf_store_set_err(s, "database '%s' is corrupt or not a tickflow database: %s",
                         s->path, msg);
        return TF_EDB;
    default:
        tf_store_set_err(s, "cannot %s in database '%s': %s", what, s->path, msg);
        return TF_EDB;
    }
}

/* ---- statements ---------------------------------------------------------- */

static tf_q *sq_prepare(tf_store *s, int id, int *rc)
{
    sq *e = s->impl;
    if (e->stmt[id])
        return (tf_q *)(void *)e->stmt[id];
    int src = sqlite3_prepare_v3(e->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                 &e->stmt[id], NULL);
    if (src != SQLITE_OK) {
        *rc = db_err(s, src, "prepare a statement");
        e->stmt[id] = NULL;
        return NULL;
    }
    return (tf_q *)(void *)e->stmt[id];
}

static void sq_bind_text(tf_q *q, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(ST(q), i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(ST(q), i);
}

static void sq_bind_int64(tf_q *q, int i, int64_t v) { sqlite3_bind_int64(ST(q), i, v); }
static void sq_bind_double(tf_q *q, int i, double v) { sqlite3_bind_double(ST(q), i, v); }
static void sq_bind_null(tf_q *q, int i) { sqlite3_bind_null(ST(q), i); }

/* SQLite's own busy timeout for one try: what is left of the budget, at most 5 s. */
static int busy_ms(double left)
{
    return left <= 0 ? 0 : left < 5.0 ? (int)(left * 1000.0) + 1 : 5000;
}

/*
 * SQLite's busy handler: try again every millisecond until wait_ms have
 * passed. SQLite's own busy timeout sleeps up to 100 ms between tries, so
 * a waiter could keep missing the short gaps between our batched long
 * writes (TF_STORE_BATCH_PAUSE_MS) and let a lease run out; a try costs a
 * few system calls.
 */
static int busy_wait(void *arg, int tries)
{
    sq *c = arg;
    double now = tf_store_mono();
    if (tries == 0)
        c->wait_start = now;
    if ((now - c->wait_start) * 1000.0 >= c->wait_ms)
        return 0;
    struct timespec pause = {0, 1000 * 1000};
    nanosleep(&pause, NULL);
    return 1;
}

/* How long the next steps may wait for a lock, in milliseconds. */
static void set_wait(tf_store *s, int ms)
{
    sq *c = s->impl;
    c->wait_ms = ms;
    sqlite3_busy_handler(c->db, busy_wait, c);
}

/*
 * Step st, retrying SQLITE_BUSY (after SQLite's own busy timeout ran out)
 * until busy_total seconds have passed in all: each retry gives SQLite only
 * what is left of the budget. Returns the SQLite code.
 */
static int raw_step(tf_store *s, sqlite3_stmt *st)
{
    double t0 = tf_store_mono();
    int shortened = 0;
    int src;
    for (;;) {
        src = sqlite3_step(st);
        int prim = src & 0xff;
        if (prim != SQLITE_BUSY && prim != SQLITE_LOCKED)
            break;
        double left = s->busy_total - (tf_store_mono() - t0);
        if (left <= 0)
            break;
        sqlite3_reset(st);
        set_wait(s, busy_ms(left));
        shortened = 1;
        struct timespec pause = {0, 2 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (shortened)
        set_wait(s, busy_ms(s->busy_total));
    return src;
}

static int sq_step(tf_store *s, tf_q *q, const char *what)
{
    int src = raw_step(s, ST(q));
    if (src == SQLITE_ROW)
        return Q_ROW;
    if (src == SQLITE_DONE)
        return Q_DONE;
    return db_err(s, src, what);
}

static const char *sq_col_text(tf_q *q, int i)
{
    return (const char *)sqlite3_column_text(ST(q), i);
}

static int64_t sq_col_int64(tf_q *q, int i) { return sqlite3_column_int64(ST(q), i); }
static double sq_col_double(tf_q *q, int i) { return sqlite3_column_double(ST(q), i); }
static int sq_col_null(tf_q *q, int i) { return sqlite3_column_type(ST(q), i) == SQLITE_NULL; }

static int64_t sq_changes(tf_store *s, tf_q *q)
{
    (void)q;
    return sqlite3_changes(DB(s));
}

static int64_t sq_last_id(tf_store *s, tf_q *q)
{
    (void)q;
    return sqlite3_last_insert_rowid(DB(s));
}

static void sq_rewind(tf_q *q) { sqlite3_reset(ST(q)); }

/* Unbind and rewind a statement so it holds no lock and no stale pointer. */
static void sq_reset(tf_q *q)
{
    sqlite3_reset(ST(q));
    sqlite3_clear_bindings(ST(q));
}

/* Run a pragma or DDL text that must succeed, retrying a locked database. */
static int exec_text(tf_store *s, const char *sql, const char *what)
{
    double t0 = tf_store_mono();
    for (;;) {
        char *msg = NULL;
        int src = sqlite3_exec(DB(s), sql, NULL, NULL, &msg);
        sqlite3_free(msg);
        if (src == SQLITE_OK)
            return TF_OK;
        int prim = src & 0xff;
        if ((prim == SQLITE_BUSY || prim == SQLITE_LOCKED) &&
            tf_store_mono() - t0 < s->busy_total)
            continue;
        return db_err(s, src, what);
    }
}

/* The engine's own statement id (TX_*), prepared on first use; NULL with *rc set. */
static sqlite3_stmt *own(tf_store *s, int id, int *rc)
{
    sq *e = s->impl;
    if (e->own[id])
        return e->own[id];
    int src = sqlite3_prepare_v3(e->db, own_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                 &e->own[id], NULL);
    if (src != SQLITE_OK) {
        *rc = db_err(s, src, "prepare a statement");
        e->own[id] = NULL;
    }
    return e->own[id];
}

/* Run the engine's own statement id, which returns no rows, with our busy retry. */
static int exec_own(tf_store *s, int id, const char *what)
{
    int rc = TF_OK;
    sqlite3_stmt *st = own(s, id, &rc);
    if (!st)
        return rc;
    int src = raw_step(s, st);
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        rc = db_err(s, src, what);
    sqlite3_reset(st);
    return rc;
}

/* ---- transactions, clock, change counter ------------------------------- */

static int sq_begin(tf_store *s, const char *what)
{
    return exec_own(s, TX_BEGIN, what);
}

static void sq_rollback(tf_store *s)
{
    if (s->impl && !sqlite3_get_autocommit(DB(s)))
        exec_own(s, TX_ROLLBACK, "roll back");
}

static int sq_commit(tf_store *s, const char *what)
{
    int rc = exec_own(s, TX_COMMIT, what);
    if (rc != TF_OK)
        sq_rollback(s);
    return rc;
}

static int sq_now(tf_store *s, double *now)
{
    *now = tf_store_host_now(s);
    return TF_OK;
}

/*
 * PRAGMA data_version: it changes when another connection committed since
 * the last call; our own commits do not change it.
 */
static int sq_data_version(tf_store *s, int64_t *version)
{
    int rc = TF_OK;
    sqlite3_stmt *st = own(s, TX_DATA_VERSION, &rc);
    if (!st)
        return rc;
    int src = raw_step(s, st);
    if (src == SQLITE_ROW)
        *version = sqlite3_column_int64(st, 0);
    else
        rc = db_err(s, src, "read the data version");
    sqlite3_reset(st);
    return rc;
}

static void sq_set_busy(tf_store *s)
{
    set_wait(s, busy_ms(s->busy_total));
}

/* ---- open and migrate ------------------------------------------------- */

int tf_store_schema_version(void)
{
    return tf_schema_sqlite_count;
}

/* Read PRAGMA user_version (not prepared: used only while opening). */
static int read_user_version(tf_store *s, int *uv)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(DB(s), "PRAGMA user_version", -1, &st, NULL);
    if (src == SQLITE_OK) {
        src = raw_step(s, st);
        if (src == SQLITE_ROW) {
            *uv = sqlite3_column_int(st, 0);
            src = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return src == SQLITE_OK ? TF_OK : db_err(s, src, "read the schema version");
}

static int refuse_newer(tf_store *s, int uv)
{
    tf_store_set_err(s, "database '%s' has schema version %d, newer than this tickflow (%d);"
                     " refusing to modify it", s->path, uv, tf_schema_sqlite_count);
    return TF_ESCHEMA;
}

/*
 * Bring the schema up to tf_schema_sqlite_count: each missing migration in
 * its own transaction, user_version re-read under the write lock so
 * concurrent openers apply each migration exactly once.
 */
static int migrate(tf_store *s)
{
    for (int i = 0; i < tf_schema_sqlite_count; i++) {
        int rc = tf_store_begin(s, "migrate the schema");
        if (rc != TF_OK)
            return rc;
        int uv = 0;
        rc = read_user_version(s, &uv);
        if (rc == TF_OK && uv > tf_schema_sqlite_count)
            rc = refuse_newer(s, uv);
        if (rc == TF_OK && uv < i + 1) {
            char *msg = NULL;
            int src = sqlite3_exec(DB(s), tf_schema_sqlite[i], NULL, NULL, &msg);
            if (src != SQLITE_OK) {
                tf_store_set_err(s, "cannot apply schema migration %d to database '%s': %s",
                                 i + 1, s->path, msg ? msg : sqlite3_errstr(src));
                rc = (src & 0xff) == SQLITE_BUSY ? TF_EBUSY : TF_EDB;
            }
            sqlite3_free(msg);
            char sql[64];
            int n = snprintf(sql, sizeof sql, "PRAGMA user_version = %d", i + 1);
            if (rc == TF_OK && (n < 0 || (size_t)n >= sizeof sql)) {
                tf_store_set_err(s, "cannot format the schema version");
                rc = TF_EDB;
            }
            if (rc == TF_OK)
                rc = exec_text(s, sql, "record the schema version");
        }
        if (rc != TF_OK) {
            tf_store_rollback(s);
            return rc;
        }
        rc = tf_store_commit(s, "commit the schema migration");
        if (rc != TF_OK)
            return rc;
    }
    return TF_OK;
}

/* What a file that is not a regular one is, for the refusal. */
static const char *file_kind(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device"
         : S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

/*
 * A database is a regular file or absent (*exists = 0): SQLite would open
 * /dev/null or a FIFO and create "/dev/null-journal" beside it, so anything
 * else is refused before SQLite sees it, and nothing is created.
 */
static int check_regular(tf_store *s, int *exists)
{
    struct stat st;
    *exists = 0;
    if (stat(s->target, &st) != 0) {
        int e = errno;
        if (e == ENOENT)
            return TF_OK;
        tf_store_set_err(s, "cannot open database '%s': %s", s->path, strerror(e));
        return TF_EIO;
    }
    if (!S_ISREG(st.st_mode)) {
        tf_store_set_err(s, "cannot open database '%s': it is %s, not a regular file", s->path,
                         file_kind(st.st_mode));
        return TF_EDB;
    }
    *exists = 1;
    return TF_OK;
}

/*
 * Create the file ourselves so it gets mode 0600 whatever the umask;
 * an existing file is only checked for read-write access, and for being a
 * regular file again through the descriptor (it may have been swapped).
 */
static int create_file(tf_store *s)
{
    int exists;
    int rc0 = check_regular(s, &exists);
    if (rc0 != TF_OK)
        return rc0;
    int fd = open(s->target, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        int rc = TF_OK;
        if (fchmod(fd, 0600) != 0) {
            int e = errno;
            tf_store_set_err(s, "cannot open database '%s': %s", s->path, strerror(e));
            rc = TF_EIO;
        }
        close(fd);
        return rc;
    }
    if (errno == EEXIST)
        fd = open(s->target, O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        tf_store_set_err(s, "cannot open database '%s': %s", s->path, strerror(e));
        return TF_EIO;
    }
    struct stat st;
    int rc = TF_OK;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        tf_store_set_err(s, "cannot open database '%s': %s", s->path, strerror(e));
        rc = TF_EIO;
    } else if (!S_ISREG(st.st_mode)) {
        tf_store_set_err(s, "cannot open database '%s': it is %s, not a regular file", s->path,
                         file_kind(st.st_mode));
        rc = TF_EDB;
    }
    close(fd);
    return rc;
}

/* "file:" URI of path with mode=ro&immutable=1 (percent-encoded); caller frees. */
static char *immutable_uri(const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(path);
    char *u = malloc(5 + 3 * n + sizeof "?mode=ro&immutable=1");
    if (!u)
        return NULL;
    char *p = u;
    memcpy(p, "file:", 5);
    p += 5;
    for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            strchr("/-._~", *c)) {
            *p++ = (char)*c;
        } else {
            *p++ = '%';
            *p++ = hex[*c >> 4];
            *p++ = hex[*c & 15];
        }
    }
    memcpy(p, "?mode=ro&immutable=1", sizeof "?mode=ro&immutable=1");
    return u;
}

/* 1 if path + suffix exists (any type). */
static int sibling_exists(const char *path, const char *suffix)
{
    char buf[4096];
    struct stat st;
    int n = snprintf(buf, sizeof buf, "%s%s", path, suffix);
    return n > 0 && (size_t)n < sizeof buf && lstat(buf, &st) == 0;
}

/* Open the connection s works through: name with flags (NOMUTEX added), busy handling set. */
static int sq_connect(tf_store *s, const char *name, int flags)
{
    sq *e = calloc(1, sizeof *e);
    if (!e) {
        tf_store_set_err(s, "cannot open database '%s': out of memory", s->path);
        return TF_ENOMEM;
    }
    int src = sqlite3_open_v2(name, &e->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        tf_store_set_err(s, "cannot open database '%s': %s", s->path,
                         e->db ? sqlite3_errmsg(e->db) : sqlite3_errstr(src));
        sqlite3_close(e->db);
        free(e);
        return TF_EDB;
    }
    s->impl = e;
    sqlite3_extended_result_codes(e->db, 1);
    sq_set_busy(s);
    return TF_OK;
}

/*
 * tf_store_open_readonly: nothing is created or written. An absent (or
 * empty) database is an in-memory one at the current schema; an existing
 * one is opened read-only, through an immutable URI when its -wal or -shm
 * is missing (SQLite would create them otherwise; with no -wal there is
 * nothing the main file lacks).
 */
static int sq_open_readonly(tf_store *s)
{
    int exists;
    int rc = check_regular(s, &exists);
    if (rc != TF_OK)
        return rc;
    struct stat st;
    if (exists && stat(s->target, &st) == 0 && st.st_size == 0)
        exists = 0; /* an empty file is an empty database: nothing to read */
    if (!exists) {
        rc = sq_connect(s, ":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    } else if (sibling_exists(s->target, "-wal") && sibling_exists(s->target, "-shm")) {
        rc = sq_connect(s, s->target, SQLITE_OPEN_READONLY);
    } else {
        char *uri = immutable_uri(s->target);
        if (!uri) {
            tf_store_set_err(s, "cannot open database '%s': out of memory", s->path);
            return TF_ENOMEM;
        }
        rc = sq_connect(s, uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
        free(uri);
    }
    if (rc != TF_OK)
        return rc;
    if (!exists) {
        rc = exec_text(s, "PRAGMA foreign_keys = ON", "enable foreign keys");
        return rc == TF_OK ? migrate(s) : rc; /* in memory only */
    }
    int uv = 0;
    if ((rc = read_user_version(s, &uv)) != TF_OK)
        return rc;
    if (uv > tf_schema_sqlite_count)
        return refuse_newer(s, uv);
    if (uv < tf_schema_sqlite_count) {
        tf_store_set_err(s, "database '%s' has schema version %d and needs migrating to %d,"
                         " which a read-only open (a dry run) does not do: run once without"
                         " --dry-run", s->path, uv, tf_schema_sqlite_count);
        return TF_ESCHEMA;
    }
    return exec_text(s, "PRAGMA mmap_size = 16777216", "map the database"); /* as set_pragmas */
}

/* The pragmas of every connection, after the schema check and before any migration. */
static int set_pragmas(tf_store *s)
{
    int rc = exec_text(s, "PRAGMA journal_mode = WAL", "enable write-ahead logging");
    if (rc == TF_OK)
        rc = exec_text(s, "PRAGMA synchronous = NORMAL", "set synchronous mode");
    if (rc == TF_OK)
        rc = exec_text(s, "PRAGMA foreign_keys = ON", "enable foreign keys");
    /*
     * Checkpoint every 4000 WAL pages (16 MiB with 4 KiB pages) instead of
     * SQLite's 1000: a checkpoint syncs the WAL and the database file, and
     * with ~10 pages written per recorded call the default interval put two
     * fsyncs on every ~100th claim or finish. Atomicity and crash-consistency
     * are unchanged (synchronous=NORMAL already leaves the last commits
     * unsynced until a checkpoint); the WAL file grows to about 16 MiB.
     */
    if (rc == TF_OK)
        rc = exec_text(s, "PRAGMA wal_autocheckpoint = 4000", "set the checkpoint interval");
    /*
     * Reads through a memory map: no pread per page on the cached path. The
     * map is bounded: every page read through it counts in our resident
     * memory, and a preload scan reads them all, so a map of the whole file
     * made RSS grow with the database (256 MiB: +0.5 KiB per call). 16 MiB
     * keeps a database of ~30,000 calls mapped whole; the rest is read into
     * SQLite's page cache (bounded) by pread.
     */
    if (rc == TF_OK)
        rc = exec_text(s, "PRAGMA mmap_size = 16777216", "map the database");
    /*
     * Keep the -wal and -shm files when the last connection closes (emptied:
     * a journal size limit truncates the WAL to 0 at close and to 16 MiB
     * after a checkpoint). Creating the two files costs each process start
     * about 1 ms per file on ext4 here, most of a cached `tickflow run --once`
     * over a small pipeline; their contents and modes are SQLite's as before.
     */
    if (rc == TF_OK) {
        int persist = 1;
        sqlite3_file_control(DB(s), "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
        rc = exec_text(s, "PRAGMA journal_size_limit = 16777216", "limit the WAL size");
    }
    return rc;
}

/* Open the connection and check the schema before any write (WAL included). */
static int sq_open(tf_store *s)
{
    if (s->readonly)
        return sq_open_readonly(s);
    int rc = create_file(s);
    if (rc != TF_OK)
        return rc;
    if ((rc = sq_connect(s, s->target, SQLITE_OPEN_READWRITE)) != TF_OK)
        return rc;
    sq *e = s->impl;
    int src;

    /* version and table count from one snapshot: a concurrent opener may be migrating */
    sqlite3_stmt *st = NULL;
    src = sqlite3_prepare_v2(e->db, "SELECT (SELECT user_version FROM pragma_user_version),"
                             " (SELECT count(*) FROM sqlite_master)", -1, &st, NULL);
    if (src == SQLITE_OK)
        src = raw_step(s, st);
    int uv = src == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    int tables = src == SQLITE_ROW ? sqlite3_column_int(st, 1) : 0;
    sqlite3_finalize(st);
    if (src != SQLITE_ROW)
        return db_err(s, src, "read the schema version");
    if (uv > tf_schema_sqlite_count)
        return refuse_newer(s, uv);
    if (uv == 0 && tables > 0) {
        /* a database with tables but no version is someone else's */
        tf_store_set_err(s, "database '%s' is corrupt or not a tickflow database:"
                         " it has tables but no tickflow schema version", s->path);
        return TF_EDB;
    }
    rc = set_pragmas(s);
    /* Only an out-of-date schema takes the write lock: ls and cached runs never wait on writers here. */
    if (rc == TF_OK && uv < tf_schema_sqlite_count)
        rc = migrate(s);
    return rc;
}

static void sq_close(tf_store *s)
{
    sq *e = s->impl;
    if (!e)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(e->stmt[i]);
    for (int i = 0; i < TX_COUNT; i++)
        sqlite3_finalize(e->own[i]);
    sqlite3_close(e->db);
    free(e);
    s->impl = NULL;
}

const tf_engine tf_engine_sqlite = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .set_busy = sq_set_busy,
    .prepare = sq_prepare,
    .bind_text = sq_bind_text,
    .bind_int64 = sq_bind_int64,
    .bind_double = sq_bind_double,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .col_text = sq_col_text,
    .col_int64 = sq_col_int64,
    .col_double = sq_col_double,
    .col_null = sq_col_null,
    .changes = sq_changes,
    .last_id = sq_last_id,
    .rewind = sq_rewind,
    .reset = sq_reset,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .now = sq_now,
    .data_version = sq_data_version,
};
