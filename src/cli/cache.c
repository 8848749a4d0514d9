/*
 * cache.c - the cache inspection and clearing subcommands: ls, show, logs,
 * clear, retry, gc, status. They open an existing database (never create
 * one), read or change it through the public tf_calls_* API and print a
 * human table (aligned columns, stored ISO-8601 UTC times, keys shortened
 * to 12 hex digits) or, with --json, one JSON document built with cJSON.
 *
 * Destructive commands (clear, gc) ask "delete N calls? [y/N]" on a
 * terminal and refuse without --yes when standard input is not one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tickflow.h"
#include "cli.h"

/* ---- small helpers ----------------------------------------------------- */

/* Default number of rows of the human `ls` table. */
#define LS_DEFAULT_LIMIT 50
/* ls counts the calls after its page up to this many ("at least N more" beyond) */
#define LS_COUNT_MAX 1000000

/* Widest ARGS text shown in a human table (bytes). */
#define ARGS_WIDTH 40

static const char *const statuses[] = {"running", "succeeded", "failed", "interrupted"};

static int valid_status(const char *s)
{
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        if (!strcmp(s, statuses[i]))
            return 1;
    return 0;
}

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

static double now_epoch(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Epoch seconds as the store writes them: 2026-11-25T15:32:56.123Z. */
static void iso_of(double t, char out[32])
{
    long long ms = (long long)(t * 1000.0);
    if ((double)ms > t * 1000.0)
        ms--;
    time_t sec = (time_t)(ms / 1000);
    int milli = (int)(ms % 1000);
    if (milli < 0) {
        milli += 1000;
        sec--;
    }
    struct tm tm;
    int n = -1;
    if (gmtime_r(&sec, &tm))
        n = snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, milli);
    if (n < 0 || n >= 32)
        snprintf(out, 32, "1970-01-01T00:00:00.000Z");
}

/* Read exactly n decimal digits at *p into *v; advance *p. 0 on success. */
static int digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        *v = *v * 10 + (**p - '0');
    }
    return 0;
}

/*
 * Parse YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.fff...]][Z|+HH:MM|-HH:MM] (a
 * space may replace the T; no zone means UTC) into epoch seconds.
 * Returns 0, or -1 when the text is not such a date or names no real time.
 */
static int parse_date(const char *text, double *out)
{
    const char *p = text;
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, s = 0;
    double frac = 0;
    long zone = 0;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d))
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
            return -1;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &s))
                return -1;
            if (*p == '.') {
                p++;
                double scale = 0.1;
                if (*p < '0' || *p > '9')
                    return -1;
                for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
                    frac += (*p - '0') * scale;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, zh, zm;
            if (digits(&p, 2, &zh) || *p++ != ':' || digits(&p, 2, &zm) || zh > 23 || zm > 59)
                return -1;
            zone = sign * (zh * 3600L + zm * 60L);
        }
    }
    if (*p)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    time_t t = timegm(&tm);
    if (tm.tm_mday != d || tm.tm_mon != mo - 1) /* normalized: 31 April and the like */
        return -1;
    *out = (double)t + frac - (double)zone;
    return 0;
}

/* A DATE option in the store's text form (compared with created_at). -1 if invalid. */
static int date_option(const char *cmd, const char *opt, const char *text, char out[32])
{
    double t;
    if (parse_date(text, &t) != 0) {
        tf_cli_err("%s: %s: '%s' is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z])",
                   cmd, opt, text);
        return -1;
    }
    iso_of(t, out);
    return 0;
}

/* "1.234s" below a minute, else "1m23s", "2h03m04s". */
static void fmt_duration(double sec, int millis, char out[32])
{
    if (sec < 0) {
        snprintf(out, 32, "-");
        return;
    }
    if (sec < 60) {
        if (millis)
            snprintf(out, 32, "%.3fs", sec);
        else
            snprintf(out, 32, "%ds", (int)sec);
        return;
    }
    long long t = (long long)sec;
    if (t < 3600)
        snprintf(out, 32, "%lldm%02llds", t / 60, t % 60);
    else
        snprintf(out, 32, "%lldh%02lldm%02llds", t / 3600, t / 60 % 60, t % 60);
}

/* Copy s into out (ARGS_WIDTH bytes at most, cut on a UTF-8 boundary, "..." when cut). */
static void clip(const char *s, char out[ARGS_WIDTH + 4])
{
    size_t n = s ? strlen(s) : 0;
    if (n <= ARGS_WIDTH) {
        memcpy(out, s ? s : "", n + 1);
        return;
    }
    size_t k = ARGS_WIDTH - 3;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    memcpy(out, s, k);
    memcpy(out + k, "...", 4);
}

/* Print a getopt failure of cmd and its usage; returns TF_EXIT_USAGE. */
static int bad_option(const char *cmd, int c, char **argv, void (*usage)(FILE *))
{
    const char *text = argv[optind - 1];
    if (c == ':')
        tf_cli_err("%s: option '%s' needs a value", cmd, text);
    else if (optopt && optopt < 256 && !(text[0] == '-' && text[1] == '-'))
        tf_cli_err("%s: unknown option '-%c'", cmd, optopt);
    else
        tf_cli_err("%s: unknown option '%s'", cmd, text);
    usage(stderr);
    return TF_EXIT_USAGE;
}

/* Print msg (printf-style) and usage to stderr; returns TF_EXIT_USAGE. */
static int misuse(void (*usage)(FILE *), const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int misuse(void (*usage)(FILE *), const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tf_cli_verr(fmt, ap);
    va_end(ap);
    usage(stderr);
    return TF_EXIT_USAGE;
}

/* A key prefix argument: 4 to 64 hex digits. */
static int valid_prefix(const char *p)
{
    size_t n = strlen(p);
    if (n < 4 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f') ||
              (p[i] >= 'A' && p[i] <= 'F')))
            return 0;
    return 1;
}

/*
 * Open the existing database chosen by --db / $TICKFLOW_DB / ./tickflow.db.
 * A path that does not exist is refused (never created). Returns 0 with
 * *app set, or the exit code with the error printed.
 */
static int open_db(const char *cmd, const char *opt_db, tf_app **app)
{
    const char *path = tf_cli_db_path(opt_db, NULL);
    struct stat st;
    *app = NULL;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) {
            tf_cli_err("no database at '%s'", path);
            return TF_EXIT_DB;
        }
        tf_cli_err("%s: cannot open database '%s': %s", cmd, path, strerror(errno));
        return TF_EXIT_DB;
    }
    int rc = tf_app_open(path, app);
    if (rc != TF_OK) {
        tf_cli_err("%s: %s", cmd, tf_errmsg(*app));
        tf_app_close(*app);
        *app = NULL;
        return tf_cli_exit_for(rc) == TF_EXIT_IO ? TF_EXIT_IO : TF_EXIT_DB;
    }
    return 0;
}

/* Report a failed tf_calls_* call of app; returns the exit code. */
static int lib_fail(const char *cmd, tf_app *app, int rc)
{
    tf_cli_err("%s: %s", cmd, tf_errmsg(app));
    return tf_cli_exit_for(rc);
}

/*
 * The exit code of a tf_calls_* call (result rc) that filled a copy list
 * (oom: a copy failed): 0 when both went well, else the error printed.
 */
static int listed(const char *cmd, tf_app *app, int rc, int oom)
{
    if (oom) {
        tf_cli_err("%s: out of memory", cmd);
        return TF_EXIT_IO;
    }
    return rc == TF_OK ? 0 : lib_fail(cmd, app, rc);
}

/* A whole number in 1..1e9 (--limit, --attempt) into *out; -1 if it is not one. */
static int parse_count(const char *text, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end || errno || v < 1 || v > 1000000000L)
        return -1;
    *out = v;
    return 0;
}

/* The wider of w and the text s (column widths). */
static int wider(int w, const char *s)
{
    int n = (int)strlen(s);
    return n > w ? n : w;
}

/* Write stdout out; 0, or TF_EXIT_IO with the error printed. */
static int flush_out(const char *cmd)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        tf_cli_err("%s: cannot write standard output: %s", cmd, strerror(errno));
        return TF_EXIT_IO;
    }
    return TF_EXIT_OK;
}

/* Print a cJSON document on one line; frees it. */
static int print_json(const char *cmd, cJSON *doc)
{
    char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (!text) {
        tf_cli_err("%s: out of memory building JSON", cmd);
        return TF_EXIT_IO;
    }
    fputs(text, stdout);
    fputc('\n', stdout);
    free(text);
    return flush_out(cmd);
}

/* ---- owned copies of rows ------------------------------------------------- */

/* A malloc'd copy of s (NULL stays NULL); sets *oom when the copy fails. */
static const char *copy_str(const char *s, int *oom)
{
    char *c = s ? strdup(s) : NULL;
    if (s && !c)
        *oom = 1;
    return c;
}

/*
 * The array v of n elements of size bytes (capacity *cap), with room for
 * one more: v itself, or v reallocated (first elements the first time).
 * NULL when out of memory: v is untouched and still the caller's.
 */
static void *grow(void *v, size_t n, size_t *cap, size_t size, size_t first)
{
    if (n < *cap)
        return v;
    size_t c = *cap ? *cap * 2 : first;
    void *p = realloc(v, c * size);
    if (p)
        *cap = c;
    return p;
}

static void free_str(const char *s)
{
    free((void *)(uintptr_t)s);
}

/* A list of owned tf_call_row copies. */
typedef struct rows {
    tf_call_row *v;         /* rows; every string malloc'd (or NULL) */
    size_t n;               /* kept rows */
    size_t cap;             /* allocated */
    size_t keep;            /* keep at most this many (0 = all) */
    size_t total;           /* rows seen, kept or not */
    int oom;                /* a copy failed */
} rows;

static void row_free(tf_call_row *r)
{
    free_str(r->work);
    free_str(r->version);
    free_str(r->args_sha256);
    free_str(r->args_json);
    free_str(r->status);
    free_str(r->result_json);
    free_str(r->error);
    free_str(r->created_at);
    free_str(r->started_at);
    free_str(r->finished_at);
    free_str(r->runner_host);
    free_str(r->log_path);
}

static void rows_free(rows *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        row_free(&rs->v[i]);
    free(rs->v);
    memset(rs, 0, sizeof *rs);
}

/* tf_row_fn: append a copy of r to the rows in user. */
static int rows_add(const tf_call_row *r, void *user)
{
    rows *rs = user;
    rs->total++;
    if (rs->keep && rs->n >= rs->keep)
        return 0;
    tf_call_row *v = grow(rs->v, rs->n, &rs->cap, sizeof *v, 32);
    if (!v) {
        rs->oom = 1;
        return 1;
    }
    rs->v = v;
    int oom = 0;
    tf_call_row c = *r;
    c.work = copy_str(r->work, &oom);
    c.version = copy_str(r->version, &oom);
    c.args_sha256 = copy_str(r->args_sha256, &oom);
    c.args_json = copy_str(r->args_json, &oom);
    c.status = copy_str(r->status, &oom);
    c.result_json = copy_str(r->result_json, &oom);
    c.error = copy_str(r->error, &oom);
    c.created_at = copy_str(r->created_at, &oom);
    c.started_at = copy_str(r->started_at, &oom);
    c.finished_at = copy_str(r->finished_at, &oom);
    c.runner_host = copy_str(r->runner_host, &oom);
    c.log_path = copy_str(r->log_path, &oom);
    if (oom || !c.work || !c.args_sha256 || !c.status) {
        row_free(&c);
        rs->oom = 1;
        return 1;
    }
    rs->v[rs->n++] = c;
    return 0;
}

/* A list of owned tf_history_row copies. */
typedef struct hist {
    tf_history_row *v;      /* attempts, oldest first; strings malloc'd */
    size_t n;               /* count */
    size_t cap;             /* allocated */
    int oom;                /* a copy failed */
} hist;

static void hist_row_free(tf_history_row *r)
{
    free_str(r->status);
    free_str(r->started_at);
    free_str(r->finished_at);
    free_str(r->runner_host);
    free_str(r->error);
    free_str(r->log_path);
}

static void hist_free(hist *h)
{
    for (size_t i = 0; i < h->n; i++)
        hist_row_free(&h->v[i]);
    free(h->v);
    memset(h, 0, sizeof *h);
}

/* tf_hist_fn: append a copy of r to the hist in user. */
static int hist_add(const tf_history_row *r, void *user)
{
    hist *h = user;
    tf_history_row *v = grow(h->v, h->n, &h->cap, sizeof *v, 8);
    if (!v) {
        h->oom = 1;
        return 1;
    }
    h->v = v;
    int oom = 0;
    tf_history_row c = *r;
    c.status = copy_str(r->status, &oom);
    c.started_at = copy_str(r->started_at, &oom);
    c.finished_at = copy_str(r->finished_at, &oom);
    c.runner_host = copy_str(r->runner_host, &oom);
    c.error = copy_str(r->error, &oom);
    c.log_path = copy_str(r->log_path, &oom);
    if (oom) {
        hist_row_free(&c);
        h->oom = 1;
        return 1;
    }
    h->v[h->n++] = c;
    return 0;
}

/* ---- JSON ------------------------------------------------------------------ */

/* Add a string member, or null. */
static void add_str(cJSON *o, const char *name, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

/* Add stored JSON text as a JSON value (exact text when it parses), or null. */
static void add_raw(cJSON *o, const char *name, const char *json)
{
    cJSON *tree = NULL;
    if (!json) {
        cJSON_AddNullToObject(o, name);
    } else if (tf_parse_text(json, strlen(json), &tree, NULL) == TF_OK) {
        cJSON_Delete(tree);
        cJSON_AddRawToObject(o, name, json);
    } else {
        cJSON_AddStringToObject(o, name, json); /* not JSON: keep it visible as text */
    }
}

/* Seconds rounded to the microsecond (stored durations carry float noise). */
static double micro(double sec)
{
    return (double)(long long)(sec * 1e6 + 0.5) / 1e6;
}

static void add_num_or_null(cJSON *o, const char *name, double v, int null)
{
    if (null)
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddNumberToObject(o, name, v);
}

/* One call as a JSON object. */
static cJSON *row_json(const tf_call_row *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "id", (double)r->id);
    add_str(o, "work", r->work);
    add_str(o, "version", r->version);
    add_str(o, "key", r->args_sha256);
    add_raw(o, "args", r->args_json);
    add_str(o, "status", r->status);
    cJSON_AddNumberToObject(o, "attempts", r->attempts);
    add_str(o, "created_at", r->created_at);
    add_str(o, "started_at", r->started_at);
    add_str(o, "finished_at", r->finished_at);
    add_num_or_null(o, "duration", micro(r->duration), r->duration < 0);
    add_raw(o, "result", r->result_json);
    add_str(o, "error", r->error);
    add_str(o, "runner_host", r->runner_host);
    add_num_or_null(o, "runner_pid", (double)r->runner_pid, r->runner_pid <= 0);
    add_str(o, "log_path", r->log_path);
    return o;
}

static cJSON *hist_json(const tf_history_row *h)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "attempt", h->attempt);
    add_str(o, "status", h->status);
    add_str(o, "started_at", h->started_at);
    add_str(o, "finished_at", h->finished_at);
    add_num_or_null(o, "duration", micro(h->duration), h->duration < 0);
    add_str(o, "runner_host", h->runner_host);
    add_num_or_null(o, "runner_pid", (double)h->runner_pid, h->runner_pid <= 0);
    add_num_or_null(o, "exec_pid", (double)h->exec_pid, h->exec_pid <= 0);
    add_num_or_null(o, "exit_code", h->exit_code, h->exit_code < 0);
    add_num_or_null(o, "signal", h->term_signal, h->term_signal <= 0);
    add_str(o, "error", h->error);
    add_str(o, "log_path", h->log_path);
    return o;
}

/* A JSON array of rows (NULL when out of memory). */
static cJSON *rows_json(const rows *rs)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < rs->n; i++) {
        cJSON *o = row_json(&rs->v[i]);
        if (!o) {
            cJSON_Delete(a);
            return NULL;
        }
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

/*
 * {"dry_run", "count"[, "calls": the rows]} of clear and gc; "calls" only
 * when calls is not NULL. NULL when out of memory.
 */
static cJSON *count_doc(int dry, int64_t count, const rows *calls)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *a = calls ? rows_json(calls) : NULL;
    if (!o || (calls && !a)) {
        cJSON_Delete(a);
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddBoolToObject(o, "dry_run", dry);
    cJSON_AddNumberToObject(o, "count", (double)count);
    if (a)
        cJSON_AddItemToObject(o, "calls", a);
    return o;
}

/* ---- the calls table ----------------------------------------------------- */

/* Print rows as an aligned table: KEY WORK STATUS ATTEMPTS CREATED DURATION ARGS. */
static void print_table(const rows *rs)
{
    int ww = (int)strlen("WORK"), sw = (int)strlen("STATUS");
    for (size_t i = 0; i < rs->n; i++) {
        ww = wider(ww, rs->v[i].work);
        sw = wider(sw, rs->v[i].status);
    }
    printf("%-12s  %-*s  %-*s  %8s  %-24s  %9s  %s\n", "KEY", ww, "WORK", sw, "STATUS",
           "ATTEMPTS", "CREATED", "DURATION", "ARGS");
    for (size_t i = 0; i < rs->n; i++) {
        const tf_call_row *r = &rs->v[i];
        char dur[32], args[ARGS_WIDTH + 4];
        fmt_duration(r->duration, 1, dur);
        clip(r->args_json, args);
        printf("%-12.12s  %-*s  %-*s  %8d  %-24s  %9s  %s\n", r->args_sha256, ww, r->work, sw,
               r->status, r->attempts, or_dash(r->created_at), dur, args);
    }
}

/* ---- tickflow ls ------------------------------------------------------------ */

static void ls_usage(FILE *to)
{
    fputs("usage: tickflow ls [--db PATH] [--work W] [--status S] [--since DATE]\n"
          "                   [--limit N] [--json]\n\n"
          "List recorded calls, newest first: key (12 hex digits), work, status,\n"
          "attempts, creation time (ISO-8601 UTC), last duration and arguments.\n\n"
          "options:\n"
          "  --db PATH      database (default $TICKFLOW_DB, else ./tickflow.db)\n"
          "  --work W       only calls of work W\n"
          "  --status S     only calls in status S: running, succeeded, failed, interrupted\n"
          "  --since DATE   only calls created at or after DATE (YYYY-MM-DD, or\n"
          "                 YYYY-MM-DDTHH:MM[:SS[.fff]][Z|+HH:MM]; UTC unless a zone is given)\n"
          "  --limit N      at most N calls (default 50 for the table, all with --json)\n"
          "  --json         print one JSON array of call objects (id, work, version, key,\n"
          "                 args, status, attempts, created_at, started_at, finished_at,\n"
          "                 duration, result, error, runner_host, runner_pid, log_path)\n"
          "  -h, --help     show this help\n\n"
          "exit codes: 0 ok (also when nothing matches); 2 usage; 4 database error\n", to);
}

int cmd_ls(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"work", required_argument, NULL, 'w'},
        {"status", required_argument, NULL, 's'},
        {"since", required_argument, NULL, 'S'},
        {"limit", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    tf_filter f = {0};
    char since[32];
    long limit = -1;
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'w': f.work = optarg; break;
        case 's':
            if (!valid_status(optarg))
                return misuse(ls_usage, "ls: --status: unknown status '%s'", optarg);
            f.status = optarg;
            break;
        case 'S':
            if (date_option("ls", "--since", optarg, since) != 0)
                return TF_EXIT_USAGE;
            f.since = since;
            break;
        case 'n':
            if (parse_count(optarg, &limit) != 0)
                return misuse(ls_usage, "ls: --limit: '%s' is not a positive count", optarg);
            break;
        case 'j': json = 1; break;
        case 'h': ls_usage(stdout); return TF_EXIT_OK;
        default: return bad_option("ls", c, argv, ls_usage);
        }
    }
    if (optind < argc)
        return misuse(ls_usage, "ls: unexpected argument '%s'", argv[optind]);
    if (limit < 0)
        limit = json ? 0 : LS_DEFAULT_LIMIT;

    tf_app *app;
    int ex = open_db("ls", db, &app);
    if (ex)
        return ex;
    rows rs = {0};
    rs.keep = (size_t)limit;
    f.limit = limit > 0 && limit < INT_MAX ? (int)limit + 1 : 0; /* one more: count the rest? */
    ex = listed("ls", app, tf_calls_list(app, &f, rows_add, &rs), rs.oom);
    int64_t total = (int64_t)rs.total;
    /* the rest is counted up to LS_COUNT_MAX: exact below, "or more" above */
    int64_t max = (int64_t)rs.n + LS_COUNT_MAX;
    if (!ex && rs.total > rs.n && !json)
        ex = listed("ls", app, tf_calls_count_max(app, &f, max, &total), 0);
    if (!ex && json) {
        ex = print_json("ls", rows_json(&rs));
    } else if (!ex) {
        print_table(&rs);
        if (total > (int64_t)rs.n)
            printf("... %s%lld more (--limit N to see them)\n", total >= max ? "at least " : "",
                   (long long)(total - (int64_t)rs.n));
        ex = flush_out("ls");
    }
    rows_free(&rs);
    tf_app_close(app);
    return ex;
}

/* ---- finding one call by key prefix --------------------------------------- */

/* tf_row_fn for tf_calls_find: copy the one row. */
static int keep_one(const tf_call_row *r, void *user)
{
    return rows_add(r, user);
}

/*
 * The one call whose key starts with prefix, copied into *rs (n == 1).
 * Returns 0, or the exit code with the error printed: no match or several
 * matches (listed, never guessed) exit 1.
 */
static int find_call(const char *cmd, tf_app *app, const char *prefix, rows *rs)
{
    int rc = tf_calls_find(app, prefix, keep_one, rs);
    if (rc == TF_OK && (rs->oom || rs->n != 1))
        rc = rs->oom ? TF_ENOMEM : TF_ENOTFOUND;
    if (rc == TF_OK)
        return 0;
    tf_cli_err("%s: %s", cmd, rs->oom ? "out of memory" : tf_errmsg(app));
    if (rc == TF_ENOTFOUND || rc == TF_EAMBIGUOUS)
        return TF_EXIT_FAILED;
    return tf_cli_exit_for(rc);
}

/*
 * The one call whose key starts with prefix (into *rs, as find_call) and
 * its attempts (into *h). 0, or the exit code with the error printed.
 */
static int find_with_history(const char *cmd, tf_app *app, const char *prefix, rows *rs,
                             hist *h)
{
    int ex = find_call(cmd, app, prefix, rs);
    if (ex)
        return ex;
    return listed(cmd, app, tf_calls_history(app, rs->v[0].id, hist_add, h), h->oom);
}

/*
 * The one operand KEY-PREFIX of cmd (show, logs) into *prefix: 0, or
 * TF_EXIT_USAGE with the misuse and usage printed.
 */
static int prefix_operand(const char *cmd, int argc, char **argv, void (*usage)(FILE *),
                          const char **prefix)
{
    if (argc - optind != 1)
        return misuse(usage, "%s: %s", cmd,
                      optind < argc ? "too many arguments" : "no key prefix given");
    *prefix = argv[optind];
    if (!valid_prefix(*prefix))
        return misuse(usage, "%s: key prefix '%s' must be 4 to 64 hexadecimal digits", cmd,
                      *prefix);
    return 0;
}

/* ---- tickflow show ------------------------------------------------------------ */

static void show_usage(FILE *to)
{
    fputs("usage: tickflow show [--db PATH] [--json] KEY-PREFIX\n\n"
          "Show the one call whose key starts with KEY-PREFIX (at least 4 hex digits):\n"
          "work, version, full key, status, attempts, times, duration, canonical\n"
          "arguments, result, last error, log file, and every execution attempt\n"
          "(status, start, duration, runner host:pid, exit code or signal, error).\n"
          "A prefix shared by several calls is refused with the candidates listed.\n\n"
          "options:\n"
          "  --db PATH   database (default $TICKFLOW_DB, else ./tickflow.db)\n"
          "  --json      print one JSON object: the call's fields (as in 'ls --json')\n"
          "              and \"history\", an array of attempt objects\n"
          "  -h, --help  show this help\n\n"
          "exit codes: 0 ok; 1 no call or several calls match; 2 usage; 4 database error\n",
          to);
}

/* "host:pid", or "-" when unknown. */
static void runner_text(const char *host, long pid, char out[300])
{
    int n = -1;
    if (host && pid > 0)
        n = snprintf(out, 300, "%s:%ld", host, pid);
    else if (pid > 0)
        n = snprintf(out, 300, "?:%ld", pid);
    if (n < 0)
        snprintf(out, 300, "-");
    else if ((size_t)n >= 300)
        memcpy(out + 296, "...", 4);
}

static void print_call(const tf_call_row *r, const hist *h)
{
    char dur[32];
    fmt_duration(r->duration, 1, dur);
    printf("work      %s\n", r->work);
    printf("version   %s\n", r->version && *r->version ? r->version : "(none)");
    printf("key       %s\n", r->args_sha256);
    printf("status    %s\n", r->status);
    printf("attempts  %d\n", r->attempts);
    printf("created   %s\n", or_dash(r->created_at));
    printf("started   %s\n", or_dash(r->started_at));
    printf("finished  %s\n", or_dash(r->finished_at));
    printf("duration  %s\n", dur);
    if (!strcmp(r->status, "running")) {
        char runner[300];
        runner_text(r->runner_host, r->runner_pid, runner);
        printf("runner    %s\n", runner);
    }
    printf("args      %s\n", or_dash(r->args_json));
    printf("result    %s\n", r->result_json ? r->result_json : "-");
    printf("error     %s\n", or_dash(r->error));
    printf("log       %s\n", or_dash(r->log_path));
    printf("history:\n");
    if (h->n == 0) {
        printf("  (no attempts)\n");
        return;
    }
    int sw = (int)strlen("STATUS"), rw = (int)strlen("RUNNER");
    char (*runners)[300] = calloc(h->n, sizeof *runners);
    if (!runners)
        return;
    for (size_t i = 0; i < h->n; i++) {
        runner_text(h->v[i].runner_host, h->v[i].runner_pid, runners[i]);
        sw = wider(sw, or_dash(h->v[i].status));
        rw = wider(rw, runners[i]);
    }
    printf("  %7s  %-*s  %-24s  %9s  %-*s  %-10s  %s\n", "ATTEMPT", sw, "STATUS", "STARTED",
           "DURATION", rw, "RUNNER", "EXIT", "ERROR");
    for (size_t i = 0; i < h->n; i++) {
        const tf_history_row *a = &h->v[i];
        char exit_text[32];
        if (a->term_signal > 0)
            snprintf(exit_text, sizeof exit_text, "signal %d", a->term_signal);
        else if (a->exit_code >= 0)
            snprintf(exit_text, sizeof exit_text, "%d", a->exit_code);
        else
            snprintf(exit_text, sizeof exit_text, "-");
        fmt_duration(a->duration, 1, dur);
        printf("  %7d  %-*s  %-24s  %9s  %-*s  %-10s  %s\n", a->attempt, sw, or_dash(a->status),
               or_dash(a->started_at), dur, rw, runners[i], exit_text, or_dash(a->error));
    }
    free(runners);
}

int cmd_show(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'j': json = 1; break;
        case 'h': show_usage(stdout); return TF_EXIT_OK;
        default: return bad_option("show", c, argv, show_usage);
        }
    }
    const char *prefix;
    if (prefix_operand("show", argc, argv, show_usage, &prefix) != 0)
        return TF_EXIT_USAGE;

    tf_app *app;
    int ex = open_db("show", db, &app);
    if (ex)
        return ex;
    rows rs = {0};
    hist h = {0};
    ex = find_with_history("show", app, prefix, &rs, &h);
    if (!ex && json) {
        cJSON *o = row_json(&rs.v[0]);
        cJSON *a = o ? cJSON_AddArrayToObject(o, "history") : NULL;
        for (size_t i = 0; a && i < h.n; i++) {
            cJSON *x = hist_json(&h.v[i]);
            if (!x) {
                a = NULL;
                break;
            }
            cJSON_AddItemToArray(a, x);
        }
        if (!a) {
            cJSON_Delete(o);
            o = NULL;
        }
        ex = print_json("show", o);
    } else if (!ex) {
        print_call(&rs.v[0], &h);
        ex = flush_out("show");
    }
    hist_free(&h);
    rows_free(&rs);
    tf_app_close(app);
    return ex;
}

/* ---- tickflow logs ------------------------------------------------------------ */

static void logs_usage(FILE *to)
{
    fputs("usage: tickflow logs [--db PATH] [--attempt N] KEY-PREFIX\n\n"
          "Copy the log file of the last execution (or of attempt N) of the one call\n"
          "whose key starts with KEY-PREFIX to standard output, byte for byte.\n"
          "Command works write a log per execution; C works keep none.\n\n"
          "options:\n"
          "  --db PATH     database (default $TICKFLOW_DB, else ./tickflow.db)\n"
          "  --attempt N   the log of attempt N (1 is the first execution)\n"
          "  -h, --help    show this help\n\n"
          "exit codes: 0 ok; 1 no such call, attempt or log; 2 usage; 4 database error;\n"
          "  5 the log file is missing or unreadable\n", to);
}

/* Copy the file at path to stdout. Returns an exit code (message printed). */
static int copy_file(const char *path)
{
    FILE *in = fopen(path, "rb");
    if (!in) {
        tf_cli_err("logs: cannot open log file '%s': %s", path, strerror(errno));
        return TF_EXIT_IO;
    }
    char buf[65536];
    int ex = TF_EXIT_OK;
    for (;;) {
        size_t n = fread(buf, 1, sizeof buf, in);
        if (n && fwrite(buf, 1, n, stdout) != n) {
            tf_cli_err("logs: cannot write standard output: %s", strerror(errno));
            ex = TF_EXIT_IO;
            break;
        }
        if (n < sizeof buf) {
            if (ferror(in)) {
                tf_cli_err("logs: cannot read log file '%s': %s", path, strerror(errno));
                ex = TF_EXIT_IO;
            }
            break;
        }
    }
    fclose(in);
    return ex ? ex : flush_out("logs");
}

int cmd_logs(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"attempt", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    long attempt = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'a':
            if (parse_count(optarg, &attempt) != 0)
                return misuse(logs_usage, "logs: --attempt: '%s' is not a positive number", optarg);
            break;
        case 'h': logs_usage(stdout); return TF_EXIT_OK;
        default: return bad_option("logs", c, argv, logs_usage);
        }
    }
    const char *prefix;
    if (prefix_operand("logs", argc, argv, logs_usage, &prefix) != 0)
        return TF_EXIT_USAGE;

    tf_app *app;
    int ex = open_db("logs", db, &app);
    if (ex)
        return ex;
    rows rs = {0};
    hist h = {0};
    ex = find_with_history("logs", app, prefix, &rs, &h);
    if (!ex) {
        const tf_history_row *a = NULL;
        for (size_t i = 0; i < h.n; i++)
            if (attempt ? h.v[i].attempt == attempt : 1)
                a = &h.v[i]; /* oldest first: the last one wins */
        const char *key = rs.v[0].args_sha256;
        if (!a && attempt) {
            tf_cli_err("logs: call %.12s (work %s) has no attempt %ld", key, rs.v[0].work, attempt);
            ex = TF_EXIT_FAILED;
        } else if (!a) {
            tf_cli_err("logs: call %.12s (work %s) has never executed", key, rs.v[0].work);
            ex = TF_EXIT_FAILED;
        } else if (!a->log_path) {
            tf_cli_err("logs: attempt %d of call %.12s (work %s) has no log file"
                       " (only command works write one)", a->attempt, key, rs.v[0].work);
            ex = TF_EXIT_FAILED;
        } else {
            ex = copy_file(a->log_path);
        }
    }
    hist_free(&h);
    rows_free(&rs);
    tf_app_close(app);
    return ex;
}

/* ---- confirmation ------------------------------------------------------------- */

/*
 * Ask "delete N calls? [y/N]" on the terminal. Returns 1 for y/yes, 0
 * otherwise (including end of input).
 */
static int confirm(int64_t n)
{
    fprintf(stderr, "delete %lld call%s? [y/N] ", (long long)n, n == 1 ? "" : "s");
    fflush(stderr);
    char line[64];
    if (!fgets(line, sizeof line, stdin))
        return 0;
    line[strcspn(line, "\r\n")] = '\0';
    return !strcasecmp(line, "y") || !strcasecmp(line, "yes");
}

/* 1 (with the refusal printed) when stdin is no terminal to ask on. */
static int cannot_ask(const char *cmd)
{
    if (isatty(STDIN_FILENO))
        return 0;
    tf_cli_err("%s: refusing without --yes (stdin is not a terminal)", cmd);
    return 1;
}

/*
 * For --key: find the one call of prefix (copied into *found, which must
 * outlive f) and narrow f to exactly its full key. 0, or the exit code.
 */
static int narrow_to_key(const char *cmd, tf_app *app, const char *prefix, rows *found,
                         tf_filter *f)
{
    int ex = find_call(cmd, app, prefix, found);
    if (!ex)
        f->key_prefix = found->v[0].args_sha256;
    return ex;
}

/* Who runs this: the effective user's name, else $USER, else "uid N". */
static void user_name(char out[256])
{
    struct passwd *pw = getpwuid(geteuid());
    const char *env = getenv("USER");
    int n;
    if (pw && pw->pw_name && *pw->pw_name)
        n = snprintf(out, 256, "%s", pw->pw_name);
    else if (env && *env)
        n = snprintf(out, 256, "%s", env);
    else
        n = snprintf(out, 256, "uid %ld", (long)geteuid());
    if (n < 0 || (size_t)n >= 256)
        snprintf(out, 256, "uid %ld", (long)geteuid());
}

/* The selector text for the audit row: the options as typed, quoted when needed. */
typedef struct sel {
    char text[2048];        /* e.g. "--work train --status failed" */
    size_t len;             /* bytes used */
    int cut;                /* text was too long and was cut */
} sel;

static void sel_add(sel *s, const char *opt, const char *val)
{
    int quote = val && (!*val || strpbrk(val, " \t\n'\"\\") != NULL);
    int n = snprintf(s->text + s->len, sizeof s->text - s->len, "%s%s%s%s%s%s", s->len ? " " : "",
                     opt, val ? " " : "", quote ? "'" : "", val ? val : "", quote ? "'" : "");
    if (n < 0 || (size_t)n >= sizeof s->text - s->len) {
        s->cut = 1;
        s->len = strlen(s->text);
        if (s->len >= 4)
            memcpy(s->text + s->len - 3, "...", 4);
    } else {
        s->len += (size_t)n;
    }
}

/* ---- tickflow clear ----------------------------------------------------------- */

static void clear_usage(FILE *to)
{
    fputs("usage: tickflow clear [--db PATH] (--work W | --key PREFIX | --args JSON |\n"
          "                      --status S | --before DATE | --all)...\n"
          "                      [--dry-run] [--yes] [--json]\n\n"
          "Delete recorded calls (and their history) so they run again. Selectors\n"
          "combine with AND; at least one is required. A call running under a live\n"
          "lease is spared unless --status running is given. Every clear is\n"
          "recorded in the table 'clears' (time, user, selector, count).\n\n"
          "options:\n"
          "  --db PATH       database (default $TICKFLOW_DB, else ./tickflow.db)\n"
          "  --work W        calls of work W\n"
          "  --key PREFIX    the one call whose key starts with PREFIX (4+ hex digits;\n"
          "                  a prefix shared by several calls is refused)\n"
          "  --args JSON     calls whose argument set is JSON (canonicalized and hashed)\n"
          "  --status S      calls in status S: running, succeeded, failed, interrupted\n"
          "  --before DATE   calls created before DATE (YYYY-MM-DD or ISO-8601)\n"
          "  --all           every call\n"
          "  --dry-run       list what would be deleted; delete nothing\n"
          "  --yes           do not ask; without it a terminal is asked \"delete N calls?\n"
          "                  [y/N]\" and a non-terminal standard input is refused\n"
          "  --json          print one JSON object {\"dry_run\", \"count\", \"calls\": [...]}\n"
          "  -h, --help      show this help\n\n"
          "exit codes: 0 ok (also when nothing matched); 1 --key matched no call or\n"
          "  several, or the question was declined; 2 usage (also: refused without --yes);\n"
          "  3 bad --args JSON; 4 database error\n", to);
}

int cmd_clear(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"work", required_argument, NULL, 'w'},
        {"key", required_argument, NULL, 'k'},
        {"args", required_argument, NULL, 'a'},
        {"status", required_argument, NULL, 's'},
        {"before", required_argument, NULL, 'b'},
        {"all", no_argument, NULL, 'A'},
        {"dry-run", no_argument, NULL, 'n'},
        {"yes", no_argument, NULL, 'y'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *key = NULL;
    tf_filter f = {0};
    char before[32], args_key[65];
    sel s = {{0}, 0, 0};
    int dry = 0, yes = 0, json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'w':
            if (f.work)
                return misuse(clear_usage, "clear: --work given twice");
            f.work = optarg;
            sel_add(&s, "--work", optarg);
            break;
        case 'k':
            if (key)
                return misuse(clear_usage, "clear: --key given twice");
            if (!valid_prefix(optarg))
                return misuse(clear_usage, "clear: --key: '%s' must be 4 to 64 hexadecimal digits", optarg);
            key = optarg;
            sel_add(&s, "--key", optarg);
            break;
        case 'a': {
            if (f.args_sha256)
                return misuse(clear_usage, "clear: --args given twice");
            tf_error err;
            int rc = tf_hash_text(optarg, strlen(optarg), args_key, &err);
            if (rc != TF_OK) {
                tf_cli_err("clear: --args: %s", rc == TF_EINPUT ? err.msg : tf_strerror(rc));
                return tf_cli_exit_for(rc);
            }
            f.args_sha256 = args_key;
            sel_add(&s, "--args", optarg);
            break;
        }
        case 's':
            if (f.status)
                return misuse(clear_usage, "clear: --status given twice");
            if (!valid_status(optarg))
                return misuse(clear_usage, "clear: --status: unknown status '%s'", optarg);
            f.status = optarg;
            sel_add(&s, "--status", optarg);
            break;
        case 'b':
            if (f.before)
                return misuse(clear_usage, "clear: --before given twice");
            if (date_option("clear", "--before", optarg, before) != 0)
                return TF_EXIT_USAGE;
            f.before = before;
            sel_add(&s, "--before", optarg);
            break;
        case 'A':
            if (!f.all)
                sel_add(&s, "--all", NULL);
            f.all = 1;
            break;
        case 'n': dry = 1; break;
        case 'y': yes = 1; break;
        case 'j': json = 1; break;
        case 'h': clear_usage(stdout); return TF_EXIT_OK;
        default: return bad_option("clear", c, argv, clear_usage);
        }
    }
    if (optind < argc)
        return misuse(clear_usage, "clear: unexpected argument '%s'", argv[optind]);
    if (!f.work && !key && !f.args_sha256 && !f.status && !f.before && !f.all)
        return misuse(clear_usage, "clear: say what to clear: --work, --key, --args, --status,"
                      " --before or --all");
    int ask = !dry && !yes;
    if (ask && cannot_ask("clear"))
        return TF_EXIT_USAGE;

    tf_app *app;
    int ex = open_db("clear", db, &app);
    if (ex)
        return ex;
    rows rs = {0}, found = {0};
    char user[256];
    user_name(user);
    int64_t count = 0;
    if (key)
        ex = narrow_to_key("clear", app, key, &found, &f);
    if (!ex && ask) {
        int rc = tf_calls_clear(app, &f, user, s.text, 1, NULL, NULL, &count);
        if (rc != TF_OK)
            ex = lib_fail("clear", app, rc);
        else if (count > 0 && !confirm(count)) {
            tf_cli_err("clear: nothing deleted");
            ex = TF_EXIT_FAILED;
        }
    }
    if (!ex) {
        int rc = tf_calls_clear(app, &f, user, s.text, dry, rows_add, &rs, &count);
        ex = listed("clear", app, rc, rs.oom);
        if (!ex && json) {
            ex = print_json("clear", count_doc(dry, count, &rs));
        } else if (!ex) {
            if (dry) {
                if (rs.n)
                    print_table(&rs);
                printf("would clear %lld call%s\n", (long long)count, count == 1 ? "" : "s");
            } else {
                printf("cleared %lld call%s\n", (long long)count, count == 1 ? "" : "s");
            }
            ex = flush_out("clear");
        }
    }
    rows_free(&found);
    rows_free(&rs);
    tf_app_close(app);
    return ex;
}

/* ---- tickflow retry ----------------------------------------------------------- */

static void retry_usage(FILE *to)
{
    fputs("usage: tickflow retry [--db PATH] (--work W | --key PREFIX | --all)... [--json]\n\n"
          "Make failed calls runnable again: their failure count and retry time are\n"
          "reset, so the next tick that calls them executes them again. Selectors\n"
          "combine with AND; at least one is required. Other calls are untouched.\n\n"
          "options:\n"
          "  --db PATH      database (default $TICKFLOW_DB, else ./tickflow.db)\n"
          "  --work W       failed calls of work W\n"
          "  --key PREFIX   the one call whose key starts with PREFIX (4+ hex digits)\n"
          "  --all          every failed call\n"
          "  --json         print {\"count\": N}\n"
          "  -h, --help     show this help\n\n"
          "exit codes: 0 ok (also when no failed call matched); 1 --key matched no call\n"
          "  or several; 2 usage; 4 database error\n", to);
}

int cmd_retry(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"work", required_argument, NULL, 'w'},
        {"key", required_argument, NULL, 'k'},
        {"all", no_argument, NULL, 'A'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *key = NULL;
    tf_filter f = {0};
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'w': f.work = optarg; break;
        case 'k':
            if (!valid_prefix(optarg))
                return misuse(retry_usage, "retry: --key: '%s' must be 4 to 64 hexadecimal digits", optarg);
            key = optarg;
            break;
        case 'A': f.all = 1; break;
        case 'j': json = 1; break;
        case 'h': retry_usage(stdout); return TF_EXIT_OK;
        default: return bad_option("retry", c, argv, retry_usage);
        }
    }
    if (optind < argc)
        return misuse(retry_usage, "retry: unexpected argument '%s'", argv[optind]);
    if (!f.work && !key && !f.all)
        return misuse(retry_usage, "retry: say which calls: --work, --key or --all");

    tf_app *app;
    int ex = open_db("retry", db, &app);
    if (ex)
        return ex;
    rows found = {0};
    if (key)
        ex = narrow_to_key("retry", app, key, &found, &f);
    if (!ex) {
        int64_t count = 0;
        int rc = tf_calls_retry(app, &f, &count);
        if (rc != TF_OK) {
            ex = lib_fail("retry", app, rc);
        } else if (json) {
            cJSON *o = cJSON_CreateObject();
            if (o && !cJSON_AddNumberToObject(o, "count", (double)count)) {
                cJSON_Delete(o);
                o = NULL;
            }
            ex = print_json("retry", o);
        } else {
            printf("retried %lld call%s\n", (long long)count, count == 1 ? "" : "s");
            ex = flush_out("retry");
        }
    }
    rows_free(&found);
    tf_app_close(app);
    return ex;
}

/* ---- tickflow gc ---------------------------------------------------------------- */

static void gc_usage(FILE *to)
{
    fputs("usage: tickflow gc [--db PATH] --older-than DURATION [--dry-run] [--yes] [--json]\n\n"
          "Delete settled calls (succeeded, failed, interrupted) that finished more\n"
          "than DURATION ago, and their history. Running calls are never touched.\n\n"
          "options:\n"
          "  --db PATH              database (default $TICKFLOW_DB, else ./tickflow.db)\n"
          "  --older-than DURATION  a positive whole number and a unit: s, m, h, d or w\n"
          "                         (45s, 90m, 12h, 30d, 2w)\n"
          "  --dry-run              list what would be deleted; delete nothing\n"
          "  --yes                  do not ask; without it a terminal is asked and a\n"
          "                         non-terminal standard input is refused\n"
          "  --json                 print {\"dry_run\", \"count\"[, \"calls\"]}\n"
          "  -h, --help             show this help\n\n"
          "exit codes: 0 ok (also when nothing is old enough); 1 the question was\n"
          "  declined; 2 usage (also: refused without --yes); 4 database error\n", to);
}

/* Parse "30d", "12h", "90m", "45s", "2w" into seconds; -1 if invalid. */
static double parse_duration(const char *text)
{
    const char *p = text;
    double v = 0;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > 1e12)
            return -1;
    }
    double unit;
    switch (*p) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 7 * 86400; break;
    default: return -1;
    }
    if (p[1] || v <= 0)
        return -1;
    return v * unit;
}

/* What gc would delete: settled rows finished before `cutoff` (ISO text). */
typedef struct gc_scan {
    const char *cutoff;     /* finished_at < this */
    rows *out;              /* copies of the matching rows */
} gc_scan;

static int gc_pick(const tf_call_row *r, void *user)
{
    gc_scan *g = user;
    if (!strcmp(r->status, "running") || !r->finished_at || strcmp(r->finished_at, g->cutoff) >= 0)
        return 0;
    return rows_add(r, g->out);
}

/* Delete "*.log" files directly under dir last written before `before`; count them. */
static long prune_log_folder(const char *dir, double before)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    long n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".log"))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)
            && (double)st.st_mtime < before && unlinkat(dirfd(d), de->d_name, 0) == 0)
            n++;
    }
    closedir(d);
    return n;
}

/*
 * gc also removes old execution logs: every .log file in "<db>.logs/WORK" last
 * written before the cutoff (a running execution's log is being written,
 * so it is never that old). Returns how many files went.
 */
static long prune_logs(const char *db_path, double before)
{
    char root[4096], sub[4096 + 256];
    if ((size_t)snprintf(root, sizeof root, "%s.logs", db_path) >= sizeof root)
        return 0;
    DIR *d = opendir(root);
    if (!d)
        return 0;
    long n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
            continue;
        if ((size_t)snprintf(sub, sizeof sub, "%s/%s", root, de->d_name) < sizeof sub)
            n += prune_log_folder(sub, before);
    }
    closedir(d);
    return n;
}

int cmd_gc(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"older-than", required_argument, NULL, 'o'},
        {"dry-run", no_argument, NULL, 'n'},
        {"yes", no_argument, NULL, 'y'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    double age = -1;
    int dry = 0, yes = 0, json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'o':
            age = parse_duration(optarg);
            if (age <= 0)
                return misuse(gc_usage, "gc: --older-than: '%s' is not a duration"
                              " (a number and s, m, h, d or w: 30d)", optarg);
            break;
        case 'n': dry = 1; break;
        case 'y': yes = 1; break;
        case 'j': json = 1; break;
        case 'h': gc_usage(stdout); return TF_EXIT_OK;
        default: return bad_option("gc", c, argv, gc_usage);
        }
    }
    if (optind < argc)
        return misuse(gc_usage, "gc: unexpected argument '%s'", argv[optind]);
    if (age <= 0)
        return misuse(gc_usage, "gc: --older-than DURATION is required");
    int ask = !dry && !yes;
    if (ask && cannot_ask("gc"))
        return TF_EXIT_USAGE;

    tf_app *app;
    int ex = open_db("gc", db, &app);
    if (ex)
        return ex;
    double before = now_epoch() - age;
    char cutoff[32];
    iso_of(before, cutoff);
    rows rs = {0};
    int64_t count = 0;
    long logs = 0;
    if (dry || ask) {
        gc_scan g = {cutoff, &rs};
        ex = listed("gc", app, tf_calls_list(app, NULL, gc_pick, &g), rs.oom);
        count = (int64_t)rs.n;
        if (!ex && ask && count > 0 && !confirm(count)) {
            tf_cli_err("gc: nothing deleted");
            ex = TF_EXIT_FAILED;
        }
    }
    if (!ex && !dry && (!ask || count > 0)) {
        int rc = tf_calls_gc(app, before, &count);
        if (rc != TF_OK)
            ex = lib_fail("gc", app, rc);
        else
            logs = prune_logs(tf_cli_db_path(db, NULL), before);
    }
    if (!ex && json) {
        ex = print_json("gc", count_doc(dry, count, dry ? &rs : NULL));
    } else if (!ex) {
        if (dry) {
            if (rs.n)
                print_table(&rs);
            printf("would delete %lld call%s finished before %s\n", (long long)count,
                   count == 1 ? "" : "s", cutoff);
        } else {
            printf("deleted %lld call%s finished before %s, and %ld log file%s\n",
                   (long long)count, count == 1 ? "" : "s", cutoff, logs, logs == 1 ? "" : "s");
        }
        ex = flush_out("gc");
    }
    rows_free(&rs);
    tf_app_close(app);
    return ex;
}

/* ---- tickflow status ---------------------------------------------------------- */

static void status_usage(FILE *to)
{
    fputs("usage: tickflow status [--db PATH] [--json]\n\n"
          "List the executions running now: work, key (12 hex digits), attempt,\n"
          "runner host:pid, start time (ISO-8601 UTC) and elapsed time (1m23s).\n"
          "Prints \"nothing running\" when there are none.\n\n"
          "options:\n"
          "  --db PATH   database (default $TICKFLOW_DB, else ./tickflow.db)\n"
          "  --json      print one JSON array of call objects (as in 'ls --json')\n"
          "              with an added \"elapsed\" in seconds\n"
          "  -h, --help  show this help\n\n"
          "exit codes: 0 ok; 2 usage; 4 database error\n", to);
}

int cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'j': json = 1; break;
        case 'h': status_usage(stdout); return TF_EXIT_OK;
        default: return bad_option("status", c, argv, status_usage);
        }
    }
    if (optind < argc)
        return misuse(status_usage, "status: unexpected argument '%s'", argv[optind]);

    tf_app *app;
    int ex = open_db("status", db, &app);
    if (ex)
        return ex;
    rows rs = {0};
    tf_filter f = {0};
    f.status = "running";
    ex = listed("status", app, tf_calls_list(app, &f, rows_add, &rs), rs.oom);
    double now = now_epoch();
    if (!ex && json) {
        cJSON *a = rows_json(&rs);
        for (size_t i = 0; a && i < rs.n; i++) {
            double t;
            cJSON *o = cJSON_GetArrayItem(a, (int)i);
            int ok = rs.v[i].started_at && parse_date(rs.v[i].started_at, &t) == 0;
            add_num_or_null(o, "elapsed", ok ? micro(now - t) : 0, !ok);
        }
        ex = print_json("status", a);
    } else if (!ex && rs.n == 0) {
        printf("nothing running\n");
        ex = flush_out("status");
    } else if (!ex) {
        int ww = (int)strlen("WORK"), rw = (int)strlen("RUNNER");
        char (*runners)[300] = calloc(rs.n, sizeof *runners);
        if (!runners) {
            tf_cli_err("status: out of memory");
            ex = TF_EXIT_IO;
        }
        for (size_t i = 0; runners && i < rs.n; i++) {
            runner_text(rs.v[i].runner_host, rs.v[i].runner_pid, runners[i]);
            ww = wider(ww, rs.v[i].work);
            rw = wider(rw, runners[i]);
        }
        if (runners) {
            printf("%-*s  %-12s  %7s  %-*s  %-24s  %s\n", ww, "WORK", "KEY", "ATTEMPT", rw,
                   "RUNNER", "STARTED", "ELAPSED");
            for (size_t i = 0; i < rs.n; i++) {
                const tf_call_row *r = &rs.v[i];
                double t;
                char el[32] = "-";
                if (r->started_at && parse_date(r->started_at, &t) == 0)
                    fmt_duration(now > t ? now - t : 0, 0, el);
                printf("%-*s  %-12.12s  %7d  %-*s  %-24s  %s\n", ww, r->work, r->args_sha256,
                       r->attempts, rw, runners[i], or_dash(r->started_at), el);
            }
            free(runners);
            ex = flush_out("status");
        }
    }
    rows_free(&rs);
    tf_app_close(app);
    return ex;
}
