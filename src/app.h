/*
 * app.h - the insides of tf_app, tf_work and tf_tick, shared by app.c
 * (handle, works, flows), work.c (one call), loop.c (ticks) and memo.c
 * (the in-memory view of succeeded calls).
 */
#ifndef TF_APP_H
#define TF_APP_H

#include <signal.h>
#include <stdint.h>

#include "tickflow.h"
#include "buf.h"
#include "exec.h"
#include "hash.h"
#include "reaper.h"
#include "store.h"

/* At most this many succeeded calls of a work are read into the memo at once. */
#define TF_MEMO_PRELOAD_MAX 1000000
/* A table of at most this many calls is read whole on a work's first miss. */
#define TF_MEMO_PRELOAD_SMALL 200000
/* In a larger table, a work of at most this many calls is read on its first miss. */
#define TF_MEMO_PRELOAD_WORK 65536

/* Seconds a claim lives without renewal by default (tf_loop_opts.lease); renewed every third of it. */
#define TF_LEASE_SECONDS 30.0

/*
 * Seconds a blocking execution may run before the store's deferred writes
 * (its start, earlier ends) are committed on their own instead of with the
 * next claim.
 */
#define TF_FLUSH_GRACE 0.005

struct tf_work {
    tf_app *app;            /* owner */
    uint32_t index;         /* position in app->works (memo key part) */
    char *name;             /* unique name */
    tf_work_opts opts;      /* options; opts.version points at version */
    char *version;          /* owned copy of the version string */
    tf_work_fn fn;          /* C work, or NULL for a command */
    void *user;             /* fn's user pointer */
    char **argv;            /* command: NULL-terminated template, owned */
    char **env;             /* command: NULL-terminated NAME=value, owned, or NULL */
    char *cwd;              /* command: folder, owned, or NULL */
    char command_sha256[65];/* command: tf_command_digest of argv/env/cwd ("" for a C work) */
    char **ignore;          /* NULL-terminated argument names outside the key, owned, or NULL */
    int64_t hits;           /* calls answered from the cache since the last tf_app_flush_hits */
    double saved;           /* seconds those hits did not spend */
    int preloaded;          /* its succeeded calls were read into the memo once */
    int64_t misses;         /* memo misses of this work before its preload */
    int64_t preload_after;  /* preload once misses reach this (0 = not decided yet) */
    int preload_scan;       /* the preload reads the (small) table in one sequential pass */
    int64_t preload_rows;   /* rows the preload may add (memo sizing), or 0 if unknown */
    int last_read;          /* last_args was read from the store (once per process) */
    char last_key[65];      /* key of this work's latest execution here ("" if unknown) */
    char *last_args;        /* canonical args of its latest execution, owned, or NULL */
    char *other_args;       /* the latest execution's args with a key other than last_key, owned */
};

/* An internal observer of events (pipeline hooks), called before the program's. */
typedef struct tf_tap {
    tf_event_fn fn;         /* called with every emitted event */
    void *user;             /* fn's user pointer */
} tf_tap;

/* A registered flow. */
typedef struct tf_flow {
    char *name;             /* for messages */
    tf_flow_fn fn;          /* evaluated each tick */
    void *user;             /* fn's user pointer */
} tf_flow;

/* One execution this process started and has not finished yet. */
/* A "ran" event waiting for its success to be committed (tf_app_hold_ran). */
struct tf_held_ran {
    const char *work;       /* the work's name (lives as long as the app) */
    char key[65];           /* args_sha256 */
    char *args_json;        /* canonical args, owned */
    char *version;          /* the work's version when it ran ("" none), owned */
    double duration;        /* seconds */
    int attempt;            /* attempt number */
};

/* tf_running.slot of an execution that is not in app->running. */
#define TF_UNLISTED ((size_t)-1)

typedef struct tf_running {
    tf_exec *exec;          /* the child */
    pid_t pgid;             /* its process group (registered with the reaper) */
    tf_work *work;          /* its work */
    char key[65];           /* args_sha256 */
    char *args_json;        /* canonical args, owned */
    int64_t call_id;        /* store row */
    int64_t fence;          /* our fencing token */
    int64_t history_id;     /* the attempt's history row */
    int attempt;            /* attempt number */
    long long failures;     /* the call's consecutive failures before this claim (tf_claim) */
    double last_renew;      /* steady clock at the last lease renewal */
    long long exec_start;   /* start time of the execution's leader (/proc/PID/stat), or 0 */
    int done;               /* finished and recorded; its outcome is below */
    size_t slot;            /* its index in app->running, or TF_UNLISTED (a sequential call) */
    tf_call_status status;  /* when done: SUCCEEDED or FAILED */
    char *error;            /* when done and failed: reason, owned */
    double duration;        /* when done: seconds */
    cJSON *result;          /* when done and succeeded without cache: result tree, owned */
    char *stale_json;       /* a refresh (max_age, keep_stale): the last good result it serves
                               until it succeeds, owned, or NULL */
} tf_running;

/* One entry of the memo: a call known to have succeeded. */
typedef struct tf_memo_entry {
    unsigned char key[32];  /* args_sha256 as its 32-byte digest */
    char *result_json;      /* stored result text, owned; NULL marks an empty slot */
    cJSON *result;          /* parsed lazily, owned */
    uint32_t work;          /* work index */
    uint32_t expires;       /* cache-clock second it stops answering (max_age, rounded up), 0: never */
    uint32_t hit_epoch;     /* the evaluation its last hit was counted in (app->hit_epoch) */
    float duration;         /* seconds of the execution that produced it (time saved per hit) */
} tf_memo_entry;            /* 64 bytes, slots 64-aligned: a probe that hits reads one cache line */

typedef struct tf_memo {
    tf_memo_entry *slots;   /* open addressing, linear probing */
    size_t cap;             /* power of two, or 0 */
    size_t used;            /* occupied slots */
} tf_memo;

struct tf_app {
    tf_store *store;        /* the database */
    char *db_path;          /* as opened */
    char *log_dir;          /* command logs */
    char errmsg[1024];      /* last error message */
    tf_work **works;        /* registered works, owned */
    size_t nworks;          /* count */
    size_t capworks;        /* allocated */
    tf_flow *flows;         /* registered flows */
    size_t nflows;          /* count */
    tf_clock_fn clock;      /* NULL = real clock */
    double cache_offset;    /* seconds the cache clock (max_age, stats) is ahead of clock */
    double tick_cache_now;  /* the cache clock at the start of the current tick */
    uint32_t hit_epoch;     /* one evaluation for the hit counters: a tick, or a whole --once run
                               (a call answered from the cache counts once per evaluation) */
    void *clock_user;       /* its user pointer */
    tf_event_fn on_event;   /* decision observer or NULL */
    void *event_user;       /* its user pointer */
    tf_tap *taps;           /* internal observers (tf_app_add_tap), owned array */
    size_t ntaps;           /* count */
    int dry_run;            /* decide only, never claim or execute */
    int readonly;           /* opened by tf_app_open_readonly: dry_run for good */
    volatile sig_atomic_t stop; /* set by tf_app_stop */
    int wake[2];            /* self-pipe: tf_app_stop writes, the loop polls */
    tf_reaper reaper;       /* kills our executions' process groups if we die */
    tf_running **running;   /* parallel executions of this process: [0, nlive) live, then done */
    size_t nrunning;        /* count */
    size_t caprunning;      /* allocated */
    size_t nlive;           /* of those, not done yet (what --max-parallel counts) */
    tf_running **rindex;    /* running by (work, key): open addressing, NULL = empty slot */
    size_t rindex_cap;      /* power of two, or 0 */
    struct pollfd *pfds;    /* scratch poll set: every live execution's fds + the wake pipe */
    size_t pfds_cap;        /* allocated entries */
    double flush_at;        /* app clock: deferred writes waited long enough (tf_running_wait) */
    unsigned max_parallel;  /* loop option; 0 = no limit */
    double lease;           /* seconds a claim lives without renewal (loop option, default TF_LEASE_SECONDS) */
    tf_memo memo;           /* succeeded calls seen by this process */
    int until_idle;         /* the loop runs until idle (--once): non-cached calls run once per loop */
    tf_memo once_ok;        /* until_idle: non-cached calls that succeeded in this loop run, with results */
    tf_memo once_failed;    /* until_idle: non-cached calls that failed in this loop run, with errors */
    int64_t data_version;   /* store's data_version when the memo was last trusted */
    tf_buf canon;           /* scratch: canonical args of the current call */
    tf_hasher hasher;       /* reusable SHA-256 context */
    uint64_t tick_no;       /* current tick number */
    int tick_busy;          /* something ran, started, waited or is running this tick */
    double retry_due;       /* the earliest retry a call of this tick waits for (app clock), or 0 */
    uint64_t failed;        /* calls that ended failed in this loop run */
    int fatal;              /* a database/system error in a flow's tf_run: the loop stops with it */
    struct tf_held_ran *held; /* "ran" events held until their success is committed (tf_app_settle) */
    size_t nheld;           /* count */
    size_t capheld;         /* allocated */
    int settling;           /* inside tf_app_settle (an observer's flush must not re-enter it) */
    int commit_successes;   /* commit each success at its end (a tap runs hooks on "ran") */
    cJSON **tick_results;   /* results owned by the current tick */
    size_t ntick_results;   /* count */
    size_t cap_tick_results;/* allocated */
};

struct tf_tick {
    tf_app *app;            /* owner */
    uint64_t number;        /* 1-based */
};

/* app.c */
double tf_app_now(const tf_app *app);
/* The clock results are aged on (tf_app_set_cache_now): the app clock plus an offset. */
double tf_app_cache_now(const tf_app *app);
/* Seconds on CLOCK_MONOTONIC: the steady clock of timeouts, durations, renewals and tick intervals. */
double tf_app_steady(void);
int tf_app_fail(tf_app *app, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Add the hits counted in memory to the store (one transaction; nothing to add: no write). */
int tf_app_flush_hits(tf_app *app);
void tf_app_emit_stale(tf_app *app, const tf_work *w, const char *key, const char *args_json,
                       const char *what, const char *error, double duration, int attempt,
                       const char *prev_args, const char *log_path);
int tf_app_keep_result(tf_app *app, cJSON *tree);
void tf_app_free_tick_results(tf_app *app);
void tf_app_emit(tf_app *app, const tf_work *w, const char *key, const char *args_json,
                 const char *what, const char *error, double duration, int attempt,
                 const char *prev_args, const char *log_path);
/*
 * An execution of ours succeeded and its end is queued (group commit): hold
 * its "ran" event until the end is committed, so observers and hooks hear
 * of a success only once the database has it, and of a fenced-out one only
 * as "fenced-out". ev's strings are copied. TF_OK, or TF_ENOMEM (the caller
 * then emits at once).
 */
int tf_app_hold_ran(tf_app *app, const tf_event *ev);
/*
 * Commit each success of this app at its end instead of with the next
 * claim, so its "ran" (and a hook a tap runs on it) comes before anything
 * else is claimed: one write transaction more per success.
 */
void tf_app_commit_successes(tf_app *app);
/* Drop the event tf_app_hold_ran held last (its end could not be queued). */
void tf_app_unhold_last(tf_app *app);
/*
 * Emit what the store committed since the last call: each held "ran" once
 * its success is recorded, a "fenced-out" for one that was refused. Called
 * after every store write that may commit the queue (claims, flushes).
 */
void tf_app_settle(tf_app *app);

/* Give ev to every tap, then to the program's observer. */
void tf_app_emit_event(tf_app *app, const tf_event *ev);
/* Give ev to the program's observer only (what a tap reports about its own work). */
void tf_app_report(tf_app *app, const tf_event *ev);
/*
 * Add an internal observer that sees events before the program's: at least
 * every "ran" and "failed" (call sites on the cached path skip emitting
 * when the program observes nothing). TF_OK or TF_ENOMEM.
 */
int tf_app_add_tap(tf_app *app, tf_event_fn fn, void *user);

/* memo.c: keys are args_sha256, as 64 hex digits (tf_memo_get) or the digest (tf_memo_find) */
const tf_memo_entry *tf_memo_get(const tf_memo *m, uint32_t work, const char *key);
const tf_memo_entry *tf_memo_find(const tf_memo *m, uint32_t work, const unsigned char key[32]);
int tf_memo_put(tf_memo *m, uint32_t work, const char *key, const char *result_json);
/*
 * Insert or replace (work, key) with result_json, the duration of its
 * execution and its expiry (0 = never). A replaced entry's parsed tree goes
 * to *old (the caller frees it; NULL old frees it here). 0, or -1 on ENOMEM.
 */
int tf_memo_set(tf_memo *m, uint32_t work, const char *key, const char *result_json,
                double duration, double expires, cJSON **old);
/* Room for n more entries without growing on the way. 0, or -1 on ENOMEM. */
int tf_memo_reserve(tf_memo *m, size_t n);
const cJSON *tf_memo_result(tf_memo_entry *e);
void tf_memo_clear(tf_memo *m);

/* work.c */
int tf_running_step_all(tf_app *app, int *finished);
size_t tf_running_live(const tf_app *app);
void tf_running_stop_all(tf_app *app);
int tf_running_poll_fds(tf_app *app, struct pollfd *fds, int max, double *deadline);
int tf_running_wait(tf_app *app, double until, int flush_grace, int *finished);
void tf_running_free_index(tf_app *app);

/* command.c */
int tf_command_argv(const tf_work *w, const cJSON *args, char ***argv, char *err, size_t errlen);

/*
 * Length of the "{name}" / "{name.field...}" placeholder starting at s, or 0
 * when s does not start one (so "{print $1}" is literal text).
 */
size_t tf_command_placeholder_len(const char *s);
void tf_strv_free(char **v);
char **tf_strv_dup(const char *const *v);

#endif
