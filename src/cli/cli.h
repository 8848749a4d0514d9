/*
 * cli.h - the tickflow command: the subcommand table (main.c), one file
 * per subcommand, and the helpers they share: util.c (errors, exit codes,
 * options, files, the database), timefmt.c (dates and durations),
 * select.c (selectors: statuses, key prefixes, the audit text) and rows.c
 * (owned copies of listed calls, their JSON and their table). Only the CLI
 * prints and exits; it uses the library through include/tickflow.h.
 *
 * Exit codes (documented in --help and tickflow(1)):
 *   0 success; 1 a call failed / nothing matched; 2 usage error;
 *   3 bad input (JSON, pipeline file); 4 database error; 5 I/O error;
 *   130/143 stopped by SIGINT/SIGTERM.
 */
#ifndef TF_CLI_H
#define TF_CLI_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "tickflow.h"

enum {
    TF_EXIT_OK = 0, TF_EXIT_FAILED = 1, TF_EXIT_USAGE = 2, TF_EXIT_INPUT = 3,
    TF_EXIT_DB = 4, TF_EXIT_IO = 5
};

/* A subcommand: argv[0] is its name. Returns the process exit code. */
typedef int (*tf_cmd_fn)(int argc, char **argv);

typedef struct tf_cmd {
    const char *name;       /* subcommand word */
    tf_cmd_fn fn;           /* implementation */
    const char *summary;    /* one line for tickflow --help */
} tf_cmd;

/* Subcommands, one file per group. */
int cmd_canon(int argc, char **argv);   /* canon.c */
int cmd_hash(int argc, char **argv);    /* canon.c */
int cmd_run(int argc, char **argv);     /* run.c */
int cmd_ls(int argc, char **argv);      /* ls.c */
int cmd_show(int argc, char **argv);    /* show.c */
int cmd_logs(int argc, char **argv);    /* logs.c */
int cmd_clear(int argc, char **argv);   /* clear.c */
int cmd_retry(int argc, char **argv);   /* retry.c */
int cmd_gc(int argc, char **argv);      /* gc.c */
int cmd_status(int argc, char **argv);  /* status.c */
int cmd_stats(int argc, char **argv);   /* stats.c */
int cmd_metrics(int argc, char **argv); /* metrics.c */
int cmd_check(int argc, char **argv);   /* check.c */
int cmd_report(int argc, char **argv);  /* report.c */

/* ---- progress.c: run's one-line display on a terminal ---------------------- */

typedef struct tf_cli_progress tf_cli_progress;

/* Start the display when standard error is a terminal (else, or on failure: NULL). */
tf_cli_progress *tf_cli_progress_start(void);
/* Erase the line and end the display; accepts NULL. */
void tf_cli_progress_stop(tf_cli_progress *p);
/* After each event: calls seen, settled and waiting on another runner so far. p may be NULL. */
void tf_cli_progress_count(tf_cli_progress *p, const tf_event *ev, uint64_t calls, uint64_t done,
                           uint64_t waiting);
/* Around a line printed by the main thread: erase the display, and let it redraw. */
void tf_cli_progress_hold(tf_cli_progress *p);
void tf_cli_progress_release(tf_cli_progress *p);

/* ---- metrics.c: what run writes to --metrics-file ------------------------ */

/* What a run saw (per work and pipeline) for its metrics file. */
typedef struct tf_cli_mrun tf_cli_mrun;

/* For the works of pipes; 0, or -1 with the error printed. Free with tf_cli_mrun_free. */
int tf_cli_mrun_new(const char *path, tf_pipeline *const *pipes, size_t npipes, tf_cli_mrun **out);
void tf_cli_mrun_free(tf_cli_mrun *m);
/* A run or daemon tick begins: the per-run counts start again. m may be NULL. */
void tf_cli_mrun_begin(tf_cli_mrun *m);
/* Count one event (cache hits, executions, failures). m may be NULL. */
void tf_cli_mrun_event(tf_cli_mrun *m, const tf_event *ev);
/*
 * The run or tick ended: rewrite the metrics file atomically. 0, or -1
 * with the error printed (the same error once); the run goes on either way.
 */
int tf_cli_mrun_end(tf_cli_mrun *m, tf_app *app);

/* ---- util.c -------------------------------------------------------------- */

/* Print "tickflow: " + message + newline to stderr (printf-style). */
void tf_cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* tf_cli_err with a va_list, for helpers that print more after the message. */
void tf_cli_verr(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Map a library result code to an exit code. */
int tf_cli_exit_for(int rc);

/*
 * Read a whole file ("-" or NULL = stdin) into a malloc'd buffer (NUL
 * appended, *len without it). Returns 0, or -1 with the error printed.
 */
int tf_cli_read_file(const char *path, char **data, size_t *len);

/*
 * The database path: --db value, else $TICKFLOW_DB, else fallback (the
 * pipeline's db, already resolved), else "./tickflow.db". Never NULL.
 */
const char *tf_cli_db_path(const char *opt_db, const char *fallback);

/*
 * Open the existing database chosen by --db / $TICKFLOW_DB / ./tickflow.db
 * for cmd. A path that does not exist is refused (never created). Returns
 * 0 with *app set (the caller closes it), or the exit code with the error
 * printed and *app NULL.
 */
int tf_cli_open_db(const char *cmd, const char *opt_db, tf_app **app);

/* Report a failed library call (result rc) of cmd on app; returns the exit code. */
int tf_cli_lib_fail(const char *cmd, tf_app *app, int rc);

/*
 * The exit code of a tf_calls_* call (result rc) that filled a copy list
 * (oom: a copy failed): 0 when both went well, else the error printed.
 */
int tf_cli_listed(const char *cmd, tf_app *app, int rc, int oom);

/* Flush stdout; 0, or TF_EXIT_IO with the error printed. */
int tf_cli_flush_out(const char *cmd);

/* Print a cJSON document on one line and flush; frees doc (NULL = out of memory). */
int tf_cli_print_json(const char *cmd, cJSON *doc);

/*
 * Print a getopt_long failure (c is ':' or '?') of cmd and its usage to
 * stderr; returns TF_EXIT_USAGE. Options are parsed with opterr = 0 and an
 * optstring starting with ':'.
 */
int tf_cli_bad_option(const char *cmd, int c, char **argv, void (*usage)(FILE *));

/* Print msg (printf-style) and usage to stderr; returns TF_EXIT_USAGE. */
int tf_cli_misuse(void (*usage)(FILE *), const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A whole number in 1..1e9 (--limit, --attempt) into *out; -1 if it is not one. */
int tf_cli_parse_count(const char *text, long *out);

/*
 * Ask "delete N calls? [y/N]" on the terminal (a tf_confirm_fn). Returns 1
 * for y/yes, 0 otherwise (including end of input), then setting the int
 * declined points at (if not NULL) to 1.
 */
int tf_cli_confirm(int64_t n, void *declined);

/*
 * The closing line of clear and gc ("cleared", "deleted"): "VERB N calls
 * TAIL", or, when fewer were deleted than counted and confirmed, "VERB D of
 * the N counted calls TAIL; K no longer matched (running or changed since
 * the count)". tail may be "" (else it starts with a space).
 */
void tf_cli_print_deleted(const char *verb, int64_t counted, int64_t deleted, const char *tail);

/* 1 (with the refusal of cmd printed) when stdin is no terminal to ask on. */
int tf_cli_cannot_ask(const char *cmd);

/* Who runs this (for the audit row): the effective user's name, else $USER, else "uid N". */
void tf_cli_user_name(char out[256]);

/* ---- timefmt.c: dates and durations ------------------------------------- */

/* The wall clock, epoch seconds. */
double tf_cli_now(void);

/* Epoch seconds as the store writes them: 2026-11-25T15:32:56.123Z. */
void tf_cli_iso(double t, char out[32]);

/*
 * The one grammar of dates and times on the command line (run --now and
 * --backfill, ls --since, clear --before, check --now, report --now; README "Dates and
 * times"): YYYY-MM-DD[(T|t| )HH:MM[:SS[.fff...]][Z|+HH:MM|-HH:MM]], the
 * year exactly four digits. Without a zone it is local time (TZ); a date
 * alone is local midnight. Any such time is honoured, 1970-01-01 and
 * earlier included. *out gets epoch seconds, *has_time (may be NULL)
 * whether a time of day was given. Returns 0, or -1 when the text is not
 * such a time or names none (31 April, a local time a DST change skips).
 */
int tf_cli_parse_time(const char *text, double *out, int *has_time);

/* The grammar above in one line, for messages and usage texts. */
#define TF_CLI_TIME_GRAMMAR "YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|+HH:MM|-HH:MM], local time unless a zone is given"

/*
 * A DATE option (--since, --before) of cmd in the store's text form
 * (compared with created_at) into out. 0, or -1 with the error printed.
 */
int tf_cli_date_option(const char *cmd, const char *opt, const char *text, char out[32]);

/* Parse a duration ("30d", "12h", "1d2h": tf_duration_parse's grammar) into seconds; -1 if invalid. */
double tf_cli_parse_duration(const char *text);

/* "1.234s" below a minute (millis; else "12s"), else "1m23s", "2h03m04s"; "-" if sec < 0. */
void tf_cli_fmt_duration(double sec, int millis, char out[32]);

/* ---- rows.c: listed calls, owned ------------------------------------------ */

/* Widest ARGS text shown in a human table (bytes). */
#define TF_CLI_ARGS_WIDTH 40

/* A list of owned tf_call_row copies (zero-initialise; tf_cli_rows_free). */
typedef struct tf_cli_rows {
    tf_call_row *v;         /* rows; every string malloc'd (or NULL) */
    size_t n;               /* kept rows */
    size_t cap;             /* allocated */
    size_t keep;            /* keep at most this many (0 = all) */
    size_t total;           /* rows seen, kept or not */
    int oom;                /* a copy failed */
} tf_cli_rows;

/* A list of owned tf_history_row copies (zero-initialise; tf_cli_hist_free). */
typedef struct tf_cli_hist {
    tf_history_row *v;      /* attempts, oldest first; strings malloc'd */
    size_t n;               /* count */
    size_t cap;             /* allocated */
    int oom;                /* a copy failed */
} tf_cli_hist;

/* tf_row_fn: append a copy of r to the tf_cli_rows in user (1 = stop: out of memory). */
int tf_cli_rows_add(const tf_call_row *r, void *user);

/* Free every copy; rs is empty (and reusable) afterwards. */
void tf_cli_rows_free(tf_cli_rows *rs);

/* A list of owned tf_work_totals copies (zero-initialise; tf_cli_totals_free). */
typedef struct tf_cli_totals {
    tf_work_totals *v;      /* entries; work and last_status malloc'd */
    size_t n;               /* count */
    int oom;                /* a copy failed */
} tf_cli_totals;

/* tf_totals_fn: append a copy of t to the tf_cli_totals in user (1 = stop: out of memory). */
int tf_cli_totals_add(const tf_work_totals *t, void *user);

/* Free every copy. */
void tf_cli_totals_free(tf_cli_totals *l);

/* tf_hist_fn: append a copy of r to the tf_cli_hist in user. */
int tf_cli_hist_add(const tf_history_row *r, void *user);

/* Free every copy; h is empty afterwards. */
void tf_cli_hist_free(tf_cli_hist *h);

/* s, or "-" when NULL or empty. */
const char *tf_cli_or_dash(const char *s);

/* The wider of w and the text s (column widths). */
int tf_cli_wider(int w, const char *s);

/* "host:pid", or "?:pid", or "-" when unknown; cut with "..." past 299 bytes. */
void tf_cli_runner_text(const char *host, long pid, char out[300]);

/* How an attempt ended, for a table: "signal 9", "3", or "-". */
void tf_cli_exit_text(int exit_code, int term_signal, char out[32]);

/* Seconds rounded to the microsecond (stored durations carry float noise). */
double tf_cli_micro(double sec);

/* Add a number member to o, or null when null is set. */
void tf_cli_add_num_or_null(cJSON *o, const char *name, double v, int null);

/* One call / one attempt as a new JSON object (NULL when out of memory). */
cJSON *tf_cli_row_json(const tf_call_row *r);
cJSON *tf_cli_hist_json(const tf_history_row *h);

/* A new JSON array of the rows (NULL when out of memory). */
cJSON *tf_cli_rows_json(const tf_cli_rows *rs);

/*
 * {"dry_run", "count"[, "counted"][, "calls": the rows]} of clear and gc:
 * "counted" (what the question counted) only when counted >= 0, "calls"
 * only when calls is not NULL. NULL when out of memory.
 */
cJSON *tf_cli_count_doc(int dry, int64_t count, int64_t counted, const tf_cli_rows *calls);

/* Print rows as an aligned table: KEY WORK STATUS ATTEMPTS CREATED DURATION ARGS. */
void tf_cli_print_table(const tf_cli_rows *rs);

/* ---- select.c: which calls a command means -------------------------------- */

/* 1 when s is a call status: running, succeeded, failed, interrupted. */
int tf_cli_valid_status(const char *s);

/* 1 when p is a key prefix: 4 to 64 hex digits. */
int tf_cli_valid_prefix(const char *p);

/*
 * A call as a command names it: a key prefix, or the printed form of
 * tf_call_ref (WORK/PREFIX: the work's call of no version;
 * WORK@VERSION/PREFIX), with --work and --version narrowing it (AND).
 */
typedef struct tf_cli_key {
    char text[TF_REF_MAX];  /* a copy of the text, split in place */
    const char *prefix;     /* the hex digits */
    const char *work;       /* the work it names (form or --work), or NULL: any */
    const char *version;    /* the version it names ("" none), or NULL: any */
} tf_cli_key;

/*
 * Parse text (what names it in messages: "key", "--key") into *k, with the
 * values of --work and --version (NULL when not given). 0, or TF_EXIT_USAGE
 * with the misuse and usage printed: not a key, or a form whose work or
 * version contradicts the option.
 */
int tf_cli_parse_key(const char *cmd, const char *what, const char *text, const char *work,
                     const char *version, void (*usage)(FILE *), tf_cli_key *k);

/* The one operand KEY of cmd (show, logs) after the options, parsed into *k as above. */
int tf_cli_key_operand(const char *cmd, int argc, char **argv, const char *work,
                       const char *version, void (*usage)(FILE *), tf_cli_key *k);

/* r's printed form (tf_call_ref) in out, which it returns. */
const char *tf_cli_ref(const tf_call_row *r, char out[TF_REF_MAX]);

/* The selector text for the audit row: the options as typed, quoted when needed. */
typedef struct tf_cli_sel {
    char text[2048];        /* e.g. "--work train --status failed" */
    size_t len;             /* bytes used */
    int cut;                /* text was too long and was cut */
} tf_cli_sel;

/* Append option opt (with value val, or none when NULL) to s. */
void tf_cli_sel_add(tf_cli_sel *s, const char *opt, const char *val);

/*
 * The one call k names, copied into *rs (n == 1). Returns 0, or the exit
 * code with the error printed: no match or several matches (listed in the
 * printed form, never guessed) exit 1.
 */
int tf_cli_find_call(const char *cmd, tf_app *app, const tf_cli_key *k, tf_cli_rows *rs);

/* tf_cli_find_call, and the call's attempts into *h. 0, or the exit code. */
int tf_cli_find_with_history(const char *cmd, tf_app *app, const tf_cli_key *k,
                             tf_cli_rows *rs, tf_cli_hist *h);

/*
 * For --key: find the one call k names (copied into *found, which must
 * outlive f) and narrow f to exactly it: its work, version and full key.
 * 0, or the exit code.
 */
int tf_cli_narrow_to_key(const char *cmd, tf_app *app, const tf_cli_key *k, tf_cli_rows *found,
                         tf_filter *f);

#endif
