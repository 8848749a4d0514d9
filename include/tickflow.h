/*
 * tickflow.h - the one public header of libtickflow.
 *
 * tickflow is a persistent-cache job scheduler: a tick loop evaluates flows,
 * each work call's argument set is canonicalized (RFC 8785), hashed
 * (SHA-256) and recorded in SQLite, so a call that already succeeded never
 * runs again, even after a restart, a crash, or with several schedulers on
 * one database.
 *
 * Conventions:
 *  - every function returns an int code: TF_OK (0) or one of TF_E*;
 *    tf_strerror() names a code, tf_errmsg() gives the last message of a
 *    handle (the library never prints and never exits);
 *  - every function says who frees what it returns; every *_free and
 *    *_close accepts NULL.
 */
#ifndef TICKFLOW_H
#define TICKFLOW_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TF_VERSION "0.1.0"

/* ---- result codes ---------------------------------------------------- */
enum {
    TF_OK = 0,      /* success */
    TF_EINPUT,      /* bad input: JSON, argument, option or pipeline text */
    TF_EDB,         /* the database failed (I/O, corruption, full disk) */
    TF_EBUSY,       /* the database stayed locked past the busy timeout */
    TF_ENOMEM,      /* out of memory */
    TF_EIO,         /* a file, pipe or process operation failed */
    TF_ESCHEMA,     /* the database was written by a newer tickflow */
    TF_ENOTFOUND,   /* nothing matched (a key, a work, a file) */
    TF_EAMBIGUOUS,  /* a key prefix matched several calls */
    TF_ESTATE,      /* the call is not in a state that allows this */
    TF_ESTOPPED     /* the loop was asked to stop (signal, tf_app_stop) */
};

/* Static English name of a result code; never NULL, never to be freed. */
const char *tf_strerror(int rc);

/* ---- canonical JSON (RFC 8785) and keys ------------------------------- */

/* Where and why an input was refused. Filled by the functions below. */
typedef struct tf_error {
    char msg[512];      /* one line, lowercase, e.g. "1:7: duplicate member name \"a\"" */
    size_t offset;      /* byte offset into the text input (text functions only) */
    int line;           /* 1-based line of the problem (text functions), else 0 */
    int column;         /* 1-based column, counted in bytes (text functions), else 0 */
} tf_error;

/* Deepest nesting of arrays and objects accepted by every parser here. */
#define TF_JSON_MAX_DEPTH 512

/*
 * Canonicalize JSON text (len bytes, need not be NUL-terminated).
 * On TF_OK *out is a malloc'd NUL-terminated buffer of *out_len canonical
 * bytes: the caller frees it with free(). On TF_EINPUT, err says what and
 * where (line:column) and *out is NULL. err may be NULL.
 */
int tf_canon_text(const char *text, size_t len, char **out, size_t *out_len,
                  tf_error *err);

/*
 * Canonicalize a cJSON tree a program built. Refuses (TF_EINPUT, with a JSON
 * path such as "$.a[3]" in err->msg) non-finite numbers, invalid UTF-8,
 * duplicate member names and raw cJSON types that are not JSON. The caller
 * frees *out with free(). The tree is not modified.
 */
int tf_canon_tree(const cJSON *tree, char **out, size_t *out_len,
                  tf_error *err);

/*
 * Strictly parse JSON text into a cJSON tree (same rules as tf_canon_text).
 * The caller frees *out with cJSON_Delete().
 */
int tf_parse_text(const char *text, size_t len, cJSON **out, tf_error *err);

/* SHA-256 of len bytes as 64 lowercase hex digits and a NUL in hex[65]. */
int tf_sha256_hex(const void *data, size_t len, char hex[65]);

/* Canonicalize then hash: the argument key of a text or a tree. */
int tf_hash_text(const char *text, size_t len, char hex[65], tf_error *err);
int tf_hash_tree(const cJSON *tree, char hex[65], tf_error *err);

/*
 * The key of an argument set as a work with tf_work_opts.ignore computes
 * it: the top-level members named in ignore (NULL-terminated, may be NULL)
 * are left out before canonicalizing. tree must be an object when ignore
 * names anything. `tickflow hash --ignore NAME` prints the same key.
 */
int tf_hash_tree_ignoring(const cJSON *tree, const char *const *ignore, char hex[65],
                          tf_error *err);

/* The canonical bytes such a work stores as args_json; the caller frees *out with free(). */
int tf_canon_tree_ignoring(const cJSON *tree, const char *const *ignore, char **out,
                           size_t *out_len, tf_error *err);

/*
 * The one grammar of durations: whole numbers each followed by a unit,
 * s, m, h, d or w, largest unit first, each unit at most once ("45s",
 * "90m", "12h", "1d2h", "2w3d4h5m6s"). The total must be > 0 and at most
 * 100 years. TF_OK with *seconds set, or TF_EINPUT (err->msg says why;
 * err may be NULL).
 */
int tf_duration_parse(const char *text, double *seconds, tf_error *err);

/* ---- the application handle ----------------------------------------- */

typedef struct tf_app tf_app;     /* database, works, flows, loop state */
typedef struct tf_work tf_work;   /* a registered work (owned by its app) */
typedef struct tf_tick tf_tick;   /* the context of one flow evaluation */

/*
 * Open the database and migrate it to the current schema. db_path is a
 * SQLite file (created with mode 0600 if absent), or a PostgreSQL server
 * named by a libpq URI, "postgresql://user@host:port/dbname?options"
 * (also "postgres://"; libpq's PG* environment variables such as PGHOST
 * and PGPASSWORD fill what the URI leaves out; the tables live in the
 * connection's current schema). A database from a newer tickflow is refused
 * with TF_ESCHEMA and left untouched. On failure *out is still set when
 * memory allowed, so tf_errmsg(*out) explains; close it either way.
 * Messages never show a password.
 */
int tf_app_open(const char *db_path, tf_app **out);

/*
 * Open for deciding only (a dry run, tf_app_set_dry_run is set): nothing
 * is ever claimed, executed or written, and the database is not created,
 * migrated or modified, nor its -wal/-shm created. A SQLite database that
 * does not exist reads as an empty one (every call would run); one at an
 * older schema is refused with TF_ESCHEMA. A path that exists but is not a
 * regular file is refused (TF_EDB) here as by tf_app_open. Ownership as
 * tf_app_open.
 */
int tf_app_open_readonly(const char *db_path, tf_app **out);

/* 1 if db names a PostgreSQL server (a postgresql:// or postgres:// URI), else 0. */
int tf_db_is_server(const char *db);

/*
 * db as messages may show it: a URI without its password (user:secret@
 * becomes user@, a password= parameter becomes password=***); anything
 * else unchanged. malloc'd, the caller frees it; NULL if out of memory.
 */
char *tf_db_redact(const char *db);

/*
 * Commit the app's deferred writes now. The end of an execution is queued
 * and committed with the next claim, before the loop waits, or here (group
 * commit); its "ran" event reaches the observer once it is committed (or
 * "fenced-out" if the database refused it). A flow that reports on the
 * tick so far (a metrics file) calls this first. TF_OK or a store error
 * (the writes stay queued).
 */
int tf_app_flush(tf_app *app);

/* Close the database (committing what is queued), free every work and flow. Accepts NULL. */
void tf_app_close(tf_app *app);

/* The last error message of this handle ("" if none); owned by the app. */
const char *tf_errmsg(const tf_app *app);

/*
 * Bytes of a command execution's output (standard output and error, in the
 * order they were read) kept with its attempt in the database: the latest
 * TF_OUTPUT_MAX bytes as UTF-8 text (an invalid byte or NUL becomes
 * U+FFFD), with the total size, so `tickflow logs` works from the database
 * on any host. An execution that prints nothing stores nothing, and no
 * file is written for any execution.
 */
#define TF_OUTPUT_MAX ((size_t)64 << 10)

/*
 * Kept for older callers: the folder where log files used to be written.
 * Nothing is written there any more (output goes to the database, see
 * TF_OUTPUT_MAX); the string is copied and otherwise ignored.
 */
int tf_app_set_log_dir(tf_app *app, const char *dir);

/*
 * Test and tooling seam: the wall clock the app uses for timestamps,
 * leases, backoff and timeouts, in seconds since the epoch. NULL restores
 * the real clock.
 */
typedef double (*tf_clock_fn)(void *user);
void tf_app_set_clock(tf_app *app, tf_clock_fn clock, void *user);

/*
 * The cache clock: the time results are aged on (tf_work_opts.max_age;
 * stats date hits on the app clock, like the history). It starts at `now`
 * (epoch seconds) and advances with the app clock from this call on; NAN
 * makes it the app clock itself again (the default). Any other value is
 * honoured, 0 (1970-01-01T00:00:00Z) and earlier included. `tickflow run
 * --now` sets it, so a test or a re-run can move a pipeline past an expiry
 * without touching leases or the timestamps of executions (those stay on
 * the app clock).
 */
void tf_app_set_cache_now(tf_app *app, double now);

/*
 * Ask a running loop (or a blocking run) to stop gracefully: running
 * executions are stopped and recorded as interrupted. Async-signal-safe:
 * call it from a SIGINT/SIGTERM handler.
 */
void tf_app_stop(tf_app *app);

/*
 * Dry run: tf_run decides (cached / would run / waiting / failed) without
 * claiming, executing or writing anything. Events say "would-run".
 */
void tf_app_set_dry_run(tf_app *app, int on);

/* ---- works ------------------------------------------------------------ */

/*
 * A C work function. It runs in a child process forked for the execution.
 * args: the call's argument set (read-only). On success set *result to a
 * cJSON tree (the library frees it; NULL means JSON null) and return 0.
 * On failure return non-zero and optionally set *error to a malloc'd
 * message (the library frees it).
 */
typedef int (*tf_work_fn)(const cJSON *args, void *user, cJSON **result,
                          char **error);

/* Options of a work. Initialise with tf_work_opts_init(). */
typedef struct tf_work_opts {
    int cache_calls;        /* 1 (default): a succeeded argument set never runs again */
    int parallel;           /* 0 (default): tf_run blocks until the execution ends */
    const char *version;    /* part of the key: changing it runs everything again ("" default) */
    int retries;            /* further attempts after a failure (default 0) */
    double retry_backoff;   /* seconds before the first retry, doubled each time (default 1) */
    double timeout;         /* seconds an execution may take; 0 (default) means no limit */
    double max_age;         /* seconds a success answers calls; older ones execute again
                               the next time they are called; 0 (default) means for ever */
    int keep_stale;         /* 1 (default): with max_age, while a refresh runs or after it
                               failed, the last good result answers with tf_call.stale = 1 */
    const char *const *ignore; /* NULL-terminated top-level argument names left out of the key
                               and of everything stored (still given to the execution), or
                               NULL; the names are copied at registration */
} tf_work_opts;

void tf_work_opts_init(tf_work_opts *opts);

/*
 * Register a C work. name must be unique in the app; strings are copied.
 * opts may be NULL for the defaults. *out belongs to the app.
 */
int tf_work_new(tf_app *app, const char *name, tf_work_fn fn, void *user,
                const tf_work_opts *opts, tf_work **out);

/* A command work: an argv executed without a shell. */
typedef struct tf_command {
    const char *const *argv;  /* NULL-terminated; "{name}" / "{name.field}" fill one element each */
    const char *const *env;   /* NULL-terminated "NAME=value" set over the inherited environment, or NULL */
    const char *cwd;          /* working folder, or NULL for the scheduler's */
} tf_command;

/*
 * The digest of what a command runs, recorded with every claim and attempt
 * (tf_history_row.command_sha256): the SHA-256 (64 lowercase hex and a NUL
 * in hex[65]) of the RFC 8785 canonical JSON {"argv": [the template, its
 * placeholders unfilled], "cwd": cwd (made absolute by realpath when it
 * exists) or null, "env": ["NAME=value", ... as
 * given] or null}. A failed call recorded under another digest runs again
 * at once (tf_work_new_command). TF_EINPUT without argv; TF_ENOMEM.
 */
int tf_command_digest(const tf_command *cmd, char hex[65]);

/*
 * Register a command work. The command gets its canonical argument set in
 * TICKFLOW_ARGS and its key in TICKFLOW_KEY; its result is the last line of
 * its standard output (JSON if it parses, else a JSON string; null if
 * none); the tail of its output is stored with the attempt (TF_OUTPUT_MAX). Everything in
 * cmd is copied. *out belongs to the app.
 *
 * The command is not part of a call's key: a success stays cached when it
 * changes (opts->version is how to invalidate successes). A call that
 * failed or was interrupted under another command (tf_command_digest)
 * runs again at once, whatever its retries and backoff, with a new retry
 * budget, and the run says so (event "command-changed").
 */
int tf_work_new_command(tf_app *app, const char *name, const tf_command *cmd,
                        const tf_work_opts *opts, tf_work **out);

/*
 * Redefine a command work in place (a pipeline file changed): its command
 * and options are replaced, and what this process remembers of its calls
 * is forgotten (a new version means new keys). Strings are copied.
 */
int tf_work_set_command(tf_work *work, const tf_command *cmd, const tf_work_opts *opts);

/* Find a registered work by name, or NULL. */
tf_work *tf_work_find(tf_app *app, const char *name);

/* ---- flows, calls and the tick loop ----------------------------------- */

/* What tf_run found or did for one call. */
typedef enum tf_call_status {
    TF_CALL_SUCCEEDED = 0,  /* result available (cached or just executed) */
    TF_CALL_RUNNING,        /* executing (parallel work, or another runner owns it) */
    TF_CALL_RETRY_WAIT,     /* failed, a retry is due later */
    TF_CALL_FAILED          /* failed for good: stays failed until cleared or retried */
} tf_call_status;

/* The outcome of one tf_run. Valid until the end of the tick. */
typedef struct tf_call {
    tf_call_status status;  /* see tf_call_status */
    int cached;             /* 1 when nothing executed in this call: the store answered */
    int executed;           /* 1 when this call finished an execution (blocking run) */
    const cJSON *result;    /* SUCCEEDED: the result tree (owned by the tick), else NULL */
    const char *error;      /* FAILED/RETRY_WAIT: the reason (owned by the tick), else NULL */
    char key[65];           /* args_sha256, lowercase hex */
    double duration;        /* seconds of the execution that produced this state, or 0 */
    int stale;              /* 1: result is the last good result of an expired call (max_age)
                               served while its refresh runs, waits or failed; error then holds
                               the failure, if any */
} tf_call;

/* A flow: called once per tick; it calls tf_run for its works. */
typedef void (*tf_flow_fn)(tf_tick *tick, void *user);

/* Register a flow; flows run in registration order each tick. */
int tf_flow_add(tf_app *app, const char *name, tf_flow_fn fn, void *user);

/*
 * Run a work with an argument set (a JSON object; NULL means {}), per the
 * work's cache_calls and parallel options. args is not kept; out may be
 * NULL. Returns TF_OK with out->status set, or an error code (database,
 * bad args, TF_ESTOPPED) with tf_errmsg() set.
 */
int tf_run(tf_tick *tick, tf_work *work, const cJSON *args, tf_call *out);

/* The app a tick belongs to, and the tick's number (1-based). */
tf_app *tf_tick_app(tf_tick *tick);
uint64_t tf_tick_number(const tf_tick *tick);

/* An observer of decisions (for logs): one call per tf_run outcome. */
typedef struct tf_event {
    const char *work;       /* work name */
    const char *key;        /* args_sha256 hex */
    const char *args_json;  /* canonical argument set */
    const char *what;       /* "ran" (an execution succeeded and the database recorded it: sent
                               once its end is committed, see tf_app_flush), "cached", "started",
                               "command-changed" (before "started": the call failed, or was
                               interrupted, under another command; error says which),
                               "running", "waiting", "queued", "failed", "interrupted" (the
                               scheduler was stopped), "retry", "would-run", "fenced-out" (an
                               execution succeeded but the database refused its result: another
                               runner had taken the call over; it is never also a "ran") */
    const char *error;      /* reason for failed/retry, else NULL */
    double duration;        /* seconds, for ran/failed */
    int attempt;            /* attempt number of the execution, or 0 */
    const char *prev_args_json; /* ran/started: the work's previous argument set, or NULL */
    const char *log_path;   /* always NULL: output is stored in the database (TF_OUTPUT_MAX) */
    int stale;              /* 1: the call was answered with its last good result (tf_call.stale) */
    int final;              /* "failed" at the end of an execution: 1 when no retry is due
                               (retries exhausted), so the call stays failed until retried */
    const char *version;    /* the work's version ("" none), or NULL when not known */
} tf_event;
typedef void (*tf_event_fn)(const tf_event *ev, void *user);
void tf_app_on_event(tf_app *app, tf_event_fn fn, void *user);

/* The longest wait for a retry a loop that runs until idle makes (seconds). */
#define TF_ONCE_RETRY_WAIT 600.0

/* Options of the tick loop. Initialise with tf_loop_opts_init(). */
typedef struct tf_loop_opts {
    double interval;        /* seconds between tick starts (default 1) */
    uint64_t max_ticks;     /* stop after this many ticks; 0 = no limit (default) */
    int until_idle;         /* 1: stop after a tick in which nothing ran, started or waited
                               (a failed call whose retry is due within TF_ONCE_RETRY_WAIT
                               seconds is waited for, in one sleep; a later retry is not) */
    unsigned max_parallel;  /* at most this many parallel executions at once; 0 = no limit.
                               A parallel call finding every slot taken waits in tf_run
                               until one frees (ended executions are recorded meanwhile) */
    double lease;           /* seconds a claim lives without renewal (renewed every third); 0 = default 30 */
} tf_loop_opts;

void tf_loop_opts_init(tf_loop_opts *opts);

/*
 * Evaluate every flow each tick until a stop condition. Sleeps between
 * ticks without busy-waiting and wakes early when a parallel execution
 * ends. On stop (tf_app_stop) running executions are killed and recorded
 * as interrupted; returns TF_ESTOPPED then, TF_OK on a normal end.
 * *failed (may be NULL) receives the number of calls that ended failed.
 */
int tf_loop_run(tf_app *app, const tf_loop_opts *opts, uint64_t *failed);

/* ---- inspecting and clearing the cache ------------------------------- */

/* One calls row for listing and inspection. Strings owned by the store until the callback returns. */
typedef struct tf_call_row {
    int64_t id;             /* calls.id */
    const char *work;       /* work name */
    const char *version;    /* work version */
    const char *args_sha256;/* key */
    const char *args_json;  /* canonical arguments */
    const char *status;     /* running/succeeded/failed/interrupted */
    const char *result_json;/* result or NULL */
    const char *error;      /* last error or NULL */
    int attempts;           /* executions started */
    const char *created_at; /* ISO-8601 UTC */
    const char *started_at; /* ISO-8601 UTC or NULL */
    const char *finished_at;/* ISO-8601 UTC or NULL */
    double duration;        /* seconds of the last execution, or -1 */
    long runner_pid;        /* running: runner process id */
    const char *runner_host;/* running: runner host */
    const char *log_path;   /* last attempt's log file (databases from before output was stored) or NULL */
    int stale;              /* 1: result_json is the last good result served while the call's
                               refresh (max_age) runs, waits for a retry, or failed */
    double result_at;       /* epoch seconds (cache clock) result_json was produced, or -1 */
    int failures;           /* consecutive failures (the retry budget used; 0 after a success or retry) */
    double next_retry_at;   /* failed: epoch seconds the next attempt is allowed, or -1 when none is due */
    double lease_until;     /* running: epoch seconds the claim lives until (wall clock), or -1 */
} tf_call_row;

typedef struct tf_history_row {
    int64_t id;             /* history.id */
    int attempt;            /* attempt number */
    const char *status;     /* running/succeeded/failed/interrupted */
    const char *started_at; /* ISO-8601 UTC */
    const char *finished_at;/* ISO-8601 UTC or NULL */
    double duration;        /* seconds or -1 */
    const char *runner_host;/* host of the runner */
    long runner_pid;        /* pid of the runner */
    long exec_pid;          /* pid of the execution child, or 0 */
    int exit_code;          /* -1 when none */
    int term_signal;        /* 0 when none */
    const char *error;      /* reason or NULL */
    const char *log_path;   /* log file (attempts from before output was stored) or NULL */
    const char *output;     /* its output (the latest TF_OUTPUT_MAX bytes, UTF-8), or NULL if none */
    int64_t output_bytes;   /* bytes the execution wrote in all; -1 when not recorded */
    int output_truncated;   /* 1: output holds only the latest TF_OUTPUT_MAX of them */
    const char *command_sha256; /* SHA-256 hex of the work's command this attempt ran under
                               (tf_work_command_digest), or NULL (a C work, or recorded before
                               tickflow kept it) */
} tf_history_row;

/* A selection of calls; NULL/0 fields do not filter. */
typedef struct tf_filter {
    const char *work;       /* exact work name */
    const char *status;     /* exact status */
    const char *key_prefix; /* args_sha256 prefix (hex) */
    const char *args_sha256;/* exact key (from --args JSON) */
    const char *since;      /* created_at >= this ISO text */
    const char *before;     /* created_at < this ISO text */
    int all;                /* 1: every row (clear --all) */
    int limit;              /* list: at most this many rows (0 = no limit) */
    const char *version;    /* exact work version ("" = none), or NULL: any */
} tf_filter;

typedef int (*tf_row_fn)(const tf_call_row *row, void *user);      /* non-zero stops */
typedef int (*tf_hist_fn)(const tf_history_row *row, void *user);  /* non-zero stops */

/* The calls matching f, newest first. TF_OK even when none match. */
int tf_calls_list(tf_app *app, const tf_filter *f, tf_row_fn fn, void *user);

/* How many calls match f (its limit is ignored). */
int tf_calls_count(tf_app *app, const tf_filter *f, int64_t *count);

/*
 * The same, counting at most max calls (max <= 0: all): *count == max
 * means "max or more". The cost grows with what is counted, so a bound
 * keeps a hint such as "N more" cheap on a table of millions of calls.
 */
int tf_calls_count_max(tf_app *app, const tf_filter *f, int64_t max, int64_t *count);

/*
 * The one call whose key starts with prefix (hex, at least 4 digits):
 * TF_ENOTFOUND, or TF_EAMBIGUOUS when several match (the message lists
 * them in the form of tf_call_ref) - a prefix is never guessed.
 * tf_calls_find_in(app, NULL, NULL, prefix, fn, user).
 */
int tf_calls_find(tf_app *app, const char *prefix, tf_row_fn fn, void *user);

/*
 * The same among the calls of work (NULL: any work) and version (NULL: any
 * version; "" : the calls of no version). A call is (work, version, key):
 * two works called with the same arguments share the key, and only work
 * and version tell their calls apart.
 */
int tf_calls_find_in(tf_app *app, const char *work, const char *version, const char *prefix,
                     tf_row_fn fn, void *user);

/* Hex digits of the key in the printed form of a call, and a buffer that holds any such form. */
#define TF_REF_HEX 12
#define TF_REF_MAX 512

/*
 * The printed form of a call that names it unambiguously, which the
 * tickflow commands accept back where they take a key:
 * "work/abcdef012345", or "work@version/abcdef012345" for a work with a
 * version (the first TF_REF_HEX digits of key). Work names never hold '@'
 * or '/'; a version may, so a form is read as: work up to the first '@' or
 * '/', the key after the last '/', the version in between.
 * Written into out (size bytes, terminated): TF_OK, or TF_EINPUT when it
 * does not fit (a version of hundreds of bytes; out is then cut, ending
 * in "...") or an argument is NULL.
 */
int tf_call_ref(const char *work, const char *version, const char *key, char *out, size_t size);

/* The execution attempts of one call, oldest first. */
int tf_calls_history(tf_app *app, int64_t call_id, tf_hist_fn fn, void *user);

/*
 * Delete the calls matching f (so they run again) and their history,
 * recording an audit row (time, user, selector, count). A long deletion
 * runs in batches of short transactions (running schedulers keep renewing
 * their leases); each batch lists and deletes its calls in one transaction,
 * so *count is exactly what was deleted. A filter that selects nothing in
 * particular is refused unless f->all. dry_run: only report (fn is called
 * per row either way; may be NULL).
 */
int tf_calls_clear(tf_app *app, const tf_filter *f, const char *user, const char *selector,
                   int dry_run, tf_row_fn fn, void *fn_user, int64_t *count);

/*
 * Asked once, before anything is deleted, with the number of calls counted
 * (never 0): non-zero deletes, 0 declines. user is the caller's.
 */
typedef int (*tf_confirm_fn)(int64_t counted, void *user);

/*
 * tf_calls_clear, asking first. The count fixes the selection: the calls
 * that matched then. What is deleted is those of them that still match f
 * when their batch runs - a call that began running (running calls go only
 * when f->status is "running"), or
 * whose status changed, is skipped - and never a call that was not counted
 * (one created or come to match since). *counted is what ask was told,
 * *deleted what was deleted (the audit row's count; fn is called for each);
 * they differ by the calls skipped. Declined: TF_OK, *deleted 0, no audit
 * row. Memory: 8 bytes per counted call until it returns.
 */
int tf_calls_clear_asking(tf_app *app, const tf_filter *f, const char *user,
                          const char *selector, tf_confirm_fn ask, void *ask_user,
                          tf_row_fn fn, void *fn_user, int64_t *counted, int64_t *deleted);

/* Make the failed calls matching f runnable again. */
int tf_calls_retry(tf_app *app, const tf_filter *f, int64_t *count);

/* Delete settled calls (and history) finished before the epoch time `before`. */
int tf_calls_gc(tf_app *app, double before, int64_t *count);

/*
 * tf_calls_gc, asking first (as tf_calls_clear_asking): only the calls
 * counted are deleted, those of them still settled and finished before
 * `before`; *counted and *deleted as there.
 */
int tf_calls_gc_asking(tf_app *app, double before, tf_confirm_fn ask, void *ask_user,
                       int64_t *counted, int64_t *deleted);

/* ---- what the cache saved (tickflow stats) ---------------------------- */

/*
 * One work's figures. Executions come from the history (attempts that
 * started; clear and gc delete them with their calls); hits are the calls
 * answered from the cache without executing, counted by the scheduler in
 * memory and added to the database at most once per tick; time saved is
 * the sum, over those hits, of the duration of the execution that produced
 * the answer. "day" figures cover the 24 hours before `now`.
 */
typedef struct tf_stats_row {
    const char *work;       /* work name (owned by the library until the callback returns) */
    int64_t executions;     /* executions started, all time */
    double exec_seconds;    /* seconds they took */
    int64_t hits;           /* calls answered from the cache, all time */
    double saved;           /* seconds those hits did not spend */
    int64_t day_executions; /* the same over the last 24 hours */
    double day_exec_seconds;
    int64_t day_hits;
    double day_saved;
} tf_stats_row;

typedef int (*tf_stats_fn)(const tf_stats_row *row, void *user); /* non-zero stops */

/*
 * The figures of every work with executions or hits, by name (work NULL),
 * or of one work; `now` (epoch seconds, 0 = the app clock) ends the day.
 * Hits counted by this app and not yet added are added first. calls =
 * executions + hits; hit rate = hits / calls.
 */
int tf_calls_stats(tf_app *app, const char *work, double now, tf_stats_fn fn, void *user);
/* What the database holds for one work: its calls and executions (tf_calls_totals). */
typedef struct tf_work_totals {
    const char *work;       /* work name; owned by the store until the callback returns */
    int64_t running;        /* calls by status */
    int64_t succeeded;
    int64_t failed;
    int64_t interrupted;
    int64_t failed_final;   /* failed calls with no retry due: they stay failed until retried */
    int64_t lease_ended;    /* running calls whose lease ended before now (the store's clock):
                               their runner died or stopped renewing */
    int64_t runs_running;   /* executions (history rows) by outcome */
    int64_t runs_succeeded;
    int64_t runs_failed;
    int64_t runs_interrupted;
    double last_success;    /* epoch seconds: end of the latest succeeded execution, or -1 */
    double last_end;        /* end of the latest finished execution, or -1 */
    double last_duration;   /* its seconds, or -1 */
    const char *last_status;/* its status, or NULL; owned by the store */
    double last_result;     /* when the latest kept result was produced, on the cache clock
                               (tf_app_set_cache_now, run --now), or -1: what max_age and
                               tickflow check judge */
} tf_work_totals;
typedef int (*tf_totals_fn)(const tf_work_totals *t, void *user);  /* non-zero stops */

/*
 * One tf_work_totals per work that has calls, in strcmp order of the name.
 * Costs a pass over the calls and two over the history (milliseconds per
 * hundred thousand rows); meant for metrics, health checks and reports.
 */
int tf_calls_totals(tf_app *app, tf_totals_fn fn, void *user);

/* One execution with its call (tf_calls_executions). Strings owned by the store. */
typedef struct tf_execution_row {
    const char *work;       /* the call's work */
    const char *args_sha256;/* its key */
    const char *args_json;  /* its canonical arguments */
    tf_history_row h;       /* the attempt (h.output is NULL here: tf_calls_history has it) */
} tf_execution_row;
typedef int (*tf_execution_fn)(const tf_execution_row *row, void *user);  /* non-zero stops */

/*
 * The stored output of attempt `attempt` of the call (work, key): on TF_OK
 * *output is a malloc'd copy the caller frees, or NULL when that attempt
 * left no output (or there is no such call or attempt).
 */
int tf_calls_output(tf_app *app, const char *work, const char *key, int attempt, char **output);

/* Every execution that started at or after since (ISO-8601 UTC text as stored), oldest first. */
int tf_calls_executions(tf_app *app, const char *since, tf_execution_fn fn, void *user);

/* ---- pipeline files (the tickflow command's works) --------------------- */

typedef struct tf_pipeline tf_pipeline; /* a parsed, validated pipeline file */

/*
 * Read and validate a pipeline file (format: README, tickflow(1)). On
 * TF_EINPUT err->msg is "FILE:LINE:COL: reason" and nothing was registered.
 * The caller frees *out with tf_pipeline_free().
 */
int tf_pipeline_load(const char *path, tf_pipeline **out, tf_error *err);
void tf_pipeline_free(tf_pipeline *p);

/* The pipeline's name; its db path resolved against the file's folder (NULL if none); its tick (0 if none). */
const char *tf_pipeline_name(const tf_pipeline *p);
const char *tf_pipeline_db(const tf_pipeline *p);
double tf_pipeline_tick(const tf_pipeline *p);

/* The name of the pipeline's work number i (file order), or NULL past the last; owned by p. */
const char *tf_pipeline_work_name(const tf_pipeline *p, size_t i);

/*
 * Register the pipeline's works (command works) and one flow evaluating
 * them in order in app. The pipeline must outlive the app's loop.
 */
int tf_pipeline_attach(tf_pipeline *p, tf_app *app);

/*
 * The clock the templates see ({{today}}, {{now:FMT}}, not_before), as
 * epoch seconds. Any value is honoured, 0 (1970-01-01T00:00:00Z) and
 * earlier included; NAN (the default) means the real time at each tick.
 */
void tf_pipeline_set_now(tf_pipeline *p, double now);

/*
 * Re-read the file if it changed since it was loaded; on success the
 * attached works are redefined in place. TF_OK with *reloaded 0/1, or
 * TF_EINPUT (err says why) leaving the running definition untouched.
 */
int tf_pipeline_reload(tf_pipeline *p, int *reloaded, tf_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TICKFLOW_H */
