/*
 * store.h - the persistent cache behind a small interface (implemented in
 * src/store/: protocol.c and inspect.c once, over an engine, sqlite.c).
 * Work and loop code use only these functions, whatever the engine.
 *
 * Protocol: a call is a row per (work, version, args_sha256). A runner
 * claims it in one transaction, taking a lease and a new fencing token; it
 * renews the lease while the execution lives; its finishing write only
 * lands if the fencing token is still the row's (so a runner whose lease
 * was taken over cannot overwrite the newer execution). A claim held by a
 * dead runner (lease expired, or same host and the runner process is gone)
 * is taken over and the old attempt recorded as interrupted.
 *
 * Every function returns TF_OK or a TF_E* code with tf_store_errmsg() set.
 * A locked database is retried inside the store for up to the busy timeout
 * and then reported as TF_EBUSY; it never becomes a call failure.
 */
#ifndef TF_STORE_H
#define TF_STORE_H

#include <stdint.h>
#include <stddef.h>

#include "tickflow.h"
#include "proc.h"

typedef struct tf_store tf_store;

/*
 * Open or create (file mode 0600) the database at path, enable WAL and a
 * busy timeout, apply the embedded migrations. A newer schema is refused
 * with TF_ESCHEMA and not modified. *out is set even on failure (when memory
 * allowed) so tf_store_errmsg() can explain; tf_store_close() it either way.
 */
int tf_store_open(const char *path, tf_store **out);
/*
 * Open for reading only (dry runs): nothing is created, migrated or written,
 * neither the database nor its -wal/-shm (SQLite). A database that does not
 * exist reads as an empty one (an in-memory database at the current
 * schema); one at an older schema is refused (TF_ESCHEMA: it would need a
 * migration). Same ownership as tf_store_open.
 */
int tf_store_open_readonly(const char *path, tf_store **out);
void tf_store_close(tf_store *s);
const char *tf_store_errmsg(const tf_store *s);

/* Schema version this build writes (PRAGMA user_version after migration). */
int tf_store_schema_version(void);

/* Test seam: the clock used for timestamps (epoch seconds); NULL = real. */
void tf_store_set_clock(tf_store *s, double (*clock)(void *), void *user);

/*
 * Test seam: seconds a locked database is waited for before TF_EBUSY
 * (default 30; SQLite's own busy timeout is min(this, 5 s) per attempt).
 */
void tf_store_set_busy_limit(tf_store *s, double seconds);

/* What a claim decided. */
typedef enum tf_claim_decision {
    TF_CLAIM_HIT,        /* succeeded before (cache_calls): result_json holds the result */
    TF_CLAIM_RUN,        /* ours now: execute, then tf_store_finish with fence */
    TF_CLAIM_BUSY,       /* a live runner is executing it: wait */
    TF_CLAIM_RETRY_WAIT, /* failed; next attempt allowed at next_retry_at */
    TF_CLAIM_FAILED      /* failed and out of retries: stays failed until cleared/retried */
} tf_claim_decision;

typedef struct tf_claim_req {
    const char *work;       /* work name */
    const char *version;    /* work version ("" if none) */
    const char *args_sha256;/* 64 lowercase hex of args_json */
    const char *args_json;  /* canonical argument set */
    int cache_calls;        /* 0: a settled row is claimed again (new execution) */
    int retries;            /* further attempts allowed after a failure */
    double backoff;         /* seconds before the first retry, doubled per failure */
    double lease;           /* seconds the claim lives without tf_store_renew */
    double max_age;         /* > 0: a success whose result_at + max_age <= cache_now is run again */
    double cache_now;       /* the cache clock (epoch seconds) max_age is judged on */
    int keep_stale;         /* 1: while an expired call is refreshed (or after the refresh
                               failed) its last good result is kept and answered as stale */
    const char *command_sha256; /* digest of the work's command (recorded with the claim), or
                               NULL (C works): a failed or interrupted call recorded under
                               another digest runs again at once, with a new retry budget */
} tf_claim_req;

typedef struct tf_claim {
    tf_claim_decision decision; /* see above */
    int64_t call_id;        /* calls.id */
    int64_t fence;          /* RUN: our fencing token */
    int64_t history_id;     /* RUN: history.id of this attempt */
    int attempt;            /* RUN: 1 for the first execution of this row, then 2, ... */
    long long failures;     /* the row's consecutive failures before this claim (0 for a new row):
                               a failure of this execution leaves no retry when failures + 1 > retries */
    char *result_json;      /* HIT: stored result text (malloc'd, see tf_claim_clear) */
    char *error;            /* RETRY_WAIT/FAILED: last error text (malloc'd) */
    double next_retry_at;   /* RETRY_WAIT: epoch seconds */
    /* RUN after a takeover: the interrupted attempt and what it recorded of its execution
       group, for tf_proc_kill_group (which signals only a group it can prove) */
    int64_t stale_history_id; /* the interrupted attempt, or 0 when nothing was taken over */
    long stale_pgid;        /* its execution's process group, or 0 if none was recorded */
    long long stale_exec_start; /* the group leader's start time, or 0 */
    char stale_boot[40];    /* the dead runner's boot id ("" if unknown) */
    uint64_t stale_pidns;   /* its PID namespace (0 if unknown) */
    int stale;              /* with keep_stale: result_json is the last good result of an expired
                               call (RUN: the refresh; BUSY, RETRY_WAIT, FAILED: still serving it) */
    double result_at;       /* HIT or stale: when result_json was produced (cache clock) */
    double duration;        /* HIT: seconds of the execution that produced it (0 if unknown) */
    int command_changed;    /* RUN: TF_CHANGED_* when it failed (or was interrupted) under another
                               command than req's: it runs again regardless of retries and
                               backoff; 0 otherwise */
} tf_claim;

/* tf_claim.command_changed: what the call's last attempt under the old command ended as. */
enum { TF_CHANGED_AFTER_FAILURE = 1, TF_CHANGED_AFTER_INTERRUPTION = 2 };

/* Free the strings of a claim and zero it. Accepts a zeroed claim. */
void tf_claim_clear(tf_claim *c);

/*
 * Decide and, if allowed, claim one call. A succeeded row is answered with
 * a read only (no write lock): the cached path. Everything else happens in
 * one BEGIN IMMEDIATE transaction.
 */
int tf_store_claim(tf_store *s, const tf_claim_req *req, tf_claim *out);

/*
 * Decide like tf_store_claim but change nothing (dry runs): RUN means "would
 * run"; no lease, fence or history row is taken.
 */
int tf_store_peek(tf_store *s, const tf_claim_req *req, tf_claim *out);

/* Record the execution's child pid/process group and log file on the attempt (one transaction). */
int tf_store_exec_started(tf_store *s, int64_t history_id, long pid, long pgid,
                          long long exec_start, const char *log_path);

/*
 * Note on an interrupted attempt what a takeover did to its execution group
 * (tf_proc_kill_group's note), in its own short transaction.
 */
int tf_store_note_signal(tf_store *s, int64_t history_id, const char *note);

/*
 * Test seam: act as the runner `id` (a copy is kept), for instance one in
 * another PID namespace or on another boot. NULL: this process again.
 */
void tf_store_set_identity(tf_store *s, const tf_proc_id *id);

/* Extend our lease to now+lease seconds. TF_ESTATE if the fence was lost. */
int tf_store_renew(tf_store *s, int64_t call_id, int64_t fence, double lease);

typedef enum tf_outcome {
    TF_OUT_SUCCEEDED, TF_OUT_FAILED, TF_OUT_INTERRUPTED
} tf_outcome;

typedef struct tf_finish {
    int64_t call_id;        /* the claimed row */
    int64_t fence;          /* the token from the claim */
    int64_t history_id;     /* the attempt */
    tf_outcome outcome;     /* what happened */
    const char *result_json;/* SUCCEEDED: canonical result text */
    const char *error;      /* FAILED/INTERRUPTED: reason, else NULL */
    int exit_code;          /* child exit status, or -1 */
    int term_signal;        /* signal that ended the child, or 0 */
    double duration;        /* seconds the execution took */
    int retries;            /* the work's retry budget, to compute next_retry_at */
    double backoff;         /* the work's first backoff in seconds */
    double result_at;       /* SUCCEEDED: the cache clock at the end (max_age counts from it) */
    int keep_result;        /* FAILED/INTERRUPTED: keep the last good result (stale-if-error) */
    const char *output;     /* the tail of the execution's output (UTF-8 text), or NULL: stored with the attempt */
    uint64_t output_total;  /* bytes the execution wrote in all */
    int output_truncated;   /* 1: output holds only the latest TF_OUTPUT_MAX of them */
    int output_captured;    /* 1: a command whose output was captured (output_total recorded, 0 too) */
    const char *work;       /* deferred ends: the call's work and key, named when its success is */
    const char *key;        /*   committed (tf_store_take_settled); may be NULL */
} tf_finish;

/*
 * Record the end of an attempt in one transaction: the history row always,
 * the calls row only if fence still matches (else TF_ESTATE: our lease was
 * taken over; nothing of the newer execution is touched).
 */
int tf_store_finish(tf_store *s, const tf_finish *f);

/*
 * Deferred writes (group commit). tf_store_finish_later and
 * tf_store_exec_started_later queue the write (copying its strings) instead
 * of committing it; the next write transaction of this handle applies the
 * queue first, in order, and commits it with its own change: a claim, an
 * immediate finish, a clear, tf_store_flush, or tf_store_close. So a new
 * call in a sequential flow costs one write transaction (its claim carries
 * the previous call's end), and no claim is ever durable before the ends
 * that preceded it. A crash loses only queued ends: those calls stay
 * 'running' under a dead runner and run again (no success is invented).
 * The queue is committed on its own once it holds TF_STORE_PENDING_MAX.
 * Callers flush before they block (sleep, wait for a child), so other
 * processes see an end within one wait. A queued success whose fence was
 * lost by the time it is committed is noted on its attempt, not recorded,
 * and counted for tf_store_take_lost.
 */
#define TF_STORE_PENDING_MAX 256
int tf_store_finish_later(tf_store *s, const tf_finish *f);
int tf_store_exec_started_later(tf_store *s, int64_t history_id, long pid, long pgid,
                                long long exec_start, const char *log_path);
/* Commit the queued writes now (nothing to do: TF_OK). On failure they stay queued. */
int tf_store_flush(tf_store *s);
/* Writes queued and not yet committed. */
size_t tf_store_pending(const tf_store *s);
/* Queued successes found fenced out at their commit since the last call (then 0). */
int64_t tf_store_take_lost(tf_store *s);
/*
 * The deferred successes committed since the last call, by name:
 * fn(work, key, recorded, user) once for each whose work and key were given
 * in tf_finish, in commit order; recorded is 0 for one found fenced out
 * (not recorded). Then forgotten. The strings live only during the call.
 */
typedef void (*tf_settled_fn)(const char *work, const char *key, int recorded, void *user);
void tf_store_take_settled(tf_store *s, tf_settled_fn fn, void *user);

/*
 * Cheap change detector: PRAGMA data_version. It changes when another
 * connection committed since the last call; our own commits do not change it.
 */
int tf_store_data_version(tf_store *s, int64_t *version);

/* tf_call_row, tf_history_row, tf_filter, tf_row_fn, tf_hist_fn: see tickflow.h. */

/* Rows matching f, newest first. */
int tf_store_list(tf_store *s, const tf_filter *f, tf_row_fn fn, void *user);

/* How many rows match f, counting at most max of them (max <= 0: all; f->limit ignored). */
int tf_store_count(tf_store *s, const tf_filter *f, int64_t max, int64_t *count);

/*
 * The one row of work (NULL: any) and version (NULL: any, "": none) whose
 * key starts with prefix: TF_ENOTFOUND, or TF_EAMBIGUOUS (the message lists
 * the candidates in the form of tf_call_ref).
 */
int tf_store_find(tf_store *s, const char *work, const char *version, const char *prefix,
                  tf_row_fn fn, void *user);

/* Attempts of one call, oldest first. */
int tf_store_history(tf_store *s, int64_t call_id, tf_hist_fn fn, void *user);

/* tf_calls_totals and tf_calls_executions (tickflow.h). */
int tf_store_totals(tf_store *s, tf_totals_fn fn, void *user);
int tf_store_executions(tf_store *s, const char *since, tf_execution_fn fn, void *user);

/*
 * Delete the calls matching f (and their history) and record an audit row
 * (time, user, selector, count). Long deletions run in batches of short
 * transactions, newest first; each batch lists and deletes in one
 * transaction, so *count is exactly what was deleted (and listed to fn).
 * A filter with no field set and all==0 is refused (TF_EINPUT). dry_run:
 * count and list only.
 */
int tf_store_clear(tf_store *s, const tf_filter *f, const char *user,
                   const char *selector, int dry_run, tf_row_fn fn, void *fn_user,
                   int64_t *count);

/* tf_calls_clear_asking (tickflow.h): count, ask, delete only what was counted. */
int tf_store_clear_asking(tf_store *s, const tf_filter *f, const char *user,
                          const char *selector, tf_confirm_fn ask, void *ask_user,
                          tf_row_fn fn, void *fn_user, int64_t *counted, int64_t *deleted);

/* Make failed calls matching f runnable again (failures reset). */
int tf_store_retry(tf_store *s, const tf_filter *f, int64_t *count);

/* Delete settled calls finished before the epoch time `before`, and history of them. */
int tf_store_gc(tf_store *s, double before, int64_t *count);

/* tf_calls_gc_asking (tickflow.h): count, ask, delete only what was counted. */
int tf_store_gc_asking(tf_store *s, double before, tf_confirm_fn ask, void *ask_user,
                       int64_t *counted, int64_t *deleted);

/*
 * The succeeded calls of one work version, at most limit of them, for
 * warming an in-memory view: fn(args_sha256, result_json, user) per row
 * (strings valid during the call; non-zero from fn stops early). scan: read
 * the table in one sequential pass instead of through the key index
 * (faster when the table is small or mostly this work's).
 */
typedef int (*tf_succeeded_fn)(const char *args_sha256, const char *result_json, double result_at,
                               double duration, void *user);
int tf_store_each_succeeded(tf_store *s, const char *work, const char *version, int64_t limit,
                            int scan, tf_succeeded_fn fn, void *user);

/*
 * The calls of one work and version, counted up to max through the key
 * index (*count == max means "max or more"): its cost grows with the
 * count, not with the table.
 */
int tf_store_count_work(tf_store *s, const char *work, const char *version, int64_t max,
                        int64_t *count);

/*
 * An upper estimate of the rows in calls (ids are never reused, so the
 * span of ids), read in O(log n). For sizing decisions only.
 */
int tf_store_row_estimate(tf_store *s, int64_t *rows);

/* Hits of one work to add to the counters (tf_store_add_hits). */
typedef struct tf_hit_count {
    const char *work;       /* work name */
    int64_t hits;           /* calls answered from the cache */
    double saved;           /* seconds those calls did not spend executing */
} tf_hit_count;

/*
 * Add n works' hit counts to the hour of `at` (epoch seconds) in one write
 * transaction (which also carries the deferred writes).
 */
int tf_store_add_hits(tf_store *s, const tf_hit_count *h, size_t n, double at);

/* tf_stats_row: see tickflow.h. fn is called once per work, by name. */
int tf_store_stats(tf_store *s, const char *work, double now, tf_stats_fn fn, void *user);

/* Canonical args of the work's most recent call other than args_sha256 (malloc'd, caller frees), or NULL. */
int tf_store_previous_args(tf_store *s, const char *work, const char *args_sha256, char **args_json);

#endif
