/*
 * metrics.c - Prometheus metrics: `tickflow metrics` prints what the
 * database says per work (text exposition format 0.0.4), and `tickflow run
 * --metrics-file PATH` rewrites a file with the same plus what that run
 * saw (cache hits and executions of its last run or tick, and per pipeline
 * when it last ran and whether it succeeded) after each --once run and
 * each daemon tick, for node_exporter's textfile collector.
 *
 * The file is replaced atomically: a new file created O_EXCL (a planted
 * symlink is never followed) in the same folder, mode 0644, written,
 * fsync'ed, then renamed over PATH. Names follow Prometheus conventions:
 * the tickflow_ prefix, base units (seconds), _total for counters,
 * _timestamp_seconds for times; label values are escaped.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tickflow.h"
#include "cli.h"

/* ---- what a run saw ---------------------------------------------------------- */

/* One work as a run saw it since the run (or tick) began. */
typedef struct mwork {
    char *name;             /* work name, owned */
    size_t pipeline;        /* index of its pipeline in the run */
    uint64_t hits;          /* calls answered from the cache */
    uint64_t executions;    /* executions that ended (ran or failed) */
    int failed;             /* a call of it failed for good or stayed failed */
} mwork;

/* One pipeline of the run. */
typedef struct mpipe {
    char *name;             /* pipeline name, owned */
    double last_run;        /* epoch seconds the last run or tick ended, or 0 */
    int ok;                 /* that run or tick had no failure */
} mpipe;

struct tf_cli_mrun {
    char *path;             /* the metrics file, owned */
    mwork *works;           /* the works of every pipeline */
    size_t nworks;          /* count */
    mpipe *pipes;           /* the pipelines */
    size_t npipes;          /* count */
    size_t last;            /* index of the work of the previous event (a fan-out repeats it) */
    char last_err[512];     /* the last write failure printed */
};

void tf_cli_mrun_free(tf_cli_mrun *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nworks; i++)
        free(m->works[i].name);
    for (size_t i = 0; i < m->npipes; i++)
        free(m->pipes[i].name);
    free(m->works);
    free(m->pipes);
    free(m->path);
    free(m);
}

int tf_cli_mrun_new(const char *path, tf_pipeline *const *pipes, size_t npipes, tf_cli_mrun **out)
{
    *out = NULL;
    /* the folder must be there: refused now rather than after a whole run */
    const char *slash = strrchr(path, '/');
    char dir[4096];
    struct stat st;
    if (!*path || (slash && !slash[1])) {
        tf_cli_err("run: --metrics-file: '%s' names no file", path);
        return -1;
    }
    if (slash && (size_t)(slash - path) < sizeof dir) {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
        if (!dir[0])
            snprintf(dir, sizeof dir, "/");
    } else {
        snprintf(dir, sizeof dir, ".");
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        tf_cli_err("run: --metrics-file: no folder '%s' for '%s'", dir, path);
        return -1;
    }
    tf_cli_mrun *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path)) || !(m->pipes = calloc(npipes ? npipes : 1, sizeof *m->pipes)))
        goto oom;
    for (size_t i = 0; i < npipes; i++) {
        if (!(m->pipes[m->npipes].name = strdup(tf_pipeline_name(pipes[i]))))
            goto oom;
        m->npipes++;
        const char *w;
        for (size_t k = 0; (w = tf_pipeline_work_name(pipes[i], k)); k++) {
            mwork *v = realloc(m->works, (m->nworks + 1) * sizeof *v);
            if (!v)
                goto oom;
            m->works = v;
            m->works[m->nworks] = (mwork){.name = strdup(w), .pipeline = i};
            if (!m->works[m->nworks].name)
                goto oom;
            m->nworks++;
        }
    }
    *out = m;
    return 0;
oom:
    tf_cli_mrun_free(m);
    tf_cli_err("out of memory");
    return -1;
}

void tf_cli_mrun_begin(tf_cli_mrun *m)
{
    for (size_t i = 0; m && i < m->nworks; i++) {
        m->works[i].hits = m->works[i].executions = 0;
        m->works[i].failed = 0;
    }
}

void tf_cli_mrun_event(tf_cli_mrun *m, const tf_event *ev)
{
    if (!m)
        return;
    mwork *w = NULL;
    if (m->last < m->nworks && !strcmp(m->works[m->last].name, ev->work))
        w = &m->works[m->last];
    for (size_t i = 0; i < m->nworks && !w; i++)
        if (!strcmp(m->works[i].name, ev->work)) {
            w = &m->works[i];
            m->last = i;
        }
    if (!w)
        return;
    if (!strcmp(ev->what, "cached")) {
        w->hits++;
    } else if (!strcmp(ev->what, "ran") || !strcmp(ev->what, "interrupted") ||
               (!strcmp(ev->what, "fenced-out") && ev->attempt > 0)) { /* it ran, unrecorded */
        w->executions++;
    } else if (!strcmp(ev->what, "failed")) {
        if (ev->attempt > 0)
            w->executions++;
        /* a failure with a retry still due is not the run's failure (yet) */
        if (ev->final || ev->attempt == 0)
            w->failed = 1;
    }
}

/* ---- the exposition format ------------------------------------------------------ */

/* Write a label value with \, " and newline escaped. */
static void put_label(FILE *f, const char *v)
{
    for (; v && *v; v++) {
        if (*v == '\\')
            fputs("\\\\", f);
        else if (*v == '"')
            fputs("\\\"", f);
        else if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{work="W"[,label="v"]} value */
static void sample(FILE *f, const char *name, const char *work, const char *label,
                   const char *lvalue, const char *value)
{
    fprintf(f, "%s{work=\"", name);
    put_label(f, work);
    if (label) {
        fprintf(f, "\",%s=\"", label);
        put_label(f, lvalue);
    }
    fprintf(f, "\"} %s\n", value);
}

static const char *num(char buf[64], double v, int decimals)
{
    snprintf(buf, 64, "%.*f", decimals, v);
    return buf;
}

static const char *count(char buf[64], int64_t v)
{
    snprintf(buf, 64, "%lld", (long long)v);
    return buf;
}

/* A per-work gauge that is one field of tf_work_totals, without other labels. */
typedef struct plain_family {
    const char *name;       /* metric name */
    const char *help;       /* HELP text */
    size_t offset;          /* of the field in tf_work_totals */
    int decimals;           /* -1: an int64_t count; else a double printed with these decimals */
} plain_family;

static const plain_family plain[] = {
    {"tickflow_calls_failed_final", "Failed calls with no retry due: they stay failed until tickflow retry.",
     offsetof(tf_work_totals, failed_final), -1},
    {"tickflow_calls_lease_expired", "Running calls whose lease ended: their runner died or stopped renewing.",
     offsetof(tf_work_totals, lease_ended), -1},
    {"tickflow_executions_running", "Executions running now.", offsetof(tf_work_totals, runs_running), -1},
    {"tickflow_last_success_timestamp_seconds",
     "End of the latest succeeded execution (works that never succeeded have no sample).",
     offsetof(tf_work_totals, last_success), 3},
    {"tickflow_last_execution_timestamp_seconds", "End of the latest finished execution.",
     offsetof(tf_work_totals, last_end), 3},
    {"tickflow_last_execution_duration_seconds", "Duration of the latest finished execution.",
     offsetof(tf_work_totals, last_duration), 6},
};

/*
 * Write every metric to f: the database's (app) and, when m is not NULL,
 * the run's. Returns 0, or the exit code with the error printed (cmd
 * names the command in messages).
 */
static int write_metrics(FILE *f, const char *cmd, tf_app *app, const tf_cli_mrun *m)
{
    tf_cli_totals l = {NULL, 0, 0};
    int ex = tf_cli_listed(cmd, app, tf_calls_totals(app, tf_cli_totals_add, &l), l.oom);
    if (ex) {
        tf_cli_totals_free(&l);
        return ex;
    }
    char b[64];
    static const char *const statuses[] = {"running", "succeeded", "failed", "interrupted"};
    family(f, "tickflow_calls", "gauge", "Calls recorded in the database, by status.");
    for (size_t i = 0; i < l.n; i++) {
        const tf_work_totals *t = &l.v[i];
        int64_t by[4] = {t->running, t->succeeded, t->failed, t->interrupted};
        for (int k = 0; k < 4; k++)
            sample(f, "tickflow_calls", t->work, "status", statuses[k], count(b, by[k]));
    }
    family(f, "tickflow_executions_total", "counter",
           "Executions recorded in the database, by outcome (clear and gc remove some).");
    for (size_t i = 0; i < l.n; i++) {
        const tf_work_totals *t = &l.v[i];
        sample(f, "tickflow_executions_total", t->work, "outcome", "succeeded", count(b, t->runs_succeeded));
        sample(f, "tickflow_executions_total", t->work, "outcome", "failed", count(b, t->runs_failed));
        sample(f, "tickflow_executions_total", t->work, "outcome", "interrupted", count(b, t->runs_interrupted));
    }
    for (size_t k = 0; k < sizeof plain / sizeof plain[0]; k++) {
        const plain_family *p = &plain[k];
        family(f, p->name, "gauge", p->help);
        for (size_t i = 0; i < l.n; i++) {
            const char *at = (const char *)&l.v[i] + p->offset;
            if (p->decimals < 0) {
                int64_t v;
                memcpy(&v, at, sizeof v);
                sample(f, p->name, l.v[i].work, NULL, NULL, count(b, v));
            } else {
                double v;
                memcpy(&v, at, sizeof v);
                if (v >= 0) /* -1: never happened, no sample */
                    sample(f, p->name, l.v[i].work, NULL, NULL, num(b, v, p->decimals));
            }
        }
    }
    tf_cli_totals_free(&l);
    if (!m)
        return 0;
    family(f, "tickflow_last_run_cache_hits", "gauge",
           "Calls answered from the cache in the last --once run or daemon tick.");
    for (size_t i = 0; i < m->nworks; i++)
        sample(f, "tickflow_last_run_cache_hits", m->works[i].name, NULL, NULL,
               count(b, (int64_t)m->works[i].hits));
    family(f, "tickflow_last_run_executions", "gauge",
           "Executions that ended in the last --once run or daemon tick.");
    for (size_t i = 0; i < m->nworks; i++)
        sample(f, "tickflow_last_run_executions", m->works[i].name, NULL, NULL,
               count(b, (int64_t)m->works[i].executions));
    family(f, "tickflow_pipeline_last_run_timestamp_seconds", "gauge",
           "When the pipeline's last --once run or daemon tick ended.");
    for (size_t i = 0; i < m->npipes; i++) {
        fputs("tickflow_pipeline_last_run_timestamp_seconds{pipeline=\"", f);
        put_label(f, m->pipes[i].name);
        fprintf(f, "\"} %s\n", num(b, m->pipes[i].last_run, 3));
    }
    family(f, "tickflow_pipeline_last_run_success", "gauge",
           "1 when no call of the pipeline failed in its last --once run or daemon tick, else 0.");
    for (size_t i = 0; i < m->npipes; i++) {
        fputs("tickflow_pipeline_last_run_success{pipeline=\"", f);
        put_label(f, m->pipes[i].name);
        fprintf(f, "\"} %d\n", m->pipes[i].ok);
    }
    return 0;
}

/* Print a write failure of the metrics file, but the same one only once (a daemon ticks on). */
static void write_failed(tf_cli_mrun *m, const char *doing, int err)
{
    char msg[512];
    snprintf(msg, sizeof msg, "cannot %s metrics file '%s': %s", doing, m->path, strerror(err));
    if (strcmp(msg, m->last_err) != 0) {
        tf_cli_err("%s", msg);
        snprintf(m->last_err, sizeof m->last_err, "%s", msg);
    }
}

int tf_cli_mrun_end(tf_cli_mrun *m, tf_app *app)
{
    if (!m)
        return 0;
    double now = tf_cli_now();
    for (size_t p = 0; p < m->npipes; p++) {
        m->pipes[p].last_run = now;
        m->pipes[p].ok = 1;
    }
    for (size_t i = 0; i < m->nworks; i++)
        if (m->works[i].failed)
            m->pipes[m->works[i].pipeline].ok = 0;

    size_t len = strlen(m->path);
    char *tmp = malloc(len + 16);
    if (!tmp) {
        tf_cli_err("metrics: out of memory");
        return -1;
    }
    snprintf(tmp, len + 16, "%s.tmp.XXXXXX", m->path); /* sized: cannot truncate */
    int fd = mkstemp(tmp); /* O_CREAT|O_EXCL: never through a planted file or link */
    if (fd < 0) {
        write_failed(m, "create a file beside", errno);
        free(tmp);
        return -1;
    }
    FILE *f = fdopen(fd, "w");
    int ex = -1, err = 0;
    if (!f) {
        err = errno;
        close(fd);
    } else if (fchmod(fd, 0644) != 0) {
        err = errno;
        fclose(f);
    } else {
        ex = write_metrics(f, "metrics", app, m);
        if (ex == 0 && (fflush(f) != 0 || ferror(f) || fsync(fd) != 0)) {
            err = errno;
            ex = -1;
        }
        if (fclose(f) != 0 && ex == 0) {
            err = errno;
            ex = -1;
        }
    }
    if (ex == 0 && rename(tmp, m->path) != 0) {
        err = errno;
        ex = -1;
    }
    if (ex != 0) {
        if (err)
            write_failed(m, "write", err);
        unlink(tmp);
    } else {
        m->last_err[0] = '\0';
    }
    free(tmp);
    return ex == 0 ? 0 : -1;
}

/* ---- tickflow metrics ------------------------------------------------------------ */

static void metrics_usage(FILE *to)
{
    fputs("usage: tickflow metrics [--db PATH]\n\n"
          "Print Prometheus metrics (text exposition format) of the database, per work:\n"
          "calls by status, failed calls with no retry due, running calls whose lease\n"
          "ended, executions by outcome (a counter), executions running, and the time\n"
          "and duration of the latest success and execution.\n"
          "'tickflow run --metrics-file PATH' keeps a file with the same and, per work,\n"
          "the cache hits and executions of its last run, and per pipeline when it\n"
          "last ran and whether it succeeded (node_exporter's textfile collector).\n\n"
          "options:\n"
          "  --db PATH   database (default $TICKFLOW_DB, else ./tickflow.db)\n"
          "  -h, --help  show this help\n\n"
          "exit codes: 0 ok; 2 usage; 4 database error; 5 cannot write the output\n", to);
}

int cmd_metrics(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'h': metrics_usage(stdout); return TF_EXIT_OK;
        default: return tf_cli_bad_option("metrics", c, argv, metrics_usage);
        }
    }
    if (optind < argc)
        return tf_cli_misuse(metrics_usage, "metrics: unexpected argument '%s'", argv[optind]);
    tf_app *app;
    int ex = tf_cli_open_db("metrics", db, &app);
    if (ex)
        return ex;
    ex = write_metrics(stdout, "metrics", app, NULL);
    if (!ex)
        ex = tf_cli_flush_out("metrics");
    tf_app_close(app);
    return ex;
}
