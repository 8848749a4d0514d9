/*
 * store/inspect.c - the store's inspection and maintenance calls, written
 * once for every engine (store.h; the engine seam is store/engine.h).
 *
 * Owns: listing and counting calls by filter, finding one call by key
 * prefix (among one work's and version's calls when given: a call is
 * (work, version, key), and two works called alike share the key), an
 * attempt history, clearing (batches of short transactions
 * with one audit row, running calls spared; asked first, only the calls
 * counted), retry of failed calls, gc of settled ones (the same rule),
 * and the reads that warm the in-memory view (each_succeeded,
 * row_estimate, previous_args). The CLI's ls/show/logs/clear/retry/gc and
 * the memo use them; nothing here decides a claim.
 */
#include "store/engine.h"
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The columns of a tf_call_row (CALL_COLS in the engines), in order. */
enum {
    CC_ID, CC_WORK, CC_VERSION, CC_SHA, CC_ARGS, CC_STATUS, CC_RESULT, CC_ERROR,
    CC_ATTEMPTS, CC_CREATED, CC_STARTED, CC_FINISHED, CC_DURATION, CC_PID, CC_HOST, CC_LOG,
    CC_RESULT_AT,
    CC_FAILURES, CC_RETRY_AT, CC_LEASE
};

/* Fill a tf_call_row from a CALL_COLS row; strings live until the next step. */
static void row_from_q(tf_store *s, tf_q *q, tf_call_row *r)
{
    r->id = q_col_int64(s, q, CC_ID);
    r->work = q_col_text(s, q, CC_WORK);
    r->version = q_col_text(s, q, CC_VERSION);
    r->args_sha256 = q_col_text(s, q, CC_SHA);
    r->args_json = q_col_text(s, q, CC_ARGS);
    r->status = q_col_text(s, q, CC_STATUS);
    r->result_json = q_col_text(s, q, CC_RESULT);
    r->error = q_col_text(s, q, CC_ERROR);
    r->attempts = (int)q_col_int64(s, q, CC_ATTEMPTS);
    r->created_at = q_col_text(s, q, CC_CREATED);
    r->started_at = q_col_text(s, q, CC_STARTED);
    r->finished_at = q_col_text(s, q, CC_FINISHED);
    r->duration = q_col_null(s, q, CC_DURATION) ? -1 : q_col_double(s, q, CC_DURATION);
    r->runner_pid = (long)q_col_int64(s, q, CC_PID);
    r->runner_host = q_col_text(s, q, CC_HOST);
    r->log_path = q_col_text(s, q, CC_LOG);
    r->result_at = q_col_null(s, q, CC_RESULT_AT) ? -1 : q_col_double(s, q, CC_RESULT_AT);
    /* a result kept on a row that is not a success: served as stale (schema/sqlite/0004) */
    r->stale = r->result_json && r->status && strcmp(r->status, "succeeded") != 0;
    r->failures = (int)q_col_int64(s, q, CC_FAILURES);
    r->next_retry_at = q_col_null(s, q, CC_RETRY_AT) ? -1 : q_col_double(s, q, CC_RETRY_AT);
    r->lease_until = q_col_null(s, q, CC_LEASE) ? -1 : q_col_double(s, q, CC_LEASE);
}

/* Step q to the end, handing each row to fn (which may stop it). */
static int each_row(tf_store *s, tf_q *q, tf_row_fn fn, void *user,
                    int64_t *count, const char *what)
{
    int64_t n = 0;
    for (;;) {
        int src = q_step(s, q, what);
        if (src == Q_DONE)
            break;
        if (src != Q_ROW)
            return src;
        n++;
        if (fn) {
            tf_call_row r;
            row_from_q(s, q, &r);
            if (fn(&r, user) != 0)
                break;
        }
    }
    if (count)
        *count = n;
    return TF_OK;
}

/* Step a bound statement that returns one integer into *out; resets it. */
static int step_int64(tf_store *s, tf_q *q, const char *what, int64_t *out)
{
    int rc = TF_OK;
    int src = q_step(s, q, what);
    if (src == Q_ROW)
        *out = q_col_int64(s, q, 0);
    else
        rc = src == Q_DONE ? TF_EDB : src;
    if (src == Q_DONE)
        tf_store_set_err(s, "cannot %s in database '%s': no row", what, s->path);
    q_done(s, q);
    return rc;
}

/* Run a write statement already bound; *count = rows changed. */
static int step_write(tf_store *s, tf_q *q, const char *what, int64_t *count)
{
    int src = q_step(s, q, what);
    if (!q_wrote(src))
        return src;
    if (count)
        *count = q_changes(s, q);
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
        tf_store_set_err(s, "%s '%s' is not a hexadecimal key (up to 64 digits)", what, in);
        return TF_EINPUT;
    }
    for (size_t i = 0; i <= n; i++)
        out[i] = (char)(in[i] >= 'A' && in[i] <= 'F' ? in[i] - 'A' + 'a' : in[i]);
    return TF_OK;
}

/* Bind a filter to ?1..?6 and ?TF_FILTER_VERSION_P (prefix/key normalized into the caller's buffers). */
static int bind_filter(tf_store *s, tf_q *q, const tf_filter *f, char prefix[65], char key[65])
{
    int rc = TF_OK;
    if (f->key_prefix && (rc = norm_hex(s, f->key_prefix, prefix, "key prefix")) != TF_OK)
        return rc;
    if (f->args_sha256 && (rc = norm_hex(s, f->args_sha256, key, "key")) != TF_OK)
        return rc;
    q_text(s, q, 1, f->work);
    q_text(s, q, 2, f->status);
    q_text(s, q, 3, f->key_prefix ? prefix : NULL);
    q_text(s, q, 4, f->args_sha256 ? key : NULL);
    q_text(s, q, 5, f->since);
    q_text(s, q, 6, f->before);
    q_text(s, q, TF_FILTER_VERSION_P, f->version);
    return TF_OK;
}

int tf_store_list(tf_store *s, const tf_filter *f, tf_row_fn fn, void *user)
{
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    int rc = TF_OK;
    int unsettled = f->status && strcmp(f->status, "succeeded") != 0;
    tf_q *q = q_get(s, unsettled ? ST_LIST_UNSETTLED : ST_LIST, &rc);
    if (!q)
        return rc;
    char prefix[65], key[65];
    rc = bind_filter(s, q, f, prefix, key);
    if (rc == TF_OK) {
        q_int64(s, q, 7, f->limit > 0 ? f->limit : -1);
        rc = each_row(s, q, fn, user, NULL, "list calls");
    }
    q_done(s, q);
    return rc;
}

static int tf_store_count_once(tf_store *s, const tf_filter *f, int64_t max, int64_t *count)
{
    *count = 0;
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    int rc = TF_OK;
    tf_q *q = q_get(s, ST_COUNT_ROWS, &rc);
    if (!q)
        return rc;
    char prefix[65], key[65];
    rc = bind_filter(s, q, f, prefix, key);
    if (rc != TF_OK) {
        q_done(s, q);
        return rc;
    }
    q_int64(s, q, 7, max > 0 ? max : -1);
    return step_int64(s, q, "count calls", count);
}

/* The message for a prefix that matched n > 1 calls (the first 5 in cand, as tf_call_ref). */
static void set_ambiguous(tf_store *s, const char *p, int n, char cand[5][TF_REF_MAX])
{
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
    tf_store_set_err(s, "%s", msg);
}

/* "no call [of work 'W'] [with version 'V' | with no version] has a key starting with 'P'" */
static void set_not_found(tf_store *s, const char *work, const char *version, const char *p)
{
    char of[300] = "";
    if (work)
        snprintf(of, sizeof of, " of work '%.128s'", work);
    char with[200] = "";
    if (version && *version)
        snprintf(with, sizeof with, " with version '%.100s'", version);
    else if (version)
        snprintf(with, sizeof with, " with no version");
    tf_store_set_err(s, "no call%s%s has a key starting with '%s'", of, with, p);
}

int tf_store_find(tf_store *s, const char *work, const char *version, const char *prefix,
                  tf_row_fn fn, void *user)
{
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    char p[65];
    if (!prefix || strlen(prefix) < 4 || !is_hex(prefix)) {
        tf_store_set_err(s, "key prefix '%s' must be at least 4 hexadecimal digits",
                         prefix ? prefix : "");
        return TF_EINPUT;
    }
    int rc = norm_hex(s, prefix, p, "key prefix");
    if (rc != TF_OK)
        return rc;
    tf_q *q = q_get(s, work ? ST_FIND_WORK : ST_FIND, &rc);
    if (!q)
        return rc;
    q_text(s, q, 1, p);
    q_text(s, q, 2, version);
    if (work)
        q_text(s, q, 3, work);
    char cand[5][TF_REF_MAX];
    int n = 0;
    for (;;) {
        int src = q_step(s, q, "find a call");
        if (src == Q_DONE)
            break;
        if (src != Q_ROW) {
            rc = src;
            break;
        }
        if (n < 5) {
            const char *w = q_col_text(s, q, CC_WORK), *k = q_col_text(s, q, CC_SHA);
            tf_call_ref(w ? w : "", q_col_text(s, q, CC_VERSION), k ? k : "", cand[n],
                        sizeof cand[n]); /* a cut form ends in "..." */
        }
        n++;
    }
    if (rc == TF_OK && n == 0) {
        set_not_found(s, work, version, p);
        rc = TF_ENOTFOUND;
    } else if (rc == TF_OK && n > 1) {
        set_ambiguous(s, p, n, cand);
        rc = TF_EAMBIGUOUS;
    } else if (rc == TF_OK && fn) {
        /* exactly one: read it again and hand it on */
        s->eng->rewind(q);
        int src = q_step(s, q, "find a call");
        if (src == Q_ROW) {
            tf_call_row r;
            row_from_q(s, q, &r);
            fn(&r, user);
        } else if (src == Q_DONE) {
            set_not_found(s, work, version, p);
            rc = TF_ENOTFOUND;
        } else {
            rc = src;
        }
    }
    q_done(s, q);
    return rc;
}

int tf_store_history(tf_store *s, int64_t call_id, tf_hist_fn fn, void *user)
{
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    int rc = TF_OK;
    tf_q *q = q_get(s, ST_HISTORY, &rc);
    if (!q)
        return rc;
    q_int64(s, q, 1, call_id);
    for (;;) {
        int src = q_step(s, q, "read the history of a call");
        if (src == Q_DONE)
            break;
        if (src != Q_ROW) {
            rc = src;
            break;
        }
        tf_history_row h;
        h.id = q_col_int64(s, q, 0);
        h.attempt = (int)q_col_int64(s, q, 1);
        h.status = q_col_text(s, q, 2);
        h.started_at = q_col_text(s, q, 3);
        h.finished_at = q_col_text(s, q, 4);
        h.duration = q_col_null(s, q, 5) ? -1 : q_col_double(s, q, 5);
        h.runner_host = q_col_text(s, q, 6);
        h.runner_pid = (long)q_col_int64(s, q, 7);
        h.exec_pid = (long)q_col_int64(s, q, 8);
        h.exit_code = q_col_null(s, q, 9) ? -1 : (int)q_col_int64(s, q, 9);
        h.term_signal = (int)q_col_int64(s, q, 10);
        h.error = q_col_text(s, q, 11);
        h.log_path = q_col_text(s, q, 12);
        h.output = q_col_text(s, q, 13);
        h.output_bytes = q_col_null(s, q, 14) ? -1 : q_col_int64(s, q, 14);
        h.output_truncated = (int)q_col_int64(s, q, 15);
        h.command_sha256 = q_col_text(s, q, 16);
        if (fn && fn(&h, user) != 0)
            break;
    }
    q_done(s, q);
    return rc;
}

/* ---- totals per work ---------------------------------------------------------- */

/* The totals being built: one entry per work, sorted by name. */
typedef struct totals {
    tf_work_totals *v;      /* entries; work and last_status malloc'd */
    size_t n;               /* count */
} totals;

static int totals_cmp(const void *a, const void *b)
{
    return strcmp(((const tf_work_totals *)a)->work, ((const tf_work_totals *)b)->work);
}

/* The entry of work (which must be listed by ST_TOTALS_CALLS), or NULL. */
static tf_work_totals *totals_find(totals *t, const char *work)
{
    tf_work_totals key = {.work = work};
    return work ? bsearch(&key, t->v, t->n, sizeof *t->v, totals_cmp) : NULL;
}

static void totals_free(totals *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free((void *)(uintptr_t)t->v[i].work);
        free((void *)(uintptr_t)t->v[i].last_status);
    }
    free(t->v);
}

/* ST_TOTALS_CALLS into t (sorted afterwards). */
static int totals_calls(tf_store *s, totals *t, double now)
{
    int rc = TF_OK;
    tf_q *q = q_get(s, ST_TOTALS_CALLS, &rc);
    if (!q)
        return rc;
    q_double(s, q, 1, now);
    size_t cap = 0;
    for (;;) {
        int src = q_step(s, q, "count calls per work");
        if (src == Q_DONE)
            break;
        if (src != Q_ROW) {
            rc = src;
            break;
        }
        if (t->n == cap) {
            size_t c = cap ? cap * 2 : 16;
            tf_work_totals *v = realloc(t->v, c * sizeof *v);
            if (!v) {
                rc = TF_ENOMEM;
                break;
            }
            t->v = v;
            cap = c;
        }
        const char *w = q_col_text(s, q, 0);
        tf_work_totals *e = &t->v[t->n];
        *e = (tf_work_totals){
            .work = strdup(w ? w : ""), .running = q_col_int64(s, q, 1),
            .succeeded = q_col_int64(s, q, 2), .failed = q_col_int64(s, q, 3),
            .interrupted = q_col_int64(s, q, 4), .failed_final = q_col_int64(s, q, 5),
            .lease_ended = q_col_int64(s, q, 6), .last_success = -1, .last_end = -1,
            .last_duration = -1, .last_result = q_col_null(s, q, 7) ? -1 : q_col_double(s, q, 7),
        };
        if (!e->work) {
            rc = TF_ENOMEM;
            break;
        }
        t->n++;
    }
    q_done(s, q);
    if (rc == TF_ENOMEM)
        tf_store_set_err(s, "cannot count calls per work: out of memory");
    if (rc == TF_OK && t->n > 1)
        qsort(t->v, t->n, sizeof *t->v, totals_cmp);
    return rc;
}

/* ST_TOTALS_RUNS and ST_TOTALS_LAST into the entries of t. */
static int totals_runs(tf_store *s, totals *t)
{
    int rc = TF_OK;
    for (int id = ST_TOTALS_RUNS; rc == TF_OK && id <= ST_TOTALS_LAST; id++) {
        tf_q *q = q_get(s, id, &rc);
        if (!q)
            return rc;
        for (;;) {
            int src = q_step(s, q, "count executions per work");
            if (src == Q_DONE)
                break;
            if (src != Q_ROW) {
                rc = src;
                break;
            }
            tf_work_totals *e = totals_find(t, q_col_text(s, q, 0));
            if (!e)
                continue; /* a work whose calls went between the two reads */
            if (id == ST_TOTALS_RUNS) {
                e->runs_running = q_col_int64(s, q, 1);
                e->runs_succeeded = q_col_int64(s, q, 2);
                e->runs_failed = q_col_int64(s, q, 3);
                e->runs_interrupted = q_col_int64(s, q, 4);
                e->last_success = q_col_null(s, q, 5) ? -1 : q_col_double(s, q, 5);
            } else {
                e->last_end = q_col_null(s, q, 2) ? -1 : q_col_double(s, q, 2);
                e->last_duration = q_col_null(s, q, 3) ? -1 : q_col_double(s, q, 3);
                const char *st = q_col_text(s, q, 4);
                free((void *)(uintptr_t)e->last_status);
                e->last_status = st ? strdup(st) : NULL;
                if (st && !e->last_status) {
                    tf_store_set_err(s, "cannot count executions per work: out of memory");
                    rc = TF_ENOMEM;
                    break;
                }
            }
        }
        q_done(s, q);
    }
    return rc;
}

int tf_store_totals(tf_store *s, tf_totals_fn fn, void *user)
{
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    double now = 0;
    int rc = s->eng->now(s, &now);
    totals t = {NULL, 0};
    if (rc == TF_OK)
        rc = totals_calls(s, &t, now);
    if (rc == TF_OK)
        rc = totals_runs(s, &t);
    for (size_t i = 0; rc == TF_OK && fn && i < t.n; i++)
        if (fn(&t.v[i], user) != 0)
            break;
    totals_free(&t);
    return rc;
}

int tf_store_executions(tf_store *s, const char *since, tf_execution_fn fn, void *user)
{
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    int rc = TF_OK;
    tf_q *q = q_get(s, ST_EXECUTIONS, &rc);
    if (!q)
        return rc;
    q_text(s, q, 1, since);
    for (;;) {
        int src = q_step(s, q, "list executions");
        if (src == Q_DONE)
            break;
        if (src != Q_ROW) {
            rc = src;
            break;
        }
        tf_execution_row r;
        r.work = q_col_text(s, q, 0);
        r.args_sha256 = q_col_text(s, q, 1);
        r.args_json = q_col_text(s, q, 2);
        tf_history_row *h = &r.h;
        h->id = q_col_int64(s, q, 3);
        h->attempt = (int)q_col_int64(s, q, 4);
        h->status = q_col_text(s, q, 5);
        h->started_at = q_col_text(s, q, 6);
        h->finished_at = q_col_text(s, q, 7);
        h->duration = q_col_null(s, q, 8) ? -1 : q_col_double(s, q, 8);
        h->runner_host = q_col_text(s, q, 9);
        h->runner_pid = (long)q_col_int64(s, q, 10);
        h->exec_pid = (long)q_col_int64(s, q, 11);
        h->exit_code = q_col_null(s, q, 12) ? -1 : (int)q_col_int64(s, q, 12);
        h->term_signal = (int)q_col_int64(s, q, 13);
        h->error = q_col_text(s, q, 14);
        h->log_path = q_col_text(s, q, 15);
        h->output = NULL; /* not read here: tf_calls_history has it, one call at a time */
        h->output_bytes = -1;
        h->output_truncated = 0;
        h->command_sha256 = NULL;
        if (fn && fn(&r, user) != 0)
            break;
    }
    q_done(s, q);
    return rc;
}

static int filter_empty(const tf_filter *f)
{
    return !f->work && !f->status && !f->key_prefix && !f->args_sha256 &&
           !f->since && !f->before && !f->version;
}

/*
 * The size of long writes' batches (engine.h): rows per transaction, grown
 * while a batch is quick and shrunk when one held the lock too long.
 */
typedef struct batcher {
    int64_t rows;           /* rows of the next batch */
    double t0;              /* monotonic start of the current batch */
    int started;            /* a batch has run: pause before the next */
} batcher;

#define BATCH_FIRST 500
#define BATCH_MIN 20
#define BATCH_MAX 100000

/* Pause after the previous batch (other writers get the lock), then time this one. */
static void batch_start(batcher *b)
{
    if (b->started) {
        struct timespec ts = {0, TF_STORE_BATCH_PAUSE_MS * 1000L * 1000L};
        nanosleep(&ts, NULL);
    }
    b->started = 1;
    b->t0 = tf_store_mono();
}

/* The batch committed: size the next one by how long this one held the lock. */
static void batch_done(batcher *b)
{
    double ms = (tf_store_mono() - b->t0) * 1000.0;
    if (ms > TF_STORE_BATCH_MS && b->rows > BATCH_MIN)
        b->rows /= 2;
    else if (ms < TF_STORE_BATCH_MS / 4.0 && b->rows < BATCH_MAX)
        b->rows *= 2;
}

/*
 * The ids a count saw, newest first: a clear or gc that asked first deletes
 * only these (those of them that still match), never a call it did not count.
 */
typedef struct idlist {
    int64_t *v;             /* ids; malloc'd */
    size_t n;               /* ids in use */
    size_t cap;             /* ids allocated */
} idlist;

static int idlist_add(idlist *l, int64_t id)
{
    if (l->n == l->cap) {
        size_t c = l->cap ? l->cap * 2 : 256;
        int64_t *v = realloc(l->v, c * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = c;
    }
    l->v[l->n++] = id;
    return 0;
}

/* ids[0..n) as a JSON array "[7,5,...]" into b: the engines' form of a list of ids. -1: ENOMEM. */
static int ids_json(tf_buf *b, const int64_t *ids, size_t n)
{
    int oom = tf_buf_putc(b, '[');
    for (size_t i = 0; i < n && !oom; i++) {
        char one[24];
        snprintf(one, sizeof one, "%s%lld", i ? "," : "", (long long)ids[i]);
        oom |= tf_buf_puts(b, one);
    }
    return oom | tf_buf_putc(b, ']');
}

/* The next batch of what was counted: at most rows of l from *done on (*n of them). */
static const int64_t *idlist_next(const idlist *l, size_t done, int64_t rows, size_t *n)
{
    size_t left = l->n - done;
    *n = (int64_t)left < rows ? left : (size_t)rows;
    return l->v + done;
}

/* What one clear is doing across its batches. */
typedef struct clear_run clear_run;

static int audit_insert(tf_store *s, clear_run *cr, const char *user, const char *selector,
                        int64_t n);
static int audit_add(tf_store *s, int64_t audit_id, int64_t n);


struct clear_run {
    const tf_filter *f;     /* the selection */
    double now;             /* the clear's time (its audit row; fixed when counting) */
    int64_t below;          /* next batch: ids below this */
    const int64_t *pick;    /* deleting what was counted: this batch's ids (NULL: by below) */
    size_t npick;           /* their number */
    idlist *seen;           /* counting before asking: every id listed goes here (or NULL) */
    int64_t audit_id;       /* the clears row, once written (0 before) */
    int64_t total;          /* rows deleted (or listed, for a dry run) so far */
};

/*
 * One batch of a clear, in the open transaction: list up to `rows` calls
 * (fn) - the next ones below cr->below, or those of cr->pick that still
 * match - delete exactly those (unless dry_run) and add them to the audit
 * row. *more is 1 when a listing by cr->below was full (there may be more).
 */
/* 1 when a clear may delete running calls: only when it names them (--status running). */
static int running_goes(const tf_filter *f)
{
    return f->status && strcmp(f->status, "running") == 0;
}

static int clear_batch(tf_store *s, clear_run *cr, int64_t rows, const char *user,
                       const char *selector, int dry_run, tf_row_fn fn, void *fn_user, int *more)
{
    char prefix[65], key[65];
    int rc = TF_OK;
    *more = 0;
    /* the ids listed: the delete takes exactly these */
    idlist got = {NULL, 0, 0};
    tf_buf ids = TF_BUF_INIT, want = TF_BUF_INIT;
    int oom = cr->pick ? ids_json(&want, cr->pick, cr->npick) : 0;
    tf_q *q = oom ? NULL : q_get(s, cr->pick ? ST_CLEAR_PICK : ST_CLEAR_LIST, &rc);
    if (!q) {
        tf_buf_free(&want);
        if (oom) {
            tf_store_set_err(s, "cannot clear calls: out of memory");
            rc = TF_ENOMEM;
        }
        return rc;
    }
    rc = bind_filter(s, q, cr->f, prefix, key);
    int64_t listed = 0, lowest = cr->below;
    if (rc == TF_OK) {
        q_int64(s, q, 7, running_goes(cr->f));
        q_int64(s, q, 8, cr->below);
        q_int64(s, q, 9, rows);
        if (cr->pick)
            q_text(s, q, 10, want.data);
        int src;
        while ((src = q_step(s, q, "list calls to clear")) == Q_ROW) {
            tf_call_row r;
            row_from_q(s, q, &r);
            lowest = r.id;
            oom |= idlist_add(&got, r.id);
            if (cr->seen)
                oom |= idlist_add(cr->seen, r.id);
            listed++;
            if (fn)
                fn(&r, fn_user);
        }
        if (src != Q_DONE)
            rc = src;
    }
    q_done(s, q);
    tf_buf_free(&want);
    if (!oom)
        oom = ids_json(&ids, got.v, got.n);
    free(got.v);
    if (rc == TF_OK && oom) {
        tf_store_set_err(s, "cannot clear calls: out of memory");
        rc = TF_ENOMEM;
    }
    if (rc != TF_OK || listed == 0) {
        tf_buf_free(&ids);
        return rc;
    }
    *more = !cr->pick && listed == rows;
    int64_t deleted = listed;
    if (!dry_run) {
        q = q_get(s, ST_CLEAR, &rc);
        if (!q) {
            tf_buf_free(&ids);
            return rc;
        }
        rc = bind_filter(s, q, cr->f, prefix, key);
        if (rc == TF_OK) {
            q_int64(s, q, 7, running_goes(cr->f));
            q_int64(s, q, 8, cr->below);
            q_int64(s, q, 9, lowest);
            q_text(s, q, 10, ids.data);
            rc = step_write(s, q, "clear calls", &deleted);
        }
        q_done(s, q);
        if (rc == TF_OK && cr->audit_id)
            rc = audit_add(s, cr->audit_id, deleted);
        else if (rc == TF_OK)
            rc = audit_insert(s, cr, user, selector, deleted);
    }
    tf_buf_free(&ids);
    if (!cr->pick)
        cr->below = lowest;
    cr->total += deleted;
    return rc;
}

/* The audit row of a clear, written with its first batch (also when it deleted nothing). */
static int audit_insert(tf_store *s, clear_run *cr, const char *user, const char *selector,
                        int64_t n)
{
    char iso[32];
    tf_store_iso_time(cr->now, iso);
    int rc = TF_OK;
    tf_q *q = q_get(s, ST_AUDIT, &rc);
    if (!q)
        return rc;
    q_text(s, q, 1, iso);
    q_text(s, q, 2, user);
    q_text(s, q, 3, selector);
    q_int64(s, q, 4, n);
    int src = q_step(s, q, "record the clear");
    if (q_wrote(src))
        cr->audit_id = s->eng->last_id(s, q);
    else
        rc = src;
    q_done(s, q);
    return rc;
}

/* A later batch adds what it deleted to the audit row. */
static int audit_add(tf_store *s, int64_t audit_id, int64_t n)
{
    int rc = TF_OK;
    tf_q *q = q_get(s, ST_AUDIT_ADD, &rc);
    if (!q)
        return rc;
    q_int64(s, q, 1, audit_id);
    q_int64(s, q, 2, n);
    rc = step_write(s, q, "record the clear", NULL);
    q_done(s, q);
    return rc;
}

/*
 * Run one batch of a long write in its own transaction: fn does the work
 * for b->rows rows and says whether more may follow. A dry run (read only)
 * opens no write transaction.
 */
typedef int (*batch_fn)(tf_store *s, void *ctx, int64_t rows, int *more);

static int run_batches(tf_store *s, const char *what, int read_only, batch_fn fn, void *ctx)
{
    batcher b = {BATCH_FIRST, 0, 0};
    for (int more = 1; more;) {
        batch_start(&b);
        int rc = read_only ? TF_OK : tf_store_begin(s, what);
        if (rc != TF_OK)
            return rc;
        rc = fn(s, ctx, b.rows, &more);
        if (read_only)
            ;
        else if (rc != TF_OK)
            tf_store_rollback(s);
        else
            rc = tf_store_commit(s, what);
        if (rc != TF_OK)
            return rc;
        batch_done(&b);
    }
    return TF_OK;
}

/* tf_store_clear's batch: its arguments around clear_batch. */
typedef struct clear_args {
    clear_run run;          /* progress */
    const char *user;       /* audit: who */
    const char *selector;   /* audit: what they typed */
    int dry_run;            /* list only */
    tf_row_fn fn;           /* per row listed, or NULL */
    void *fn_user;          /* its argument */
    const idlist *counted;  /* deleting what was counted before asking (else NULL) */
    size_t done;            /* of counted, handled so far */
} clear_args;

static int clear_step(tf_store *s, void *ctx, int64_t rows, int *more)
{
    clear_args *a = ctx;
    if (a->counted) {
        a->run.pick = idlist_next(a->counted, a->done, rows, &a->run.npick);
        rows = (int64_t)a->run.npick;
    }
    int rc = clear_batch(s, &a->run, rows, a->user, a->selector, a->dry_run, a->fn,
                         a->fn_user, more);
    if (a->counted && rc == TF_OK) {
        a->done += a->run.npick;
        *more = a->done < a->counted->n;
    }
    /* nothing matched at all: the clear is still audited */
    if (rc == TF_OK && !*more && !a->dry_run && !a->run.audit_id)
        rc = audit_insert(s, &a->run, a->user, a->selector, 0);
    return rc;
}

/* The checks every clear starts with; TF_OK to go on. */
static int clear_refused(tf_store *s, const tf_filter *f)
{
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    if (filter_empty(f) && !f->all) {
        tf_store_set_err(s, "refusing to clear every call without a filter or --all");
        return TF_EINPUT;
    }
    return TF_OK;
}

int tf_store_clear(tf_store *s, const tf_filter *f, const char *user,
                   const char *selector, int dry_run, tf_row_fn fn, void *fn_user,
                   int64_t *count)
{
    if (count)
        *count = 0;
    int rc = clear_refused(s, f);
    if (rc != TF_OK)
        return rc;
    clear_args a = {{f, 0, INT64_MAX, NULL, 0, NULL, 0, 0}, user, selector, dry_run, fn, fn_user,
                    NULL, 0};
    rc = s->eng->now(s, &a.run.now);
    if (rc == TF_OK)
        rc = run_batches(s, "clear calls", dry_run, clear_step, &a);
    /* what was deleted stays deleted (and audited) even when a later batch failed */
    if (count)
        *count = a.run.total;
    return rc;
}

int tf_store_clear_asking(tf_store *s, const tf_filter *f, const char *user,
                          const char *selector, tf_confirm_fn ask, void *ask_user,
                          tf_row_fn fn, void *fn_user, int64_t *counted, int64_t *deleted)
{
    if (counted)
        *counted = 0;
    if (deleted)
        *deleted = 0;
    int rc = clear_refused(s, f);
    if (rc != TF_OK)
        return rc;
    /* the count, in read-only batches: it fixes the ids */
    idlist seen = {NULL, 0, 0};
    clear_args a = {{f, 0, INT64_MAX, NULL, 0, &seen, 0, 0}, user, selector, 1, NULL, NULL,
                    NULL, 0};
    rc = s->eng->now(s, &a.run.now);
    if (rc == TF_OK)
        rc = run_batches(s, "count calls to clear", 1, clear_step, &a);
    if (counted)
        *counted = (int64_t)seen.n;
    if (rc == TF_OK && (seen.n == 0 || !ask || ask((int64_t)seen.n, ask_user))) {
        /* the deletion: those of the counted calls that still match, in batches */
        a.run = (clear_run){f, a.run.now, INT64_MAX, NULL, 0, NULL, 0, 0};
        a.dry_run = 0;
        a.fn = fn;
        a.fn_user = fn_user;
        a.counted = &seen;
        rc = run_batches(s, "clear calls", 0, clear_step, &a);
        if (deleted)
            *deleted = a.run.total;
    }
    free(seen.v);
    return rc;
}

/* tf_store_retry's batch. */
typedef struct retry_args {
    const tf_filter *f;     /* the selection */
    int64_t total;          /* rows made runnable so far */
} retry_args;

static int retry_step(tf_store *s, void *ctx, int64_t rows, int *more)
{
    retry_args *a = ctx;
    int rc = TF_OK;
    tf_q *q = q_get(s, ST_RETRY, &rc);
    if (!q)
        return rc;
    char prefix[65], key[65];
    int64_t n = 0;
    rc = bind_filter(s, q, a->f, prefix, key);
    if (rc == TF_OK) {
        q_int64(s, q, 7, rows);
        rc = step_write(s, q, "retry calls", &n);
    }
    q_done(s, q);
    a->total += n;
    *more = rc == TF_OK && n == rows;
    return rc;
}

static int tf_store_retry_once(tf_store *s, const tf_filter *f, int64_t *count)
{
    if (count)
        *count = 0;
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    retry_args a = {f, 0};
    int rc = run_batches(s, "retry calls", 0, retry_step, &a);
    if (count)
        *count = a.total;
    return rc;
}

/* tf_store_gc's batches: listing by id (newest first), or deleting what was counted. */
typedef struct gc_args {
    char before[32];        /* finished_at bound, ISO-8601 */
    int64_t below;          /* the next listing: ids below this */
    idlist *seen;           /* counting before asking: the ids listed go here (or NULL) */
    const idlist *counted;  /* deleting what was counted (NULL: list and delete each batch) */
    size_t done;            /* of counted, handled so far */
    int64_t total;          /* rows deleted so far */
} gc_args;

/* The next `rows` settled calls finished before the cutoff, below a->below, into out. */
static int gc_list(tf_store *s, gc_args *a, int64_t rows, idlist *out)
{
    int rc = TF_OK;
    tf_q *q = q_get(s, ST_GC_LIST, &rc);
    if (!q)
        return rc;
    q_text(s, q, 1, a->before);
    q_int64(s, q, 2, a->below);
    q_int64(s, q, 3, rows);
    int src;
    while ((src = q_step(s, q, "list old calls")) == Q_ROW) {
        a->below = q_col_int64(s, q, 0);
        if (idlist_add(out, a->below) != 0) {
            tf_store_set_err(s, "cannot list old calls: out of memory");
            src = TF_ENOMEM;
            break;
        }
    }
    if (src != Q_DONE)
        rc = src;
    q_done(s, q);
    return rc;
}

/* Delete those of ids[0..n) still settled and finished before the cutoff. */
static int gc_delete(tf_store *s, gc_args *a, const int64_t *ids, size_t n)
{
    tf_buf b = TF_BUF_INIT;
    if (ids_json(&b, ids, n) != 0) {
        tf_buf_free(&b);
        tf_store_set_err(s, "cannot delete old calls: out of memory");
        return TF_ENOMEM;
    }
    int rc = TF_OK;
    tf_q *q = q_get(s, ST_GC, &rc);
    if (q) {
        int64_t k = 0;
        q_text(s, q, 1, a->before);
        q_text(s, q, 2, b.data);
        rc = step_write(s, q, "delete old calls", &k);
        q_done(s, q);
        a->total += k;
    }
    tf_buf_free(&b);
    return rc;
}

static int gc_step(tf_store *s, void *ctx, int64_t rows, int *more)
{
    gc_args *a = ctx;
    int rc;
    *more = 0;
    if (a->counted) {
        size_t n;
        const int64_t *ids = idlist_next(a->counted, a->done, rows, &n);
        rc = gc_delete(s, a, ids, n);
        if (rc == TF_OK)
            a->done += n;
        *more = rc == TF_OK && a->done < a->counted->n;
        return rc;
    }
    idlist batch = {NULL, 0, 0};
    idlist *into = a->seen ? a->seen : &batch;
    size_t had = into->n;
    int64_t below = a->below;
    rc = gc_list(s, a, rows, into);
    size_t listed = into->n - had;
    /* not counting: delete what this transaction listed */
    if (rc == TF_OK && !a->seen && listed)
        rc = gc_delete(s, a, batch.v, batch.n);
    if (rc != TF_OK) {
        /* rolled back: a retry lists this batch again */
        a->below = below;
        into->n = had;
    }
    *more = rc == TF_OK && (int64_t)listed == rows;
    free(batch.v);
    return rc;
}

static int tf_store_gc_once(tf_store *s, int read_only, gc_args *a)
{
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    return run_batches(s, read_only ? "count old calls" : "delete old calls", read_only, gc_step, a);
}

static int tf_store_previous_args_once(tf_store *s, const char *work, const char *args_sha256,
                           char **args_json)
{
    *args_json = NULL;
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    int rc = TF_OK;
    tf_q *q = q_get(s, ST_PREV_ARGS, &rc);
    if (!q)
        return rc;
    q_text(s, q, 1, work);
    q_text(s, q, 2, args_sha256 ? args_sha256 : "");
    int src = q_step(s, q, "read previous arguments");
    if (src == Q_ROW) {
        const char *t = q_col_text(s, q, 0);
        if (t && !(*args_json = strdup(t))) {
            tf_store_set_err(s, "cannot copy arguments: out of memory");
            rc = TF_ENOMEM;
        }
    } else if (src != Q_DONE) {
        rc = src;
    }
    q_done(s, q);
    return rc;
}

static int tf_store_each_succeeded_once(tf_store *s, const char *work, const char *version, int64_t limit,
                            int scan, tf_succeeded_fn fn, void *user)
{
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    int rc = TF_OK;
    tf_q *q = q_get(s, scan ? ST_EACH_SUCCEEDED_SCAN : ST_EACH_SUCCEEDED, &rc);
    if (!q)
        return rc;
    q_text(s, q, 1, work);
    q_text(s, q, 2, version ? version : "");
    q_int64(s, q, 3, limit);
    int src;
    while ((src = q_step(s, q, "read succeeded calls")) == Q_ROW) {
        const char *key = q_col_text(s, q, 0);
        const char *result = q_col_text(s, q, 1);
        double at = q_col_null(s, q, 2) ? 0 : q_col_double(s, q, 2);
        double dur = q_col_null(s, q, 3) ? 0 : q_col_double(s, q, 3);
        if (key && fn(key, result ? result : "null", at, dur, user) != 0) {
            src = Q_DONE;
            break;
        }
    }
    if (src != Q_DONE)
        rc = src;
    q_done(s, q);
    return rc;
}

static int tf_store_count_work_once(tf_store *s, const char *work, const char *version,
                                    int64_t max, int64_t *count)
{
    *count = 0;
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    int rc = TF_OK;
    tf_q *q = q_get(s, ST_COUNT_WORK, &rc);
    if (!q)
        return rc;
    q_text(s, q, 1, work);
    q_text(s, q, 2, version ? version : "");
    q_int64(s, q, 3, max);
    return step_int64(s, q, "count the calls of a work", count);
}

static int tf_store_row_estimate_once(tf_store *s, int64_t *rows)
{
    *rows = 0;
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    int rc = TF_OK;
    tf_q *q = q_get(s, ST_ROW_ESTIMATE, &rc);
    return q ? step_int64(s, q, "estimate the number of calls", rows) : rc;
}

int tf_store_count(tf_store *s, const tf_filter *f, int64_t max, int64_t *count)
{
    int rc;
    RETRYING(s, rc, tf_store_count_once(s, f, max, count));
    return rc;
}

int tf_store_retry(tf_store *s, const tf_filter *f, int64_t *count)
{
    int rc;
    RETRYING(s, rc, tf_store_retry_once(s, f, count));
    return rc;
}

/* A retry (RETRYING) goes on from where the failed batch left: a keeps the progress. */
int tf_store_gc(tf_store *s, double before, int64_t *count)
{
    gc_args a = {"", INT64_MAX, NULL, NULL, 0, 0};
    tf_store_iso_time(before, a.before);
    int rc;
    RETRYING(s, rc, tf_store_gc_once(s, 0, &a));
    if (count)
        *count = a.total;
    return rc;
}

int tf_store_gc_asking(tf_store *s, double before, tf_confirm_fn ask, void *ask_user,
                       int64_t *counted, int64_t *deleted)
{
    idlist seen = {NULL, 0, 0};
    gc_args a = {"", INT64_MAX, &seen, NULL, 0, 0};
    tf_store_iso_time(before, a.before);
    int rc;
    RETRYING(s, rc, tf_store_gc_once(s, 1, &a));
    if (counted)
        *counted = (int64_t)seen.n;
    if (deleted)
        *deleted = 0;
    if (rc == TF_OK && seen.n > 0 && (!ask || ask((int64_t)seen.n, ask_user))) {
        a.seen = NULL;
        a.counted = &seen;
        RETRYING(s, rc, tf_store_gc_once(s, 0, &a));
        if (deleted)
            *deleted = a.total;
    }
    free(seen.v);
    return rc;
}

int tf_store_previous_args(tf_store *s, const char *work, const char *args_sha256,
                           char **args_json)
{
    int rc;
    RETRYING(s, rc, tf_store_previous_args_once(s, work, args_sha256, args_json));
    return rc;
}

int tf_store_each_succeeded(tf_store *s, const char *work, const char *version, int64_t limit,
                            int scan, tf_succeeded_fn fn, void *user)
{
    int rc;
    RETRYING(s, rc, tf_store_each_succeeded_once(s, work, version, limit, scan, fn, user));
    return rc;
}

int tf_store_count_work(tf_store *s, const char *work, const char *version, int64_t max,
                        int64_t *count)
{
    int rc;
    RETRYING(s, rc, tf_store_count_work_once(s, work, version, max, count));
    return rc;
}

int tf_store_row_estimate(tf_store *s, int64_t *rows)
{
    int rc;
    RETRYING(s, rc, tf_store_row_estimate_once(s, rows));
    return rc;
}
