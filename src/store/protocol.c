/*
 * store/protocol.c - the claim protocol of the persistent cache, written
 * once for every engine (the interface is store.h, the engine seam
 * store/engine.h).
 *
 * Owns: the store handle (opening picks the engine from the name: a
 * postgresql:// or postgres:// URI is the server engine, anything else a
 * SQLite file), its messages and clock seam, the claim protocol (lookup,
 * lease, fencing token, takeover of dead runners), renewal, the fenced
 * finish, and the deferred-write queue (group commit).
 *
 * The hot path is tf_store_claim on a succeeded call: one indexed SELECT
 * on the (work, version, args_sha256) key, no transaction, one malloc for
 * the result copy. Decisions that need no write (busy, waiting for a retry,
 * failed for good) are also answered from that read; only a claim that may
 * run opens a write transaction and decides again inside it (on a row the
 * engine locks for it). A call the read did not find is inserted at once
 * (INSERT ... ON CONFLICT DO NOTHING tells whether another runner got there
 * first), and a success or interruption is finished with one fenced UPDATE.
 *
 * Ends of calls and execution starts may be deferred (store.h): queued by
 * tf_store_finish_later/tf_store_exec_started_later and applied, in order,
 * at the start of this handle's next write transaction (tf_store_begin), so
 * a new call in a sequential flow costs one transaction. A claim made while
 * writes are queued decides inside the transaction, after them.
 *
 * Leases and retry times are judged on the engine's clock (engine.h (d)).
 */
#include "store/engine.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- errors and time --------------------------------------------------- */

void tf_store_set_err(tf_store *s, const char *fmt, ...)
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

int tf_store_is_open(tf_store *s)
{
    if (!s)
        return 0;
    if (!s->impl) {
        tf_store_set_err(s, "database '%s' is not open", s->path ? s->path : "");
        return 0;
    }
    return 1;
}

double tf_store_host_now(const tf_store *s)
{
    if (s->clock)
        return s->clock(s->clock_user);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double tf_store_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tf_store_iso_time(double t, char out[32])
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

/* ---- write transactions ------------------------------------------------- */

static int apply_pending(tf_store *s);
static void drop_pending(tf_store *s);

int tf_store_begin(tf_store *s, const char *what)
{
    int rc = s->eng->begin(s, what);
    if (rc != TF_OK || !s->npend)
        return rc;
    rc = apply_pending(s);
    if (rc != TF_OK)
        tf_store_rollback(s);
    return rc;
}

/*
 * A deferred success just committed: remember its name and whether it was
 * recorded, for tf_store_take_settled. Out of memory only loses the name
 * (the lost count holds).
 */
static void note_settled(tf_store *s, tf_pending_op *op)
{
    if (op->is_start || !op->who || op->f.outcome != TF_OUT_SUCCEEDED)
        return;
    char **v = realloc(s->settled_who, (s->nsettled + 1) * sizeof *v);
    if (v)
        s->settled_who = v;
    unsigned char *l = v ? realloc(s->settled_lost, s->nsettled + 1) : NULL;
    if (!l)
        return;
    s->settled_lost = l;
    s->settled_who[s->nsettled] = op->who;
    s->settled_lost[s->nsettled++] = op->lost != 0;
    op->who = NULL;
}

int tf_store_commit(tf_store *s, const char *what)
{
    int rc = s->eng->commit(s, what);
    if (rc == TF_OK && s->pend_in_txn) {
        s->lost += s->pend_lost;
        for (size_t i = 0; i < s->npend; i++)
            note_settled(s, &s->pend[i]);
        drop_pending(s);
    }
    s->pend_in_txn = 0;
    return rc;
}

void tf_store_rollback(tf_store *s)
{
    s->pend_in_txn = 0;
    char keep[sizeof s->err];
    memcpy(keep, s->err, sizeof keep);
    s->eng->rollback(s);
    memcpy(s->err, keep, sizeof keep);
}

/* ---- the handle ---------------------------------------------------------- */

/* The engine that serves a database name: a libpq URI or a SQLite file. */
static const tf_engine *engine_for(const char *target)
{
    return tf_db_is_server(target) ? &tf_engine_postgres : &tf_engine_sqlite;
}

int tf_store_again(tf_store *s, double t0, int *tries)
{
    if (!s || !s->transient)
        return 0;
    s->transient = 0;
    if (tf_store_mono() - t0 >= s->busy_total)
        return 0;
    long ms = 5L << (*tries < 8 ? *tries : 8); /* 5 ms doubling to 1.28 s */
    (*tries)++;
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
    if (s->eng->recover)
        s->eng->recover(s);
    return 1;
}

static int store_open(const char *path, int readonly, tf_store **out)
{
    *out = NULL;
    tf_store *s = calloc(1, sizeof *s);
    if (!s)
        return TF_ENOMEM;
    *out = s;
    s->busy_total = 30.0;
    s->readonly = readonly;
    s->eng = engine_for(path ? path : "");
    s->target = strdup(path ? path : "");
    s->path = strdup(path ? path : "");
    if (!s->target || !s->path) {
        tf_store_set_err(s, "cannot open database: out of memory");
        return TF_ENOMEM;
    }
    if (tf_proc_self(&s->self) != TF_OK) {
        int e = errno;
        tf_store_set_err(s, "cannot read the host name: %s", strerror(e));
        return TF_EIO;
    }
    int rc = s->eng->open(s);
    if (rc != TF_OK)
        s->eng->close(s);
    return rc;
}

int tf_store_open(const char *path, tf_store **out)
{
    return store_open(path, 0, out);
}

int tf_store_open_readonly(const char *path, tf_store **out)
{
    return store_open(path, 1, out);
}

void tf_store_close(tf_store *s)
{
    if (!s)
        return;
    if (s->impl)
        tf_store_flush(s); /* best effort: an unrecorded end only means the call runs again */
    drop_pending(s);
    free(s->pend);
    tf_store_take_settled(s, NULL, NULL);
    s->eng->close(s);
    free(s->target);
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
    if (s->impl)
        s->eng->set_busy(s);
}

int tf_store_data_version(tf_store *s, int64_t *version)
{
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    return s->eng->data_version(s, version);
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

/* The columns of ST_LOOKUP / ST_LOOKUP_LOCKED, in order. */
enum {
    LK_ID, LK_STATUS, LK_RESULT, LK_ERROR, LK_ATTEMPTS, LK_FAILURES, LK_FENCE,
    LK_LEASE_UNTIL, LK_NEXT_RETRY_AT, LK_RUNNER_HOST, LK_RUNNER_PID, LK_RUNNER_START,
    LK_RESULT_AT, LK_DURATION,
    LK_RUNNER_BOOT, LK_RUNNER_PIDNS, LK_LEASE_BOOT, LK_RUNNER_TIMENS, LK_COMMAND
};

/* What the decision needs to do in the write transaction. */
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

/* A malloc'd copy of column i, NULL for NULL; *oom set when the copy failed. */
static char *dup_col(tf_store *s, tf_q *q, int i, int *oom)
{
    const char *t = q_col_text(s, q, i);
    if (!t)
        return NULL;
    char *c = strdup(t);
    if (!c)
        *oom = 1;
    return c;
}

/*
 * Stale-if-error: a work with max_age and keep_stale gets the last good
 * result of a row that is not (or no longer) a fresh success, to answer
 * while the refresh runs or after it failed. No result, nothing to do.
 */
static void copy_stale(tf_store *s, tf_q *q, const tf_claim_req *req, tf_claim *out, int *oom)
{
    if (!(req->max_age > 0) || !req->keep_stale || !req->cache_calls || q_col_null(s, q, LK_RESULT))
        return;
    free(out->result_json);
    out->result_json = dup_col(s, q, LK_RESULT, oom);
    out->stale = out->result_json != NULL;
    out->result_at = q_col_null(s, q, LK_RESULT_AT) ? 0 : q_col_double(s, q, LK_RESULT_AT);
}

/*
 * Whether the runner of a running row q is still on it: 1 alive, 0 gone
 * (*died = 1 when it was proven dead by pid). The model (README, "Exactly
 * once"): a runner of our boot and PID namespace is judged by pid and
 * start time only, whatever its lease says - a live runner is never taken
 * over, a stalled one resumes; any other runner by its lease alone, on the
 * boot's monotonic clock when it shares our boot and time namespace
 * (immune to wall-clock steps), else on the engine's clock (now).
 */
static int runner_holds(tf_store *s, tf_q *q, double now, int *died)
{
    const char *boot = q_col_text(s, q, LK_RUNNER_BOOT);
    uint64_t pidns = (uint64_t)q_col_int64(s, q, LK_RUNNER_PIDNS);
    if (tf_proc_same_ns(&s->self, boot, pidns)) {
        long pid = (long)q_col_int64(s, q, LK_RUNNER_PID);
        long long start = q_col_int64(s, q, LK_RUNNER_START);
        if (pid == s->self.pid && start == s->self.start)
            return 1; /* this process is running it */
        if (tf_proc_alive(pid, start))
            return 1;
        *died = 1;
        return 0;
    }
    if (tf_proc_same_clock(&s->self, boot, (uint64_t)q_col_int64(s, q, LK_RUNNER_TIMENS))
        && !q_col_null(s, q, LK_LEASE_BOOT))
        return q_col_double(s, q, LK_LEASE_BOOT) > tf_proc_boot_clock();
    return !q_col_null(s, q, LK_LEASE_UNTIL) && q_col_double(s, q, LK_LEASE_UNTIL) > now;
}

/* The command digest a claim records: req's, or NULL (a work without a command). */
static const char *req_command(const tf_claim_req *req)
{
    return req->command_sha256 && *req->command_sha256 ? req->command_sha256 : NULL;
}

/*
 * Whether the row q is on was last claimed under another command than
 * req's (schema/sqlite/0007): both digests known and different. A row
 * recorded before the digests were, or a work without a command, never is.
 */
static int command_changed(tf_store *s, tf_q *q, const tf_claim_req *req)
{
    const char *was = q_col_text(s, q, LK_COMMAND), *now = req_command(req);
    return now && was && *was && strcmp(was, now) != 0;
}

/*
 * Decide from the lookup row q is on (or no row when q is NULL). Fills
 * out's decision and, for the answers that need no write, its strings (HIT:
 * result, RETRY_WAIT/FAILED: error). Returns the action. For a takeover,
 * *died is 1 when the runner was proven dead by pid.
 */
static int decide(tf_store *s, tf_q *q, const tf_claim_req *req,
                  double now, tf_claim *out, int *died, int *rc)
{
    *died = 0;
    out->command_changed = 0;
    if (!q)
        return ACT_INSERT;
    out->call_id = q_col_int64(s, q, LK_ID);
    const char *status = q_col_text(s, q, LK_STATUS);
    if (!status)
        status = "";
    long long failures = q_col_int64(s, q, LK_FAILURES);
    out->failures = failures;
    int oom = 0;

    if (strcmp(status, "succeeded") == 0) {
        if (!req->cache_calls)
            return ACT_RECLAIM;
        double result_at = q_col_null(s, q, LK_RESULT_AT) ? 0 : q_col_double(s, q, LK_RESULT_AT);
        if (req->max_age > 0 && !q_col_null(s, q, LK_RESULT_AT) &&
            req->cache_now >= result_at + req->max_age) {
            /* expired: execute again; the old result answers meanwhile (keep_stale) */
            copy_stale(s, q, req, out, &oom);
            if (oom) {
                tf_store_set_err(s, "cannot copy a cached result: out of memory");
                *rc = TF_ENOMEM;
            }
            return ACT_RECLAIM;
        }
        out->decision = TF_CLAIM_HIT;
        out->result_json = dup_col(s, q, LK_RESULT, &oom);
        out->result_at = result_at;
        out->duration = q_col_null(s, q, LK_DURATION) ? 0 : q_col_double(s, q, LK_DURATION);
        if (oom) {
            tf_store_set_err(s, "cannot copy a cached result: out of memory");
            *rc = TF_ENOMEM;
        }
        return ACT_NONE;
    }
    copy_stale(s, q, req, out, &oom);
    if (oom) {
        tf_store_set_err(s, "cannot copy a stale result: out of memory");
        *rc = TF_ENOMEM;
        return ACT_NONE;
    }
    if (strcmp(status, "running") == 0) {
        if (!runner_holds(s, q, now, died))
            return ACT_TAKEOVER;
        out->decision = TF_CLAIM_BUSY;
        return ACT_NONE;
    }
    /* a failure (or interruption) under another command: the fix runs at once, with a new
       retry budget; a success never runs again for a changed command (version does that) */
    if ((strcmp(status, "failed") == 0 || strcmp(status, "interrupted") == 0) &&
        command_changed(s, q, req)) {
        out->command_changed = status[0] == 'f' ? TF_CHANGED_AFTER_FAILURE
                                                : TF_CHANGED_AFTER_INTERRUPTION;
        out->failures = 0;
        return ACT_RECLAIM;
    }
    if (strcmp(status, "failed") == 0 && req->cache_calls) {
        if (failures > req->retries) {
            out->decision = TF_CLAIM_FAILED;
        } else {
            int no_time = q_col_null(s, q, LK_NEXT_RETRY_AT);
            double at = q_col_double(s, q, LK_NEXT_RETRY_AT);
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
        out->error = dup_col(s, q, LK_ERROR, &oom);
        if (oom) {
            tf_store_set_err(s, "cannot copy an error message: out of memory");
            *rc = TF_ENOMEM;
        }
        return ACT_NONE;
    }
    /* interrupted, or failed/anything else with cache_calls off: run again */
    return ACT_RECLAIM;
}

/* Bind the key of req to statement id (a lookup) and step it; *row = 1 if found. */
static int lookup(tf_store *s, int id, const tf_claim_req *req, tf_q **out, int *row)
{
    int rc = TF_OK;
    tf_q *q = q_get(s, id, &rc);
    *out = q;
    *row = 0;
    if (!q)
        return rc;
    q_text(s, q, 1, req->work);
    q_text(s, q, 2, req->version ? req->version : "");
    q_text(s, q, 3, req->args_sha256);
    int src = q_step(s, q, "look up a call");
    if (src == Q_ROW) {
        *row = 1;
        return TF_OK;
    }
    if (src == Q_DONE)
        return TF_OK;
    q_done(s, q);
    return src;
}

/* Bind our boot id (NULL when unknown) and PID namespace (NULL when unknown) to ?i and ?i+1. */
static void bind_identity(tf_store *s, tf_q *q, int i)
{
    q_text(s, q, i, s->self.boot[0] ? s->self.boot : NULL);
    if (s->self.pidns)
        q_int64(s, q, i + 1, (int64_t)s->self.pidns);
    else
        q_null(s, q, i + 1);
}

/* The boot-clock deadline of a lease of `lease` seconds taken now. */
static double lease_boot_until(const tf_claim_req *req)
{
    return tf_proc_boot_clock() + (req->lease > 0 ? req->lease : 0);
}

/* Bind our time namespace (NULL when unknown) to ?i. */
static void bind_timens(tf_store *s, tf_q *q, int i)
{
    if (s->self.timens)
        q_int64(s, q, i, (int64_t)s->self.timens);
    else
        q_null(s, q, i);
}

/* Record a new attempt's history row (run under req's command); sets out->history_id. */
static int add_history(tf_store *s, const tf_claim_req *req, tf_claim *out, const char *iso)
{
    int rc = TF_OK;
    tf_q *q = q_get(s, ST_HIST_INSERT, &rc);
    if (!q)
        return rc;
    q_int64(s, q, 1, out->call_id);
    q_int64(s, q, 2, out->attempt);
    q_int64(s, q, 3, out->fence);
    q_text(s, q, 4, s->self.host);
    q_int64(s, q, 5, s->self.pid);
    q_text(s, q, 6, iso);
    bind_identity(s, q, 7);
    q_int64(s, q, 9, s->self.start);
    q_text(s, q, 10, req_command(req));
    int src = q_step(s, q, "record an attempt");
    if (q_wrote(src))
        out->history_id = s->eng->last_id(s, q);
    else
        rc = src;
    q_done(s, q);
    return rc;
}

/*
 * Mark the dead or expired attempt (call_id, fence) interrupted and copy
 * what it recorded of its execution group into out (stale_*), so the
 * caller can decide, with proof, whether to signal it.
 */
static int interrupt_stale(tf_store *s, int64_t call_id, int64_t fence,
                           const char *host, long pid, int died, const char *iso,
                           tf_claim *out)
{
    int rc = TF_OK;
    tf_q *q = q_get(s, ST_HIST_RUNNING, &rc);
    if (!q)
        return rc;
    q_int64(s, q, 1, call_id);
    q_int64(s, q, 2, fence);
    int64_t hid = 0;
    int src = q_step(s, q, "read the interrupted attempt");
    if (src == Q_ROW) {
        hid = q_col_int64(s, q, 0);
        out->stale_history_id = hid;
        out->stale_pgid = (long)q_col_int64(s, q, 1);
        out->stale_exec_start = q_col_int64(s, q, 2);
        const char *boot = q_col_text(s, q, 3);
        snprintf(out->stale_boot, sizeof out->stale_boot, "%s", boot ? boot : "");
        out->stale_pidns = (uint64_t)q_col_int64(s, q, 4);
    } else if (src != Q_DONE) {
        rc = src;
    }
    q_done(s, q);
    if (rc != TF_OK || hid == 0)
        return rc;

    char why[400];
    int n = died ? snprintf(why, sizeof why, "runner %s:%ld died", host ? host : "?", pid)
                 : snprintf(why, sizeof why, "lease expired");
    if (n < 0 || (size_t)n >= sizeof why)
        snprintf(why, sizeof why, "runner died");
    q = q_get(s, ST_HIST_INTERRUPT, &rc);
    if (!q)
        return rc;
    q_int64(s, q, 1, hid);
    q_text(s, q, 2, iso);
    q_text(s, q, 3, why);
    src = q_step(s, q, "mark the interrupted attempt");
    if (!q_wrote(src))
        rc = src;
    q_done(s, q);
    return rc;
}

/*
 * Inside the write transaction: insert the row of a call never seen,
 * running under our lease (fence 1, attempt 1). *inserted is 0 when the
 * key is already there (another runner inserted it since our unlocked
 * read): nothing was written and the caller decides again on that row.
 */
static int insert_call(tf_store *s, const tf_claim_req *req, double lease_until,
                       const char *iso, tf_claim *out, int *inserted)
{
    *inserted = 0;
    int rc = TF_OK;
    tf_q *q = q_get(s, ST_INSERT_CALL, &rc);
    if (!q)
        return rc;
    q_text(s, q, 1, req->work);
    q_text(s, q, 2, req->version ? req->version : "");
    q_text(s, q, 3, req->args_sha256);
    q_text(s, q, 4, req->args_json ? req->args_json : "{}");
    q_double(s, q, 5, lease_until);
    q_text(s, q, 6, s->self.host);
    q_int64(s, q, 7, s->self.pid);
    q_int64(s, q, 8, s->self.start);
    q_text(s, q, 9, iso);
    bind_identity(s, q, 10);
    q_double(s, q, 12, lease_boot_until(req));
    bind_timens(s, q, 13);
    q_text(s, q, 14, req_command(req));
    int src = q_step(s, q, "claim a call");
    if (q_wrote(src) && q_changes(s, q) == 1) {
        *inserted = 1;
        out->call_id = s->eng->last_id(s, q);
        out->fence = 1;
        out->attempt = 1;
    }
    q_done(s, q);
    return q_wrote(src) ? TF_OK : src;
}

/* The fields of a lookup row a takeover needs, copied before the statement is reset. */
typedef struct old_claim {
    int64_t fence;          /* its fencing token */
    int attempts;           /* executions started */
    long pid;               /* its runner's pid */
    char host[256];         /* its runner's host */
} old_claim;

/*
 * The write half of a claim, inside the write transaction: decide again on
 * the current row (locked by ST_LOOKUP_LOCKED where the engine needs it)
 * and do what the decision needs.
 */
static int claim_locked(tf_store *s, const tf_claim_req *req, double now, tf_claim *out)
{
    tf_q *q = NULL;
    int row = 0;
    int rc = lookup(s, ST_LOOKUP_LOCKED, req, &q, &row);
    if (rc != TF_OK)
        return rc;
    int died = 0;
    int act = decide(s, row ? q : NULL, req, now, out, &died, &rc);
    old_claim old = {0, 0, 0, ""};
    if (row) {
        old.fence = q_col_int64(s, q, LK_FENCE);
        old.attempts = (int)q_col_int64(s, q, LK_ATTEMPTS);
        old.pid = (long)q_col_int64(s, q, LK_RUNNER_PID);
        const char *h = q_col_text(s, q, LK_RUNNER_HOST);
        if (h)
            snprintf(old.host, sizeof old.host, "%s", h);
    }
    q_done(s, q);
    if (rc != TF_OK || act == ACT_NONE)
        return rc;

    char iso[32];
    tf_store_iso_time(now, iso);
    double lease_until = now + (req->lease > 0 ? req->lease : 0);

    if (act == ACT_CLAMP_RETRY) {
        q = q_get(s, ST_SET_RETRY_AT, &rc);
        if (!q)
            return rc;
        q_int64(s, q, 1, out->call_id);
        q_double(s, q, 2, out->next_retry_at);
        int src = q_step(s, q, "reschedule a retry");
        q_done(s, q);
        if (!q_wrote(src))
            return src;
        /* answer from the clamped row: same decision as a plain wait */
        out->decision = TF_CLAIM_RETRY_WAIT;
        return TF_OK;
    }

    if (act == ACT_TAKEOVER) {
        rc = interrupt_stale(s, out->call_id, old.fence, old.host, old.pid, died, iso, out);
        if (rc != TF_OK)
            return rc;
    }

    if (act == ACT_INSERT) {
        int inserted = 0;
        rc = insert_call(s, req, lease_until, iso, out, &inserted);
        if (rc == TF_OK && !inserted) {
            /* the row appeared (and may have gone) between the locked read and the insert */
            tf_store_set_err(s, "cannot claim a call: its row appeared and went under the lock");
            s->transient = 1;
            rc = TF_EBUSY;
        }
    } else {
        q = q_get(s, ST_RECLAIM, &rc);
        if (!q)
            return rc;
        q_int64(s, q, 1, out->call_id);
        q_double(s, q, 2, lease_until);
        q_text(s, q, 3, s->self.host);
        q_int64(s, q, 4, s->self.pid);
        q_int64(s, q, 5, s->self.start);
        q_text(s, q, 6, iso);
        q_int64(s, q, 7, req->max_age > 0 && req->keep_stale && req->cache_calls);
        bind_identity(s, q, 8);
        q_double(s, q, 10, lease_boot_until(req));
        bind_timens(s, q, 11);
        q_int64(s, q, 12, out->command_changed != 0);
        q_text(s, q, 13, req_command(req));
        int src = q_step(s, q, "claim a call");
        q_done(s, q);
        if (!q_wrote(src))
            return src;
        out->fence = old.fence + 1;
        out->attempt = old.attempts + 1;
    }
    if (rc == TF_OK)
        rc = add_history(s, req, out, iso);
    if (rc == TF_OK)
        out->decision = TF_CLAIM_RUN;
    return rc;
}

/* Zero out; check the handle and that req names a work and key (`what` names the operation). */
static int check_req(tf_store *s, const tf_claim_req *req, const char *what, tf_claim *out)
{
    memset(out, 0, sizeof *out);
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    if (!req->work || !req->args_sha256) {
        tf_store_set_err(s, "cannot %s without a work name and key", what);
        return TF_EINPUT;
    }
    return TF_OK;
}

/*
 * The unlocked read shared by claim and peek: check req (`what` names the
 * operation in the message), read the engine's clock, look the call up and
 * decide on its row. On TF_OK *act is the action (out holds the answer
 * when it is ACT_NONE); on an error out is cleared.
 */
static int read_decision(tf_store *s, const tf_claim_req *req, const char *what,
                         tf_claim *out, int *act)
{
    *act = ACT_NONE;
    int rc = check_req(s, req, what, out);
    if (rc != TF_OK)
        return rc;
    double now = 0;
    if ((rc = s->eng->now(s, &now)) != TF_OK)
        return rc;
    tf_q *q = NULL;
    int row = 0;
    rc = lookup(s, ST_LOOKUP, req, &q, &row);
    if (rc != TF_OK)
        return rc;
    int died = 0;
    *act = decide(s, row ? q : NULL, req, now, out, &died, &rc);
    q_done(s, q);
    if (rc != TF_OK)
        tf_claim_clear(out);
    return rc;
}

/*
 * The write half of a claim in its own transaction. act is what the
 * unlocked read decided: ACT_INSERT inserts straight away (the insert
 * itself tells whether another runner got there first, and then we decide
 * again on its row); anything else decides again in the transaction. The
 * clock is read once the transaction is open.
 */
static int claim_txn(tf_store *s, const tf_claim_req *req, int act, tf_claim *out)
{
    /* A fork since open changes who we are: claims must name this process. */
    if (!s->self_fixed && (long)getpid() != s->self.pid)
        tf_proc_self(&s->self);

    int rc = tf_store_begin(s, "claim a call");
    if (rc != TF_OK)
        return rc;
    double now = 0;
    rc = s->eng->now(s, &now);
    int inserted = 0;
    if (rc == TF_OK && act == ACT_INSERT) {
        char iso[32];
        tf_store_iso_time(now, iso);
        rc = insert_call(s, req, now + (req->lease > 0 ? req->lease : 0), iso, out, &inserted);
        if (rc == TF_OK && inserted)
            rc = add_history(s, req, out, iso);
        if (rc == TF_OK && inserted)
            out->decision = TF_CLAIM_RUN;
    }
    if (rc == TF_OK && !inserted)
        rc = claim_locked(s, req, now, out);
    if (rc == TF_OK)
        rc = tf_store_commit(s, "commit a claim");
    else
        tf_store_rollback(s);
    if (rc != TF_OK)
        tf_claim_clear(out);
    return rc;
}

static int tf_store_claim_once(tf_store *s, const tf_claim_req *req, tf_claim *out)
{
    /*
     * Deferred writes need a write transaction anyway: decide in it, after
     * them, and save the unlocked read (a new call in a sequential flow
     * then costs one transaction, carrying the previous call's end). The
     * unlocked read would also see our own queued end's call as running.
     */
    if (s && s->impl && s->npend) {
        int rc = check_req(s, req, "claim a call", out);
        return rc == TF_OK ? claim_txn(s, req, ACT_INSERT, out) : rc;
    }
    /* The read-only answer: the cached path, and waits that need no write. */
    int act;
    int rc = read_decision(s, req, "claim a call", out, &act);
    if (rc != TF_OK || act == ACT_NONE)
        return rc;
    tf_claim_clear(out);
    return claim_txn(s, req, act, out);
}

static int tf_store_peek_once(tf_store *s, const tf_claim_req *req, tf_claim *out)
{
    int act;
    int rc = read_decision(s, req, "look up a call", out, &act);
    if (rc != TF_OK)
        return rc;
    if (act == ACT_CLAMP_RETRY)
        out->decision = TF_CLAIM_RETRY_WAIT;
    else if (act != ACT_NONE)
        out->decision = TF_CLAIM_RUN;
    return TF_OK;
}

/* ---- executions -------------------------------------------------------- */

/* The statement of an execution start (no transaction of its own). */
static int record_exec_started(tf_store *s, int64_t history_id, long pid, long pgid,
                               long long exec_start, const char *log_path)
{
    int rc = TF_OK;
    tf_q *q = q_get(s, ST_EXEC_STARTED, &rc);
    if (!q)
        return rc;
    q_int64(s, q, 1, history_id);
    q_int64(s, q, 2, pid);
    q_int64(s, q, 3, pgid);
    q_text(s, q, 4, log_path);
    if (exec_start > 0)
        q_int64(s, q, 5, exec_start);
    else
        q_null(s, q, 5);
    int src = q_step(s, q, "record an execution");
    if (!q_wrote(src)) {
        rc = src;
    } else if (q_changes(s, q) == 0) {
        tf_store_set_err(s, "attempt %lld is not in database '%s'", (long long)history_id,
                         s->path);
        rc = TF_ENOTFOUND;
    }
    q_done(s, q);
    return rc;
}

static int tf_store_exec_started_once(tf_store *s, int64_t history_id, long pid, long pgid,
                                      long long exec_start, const char *log_path)
{
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    int rc = tf_store_begin(s, "record an execution");
    if (rc != TF_OK)
        return rc;
    rc = record_exec_started(s, history_id, pid, pgid, exec_start, log_path);
    if (rc != TF_OK) {
        tf_store_rollback(s);
        return rc;
    }
    return tf_store_commit(s, "commit an execution start");
}

static int tf_store_renew_once(tf_store *s, int64_t call_id, int64_t fence, double lease)
{
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    double now = 0;
    int rc = s->eng->now(s, &now);
    if (rc != TF_OK)
        return rc;
    tf_q *q = q_get(s, ST_RENEW, &rc);
    if (!q)
        return rc;
    q_int64(s, q, 1, call_id);
    q_int64(s, q, 2, fence);
    q_double(s, q, 3, now + (lease > 0 ? lease : 0));
    q_double(s, q, 4, tf_proc_boot_clock() + (lease > 0 ? lease : 0));
    int src = q_step(s, q, "renew a lease");
    if (!q_wrote(src)) {
        rc = src;
    } else if (q_changes(s, q) == 0) {
        tf_store_set_err(s, "lease of call %lld lost: claimed again by another runner or cleared",
                         (long long)call_id);
        rc = TF_ESTATE;
    }
    q_done(s, q);
    return rc;
}

int tf_store_note_signal(tf_store *s, int64_t history_id, const char *note)
{
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    int rc = tf_store_begin(s, "note what a takeover signalled");
    if (rc != TF_OK)
        return rc;
    tf_q *q = q_get(s, ST_HIST_SIGNAL_NOTE, &rc);
    if (q) {
        q_int64(s, q, 1, history_id);
        q_text(s, q, 2, note);
        int src = q_step(s, q, "note what a takeover signalled");
        if (!q_wrote(src))
            rc = src;
        q_done(s, q);
    }
    if (rc != TF_OK) {
        tf_store_rollback(s);
        return rc;
    }
    return tf_store_commit(s, "commit a signal note");
}

void tf_store_set_identity(tf_store *s, const tf_proc_id *id)
{
    s->self_fixed = id != NULL;
    if (id)
        s->self = *id;
    else
        tf_proc_self(&s->self);
}

static const char *outcome_name(tf_outcome o)
{
    switch (o) {
    case TF_OUT_SUCCEEDED: return "succeeded";
    case TF_OUT_FAILED: return "failed";
    default: return "interrupted";
    }
}

/* Inside the finish transaction, for a failure: the calls row, if our fence still holds. */
static int finish_call(tf_store *s, const tf_finish *f, double now, const char *iso,
                       int *fenced_out)
{
    int rc = TF_OK;
    tf_q *q = q_get(s, ST_FENCE_CHECK, &rc);
    if (!q)
        return rc;
    q_int64(s, q, 1, f->call_id);
    q_int64(s, q, 2, f->fence);
    int src = q_step(s, q, "check the fencing token");
    long long failures = 0;
    double retry_at = 0;
    int retry_null = 1;
    if (src == Q_ROW) {
        failures = q_col_int64(s, q, 0);
        retry_null = q_col_null(s, q, 1);
        retry_at = q_col_double(s, q, 1);
    } else if (src == Q_DONE) {
        *fenced_out = 1;
    } else {
        rc = src;
    }
    q_done(s, q);
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

    q = q_get(s, ST_FINISH_CALL, &rc);
    if (!q)
        return rc;
    q_int64(s, q, 1, f->call_id);
    q_int64(s, q, 2, f->fence);
    q_text(s, q, 3, outcome_name(f->outcome));
    q_text(s, q, 4, result);
    q_text(s, q, 5, error);
    q_int64(s, q, 6, failures);
    q_double_or_null(s, q, 7, retry_at, retry_null);
    q_text(s, q, 8, iso);
    q_double_or_null(s, q, 9, f->duration, f->duration < 0);
    q_int64(s, q, 10, f->outcome != TF_OUT_SUCCEEDED && f->keep_result);
    src = q_step(s, q, "record the end of a call");
    if (!q_wrote(src))
        rc = src;
    else if (q_changes(s, q) == 0)
        *fenced_out = 1; /* the fence moved between the check and the update (a server engine) */
    q_done(s, q);
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
    tf_q *q = q_get(s, ST_FINISH_SETTLE, &rc);
    if (!q)
        return rc;
    int ok = f->outcome == TF_OUT_SUCCEEDED;
    q_int64(s, q, 1, f->call_id);
    q_int64(s, q, 2, f->fence);
    q_text(s, q, 3, outcome_name(f->outcome));
    q_text(s, q, 4, ok ? (f->result_json ? f->result_json : "null") : NULL);
    q_text(s, q, 5, ok ? NULL : (f->error ? f->error : "interrupted"));
    if (ok)
        q_int64(s, q, 6, 0);
    else
        q_null(s, q, 6);
    q_text(s, q, 7, iso);
    q_double_or_null(s, q, 8, f->duration, f->duration < 0);
    q_double(s, q, 9, f->result_at);
    q_int64(s, q, 10, !ok && f->keep_result);
    int src = q_step(s, q, "record the end of a call");
    if (!q_wrote(src))
        rc = src;
    else if (q_changes(s, q) == 0)
        *fenced_out = 1;
    q_done(s, q);
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
    tf_store_iso_time(now, iso);
    int rc = TF_OK;
    *fenced_out = 0;
    tf_q *q = q_get(s, ST_FINISH_HIST, &rc);
    if (!q)
        return rc;
    q_int64(s, q, 1, f->history_id);
    q_int64(s, q, 2, f->call_id);
    q_text(s, q, 3, outcome_name(f->outcome));
    q_text(s, q, 4, iso);
    q_double_or_null(s, q, 5, f->duration, f->duration < 0);
    if (f->exit_code >= 0)
        q_int64(s, q, 6, f->exit_code);
    else
        q_null(s, q, 6);
    if (f->term_signal > 0)
        q_int64(s, q, 7, f->term_signal);
    else
        q_null(s, q, 7);
    q_text(s, q, 8, f->outcome == TF_OUT_SUCCEEDED ? NULL : f->error);
    q_text(s, q, 9, f->output);
    if (f->output_captured)
        q_int64(s, q, 10, (int64_t)f->output_total);
    else
        q_null(s, q, 10); /* a C work, or an end without a child: no output recorded */
    q_int64(s, q, 11, f->output_truncated != 0);
    int src = q_step(s, q, "record the end of an attempt");
    if (!q_wrote(src))
        rc = src;
    q_done(s, q);
    tf_finish g = *f;
    if (!(g.result_at > 0))
        g.result_at = now; /* a caller without a cache clock: the end of the attempt */
    if (rc == TF_OK && f->outcome != TF_OUT_FAILED)
        rc = settle_call(s, &g, iso, fenced_out);
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
    q = q_get(s, ST_HIST_ERROR, &rc);
    if (!q)
        return rc;
    q_int64(s, q, 1, f->history_id);
    q_text(s, q, 2, why);
    src = q_step(s, q, "record a fenced-out attempt");
    if (!q_wrote(src))
        rc = src;
    q_done(s, q);
    return rc;
}

static int tf_store_finish_once(tf_store *s, const tf_finish *f)
{
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    int rc = tf_store_begin(s, "record the end of a call");
    if (rc != TF_OK)
        return rc;
    double now = 0;
    rc = s->eng->now(s, &now);
    int fenced_out = 0;
    if (rc == TF_OK)
        rc = record_finish(s, f, now, &fenced_out);
    if (rc != TF_OK) {
        tf_store_rollback(s);
        return rc;
    }
    rc = tf_store_commit(s, "commit the end of a call");
    if (rc != TF_OK)
        return rc;
    if (fenced_out) {
        tf_store_set_err(s, "call %lld was claimed again by another runner or cleared"
                         " (fence %lld lost); this %s was not recorded", (long long)f->call_id,
                         (long long)f->fence,
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
        free((char *)s->pend[i].f.output);
        free(s->pend[i].log_path);
        free(s->pend[i].who);
    }
    s->npend = 0;
}

/* Inside a write transaction: every deferred write, oldest first. */
static int apply_pending(tf_store *s)
{
    int64_t lost = 0;
    for (size_t i = 0; i < s->npend; i++) {
        const tf_pending_op *op = &s->pend[i];
        int fenced_out = 0;
        int rc = op->is_start
                     ? record_exec_started(s, op->f.history_id, op->pid, op->pgid, op->exec_start,
                                           op->log_path)
                     : record_finish(s, &op->f, op->at, &fenced_out);
        /* a cleared attempt has nothing left to record: not an error for the others */
        if (rc == TF_ENOTFOUND && op->is_start)
            rc = TF_OK;
        if (rc != TF_OK)
            return rc;
        lost += fenced_out && op->f.outcome == TF_OUT_SUCCEEDED;
        s->pend[i].lost = fenced_out && op->f.outcome == TF_OUT_SUCCEEDED;
    }
    s->pend_lost = lost; /* counted at commit: a rolled-back transaction applies them again */
    s->pend_in_txn = 1;
    return TF_OK;
}

/* A new slot at the end of the queue, or NULL (out of memory, message set). */
static tf_pending_op *push_pending(tf_store *s)
{
    if (s->npend == s->cappend) {
        size_t cap = s->cappend ? s->cappend * 2 : 16;
        tf_pending_op *p = realloc(s->pend, cap * sizeof *p);
        if (!p) {
            tf_store_set_err(s, "cannot defer a write: out of memory");
            return NULL;
        }
        s->pend = p;
        s->cappend = cap;
    }
    tf_pending_op *op = &s->pend[s->npend];
    memset(op, 0, sizeof *op);
    return op;
}

/* Commit the queue at once when it has grown to TF_STORE_PENDING_MAX. */
static int flush_if_full(tf_store *s)
{
    return s->npend >= TF_STORE_PENDING_MAX ? tf_store_flush(s) : TF_OK;
}

static int tf_store_finish_later_once(tf_store *s, const tf_finish *f)
{
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    double at = 0;
    int rc = s->eng->now(s, &at);
    if (rc != TF_OK)
        return rc;
    tf_pending_op *op = push_pending(s);
    if (!op)
        return TF_ENOMEM;
    op->f = *f;
    op->at = at;
    op->f.result_json = f->result_json ? strdup(f->result_json) : NULL;
    op->f.error = f->error ? strdup(f->error) : NULL;
    op->f.output = f->output ? strdup(f->output) : NULL;
    op->f.work = op->f.key = NULL; /* kept in who */
    op->who = NULL;
    op->lost = 0;
    if (f->work && f->key) {
        size_t wl = strlen(f->work), kl = strlen(f->key);
        if ((op->who = malloc(wl + kl + 2))) {
            memcpy(op->who, f->work, wl + 1);
            memcpy(op->who + wl + 1, f->key, kl + 1);
        }
    }
    if ((f->result_json && !op->f.result_json) || (f->error && !op->f.error)
        || (f->output && !op->f.output) || (f->work && f->key && !op->who)) {
        free((char *)op->f.result_json);
        free((char *)op->f.error);
        free((char *)op->f.output);
        free(op->who);
        op->who = NULL;
        tf_store_set_err(s, "cannot defer the end of a call: out of memory");
        return TF_ENOMEM;
    }
    s->npend++;
    return flush_if_full(s);
}

int tf_store_exec_started_later(tf_store *s, int64_t history_id, long pid, long pgid,
                                long long exec_start, const char *log_path)
{
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    tf_pending_op *op = push_pending(s);
    if (!op)
        return TF_ENOMEM;
    op->is_start = 1;
    op->f.history_id = history_id;
    op->pid = pid;
    op->pgid = pgid;
    op->exec_start = exec_start;
    if (log_path && !(op->log_path = strdup(log_path))) {
        tf_store_set_err(s, "cannot defer an execution start: out of memory");
        return TF_ENOMEM;
    }
    s->npend++;
    return flush_if_full(s);
}

static int tf_store_flush_once(tf_store *s)
{
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    if (!s->npend)
        return TF_OK;
    int rc = tf_store_begin(s, "record finished calls");
    return rc == TF_OK ? tf_store_commit(s, "commit finished calls") : rc;
}

size_t tf_store_pending(const tf_store *s)
{
    return s ? s->npend : 0;
}

void tf_store_take_settled(tf_store *s, tf_settled_fn fn, void *user)
{
    if (!s)
        return;
    /* taken first: fn may make the store commit again, which appends anew */
    char **who = s->settled_who;
    unsigned char *lost = s->settled_lost;
    size_t n = s->nsettled;
    s->settled_who = NULL;
    s->settled_lost = NULL;
    s->nsettled = 0;
    for (size_t i = 0; i < n; i++) {
        if (fn)
            fn(who[i], who[i] + strlen(who[i]) + 1, !lost[i], user);
        free(who[i]);
    }
    free(who);
    free(lost);
}

int64_t tf_store_take_lost(tf_store *s)
{
    int64_t n = s ? s->lost : 0;
    if (s)
        s->lost = 0;
    return n;
}

int tf_store_claim(tf_store *s, const tf_claim_req *req, tf_claim *out)
{
    int rc;
    RETRYING(s, rc, tf_store_claim_once(s, req, out));
    return rc;
}

int tf_store_peek(tf_store *s, const tf_claim_req *req, tf_claim *out)
{
    int rc;
    RETRYING(s, rc, tf_store_peek_once(s, req, out));
    return rc;
}

int tf_store_exec_started(tf_store *s, int64_t history_id, long pid, long pgid,
                          long long exec_start, const char *log_path)
{
    int rc;
    RETRYING(s, rc, tf_store_exec_started_once(s, history_id, pid, pgid, exec_start, log_path));
    return rc;
}

int tf_store_renew(tf_store *s, int64_t call_id, int64_t fence, double lease)
{
    int rc;
    RETRYING(s, rc, tf_store_renew_once(s, call_id, fence, lease));
    return rc;
}

int tf_store_finish(tf_store *s, const tf_finish *f)
{
    int rc;
    RETRYING(s, rc, tf_store_finish_once(s, f));
    return rc;
}

int tf_store_flush(tf_store *s)
{
    int rc;
    RETRYING(s, rc, tf_store_flush_once(s));
    return rc;
}

int tf_store_finish_later(tf_store *s, const tf_finish *f)
{
    int rc;
    RETRYING(s, rc, tf_store_finish_later_once(s, f));
    return rc;
}
