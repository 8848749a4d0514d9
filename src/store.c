/*
 * store.c - the persistent cache in SQLite (the interface is store.h).
 *
 * Owns: opening (file created 0600, WAL, busy timeout), migrations
 * (schema/NNNN-name.sql embedded as tf_schema_migrations[], tracked by PRAGMA
 * user_version, a newer database refused untouched), the claim protocol
 * (lookup, lease, fencing token, takeover of dead runners), finishing,
 * renewal, and the inspection calls of the CLI (list, find, history,
 * clear, retry, gc).
 *
 * Every statement is prepared once, on first use, and reused; every value
 * is bound. Every state change is one BEGIN IMMEDIATE transaction; a lock
 * held by another connection is waited for (SQLite's busy timeout, then our
 * own retry of BEGIN/COMMIT up to busy_total seconds) and only then reported
 * as TF_EBUSY, never as a call failure.
 *
 * The hot path is tf_store_claim on a succeeded call: one indexed SELECT on
 * the UNIQUE (work, version, args_sha256) index, no transaction, one malloc
 * for the result copy. Decisions that need no write (busy, waiting for a
 * retry, failed for good) are also answered from that read; only a claim
 * that may run takes the write lock and decides again inside it. A call the
 * read did not find is inserted at once under the lock (INSERT ... ON
 * CONFLICT DO NOTHING tells whether another runner got there first), and a
 * success or interruption is finished with one fenced UPDATE.
 *
 * Ends of calls and execution starts may be deferred (group commit,
 * store.h): queued by tf_store_finish_later/tf_store_exec_started_later and
 * applied, in order, at the start of this handle's next write transaction
 * (begin()), so a new call in a sequential flow costs one transaction and
 * as few index writes as the schema needs (schema/0002, 0003). A claim
 * made while writes are queued decides under the write lock, after them.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "proc.h"
#include "schema.h"

/* Prepared statements, indexes into tf_store.stmt[] and stmt_sql[]. */
enum {
    ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
    ST_LOOKUP, ST_INSERT_CALL, ST_RECLAIM, ST_SET_RETRY_AT,
    ST_HIST_INSERT, ST_HIST_RUNNING, ST_HIST_INTERRUPT, ST_EXEC_STARTED,
    ST_RENEW, ST_FENCE_CHECK, ST_FINISH_CALL, ST_FINISH_SETTLE, ST_FINISH_HIST, ST_HIST_ERROR,
    ST_DATA_VERSION, ST_LIST, ST_LIST_UNSETTLED, ST_FIND, ST_HISTORY, ST_CLEAR_LIST, ST_CLEAR,
    ST_AUDIT, ST_RETRY, ST_GC, ST_PREV_ARGS, ST_EACH_SUCCEEDED, ST_EACH_SUCCEEDED_SCAN, ST_ROW_ESTIMATE, ST_COUNT_ROWS,
    ST_COUNT
};

/* The columns of a tf_call_row, in the order row_from_stmt reads them. */
#define CALL_COLS \
    "id, work, version, args_sha256, args_json, status, result_json, error," \
    " attempts, created_at, started_at, finished_at, duration, runner_pid," \
    " runner_host, (SELECT h.log_path FROM history AS h WHERE h.call_id = calls.id" \
    " ORDER BY h.attempt DESC, h.id DESC LIMIT 1)"

/* A tf_filter as SQL: ?1 work, ?2 status, ?3 key prefix, ?4 key, ?5 since, ?6 before. */
#define FILTER_SQL \
    "(?1 IS NULL OR work = ?1) AND (?2 IS NULL OR status = ?2)" \
    " AND (?3 IS NULL OR substr(args_sha256, 1, length(?3)) = ?3)" \
    " AND (?4 IS NULL OR args_sha256 = ?4)" \
    " AND (?5 IS NULL OR created_at >= ?5) AND (?6 IS NULL OR created_at < ?6)"

/* clear spares a call running under a live lease (?7 = now) unless the filter's status is 'running'. */
#define CLEAR_GUARD \
    " AND NOT (status = 'running' AND lease_until > ?7 AND ?2 IS NOT 'running')"

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_LOOKUP] =
        "SELECT id, status, result_json, error, attempts, failures, fence,"
        " lease_until, next_retry_at, runner_host, runner_pid, runner_start"
        " FROM calls WHERE work = ?1 AND version = ?2 AND args_sha256 = ?3",
    [ST_INSERT_CALL] =
        "INSERT INTO calls (work, version, args_sha256, args_json, status,"
        " attempts, failures, fence, lease_until, runner_host, runner_pid,"
        " runner_start, created_at, started_at)"
        " VALUES (?1, ?2, ?3, ?4, 'running', 1, 0, 1, ?5, ?6, ?7, ?8, ?9, ?9)"
        " ON CONFLICT (work, version, args_sha256) DO NOTHING",
    [ST_RECLAIM] =
        "UPDATE calls SET status = 'running', attempts = attempts + 1,"
        " fence = fence + 1, lease_until = ?2, runner_host = ?3, runner_pid = ?4,"
        " runner_start = ?5, started_at = ?6, finished_at = NULL WHERE id = ?1",
    [ST_SET_RETRY_AT] = "UPDATE calls SET next_retry_at = ?2 WHERE id = ?1",
    [ST_HIST_INSERT] =
        "INSERT INTO history (call_id, attempt, fence, status, runner_host,"
        " runner_pid, started_at) VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6)",
    [ST_HIST_RUNNING] =
        "SELECT id, exec_pgid FROM history"
        " WHERE call_id = ?1 AND fence = ?2 AND status = 'running'",
    [ST_HIST_INTERRUPT] =
        "UPDATE history SET status = 'interrupted', finished_at = ?2, error = ?3"
        " WHERE id = ?1",
    [ST_EXEC_STARTED] =
        "UPDATE history SET exec_pid = ?2, exec_pgid = ?3, log_path = ?4 WHERE id = ?1",
    [ST_RENEW] =
        "UPDATE calls SET lease_until = ?3"
        " WHERE id = ?1 AND fence = ?2 AND status = 'running'",
    [ST_FENCE_CHECK] =
        "SELECT failures, next_retry_at FROM calls"
        " WHERE id = ?1 AND fence = ?2 AND status = 'running'",
    [ST_FINISH_CALL] =
        "UPDATE calls SET status = ?3, result_json = ?4, error = ?5, failures = ?6,"
        " next_retry_at = ?7, lease_until = NULL, finished_at = ?8, duration = ?9"
        " WHERE id = ?1 AND fence = ?2",
    /* a success (?6 = 0: failures reset) or an interruption (?6 NULL: failures and
       next retry kept), fenced in the WHERE clause: no row changed = fenced out */
    [ST_FINISH_SETTLE] =
        "UPDATE calls SET status = ?3, result_json = ?4, error = ?5,"
        " failures = coalesce(?6, failures),"
        " next_retry_at = CASE WHEN ?6 IS NULL THEN next_retry_at END,"
        " lease_until = NULL, finished_at = ?7, duration = ?8"
        " WHERE id = ?1 AND fence = ?2 AND status = 'running'",
    [ST_FINISH_HIST] =
        "UPDATE history SET status = ?3, finished_at = ?4, duration = ?5,"
        " exit_code = ?6, signal = ?7, error = ?8 WHERE id = ?1 AND call_id = ?2",
    [ST_HIST_ERROR] = "UPDATE history SET error = ?2 WHERE id = ?1",
    [ST_DATA_VERSION] = "PRAGMA data_version",
    [ST_LIST] =
        "SELECT " CALL_COLS " FROM calls WHERE " FILTER_SQL
        " ORDER BY id DESC LIMIT ?7",
    /* ST_LIST for a status other than succeeded: the repeated condition lets
       SQLite use the partial index calls_unsettled (schema/0002) */
    [ST_LIST_UNSETTLED] =
        "SELECT " CALL_COLS " FROM calls WHERE status = ?2 AND status <> 'succeeded' AND "
        FILTER_SQL " ORDER BY id DESC LIMIT ?7",
    [ST_FIND] =
        "SELECT " CALL_COLS " FROM calls WHERE substr(args_sha256, 1, length(?1)) = ?1"
        " ORDER BY id DESC LIMIT 6",
    [ST_HISTORY] =
        "SELECT id, attempt, status, started_at, finished_at, duration,"
        " runner_host, runner_pid, exec_pid, exit_code, signal, error, log_path"
        " FROM history WHERE call_id = ?1 ORDER BY attempt, id",
    [ST_CLEAR_LIST] =
        "SELECT " CALL_COLS " FROM calls WHERE " FILTER_SQL CLEAR_GUARD
        " ORDER BY id DESC",
    [ST_CLEAR] = "DELETE FROM calls WHERE " FILTER_SQL CLEAR_GUARD,
    [ST_AUDIT] =
        "INSERT INTO clears (at, user, selector, count) VALUES (?1, ?2, ?3, ?4)",
    [ST_RETRY] =
        "UPDATE calls SET failures = 0, next_retry_at = NULL"
        " WHERE status = 'failed' AND status <> 'succeeded' AND " FILTER_SQL,
    [ST_GC] =
        "DELETE FROM calls WHERE status IN ('succeeded', 'failed', 'interrupted')"
        " AND finished_at < ?1",
    [ST_PREV_ARGS] =
        "SELECT args_json FROM calls WHERE work = ?1 AND args_sha256 <> ?2"
        " ORDER BY id DESC LIMIT 1",
    /* ?7: count at most this many (-1: all) */
    [ST_COUNT_ROWS] = "SELECT count(*) FROM (SELECT 1 FROM calls WHERE " FILTER_SQL " LIMIT ?7)",
    /* two subqueries: each is one b-tree seek (max and min together scan the table) */
    [ST_ROW_ESTIMATE] =
        "SELECT coalesce((SELECT max(id) FROM calls) - (SELECT min(id) FROM calls) + 1, 0)",
    [ST_EACH_SUCCEEDED] =
        "SELECT args_sha256, result_json FROM calls"
        " WHERE work = ?1 AND version = ?2 AND status = 'succeeded' LIMIT ?3",
    /* The same as one sequential pass over the table: faster for small tables. */
    [ST_EACH_SUCCEEDED_SCAN] =
        "SELECT args_sha256, result_json FROM calls NOT INDEXED"
        " WHERE work = ?1 AND version = ?2 AND status = 'succeeded' LIMIT ?3",
};

/*
 * A write kept for the next transaction (tf_store_finish_later,
 * tf_store_exec_started_later), so that one commit carries it together
 * with the next claim or with the other deferred writes.
 */
typedef struct pending_op {
    int is_start;           /* 1: exec_started (history_id, pid, pgid, log_path); 0: finish */
    tf_finish f;            /* finish: its fields; f.result_json and f.error owned */
    double at;              /* finish: epoch seconds it happened (its finished_at) */
    long pid;               /* exec_started: child pid */
    long pgid;              /* exec_started: its process group */
    char *log_path;         /* exec_started: log file, owned, or NULL */
} pending_op;

struct tf_store {
    sqlite3 *db;                    /* the connection; NULL when open failed */
    char *path;                     /* database file path as given (owned) */
    sqlite3_stmt *stmt[ST_COUNT];   /* prepared on first use, finalized at close */
    tf_proc_id self;                /* our runner identity, refreshed after a fork */
    double (*clock)(void *);        /* test seam; NULL = the real clock */
    void *clock_user;               /* argument of clock */
    double busy_total;              /* seconds to keep retrying a locked database */
    pending_op *pend;               /* deferred writes, oldest first (owned) */
    size_t npend;                   /* count */
    size_t cappend;                 /* allocated */
    int pend_in_txn;                /* the open transaction holds every deferred write */
    int64_t pend_lost;              /* successes among them found fenced out in this transaction */
    int64_t lost;                   /* deferred successes found fenced out, not yet taken */
    char err[1024];                 /* last error message, "" if none */
};

/* ---- errors and time --------------------------------------------------- */

static void set_err(tf_store *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Format the handle's message; a message too long is cut with "...". */
static void set_err(tf_store *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    if (n < 0)
        snprintf(s->err, sizeof s->err, "cannot format an error message");
    else if ((size_t)n >= sizeof s->err)
        memcpy(s->err + sizeof s->err - 4, "...", 4);
}

/*
 * Translate a failed SQLite result into a TF code and a message naming the
 * operation (what) and the database.
 */
static int db_err(tf_store *s, int src, const char *what)
{
    const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(src);
    switch (src & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        set_err(s, "cannot %s: database '%s' stayed locked for %.0f s: %s",
                what, s->path, s->busy_total, msg);
        return TF_EBUSY;
    case SQLITE_NOMEM:
        set_err(s, "cannot %s: out of memory", what);
        return TF_ENOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        set_err(s, "database '%s' is corrupt or not a tickflow database: %s",
                s->path, msg);
        return TF_EDB;
    default:
        set_err(s, "cannot %s in database '%s': %s", what, s->path, msg);
        return TF_EDB;
    }
}

static double real_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Monotonic seconds, for the busy retry budget (immune to the clock seam). */
static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_of(const tf_store *s)
{
    return s->clock ? s->clock(s->clock_user) : real_clock();
}

/* Epoch seconds as "2026-11-25T15:32:56.123Z" (milliseconds truncated). */
static void iso_time(double t, char out[32])
{
    double x = t * 1000.0;
    long long ms = (long long)x;
    if ((double)ms > x)
        ms--; /* floor without libm */
    time_t sec = (time_t)(ms / 1000);
    int milli = (int)(ms % 1000);
    if (milli < 0) {
        milli += 1000;
        sec -= 1;
    }
    struct tm tm;
    if (!gmtime_r(&sec, &tm)) {
        snprintf(out, 32, "1970-01-01T00:00:00.000Z");
        return;
    }
    int n = snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, milli);
    if (n < 0 || n >= 32)
        snprintf(out, 32, "1970-01-01T00:00:00.000Z");
}

/* ---- statements ---------------------------------------------------------- */

/* The prepared statement id, preparing it on first use; NULL with the error set. */
static sqlite3_stmt *stmt(tf_store *s, int id, int *rc)
{
    if (s->stmt[id])
        return s->stmt[id];
    int src = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                 &s->stmt[id], NULL);
    if (src != SQLITE_OK) {
        *rc = db_err(s, src, "prepare a statement");
        s->stmt[id] = NULL;
        return NULL;
    }
    return s->stmt[id];
}

/* Unbind and rewind a statement so it holds no lock and no stale pointer. */
static void done(sqlite3_stmt *st)
{
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

/* SQLite's own busy timeout for one try: what is left of the budget, at most 5 s. */
static int busy_ms(double left)
{
    return left <= 0 ? 0 : left < 5.0 ? (int)(left * 1000.0) + 1 : 5000;
}

/*
 * Step st, retrying SQLITE_BUSY (after SQLite's own busy timeout ran out)
 * until busy_total seconds have passed in all: each retry gives SQLite only
 * what is left of the budget. Returns the SQLite code.
 */
static int step(tf_store *s, sqlite3_stmt *st)
{
    double t0 = mono();
    int shortened = 0;
    int src;
    for (;;) {
        src = sqlite3_step(st);
        int prim = src & 0xff;
        if (prim != SQLITE_BUSY && prim != SQLITE_LOCKED)
            break;
        double left = s->busy_total - (mono() - t0);
        if (left <= 0)
            break;
        sqlite3_reset(st);
        sqlite3_busy_timeout(s->db, busy_ms(left));
        shortened = 1;
        struct timespec pause = {0, 2 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (shortened)
        sqlite3_busy_timeout(s->db, busy_ms(s->busy_total));
    return src;
}

/* Run a statement that returns no rows (or whose rows are ignored). */
static int exec_id(tf_store *s, int id, const char *what)
{
    int rc = TF_OK;
    sqlite3_stmt *st = stmt(s, id, &rc);
    if (!st)
        return rc;
    int src = step(s, st);
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        rc = db_err(s, src, what);
    done(st);
    return rc;
}

static int apply_pending(tf_store *s);
static void drop_pending(tf_store *s);
static void rollback(tf_store *s);

/*
 * Start a write transaction (BEGIN IMMEDIATE) and apply the deferred
 * writes first, so every transaction commits them in order before its own
 * change: a claim never becomes durable before the finishes that came
 * earlier in this process (a flow's train step never looks claimed while
 * its download's success is unrecorded).
 */
static int begin(tf_store *s, const char *what)
{
    int rc = exec_id(s, ST_BEGIN, what);
    if (rc != TF_OK || !s->npend)
        return rc;
    rc = apply_pending(s);
    if (rc != TF_OK)
        rollback(s);
    return rc;
}

/* Commit; on failure the transaction is rolled back (deferred writes kept). */
static int commit(tf_store *s, const char *what)
{
    int rc = exec_id(s, ST_COMMIT, what);
    if (rc != TF_OK && !sqlite3_get_autocommit(s->db))
        exec_id(s, ST_ROLLBACK, "roll back");
    if (rc == TF_OK && s->pend_in_txn) {
        s->lost += s->pend_lost;
        drop_pending(s);
    }
    s->pend_in_txn = 0;
    return rc;
}

/* Roll back after an error, keeping the first error message and the deferred writes. */
static void rollback(tf_store *s)
{
    s->pend_in_txn = 0;
    if (sqlite3_get_autocommit(s->db))
        return;
    char keep[sizeof s->err];
    memcpy(keep, s->err, sizeof keep);
    exec_id(s, ST_ROLLBACK, "roll back");
    memcpy(s->err, keep, sizeof keep);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_real_or_null(sqlite3_stmt *st, int i, double v, int null)
{
    if (null)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}

static char *dup_col(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t)
        return NULL;
    return strdup((const char *)t);
}

static int has_store(tf_store *s)
{
    if (!s)
        return 0;
    if (!s->db) {
        set_err(s, "database '%s' is not open", s->path ? s->path : "");
        return 0;
    }
    return 1;
}

/* ---- open and migrate ------------------------------------------------- */

int tf_store_schema_version(void)
{
    return tf_schema_count;
}

/* Read PRAGMA user_version (not prepared: used only while opening). */
static int read_user_version(tf_store *s, int *uv)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (src == SQLITE_OK) {
        src = step(s, st);
        if (src == SQLITE_ROW) {
            *uv = sqlite3_column_int(st, 0);
            src = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return src == SQLITE_OK ? TF_OK : db_err(s, src, "read the schema version");
}

/* Run a pragma or DDL text that must succeed, retrying a locked database. */
static int exec_text(tf_store *s, const char *sql, const char *what)
{
    double t0 = mono();
    for (;;) {
        char *msg = NULL;
        int src = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
        sqlite3_free(msg);
        if (src == SQLITE_OK)
            return TF_OK;
        int prim = src & 0xff;
        if ((prim == SQLITE_BUSY || prim == SQLITE_LOCKED) && mono() - t0 < s->busy_total)
            continue;
        return db_err(s, src, what);
    }
}

static int refuse_newer(tf_store *s, int uv)
{
    set_err(s, "database '%s' has schema version %d, newer than this tickflow (%d);"
            " refusing to modify it", s->path, uv, tf_schema_count);
    return TF_ESCHEMA;
}

/*
 * Bring the schema up to tf_schema_count: each missing migration in its own
 * transaction, user_version re-read under the write lock so concurrent
 * openers apply each migration exactly once.
 */
static int migrate(tf_store *s)
{
    for (int i = 0; i < tf_schema_count; i++) {
        int rc = begin(s, "migrate the schema");
        if (rc != TF_OK)
            return rc;
        int uv = 0;
        rc = read_user_version(s, &uv);
        if (rc == TF_OK && uv > tf_schema_count)
            rc = refuse_newer(s, uv);
        if (rc == TF_OK && uv < i + 1) {
            char *msg = NULL;
            int src = sqlite3_exec(s->db, tf_schema_migrations[i], NULL, NULL, &msg);
            if (src != SQLITE_OK) {
                set_err(s, "cannot apply schema migration %d to database '%s': %s",
                        i + 1, s->path, msg ? msg : sqlite3_errstr(src));
                rc = (src & 0xff) == SQLITE_BUSY ? TF_EBUSY : TF_EDB;
            }
            sqlite3_free(msg);
            char sql[64];
            int n = snprintf(sql, sizeof sql, "PRAGMA user_version = %d", i + 1);
            if (rc == TF_OK && (n < 0 || (size_t)n >= sizeof sql)) {
                set_err(s, "cannot format the schema version");
                rc = TF_EDB;
            }
            if (rc == TF_OK)
                rc = exec_text(s, sql, "record the schema version");
        }
        if (rc != TF_OK) {
            rollback(s);
            return rc;
        }
        rc = commit(s, "commit the schema migration");
        if (rc != TF_OK)
            return rc;
    }
    return TF_OK;
}

/*
 * Create the file ourselves so it gets mode 0600 whatever the umask;
 * an existing file is only checked for read-write access.
 */
static int create_file(tf_store *s)
{
    int fd = open(s->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        int rc = TF_OK;
        if (fchmod(fd, 0600) != 0) {
            int e = errno;
            set_err(s, "cannot open database '%s': %s", s->path, strerror(e));
            rc = TF_EIO;
        }
        close(fd);
        return rc;
    }
    if (errno == EEXIST)
        fd = open(s->path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        set_err(s, "cannot open database '%s': %s", s->path, strerror(e));
        return TF_EIO;
    }
    close(fd);
    return TF_OK;
}

/* Open the connection and check the schema before any write (WAL included). */
static int open_db(tf_store *s)
{
    int rc = create_file(s);
    if (rc != TF_OK)
        return rc;
    int src = sqlite3_open_v2(s->path, &s->db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        set_err(s, "cannot open database '%s': %s", s->path,
                s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(src));
        return TF_EDB;
    }
    sqlite3_extended_result_codes(s->db, 1);
    int ms = busy_ms(s->busy_total);
    sqlite3_busy_timeout(s->db, ms);

    /* version and table count from one snapshot: a concurrent opener may be migrating */
    sqlite3_stmt *st = NULL;
    src = sqlite3_prepare_v2(s->db, "SELECT (SELECT user_version FROM pragma_user_version),"
                             " (SELECT count(*) FROM sqlite_master)", -1, &st, NULL);
    if (src == SQLITE_OK)
        src = step(s, st);
    int uv = src == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    int tables = src == SQLITE_ROW ? sqlite3_column_int(st, 1) : 0;
    sqlite3_finalize(st);
    if (src != SQLITE_ROW)
        return db_err(s, src, "read the schema version");
    if (uv > tf_schema_count)
        return refuse_newer(s, uv);
    if (uv == 0 && tables > 0) {
        /* a database with tables but no version is someone else's */
        set_err(s, "database '%s' is corrupt or not a tickflow database:"
                " it has tables but no tickflow schema version", s->path);
        return TF_EDB;
    }

    rc = exec_text(s, "PRAGMA journal_mode = WAL", "enable write-ahead logging");
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
    /* Reads through a memory map: no pread per page on the cached path. */
    if (rc == TF_OK)
        rc = exec_text(s, "PRAGMA mmap_size = 268435456", "map the database");
    /*
     * Keep the -wal and -shm files when the last connection closes (emptied:
     * a journal size limit truncates the WAL to 0 at close and to 16 MiB
     * after a checkpoint). Creating the two files costs each process start
     * about 1 ms per file on ext4 here, most of a cached `tickflow run --once`
     * over a small pipeline; their contents and modes are SQLite's as before.
     */
    if (rc == TF_OK) {
        int persist = 1;
        sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
        rc = exec_text(s, "PRAGMA journal_size_limit = 16777216", "limit the WAL size");
    }
    /* Only an out-of-date schema takes the write lock: ls and cached runs never wait on writers here. */
    if (rc == TF_OK && uv < tf_schema_count)
        rc = migrate(s);
    return rc;
}

int tf_store_open(const char *path, tf_store **out)
{
    *out = NULL;
    tf_store *s = calloc(1, sizeof *s);
    if (!s)
        return TF_ENOMEM;
    *out = s;
    s->busy_total = 30.0;
    s->path = strdup(path ? path : "");
    if (!s->path) {
        set_err(s, "cannot open database: out of memory");
        return TF_ENOMEM;
    }
    if (tf_proc_self(&s->self) != TF_OK) {
        int e = errno;
        set_err(s, "cannot read the host name: %s", strerror(e));
        return TF_EIO;
    }
    int rc = open_db(s);
    if (rc != TF_OK && s->db) {
        for (int i = 0; i < ST_COUNT; i++) {
            sqlite3_finalize(s->stmt[i]);
            s->stmt[i] = NULL;
        }
        sqlite3_close(s->db);
        s->db = NULL;
    }
    return rc;
}

void tf_store_close(tf_store *s)
{
    if (!s)
        return;
    if (s->db)
        tf_store_flush(s); /* best effort: an unrecorded end only means the call runs again */
    drop_pending(s);
    free(s->pend);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    if (s->db)
        sqlite3_close(s->db);
    free(s->path);
    free(s);
}

const char *tf_store_errmsg(const tf_store *s)
{
    return s ? s->err : "out of memory";
}

void tf_store_set_clock(tf_store *s, double (*clock)(void *), void *user)
{
    s->clock = clock;
    s->clock_user = user;
}

void tf_store_set_busy_limit(tf_store *s, double seconds)
{
    s->busy_total = seconds > 0 ? seconds : 0;
    if (s->db) {
        int ms = busy_ms(s->busy_total);
        sqlite3_busy_timeout(s->db, ms);
    }
}

/* ---- claim ------------------------------------------------------------- */

void tf_claim_clear(tf_claim *c)
{
    if (!c)
        return;
    free(c->result_json);
    free(c->error);
    memset(c, 0, sizeof *c);
}

/* What the decision needs to do under the write lock. */
enum { ACT_NONE, ACT_INSERT, ACT_RECLAIM, ACT_TAKEOVER, ACT_CLAMP_RETRY };

/* The seconds a retry waits after the n-th consecutive failure. */
static double backoff_for(double backoff, long long failures)
{
    if (backoff <= 0 || failures < 1)
        return 0;
    long long shift = failures - 1;
    if (shift > 40)
        shift = 40;
    double f = backoff;
    while (shift-- > 0)
        f *= 2.0;
    return f;
}

/*
 * Decide from the ST_LOOKUP row st is on (or no row when st is NULL).
 * Fills out's decision and, for the answers that need no write, its
 * strings (HIT: result, RETRY_WAIT/FAILED: error). Returns the action.
 * For a takeover, *died is 1 when the runner is on this host and dead.
 */
static int decide(tf_store *s, sqlite3_stmt *st, const tf_claim_req *req,
                  double now, tf_claim *out, int *died, int *rc)
{
    *died = 0;
    if (!st)
        return ACT_INSERT;
    out->call_id = sqlite3_column_int64(st, 0);
    const char *status = (const char *)sqlite3_column_text(st, 1);
    if (!status)
        status = "";
    long long failures = sqlite3_column_int64(st, 5);

    if (strcmp(status, "succeeded") == 0) {
        if (!req->cache_calls)
            return ACT_RECLAIM;
        out->decision = TF_CLAIM_HIT;
        if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
            out->result_json = dup_col(st, 2);
            if (!out->result_json) {
                set_err(s, "cannot copy a cached result: out of memory");
                *rc = TF_ENOMEM;
            }
        }
        return ACT_NONE;
    }
    if (strcmp(status, "running") == 0) {
        double lease_until = sqlite3_column_double(st, 7);
        const char *host = (const char *)sqlite3_column_text(st, 9);
        long pid = (long)sqlite3_column_int64(st, 10);
        long long start = sqlite3_column_int64(st, 11);
        int same_host = host && strcmp(host, s->self.host) == 0;
        int ours = same_host && pid == s->self.pid && start == s->self.start;
        if (same_host && !ours && !tf_proc_alive(pid, start)) {
            *died = 1;
            return ACT_TAKEOVER;
        }
        if (sqlite3_column_type(st, 7) == SQLITE_NULL || lease_until <= now)
            return ACT_TAKEOVER;
        out->decision = TF_CLAIM_BUSY;
        return ACT_NONE;
    }
    if (strcmp(status, "failed") == 0 && req->cache_calls) {
        if (failures > req->retries) {
            out->decision = TF_CLAIM_FAILED;
        } else {
            int no_time = sqlite3_column_type(st, 8) == SQLITE_NULL;
            double at = sqlite3_column_double(st, 8);
            if (no_time || now >= at)
                return ACT_RECLAIM;
            /* The clock went back: never wait longer than one full backoff from now. */
            double full = backoff_for(req->backoff, failures);
            if (at - now > full + 1e-3) {
                out->next_retry_at = now + full;
                return ACT_CLAMP_RETRY;
            }
            out->decision = TF_CLAIM_RETRY_WAIT;
            out->next_retry_at = at;
        }
        if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
            out->error = dup_col(st, 3);
            if (!out->error) {
                set_err(s, "cannot copy an error message: out of memory");
                *rc = TF_ENOMEM;
            }
        }
        return ACT_NONE;
    }
    /* interrupted, or failed/anything else with cache_calls off: run again */
    return ACT_RECLAIM;
}

/* Bind the key of req to ST_LOOKUP and step it; *row = 1 if found. */
static int lookup(tf_store *s, const tf_claim_req *req, sqlite3_stmt **out, int *row)
{
    int rc = TF_OK;
    sqlite3_stmt *st = stmt(s, ST_LOOKUP, &rc);
    *out = st;
    if (!st)
        return rc;
    bind_text(st, 1, req->work);
    bind_text(st, 2, req->version ? req->version : "");
    bind_text(st, 3, req->args_sha256);
    int src = step(s, st);
    if (src == SQLITE_ROW) {
        *row = 1;
        return TF_OK;
    }
    *row = 0;
    if (src == SQLITE_DONE)
        return TF_OK;
    rc = db_err(s, src, "look up a call");
    done(st);
    return rc;
}

/* Record a new attempt's history row; sets out->history_id. */
static int add_history(tf_store *s, tf_claim *out, const char *iso)
{
    int rc = TF_OK;
    sqlite3_stmt *st = stmt(s, ST_HIST_INSERT, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, out->call_id);
    sqlite3_bind_int(st, 2, out->attempt);
    sqlite3_bind_int64(st, 3, out->fence);
    bind_text(st, 4, s->self.host);
    sqlite3_bind_int64(st, 5, s->self.pid);
    bind_text(st, 6, iso);
    int src = step(s, st);
    if (src != SQLITE_DONE)
        rc = db_err(s, src, "record an attempt");
    else
        out->history_id = sqlite3_last_insert_rowid(s->db);
    done(st);
    return rc;
}

/*
 * Mark the dead or expired attempt (call_id, fence) interrupted and return
 * its execution group when it ran on this host.
 */
static int interrupt_stale(tf_store *s, int64_t call_id, int64_t fence,
                           const char *host, long pid, int died, const char *iso,
                           long *pgid)
{
    int rc = TF_OK;
    sqlite3_stmt *st = stmt(s, ST_HIST_RUNNING, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, call_id);
    sqlite3_bind_int64(st, 2, fence);
    int64_t hid = 0;
    long group = 0;
    int src = step(s, st);
    if (src == SQLITE_ROW) {
        hid = sqlite3_column_int64(st, 0);
        group = (long)sqlite3_column_int64(st, 1);
        src = SQLITE_DONE;
    }
    if (src != SQLITE_DONE)
        rc = db_err(s, src, "read the interrupted attempt");
    done(st);
    if (rc != TF_OK || hid == 0)
        return rc;
    if (host && strcmp(host, s->self.host) == 0)
        *pgid = group;

    char why[400];
    int n = died ? snprintf(why, sizeof why, "runner %s:%ld died", host ? host : "?", pid)
                 : snprintf(why, sizeof why, "lease expired");
    if (n < 0 || (size_t)n >= sizeof why)
        snprintf(why, sizeof why, "runner died");
    st = stmt(s, ST_HIST_INTERRUPT, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, hid);
    bind_text(st, 2, iso);
    bind_text(st, 3, why);
    src = step(s, st);
    if (src != SQLITE_DONE)
        rc = db_err(s, src, "mark the interrupted attempt");
    done(st);
    return rc;
}

/*
 * Inside BEGIN IMMEDIATE: insert the row of a call never seen, running
 * under our lease (fence 1, attempt 1). *inserted is 0 when the key is
 * already there (another runner inserted it since our unlocked read):
 * nothing was written and the caller decides again on that row.
 */
static int insert_call(tf_store *s, const tf_claim_req *req, double lease_until,
                       const char *iso, tf_claim *out, int *inserted)
{
    *inserted = 0;
    int rc = TF_OK;
    sqlite3_stmt *st = stmt(s, ST_INSERT_CALL, &rc);
    if (!st)
        return rc;
    bind_text(st, 1, req->work);
    bind_text(st, 2, req->version ? req->version : "");
    bind_text(st, 3, req->args_sha256);
    bind_text(st, 4, req->args_json ? req->args_json : "{}");
    sqlite3_bind_double(st, 5, lease_until);
    bind_text(st, 6, s->self.host);
    sqlite3_bind_int64(st, 7, s->self.pid);
    sqlite3_bind_int64(st, 8, s->self.start);
    bind_text(st, 9, iso);
    int src = step(s, st);
    if (src == SQLITE_DONE && sqlite3_changes(s->db) == 1) {
        *inserted = 1;
        out->call_id = sqlite3_last_insert_rowid(s->db);
        out->fence = 1;
        out->attempt = 1;
    }
    done(st);
    return src == SQLITE_DONE ? TF_OK : db_err(s, src, "claim a call");
}

/*
 * The write half of a claim, inside BEGIN IMMEDIATE: decide again on the
 * current row and do what the decision needs.
 */
static int claim_locked(tf_store *s, const tf_claim_req *req, double now, tf_claim *out)
{
    sqlite3_stmt *st = NULL;
    int row = 0;
    int rc = lookup(s, req, &st, &row);
    if (rc != TF_OK)
        return rc;
    int died = 0;
    int act = decide(s, row ? st : NULL, req, now, out, &died, &rc);
    /* what a takeover needs from the old claim, copied before the reset */
    int64_t old_fence = row ? sqlite3_column_int64(st, 6) : 0;
    int old_attempts = row ? sqlite3_column_int(st, 4) : 0;
    long old_pid = row ? (long)sqlite3_column_int64(st, 10) : 0;
    char old_host[256] = "";
    if (row && sqlite3_column_text(st, 9))
        snprintf(old_host, sizeof old_host, "%s", (const char *)sqlite3_column_text(st, 9));
    done(st);
    if (rc != TF_OK || act == ACT_NONE)
        return rc;

    char iso[32];
    iso_time(now, iso);
    double lease_until = now + (req->lease > 0 ? req->lease : 0);

    if (act == ACT_CLAMP_RETRY) {
        st = stmt(s, ST_SET_RETRY_AT, &rc);
        if (!st)
            return rc;
        sqlite3_bind_int64(st, 1, out->call_id);
        sqlite3_bind_double(st, 2, out->next_retry_at);
        int src = step(s, st);
        done(st);
        if (src != SQLITE_DONE)
            return db_err(s, src, "reschedule a retry");
        /* answer from the clamped row: same decision as a plain wait */
        out->decision = TF_CLAIM_RETRY_WAIT;
        return TF_OK;
    }

    if (act == ACT_TAKEOVER) {
        rc = interrupt_stale(s, out->call_id, old_fence, old_host, old_pid, died, iso,
                             &out->stale_pgid);
        if (rc != TF_OK)
            return rc;
    }

    if (act == ACT_INSERT) {
        int inserted = 0;
        rc = insert_call(s, req, lease_until, iso, out, &inserted);
        if (rc == TF_OK && !inserted) {
            /* cannot happen: we hold the write lock and saw no row */
            set_err(s, "cannot claim a call: its row appeared under the write lock");
            rc = TF_EDB;
        }
    } else {
        st = stmt(s, ST_RECLAIM, &rc);
        if (!st)
            return rc;
        sqlite3_bind_int64(st, 1, out->call_id);
        sqlite3_bind_double(st, 2, lease_until);
        bind_text(st, 3, s->self.host);
        sqlite3_bind_int64(st, 4, s->self.pid);
        sqlite3_bind_int64(st, 5, s->self.start);
        bind_text(st, 6, iso);
        int src = step(s, st);
        done(st);
        if (src != SQLITE_DONE)
            return db_err(s, src, "claim a call");
        out->fence = old_fence + 1;
        out->attempt = old_attempts + 1;
    }
    if (rc == TF_OK)
        rc = add_history(s, out, iso);
    if (rc == TF_OK)
        out->decision = TF_CLAIM_RUN;
    return rc;
}

/* Zero out; check the handle and that req names a work and key (`what` names the operation). */
static int check_req(tf_store *s, const tf_claim_req *req, const char *what, tf_claim *out)
{
    memset(out, 0, sizeof *out);
    if (!has_store(s))
        return TF_ESTATE;
    if (!req->work || !req->args_sha256) {
        set_err(s, "cannot %s without a work name and key", what);
        return TF_EINPUT;
    }
    return TF_OK;
}

/*
 * The unlocked read shared by claim and peek: check req (`what` names the
 * operation in the message), read the clock into *now, look the call up
 * and decide on its row. On TF_OK *act is the action (out holds the answer
 * when it is ACT_NONE); on an error out is cleared.
 */
static int read_decision(tf_store *s, const tf_claim_req *req, const char *what,
                         tf_claim *out, int *act, double *now)
{
    *act = ACT_NONE;
    int rc0 = check_req(s, req, what, out);
    if (rc0 != TF_OK)
        return rc0;
    *now = now_of(s);
    sqlite3_stmt *st = NULL;
    int row = 0;
    int rc = lookup(s, req, &st, &row);
    if (rc != TF_OK)
        return rc;
    int died = 0;
    *act = decide(s, row ? st : NULL, req, *now, out, &died, &rc);
    done(st);
    if (rc != TF_OK)
        tf_claim_clear(out);
    return rc;
}

/*
 * The write half of a claim in its own transaction. act is what the
 * unlocked read decided: ACT_INSERT inserts straight away (the insert
 * itself tells whether another runner got there first, and then we decide
 * again on its row); anything else decides again under the lock.
 */
static int claim_txn(tf_store *s, const tf_claim_req *req, double now, int act, tf_claim *out)
{
    /* A fork since open changes who we are: claims must name this process. */
    if ((long)getpid() != s->self.pid)
        tf_proc_self(&s->self);

    int rc = begin(s, "claim a call");
    if (rc != TF_OK)
        return rc;
    int inserted = 0;
    if (act == ACT_INSERT) {
        char iso[32];
        iso_time(now, iso);
        rc = insert_call(s, req, now + (req->lease > 0 ? req->lease : 0), iso, out, &inserted);
        if (rc == TF_OK && inserted)
            rc = add_history(s, out, iso);
        if (rc == TF_OK && inserted)
            out->decision = TF_CLAIM_RUN;
    }
    if (rc == TF_OK && !inserted)
        rc = claim_locked(s, req, now, out);
    if (rc == TF_OK)
        rc = commit(s, "commit a claim");
    else
        rollback(s);
    if (rc != TF_OK)
        tf_claim_clear(out);
    return rc;
}

int tf_store_claim(tf_store *s, const tf_claim_req *req, tf_claim *out)
{
    /*
     * Deferred writes need a write transaction anyway: decide under its
     * lock, after them, and save the unlocked read (a new call in a
     * sequential flow then costs one transaction, carrying the previous
     * call's end). The unlocked read would also see our own queued end's
     * call as still running.
     */
    if (s && s->db && s->npend) {
        int rc = check_req(s, req, "claim a call", out);
        return rc == TF_OK ? claim_txn(s, req, now_of(s), ACT_INSERT, out) : rc;
    }
    /* The read-only answer: the cached path, and waits that need no write. */
    double now;
    int act;
    int rc = read_decision(s, req, "claim a call", out, &act, &now);
    if (rc != TF_OK || act == ACT_NONE)
        return rc;
    tf_claim_clear(out);
    return claim_txn(s, req, now, act, out);
}

/* ---- executions -------------------------------------------------------- */

/* The statement of an execution start (no transaction of its own). */
static int record_exec_started(tf_store *s, int64_t history_id, long pid, long pgid,
                               const char *log_path)
{
    int rc = TF_OK;
    sqlite3_stmt *st = stmt(s, ST_EXEC_STARTED, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, history_id);
    sqlite3_bind_int64(st, 2, pid);
    sqlite3_bind_int64(st, 3, pgid);
    bind_text(st, 4, log_path);
    int src = step(s, st);
    if (src != SQLITE_DONE)
        rc = db_err(s, src, "record an execution");
    else if (sqlite3_changes(s->db) == 0) {
        set_err(s, "attempt %lld is not in database '%s'", (long long)history_id, s->path);
        rc = TF_ENOTFOUND;
    }
    done(st);
    return rc;
}

int tf_store_exec_started(tf_store *s, int64_t history_id, long pid, long pgid,
                          const char *log_path)
{
    if (!has_store(s))
        return TF_ESTATE;
    int rc = begin(s, "record an execution");
    if (rc != TF_OK)
        return rc;
    rc = record_exec_started(s, history_id, pid, pgid, log_path);
    if (rc != TF_OK) {
        rollback(s);
        return rc;
    }
    return commit(s, "commit an execution start");
}

int tf_store_renew(tf_store *s, int64_t call_id, int64_t fence, double lease)
{
    if (!has_store(s))
        return TF_ESTATE;
    int rc = TF_OK;
    sqlite3_stmt *st = stmt(s, ST_RENEW, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, call_id);
    sqlite3_bind_int64(st, 2, fence);
    sqlite3_bind_double(st, 3, now_of(s) + (lease > 0 ? lease : 0));
    int src = step(s, st);
    if (src != SQLITE_DONE)
        rc = db_err(s, src, "renew a lease");
    else if (sqlite3_changes(s->db) == 0) {
        set_err(s, "lease of call %lld lost: claimed again by another runner or cleared",
                (long long)call_id);
        rc = TF_ESTATE;
    }
    done(st);
    return rc;
}

static const char *outcome_name(tf_outcome o)
{
    switch (o) {
    case TF_OUT_SUCCEEDED: return "succeeded";
    case TF_OUT_FAILED: return "failed";
    default: return "interrupted";
    }
}

/* Inside the finish transaction: the calls row, if our fence still holds. */
static int finish_call(tf_store *s, const tf_finish *f, double now, const char *iso,
                       int *fenced_out)
{
    int rc = TF_OK;
    sqlite3_stmt *st = stmt(s, ST_FENCE_CHECK, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, f->call_id);
    sqlite3_bind_int64(st, 2, f->fence);
    int src = step(s, st);
    long long failures = 0;
    double retry_at = 0;
    int retry_null = 1;
    if (src == SQLITE_ROW) {
        failures = sqlite3_column_int64(st, 0);
        retry_null = sqlite3_column_type(st, 1) == SQLITE_NULL;
        retry_at = sqlite3_column_double(st, 1);
    } else if (src == SQLITE_DONE) {
        *fenced_out = 1;
    } else {
        rc = db_err(s, src, "check the fencing token");
    }
    done(st);
    if (rc != TF_OK || *fenced_out)
        return rc;

    const char *result = NULL, *error = f->error;
    if (f->outcome == TF_OUT_SUCCEEDED) {
        result = f->result_json ? f->result_json : "null";
        error = NULL;
        failures = 0;
        retry_null = 1;
    } else if (f->outcome == TF_OUT_FAILED) {
        failures++;
        retry_null = failures > f->retries;
        retry_at = now + backoff_for(f->backoff, failures);
        if (!error)
            error = "failed";
    } else if (!error) {
        error = "interrupted";
    }

    st = stmt(s, ST_FINISH_CALL, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, f->call_id);
    sqlite3_bind_int64(st, 2, f->fence);
    bind_text(st, 3, outcome_name(f->outcome));
    bind_text(st, 4, result);
    bind_text(st, 5, error);
    sqlite3_bind_int64(st, 6, failures);
    bind_real_or_null(st, 7, retry_at, retry_null);
    bind_text(st, 8, iso);
    bind_real_or_null(st, 9, f->duration, f->duration < 0);
    src = step(s, st);
    if (src != SQLITE_DONE)
        rc = db_err(s, src, "record the end of a call");
    done(st);
    return rc;
}

/*
 * Inside the finish transaction, for a success or an interruption (which
 * need nothing from the row): one fenced UPDATE; no row changed means our
 * fence was lost (*fenced_out = 1), exactly as finish_call's check.
 */
static int settle_call(tf_store *s, const tf_finish *f, const char *iso, int *fenced_out)
{
    int rc = TF_OK;
    sqlite3_stmt *st = stmt(s, ST_FINISH_SETTLE, &rc);
    if (!st)
        return rc;
    int ok = f->outcome == TF_OUT_SUCCEEDED;
    sqlite3_bind_int64(st, 1, f->call_id);
    sqlite3_bind_int64(st, 2, f->fence);
    bind_text(st, 3, outcome_name(f->outcome));
    bind_text(st, 4, ok ? (f->result_json ? f->result_json : "null") : NULL);
    bind_text(st, 5, ok ? NULL : (f->error ? f->error : "interrupted"));
    if (ok)
        sqlite3_bind_int(st, 6, 0);
    bind_text(st, 7, iso);
    bind_real_or_null(st, 8, f->duration, f->duration < 0);
    int src = step(s, st);
    if (src != SQLITE_DONE)
        rc = db_err(s, src, "record the end of a call");
    else if (sqlite3_changes(s->db) == 0)
        *fenced_out = 1;
    done(st);
    return rc;
}

/*
 * Inside a write transaction: the end of an attempt (history row always,
 * the calls row only while f->fence holds; now is when it happened). A lost
 * fence is noted on the attempt and reported as *fenced_out = 1.
 */
static int record_finish(tf_store *s, const tf_finish *f, double now, int *fenced_out)
{
    char iso[32];
    iso_time(now, iso);
    int rc = TF_OK;
    *fenced_out = 0;
    sqlite3_stmt *st = stmt(s, ST_FINISH_HIST, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, f->history_id);
    sqlite3_bind_int64(st, 2, f->call_id);
    bind_text(st, 3, outcome_name(f->outcome));
    bind_text(st, 4, iso);
    bind_real_or_null(st, 5, f->duration, f->duration < 0);
    if (f->exit_code >= 0)
        sqlite3_bind_int(st, 6, f->exit_code);
    if (f->term_signal > 0)
        sqlite3_bind_int(st, 7, f->term_signal);
    bind_text(st, 8, f->outcome == TF_OUT_SUCCEEDED ? NULL : f->error);
    int src = step(s, st);
    if (src != SQLITE_DONE)
        rc = db_err(s, src, "record the end of an attempt");
    done(st);
    if (rc == TF_OK && f->outcome != TF_OUT_FAILED)
        rc = settle_call(s, f, iso, fenced_out);
    else if (rc == TF_OK)
        rc = finish_call(s, f, now, iso, fenced_out);
    if (rc != TF_OK || !*fenced_out)
        return rc;

    char why[1024];
    int n = snprintf(why, sizeof why,
                     "fenced out: the call was claimed again or cleared, this %s was not recorded%s%s",
                     f->outcome == TF_OUT_SUCCEEDED ? "result" : "outcome",
                     f->error && f->outcome != TF_OUT_SUCCEEDED ? ": " : "",
                     f->error && f->outcome != TF_OUT_SUCCEEDED ? f->error : "");
    if (n < 0 || (size_t)n >= sizeof why)
        memcpy(why + sizeof why - 4, "...", 4);
    st = stmt(s, ST_HIST_ERROR, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, f->history_id);
    bind_text(st, 2, why);
    src = step(s, st);
    if (src != SQLITE_DONE)
        rc = db_err(s, src, "record a fenced-out attempt");
    done(st);
    return rc;
}

int tf_store_finish(tf_store *s, const tf_finish *f)
{
    if (!has_store(s))
        return TF_ESTATE;
    double now = now_of(s);
    int rc = begin(s, "record the end of a call");
    if (rc != TF_OK)
        return rc;
    int fenced_out = 0;
    rc = record_finish(s, f, now, &fenced_out);
    if (rc != TF_OK) {
        rollback(s);
        return rc;
    }
    rc = commit(s, "commit the end of a call");
    if (rc != TF_OK)
        return rc;
    if (fenced_out) {
        set_err(s, "call %lld was claimed again by another runner or cleared (fence %lld lost);"
                " this %s was not recorded", (long long)f->call_id, (long long)f->fence,
                f->outcome == TF_OUT_SUCCEEDED ? "result" : "outcome");
        return TF_ESTATE;
    }
    return TF_OK;
}

/* ---- deferred writes ------------------------------------------------------- */

/* Free the strings of the deferred writes and empty the queue. */
static void drop_pending(tf_store *s)
{
    for (size_t i = 0; i < s->npend; i++) {
        free((char *)s->pend[i].f.result_json);
        free((char *)s->pend[i].f.error);
        free(s->pend[i].log_path);
    }
    s->npend = 0;
}

/* Inside a write transaction: every deferred write, oldest first. */
static int apply_pending(tf_store *s)
{
    int64_t lost = 0;
    for (size_t i = 0; i < s->npend; i++) {
        const pending_op *op = &s->pend[i];
        int fenced_out = 0;
        int rc = op->is_start
                     ? record_exec_started(s, op->f.history_id, op->pid, op->pgid, op->log_path)
                     : record_finish(s, &op->f, op->at, &fenced_out);
        /* a cleared attempt has nothing left to record: not an error for the others */
        if (rc == TF_ENOTFOUND && op->is_start)
            rc = TF_OK;
        if (rc != TF_OK)
            return rc;
        lost += fenced_out && op->f.outcome == TF_OUT_SUCCEEDED;
    }
    s->pend_lost = lost; /* counted at commit: a rolled-back transaction applies them again */
    s->pend_in_txn = 1;
    return TF_OK;
}

/* A new slot at the end of the queue, or NULL (out of memory, message set). */
static pending_op *push_pending(tf_store *s)
{
    if (s->npend == s->cappend) {
        size_t cap = s->cappend ? s->cappend * 2 : 16;
        pending_op *p = realloc(s->pend, cap * sizeof *p);
        if (!p) {
            set_err(s, "cannot defer a write: out of memory");
            return NULL;
        }
        s->pend = p;
        s->cappend = cap;
    }
    pending_op *op = &s->pend[s->npend];
    memset(op, 0, sizeof *op);
    return op;
}

/* Commit the queue at once when it has grown to TF_STORE_PENDING_MAX. */
static int flush_if_full(tf_store *s)
{
    return s->npend >= TF_STORE_PENDING_MAX ? tf_store_flush(s) : TF_OK;
}

int tf_store_finish_later(tf_store *s, const tf_finish *f)
{
    if (!has_store(s))
        return TF_ESTATE;
    pending_op *op = push_pending(s);
    if (!op)
        return TF_ENOMEM;
    op->f = *f;
    op->at = now_of(s);
    op->f.result_json = f->result_json ? strdup(f->result_json) : NULL;
    op->f.error = f->error ? strdup(f->error) : NULL;
    if ((f->result_json && !op->f.result_json) || (f->error && !op->f.error)) {
        free((char *)op->f.result_json);
        free((char *)op->f.error);
        set_err(s, "cannot defer the end of a call: out of memory");
        return TF_ENOMEM;
    }
    s->npend++;
    return flush_if_full(s);
}

int tf_store_exec_started_later(tf_store *s, int64_t history_id, long pid, long pgid,
                                const char *log_path)
{
    if (!has_store(s))
        return TF_ESTATE;
    pending_op *op = push_pending(s);
    if (!op)
        return TF_ENOMEM;
    op->is_start = 1;
    op->f.history_id = history_id;
    op->pid = pid;
    op->pgid = pgid;
    if (log_path && !(op->log_path = strdup(log_path))) {
        set_err(s, "cannot defer an execution start: out of memory");
        return TF_ENOMEM;
    }
    s->npend++;
    return flush_if_full(s);
}

int tf_store_flush(tf_store *s)
{
    if (!has_store(s))
        return TF_ESTATE;
    if (!s->npend)
        return TF_OK;
    int rc = begin(s, "record finished calls");
    return rc == TF_OK ? commit(s, "commit finished calls") : rc;
}

size_t tf_store_pending(const tf_store *s)
{
    return s ? s->npend : 0;
}

int64_t tf_store_take_lost(tf_store *s)
{
    int64_t n = s ? s->lost : 0;
    if (s)
        s->lost = 0;
    return n;
}

/* Step a bound statement that returns one integer into *out; rewinds it. */
static int step_int64(tf_store *s, sqlite3_stmt *st, const char *what, int64_t *out)
{
    int rc = TF_OK;
    int src = step(s, st);
    if (src == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else
        rc = db_err(s, src, what);
    done(st);
    return rc;
}

/* Run statement id (no parameters), which returns one integer. */
static int query_int64(tf_store *s, int id, const char *what, int64_t *out)
{
    if (!has_store(s))
        return TF_ESTATE;
    int rc = TF_OK;
    sqlite3_stmt *st = stmt(s, id, &rc);
    return st ? step_int64(s, st, what, out) : rc;
}

int tf_store_data_version(tf_store *s, int64_t *version)
{
    return query_int64(s, ST_DATA_VERSION, "read the data version", version);
}

/* ---- inspection ----------------------------------------------------------- */

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* Fill a tf_call_row from a CALL_COLS row; strings live until the next step. */
static void row_from_stmt(sqlite3_stmt *st, tf_call_row *r)
{
    r->id = sqlite3_column_int64(st, 0);
    r->work = col_text(st, 1);
    r->version = col_text(st, 2);
    r->args_sha256 = col_text(st, 3);
    r->args_json = col_text(st, 4);
    r->status = col_text(st, 5);
    r->result_json = col_text(st, 6);
    r->error = col_text(st, 7);
    r->attempts = sqlite3_column_int(st, 8);
    r->created_at = col_text(st, 9);
    r->started_at = col_text(st, 10);
    r->finished_at = col_text(st, 11);
    r->duration = sqlite3_column_type(st, 12) == SQLITE_NULL ? -1 : sqlite3_column_double(st, 12);
    r->runner_pid = (long)sqlite3_column_int64(st, 13);
    r->runner_host = col_text(st, 14);
    r->log_path = col_text(st, 15);
}

/* Step st to the end, handing each row to fn (which may stop it). */
static int each_row(tf_store *s, sqlite3_stmt *st, tf_row_fn fn, void *user,
                    int64_t *count, const char *what)
{
    int64_t n = 0;
    for (;;) {
        int src = step(s, st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW)
            return db_err(s, src, what);
        n++;
        if (fn) {
            tf_call_row r;
            row_from_stmt(st, &r);
            if (fn(&r, user) != 0)
                break;
        }
    }
    if (count)
        *count = n;
    return TF_OK;
}

static int is_hex(const char *p)
{
    for (; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
            return 0;
    return 1;
}

/* Lowercase a hex key or prefix into out[65]; TF_EINPUT if not hex or too long. */
static int norm_hex(tf_store *s, const char *in, char out[65], const char *what)
{
    size_t n = strlen(in);
    if (n == 0 || n > 64 || !is_hex(in)) {
        set_err(s, "%s '%s' is not a hexadecimal key (up to 64 digits)", what, in);
        return TF_EINPUT;
    }
    for (size_t i = 0; i <= n; i++)
        out[i] = (char)(in[i] >= 'A' && in[i] <= 'F' ? in[i] - 'A' + 'a' : in[i]);
    return TF_OK;
}

/* Bind a filter to ?1..?6 (prefix/key normalized into the caller's buffers). */
static int bind_filter(tf_store *s, sqlite3_stmt *st, const tf_filter *f,
                       char prefix[65], char key[65])
{
    int rc = TF_OK;
    if (f->key_prefix && (rc = norm_hex(s, f->key_prefix, prefix, "key prefix")) != TF_OK)
        return rc;
    if (f->args_sha256 && (rc = norm_hex(s, f->args_sha256, key, "key")) != TF_OK)
        return rc;
    bind_text(st, 1, f->work);
    bind_text(st, 2, f->status);
    bind_text(st, 3, f->key_prefix ? prefix : NULL);
    bind_text(st, 4, f->args_sha256 ? key : NULL);
    bind_text(st, 5, f->since);
    bind_text(st, 6, f->before);
    return TF_OK;
}

int tf_store_list(tf_store *s, const tf_filter *f, tf_row_fn fn, void *user)
{
    if (!has_store(s))
        return TF_ESTATE;
    int rc = TF_OK;
    int unsettled = f->status && strcmp(f->status, "succeeded") != 0;
    sqlite3_stmt *st = stmt(s, unsettled ? ST_LIST_UNSETTLED : ST_LIST, &rc);
    if (!st)
        return rc;
    char prefix[65], key[65];
    rc = bind_filter(s, st, f, prefix, key);
    if (rc == TF_OK) {
        sqlite3_bind_int64(st, 7, f->limit > 0 ? f->limit : -1);
        rc = each_row(s, st, fn, user, NULL, "list calls");
    }
    done(st);
    return rc;
}

int tf_store_count(tf_store *s, const tf_filter *f, int64_t max, int64_t *count)
{
    *count = 0;
    if (!has_store(s))
        return TF_ESTATE;
    int rc = TF_OK;
    sqlite3_stmt *st = stmt(s, ST_COUNT_ROWS, &rc);
    if (!st)
        return rc;
    char prefix[65], key[65];
    rc = bind_filter(s, st, f, prefix, key);
    if (rc != TF_OK) {
        done(st);
        return rc;
    }
    sqlite3_bind_int64(st, 7, max > 0 ? max : -1);
    return step_int64(s, st, "count calls", count);
}

int tf_store_find(tf_store *s, const char *prefix, tf_row_fn fn, void *user)
{
    if (!has_store(s))
        return TF_ESTATE;
    char p[65];
    if (!prefix || strlen(prefix) < 4 || !is_hex(prefix)) {
        set_err(s, "key prefix '%s' must be at least 4 hexadecimal digits",
                prefix ? prefix : "");
        return TF_EINPUT;
    }
    int rc = norm_hex(s, prefix, p, "key prefix");
    if (rc != TF_OK)
        return rc;
    sqlite3_stmt *st = stmt(s, ST_FIND, &rc);
    if (!st)
        return rc;
    bind_text(st, 1, p);
    char cand[5][300];
    int n = 0;
    for (;;) {
        int src = step(s, st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = db_err(s, src, "find a call");
            break;
        }
        if (n < 5) {
            const char *w = col_text(st, 1), *k = col_text(st, 3);
            int m = snprintf(cand[n], sizeof cand[n], "%s %.12s", w ? w : "", k ? k : "");
            if (m < 0 || (size_t)m >= sizeof cand[n])
                memcpy(cand[n] + sizeof cand[n] - 4, "...", 4);
        }
        n++;
    }
    if (rc == TF_OK && n == 0) {
        set_err(s, "no call has a key starting with '%s'", p);
        rc = TF_ENOTFOUND;
    } else if (rc == TF_OK && n > 1) {
        char msg[sizeof s->err];
        size_t len = 0;
        int m = snprintf(msg, sizeof msg, "key prefix '%s' matches %s calls:", p,
                         n > 5 ? "more than 5" : "several");
        len = m > 0 ? (size_t)m : 0;
        for (int i = 0; i < n && i < 5 && len < sizeof msg; i++) {
            m = snprintf(msg + len, sizeof msg - len, "%s %s", i ? "," : "", cand[i]);
            if (m < 0)
                break;
            len += (size_t)m;
        }
        set_err(s, "%s", msg);
        rc = TF_EAMBIGUOUS;
    } else if (rc == TF_OK && fn) {
        /* exactly one: read it again and hand it on */
        sqlite3_reset(st);
        int src = step(s, st);
        if (src == SQLITE_ROW) {
            tf_call_row r;
            row_from_stmt(st, &r);
            fn(&r, user);
        } else {
            rc = src == SQLITE_DONE ? TF_ENOTFOUND : db_err(s, src, "find a call");
            if (rc == TF_ENOTFOUND)
                set_err(s, "no call has a key starting with '%s'", p);
        }
    }
    done(st);
    return rc;
}

int tf_store_history(tf_store *s, int64_t call_id, tf_hist_fn fn, void *user)
{
    if (!has_store(s))
        return TF_ESTATE;
    int rc = TF_OK;
    sqlite3_stmt *st = stmt(s, ST_HISTORY, &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, call_id);
    for (;;) {
        int src = step(s, st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = db_err(s, src, "read the history of a call");
            break;
        }
        tf_history_row h;
        h.id = sqlite3_column_int64(st, 0);
        h.attempt = sqlite3_column_int(st, 1);
        h.status = col_text(st, 2);
        h.started_at = col_text(st, 3);
        h.finished_at = col_text(st, 4);
        h.duration = sqlite3_column_type(st, 5) == SQLITE_NULL ? -1 : sqlite3_column_double(st, 5);
        h.runner_host = col_text(st, 6);
        h.runner_pid = (long)sqlite3_column_int64(st, 7);
        h.exec_pid = (long)sqlite3_column_int64(st, 8);
        h.exit_code = sqlite3_column_type(st, 9) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 9);
        h.term_signal = sqlite3_column_int(st, 10);
        h.error = col_text(st, 11);
        h.log_path = col_text(st, 12);
        if (fn && fn(&h, user) != 0)
            break;
    }
    done(st);
    return rc;
}

static int filter_empty(const tf_filter *f)
{
    return !f->work && !f->status && !f->key_prefix && !f->args_sha256 &&
           !f->since && !f->before;
}

int tf_store_clear(tf_store *s, const tf_filter *f, const char *user,
                   const char *selector, int dry_run, tf_row_fn fn, void *fn_user,
                   int64_t *count)
{
    if (count)
        *count = 0;
    if (!has_store(s))
        return TF_ESTATE;
    if (filter_empty(f) && !f->all) {
        set_err(s, "refusing to clear every call without a filter or --all");
        return TF_EINPUT;
    }
    double now = now_of(s);
    char iso[32];
    iso_time(now, iso);
    char prefix[65], key[65];
    int rc = begin(s, "clear calls");
    if (rc != TF_OK)
        return rc;
    int64_t n = 0;
    sqlite3_stmt *st = stmt(s, ST_CLEAR_LIST, &rc);
    if (st) {
        rc = bind_filter(s, st, f, prefix, key);
        if (rc == TF_OK) {
            sqlite3_bind_double(st, 7, now);
            rc = each_row(s, st, fn, fn_user, &n, "list calls to clear");
        }
        done(st);
    }
    if (rc == TF_OK && !dry_run) {
        st = stmt(s, ST_CLEAR, &rc);
        if (st) {
            rc = bind_filter(s, st, f, prefix, key);
            if (rc == TF_OK) {
                sqlite3_bind_double(st, 7, now);
                int src = step(s, st);
                if (src != SQLITE_DONE)
                    rc = db_err(s, src, "clear calls");
                else
                    n = sqlite3_changes(s->db);
            }
            done(st);
        }
    }
    if (rc == TF_OK && !dry_run) {
        st = stmt(s, ST_AUDIT, &rc);
        if (st) {
            bind_text(st, 1, iso);
            bind_text(st, 2, user);
            bind_text(st, 3, selector);
            sqlite3_bind_int64(st, 4, n);
            int src = step(s, st);
            if (src != SQLITE_DONE)
                rc = db_err(s, src, "record the clear");
            done(st);
        }
    }
    if (rc != TF_OK) {
        rollback(s);
        return rc;
    }
    rc = dry_run ? (rollback(s), TF_OK) : commit(s, "commit the clear");
    if (rc == TF_OK && count)
        *count = n;
    return rc;
}

int tf_store_retry(tf_store *s, const tf_filter *f, int64_t *count)
{
    if (count)
        *count = 0;
    if (!has_store(s))
        return TF_ESTATE;
    int rc = TF_OK;
    sqlite3_stmt *st = stmt(s, ST_RETRY, &rc);
    if (!st)
        return rc;
    char prefix[65], key[65];
    rc = bind_filter(s, st, f, prefix, key);
    if (rc == TF_OK) {
        int src = step(s, st);
        if (src != SQLITE_DONE)
            rc = db_err(s, src, "retry calls");
        else if (count)
            *count = sqlite3_changes(s->db);
    }
    done(st);
    return rc;
}

int tf_store_gc(tf_store *s, double before, int64_t *count)
{
    if (count)
        *count = 0;
    if (!has_store(s))
        return TF_ESTATE;
    int rc = TF_OK;
    sqlite3_stmt *st = stmt(s, ST_GC, &rc);
    if (!st)
        return rc;
    char iso[32];
    iso_time(before, iso);
    bind_text(st, 1, iso);
    int src = step(s, st);
    if (src != SQLITE_DONE)
        rc = db_err(s, src, "delete old calls");
    else if (count)
        *count = sqlite3_changes(s->db);
    done(st);
    return rc;
}

int tf_store_previous_args(tf_store *s, const char *work, const char *args_sha256,
                           char **args_json)
{
    *args_json = NULL;
    if (!has_store(s))
        return TF_ESTATE;
    int rc = TF_OK;
    sqlite3_stmt *st = stmt(s, ST_PREV_ARGS, &rc);
    if (!st)
        return rc;
    bind_text(st, 1, work);
    bind_text(st, 2, args_sha256 ? args_sha256 : "");
    int src = step(s, st);
    if (src == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
            *args_json = dup_col(st, 0);
            if (!*args_json) {
                set_err(s, "cannot copy arguments: out of memory");
                rc = TF_ENOMEM;
            }
        }
    } else if (src != SQLITE_DONE) {
        rc = db_err(s, src, "read previous arguments");
    }
    done(st);
    return rc;
}

int tf_store_peek(tf_store *s, const tf_claim_req *req, tf_claim *out)
{
    double now;
    int act;
    int rc = read_decision(s, req, "look up a call", out, &act, &now);
    if (rc != TF_OK)
        return rc;
    if (act == ACT_CLAMP_RETRY)
        out->decision = TF_CLAIM_RETRY_WAIT;
    else if (act != ACT_NONE)
        out->decision = TF_CLAIM_RUN;
    return TF_OK;
}

int tf_store_each_succeeded(tf_store *s, const char *work, const char *version, int64_t limit,
                            int scan, tf_succeeded_fn fn, void *user)
{
    if (!has_store(s))
        return TF_ESTATE;
    int rc = TF_OK;
    sqlite3_stmt *st = stmt(s, scan ? ST_EACH_SUCCEEDED_SCAN : ST_EACH_SUCCEEDED, &rc);
    if (!st)
        return rc;
    bind_text(st, 1, work);
    bind_text(st, 2, version ? version : "");
    sqlite3_bind_int64(st, 3, limit);
    int src;
    while ((src = step(s, st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        const char *result = (const char *)sqlite3_column_text(st, 1);
        if (key && fn(key, result ? result : "null", user) != 0) {
            src = SQLITE_DONE;
            break;
        }
    }
    if (src != SQLITE_DONE)
        rc = db_err(s, src, "read succeeded calls");
    done(st);
    return rc;
}

int tf_store_row_estimate(tf_store *s, int64_t *rows)
{
    *rows = 0;
    return query_int64(s, ST_ROW_ESTIMATE, "estimate the number of calls", rows);
}
