/*
 * store/engine.h - the seam between the store protocol and its engines
 * (internal to src/store/).
 *
 * The protocol (protocol.c: claim with lease and fence, renew, fenced
 * finish, the deferred-write queue; inspect.c: list, find, history, clear,
 * retry, gc) is written once against this interface. An engine (sqlite.c,
 * later postgres.c) supplies:
 *   (a) the SQL text of every statement id below, in its dialect;
 *   (b) preparing, binding, stepping and reading columns of a statement;
 *   (c) begin/commit/rollback of a write transaction and its busy/retry
 *       rules: a lock is waited for inside the engine (SQLite), or a
 *       failure that may pass (lost connection, deadlock) is marked
 *       s->transient, and the protocol rolls back, lets the engine
 *       recover() and retries the whole operation, all within the handle's
 *       busy budget; only then is TF_EBUSY reported, never a call failure;
 *   (d) now(): the clock that leases are judged on (SQLite: the host clock
 *       seam of the handle; a server engine: the server's clock);
 *   (e) a change counter for the in-memory view (tf_store_data_version).
 *
 * Statements return Q_ROW / Q_DONE from step, or a TF_E* code with the
 * handle's message set (naming the operation and the database).
 */
#ifndef TF_STORE_ENGINE_H
#define TF_STORE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "proc.h"
#include "store.h"

/* Statement ids: every engine gives each one its SQL text (numbered parameters ?N / $N). */
enum {
    ST_LOOKUP,          /* the key's row, unlocked (the cached path) */
    ST_LOOKUP_LOCKED,   /* the same inside a write transaction (a row lock where the engine needs one) */
    ST_INSERT_CALL, ST_RECLAIM, ST_SET_RETRY_AT,
    ST_HIST_INSERT, ST_HIST_RUNNING, ST_HIST_INTERRUPT, ST_EXEC_STARTED, ST_HIST_SIGNAL_NOTE,
    ST_RENEW, ST_FENCE_CHECK, ST_FINISH_CALL, ST_FINISH_SETTLE, ST_FINISH_HIST, ST_HIST_ERROR,
    ST_LIST, ST_LIST_UNSETTLED, ST_FIND, ST_HISTORY, ST_CLEAR_LIST, ST_CLEAR_PICK, ST_CLEAR,
    ST_AUDIT, ST_AUDIT_ADD, ST_RETRY, ST_GC_LIST, ST_GC, ST_PREV_ARGS, ST_EACH_SUCCEEDED, ST_EACH_SUCCEEDED_SCAN,
    ST_ROW_ESTIMATE, ST_COUNT_WORK, ST_COUNT_ROWS, ST_HITS_ADD, ST_STATS_HITS, ST_STATS_EXECS,
    ST_TOTALS_CALLS, ST_TOTALS_RUNS, ST_TOTALS_LAST, ST_EXECUTIONS,
    ST_FIND_WORK,       /* ST_FIND among one work's calls (through the key index) */
    ST_COUNT
};

/*
 * A tf_filter in a statement (FILTER_SQL of each engine) takes ?1..?6 and
 * ?TF_FILTER_VERSION_P (its version); ?7..?15 are the statement's own.
 * An engine must accept parameters a statement leaves unused.
 */
#define TF_FILTER_VERSION_P 16

/*
 * Long writes of ours (clear, gc, retry of many rows) are cut into batches,
 * each its own short transaction, so they never starve lease renewals and
 * claims of other runners: a batch holds the write lock for about
 * TF_STORE_BATCH_MS at most (its row count adapts), and the next one starts
 * TF_STORE_BATCH_PAUSE_MS later so that waiting writers get the lock.
 */
#define TF_STORE_BATCH_MS 250
#define TF_STORE_BATCH_PAUSE_MS 5

/* What step returns besides TF_E* codes (outside the TF_* range). */
enum { Q_ROW = 100, Q_DONE = 101 };

/* An engine's prepared statement in use (sqlite3_stmt for SQLite). */
typedef struct tf_q tf_q;

/* The operations an engine supplies; see the header comment. */
typedef struct tf_engine {
    const char *name;                                   /* "sqlite", "postgresql" */
    /* open s->target into s->impl (schema checked and migrated); message set on failure */
    int (*open)(tf_store *s);
    /* release s->impl and its statements (accepts a failed open) */
    void (*close)(tf_store *s);
    /* the handle's busy budget (s->busy_total) changed */
    void (*set_busy)(tf_store *s);
    /* after a transient failure (s->transient): reconnect if needed; NULL when never needed */
    void (*recover)(tf_store *s);
    /* the prepared statement id (prepared on first use); NULL with *rc and the message set */
    tf_q *(*prepare)(tf_store *s, int id, int *rc);
    void (*bind_text)(tf_q *q, int i, const char *v);   /* NULL binds NULL; v lives until reset */
    void (*bind_int64)(tf_q *q, int i, int64_t v);
    void (*bind_double)(tf_q *q, int i, double v);
    void (*bind_null)(tf_q *q, int i);
    /* the next row: Q_ROW, Q_DONE, or a TF_E* code with the message naming `what` */
    int (*step)(tf_store *s, tf_q *q, const char *what);
    const char *(*col_text)(tf_q *q, int i);            /* NULL for NULL; valid until the next step */
    int64_t (*col_int64)(tf_q *q, int i);
    double (*col_double)(tf_q *q, int i);
    int (*col_null)(tf_q *q, int i);                    /* 1 if the column is NULL */
    int64_t (*changes)(tf_store *s, tf_q *q);           /* rows the last write statement changed */
    int64_t (*last_id)(tf_store *s, tf_q *q);           /* id of the row the last INSERT created */
    void (*rewind)(tf_q *q);                            /* back before the first row, bindings kept */
    void (*reset)(tf_q *q);                             /* done: no lock held, bindings cleared */
    int (*begin)(tf_store *s, const char *what);        /* start a write transaction */
    int (*commit)(tf_store *s, const char *what);       /* commit; on failure rolled back */
    void (*rollback)(tf_store *s);                      /* roll back if one is open */
    int (*now)(tf_store *s, double *now);               /* the lease clock, epoch seconds */
    int (*data_version)(tf_store *s, int64_t *version); /* changes committed by other connections */
} tf_engine;

extern const tf_engine tf_engine_sqlite;
extern const tf_engine tf_engine_postgres;

/* The first statement id the PostgreSQL engine has no SQL for, or -1 (a test keeps the engines in step). */
int tf_store_pg_missing_statement(void);

/*
 * A write kept for the next transaction (tf_store_finish_later,
 * tf_store_exec_started_later), so that one commit carries it together
 * with the next claim or with the other deferred writes.
 */
typedef struct tf_pending_op {
    int is_start;           /* 1: exec_started (history_id, pid, pgid, log_path); 0: finish */
    tf_finish f;            /* finish: its fields; f.result_json and f.error owned */
    double at;              /* finish: epoch seconds it happened (its finished_at) */
    long pid;               /* exec_started: child pid */
    long pgid;              /* exec_started: its process group */
    long long exec_start;   /* exec_started: its leader's start time, or 0 */
    char *log_path;         /* exec_started: log file, owned, or NULL */
    char *who;              /* finish: "work\0key" (owned) when given, or NULL */
    int lost;               /* finish: a success found fenced out by the last apply */
} tf_pending_op;

struct tf_store {
    const tf_engine *eng;           /* the engine behind this handle */
    void *impl;                     /* the engine's connection state; NULL when not open */
    char *target;                   /* what was opened, as given (owned; may hold a password) */
    char *path;                     /* the database as messages name it (owned; no password) */
    tf_proc_id self;                /* our runner identity, refreshed after a fork */
    int self_fixed;                 /* self was set by tf_store_set_identity (not refreshed) */
    double (*clock)(void *);        /* test seam; NULL = the real clock */
    void *clock_user;               /* argument of clock */
    double busy_total;              /* seconds to keep retrying a locked or unreachable database */
    int transient;                  /* the last failure may pass: retry the whole operation */
    tf_pending_op *pend;            /* deferred writes, oldest first (owned) */
    size_t npend;                   /* count */
    size_t cappend;                 /* allocated */
    int pend_in_txn;                /* the open transaction holds every deferred write */
    int64_t pend_lost;              /* successes among them found fenced out in this transaction */
    int64_t lost;                   /* deferred successes found fenced out, not yet taken */
    int readonly;                   /* tf_store_open_readonly: never create, migrate or write */
    char **settled_who;             /* "work\0key" of committed deferred successes (owned) */
    unsigned char *settled_lost;    /* for each: 1 if it was found fenced out (not recorded) */
    size_t nsettled;                /* count */
    char err[1024];                 /* last error message, "" if none */
};

/* ---- shared by the protocol, the inspection calls and the engines (protocol.c) ---- */

/* Format the handle's message; a message too long is cut with "...". */
void tf_store_set_err(tf_store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 1 if s is open, else 0 with the message set (s may be NULL). */
int tf_store_is_open(tf_store *s);
/* The host's wall clock through the handle's seam (epoch seconds). */
double tf_store_host_now(const tf_store *s);
/* Monotonic seconds, for busy budgets (immune to the clock seam). */
double tf_store_mono(void);
/* Epoch seconds as "2026-11-25T15:32:56.123Z" (milliseconds truncated). */
void tf_store_iso_time(double t, char out[32]);
/*
 * Write transactions of the protocol: begin applies the deferred writes
 * first (so no change of ours is durable before the ends that preceded
 * it); commit drops them once committed; rollback keeps them and the
 * first error message.
 */
int tf_store_begin(tf_store *s, const char *what);
int tf_store_commit(tf_store *s, const char *what);
void tf_store_rollback(tf_store *s);

/*
 * After a failed attempt of an operation started at t0 (tf_store_mono):
 * 1 if the engine marked the failure transient and the busy budget is not
 * spent, after a short pause and the engine's recovery (reconnection);
 * the caller then runs the whole operation again. 0: report the failure.
 */
int tf_store_again(tf_store *s, double t0, int *tries);

/* rc = expr, run again while tf_store_again allows (expr must be a whole operation). */
#define RETRYING(s, rc, expr) \
    do { \
        double t0_ = tf_store_mono(); \
        int tries_ = 0; \
        if ((s)) \
            (s)->transient = 0; \
        do { \
            (rc) = (expr); \
        } while ((rc) != TF_OK && tf_store_again((s), t0_, &tries_)); \
    } while (0)

/* ---- statement helpers: thin inline calls into the engine ---- */

static inline tf_q *q_get(tf_store *s, int id, int *rc) { return s->eng->prepare(s, id, rc); }
static inline void q_text(tf_store *s, tf_q *q, int i, const char *v) { s->eng->bind_text(q, i, v); }
static inline void q_int64(tf_store *s, tf_q *q, int i, int64_t v) { s->eng->bind_int64(q, i, v); }
static inline void q_double(tf_store *s, tf_q *q, int i, double v) { s->eng->bind_double(q, i, v); }
static inline void q_null(tf_store *s, tf_q *q, int i) { s->eng->bind_null(q, i); }
/* Bind v, or NULL when null is non-zero. */
static inline void q_double_or_null(tf_store *s, tf_q *q, int i, double v, int null)
{
    if (null)
        s->eng->bind_null(q, i);
    else
        s->eng->bind_double(q, i, v);
}
static inline int q_step(tf_store *s, tf_q *q, const char *what) { return s->eng->step(s, q, what); }
static inline const char *q_col_text(tf_store *s, tf_q *q, int i) { return s->eng->col_text(q, i); }
static inline int64_t q_col_int64(tf_store *s, tf_q *q, int i) { return s->eng->col_int64(q, i); }
static inline double q_col_double(tf_store *s, tf_q *q, int i) { return s->eng->col_double(q, i); }
static inline int q_col_null(tf_store *s, tf_q *q, int i) { return s->eng->col_null(q, i); }
static inline int64_t q_changes(tf_store *s, tf_q *q) { return s->eng->changes(s, q); }
static inline void q_done(tf_store *s, tf_q *q) { if (q) s->eng->reset(q); }
/* A write statement's step succeeded (an engine may answer a RETURNING row). */
static inline int q_wrote(int src) { return src == Q_DONE || src == Q_ROW; }

#endif
