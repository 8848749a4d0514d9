/*
 * seed_calls.c - fill a tickflow database with real calls through the
 * public API, for the cache command shell tests (tests/sh/cache_*.sh).
 *
 * One tick of one flow runs, in order:
 *   --ok N      work "square" with {"n":0..N-1}: succeeds, result n*n
 *   --fail N    work "boom" with {"b":0..N-1}: fails with "boom b=<b>"
 *   --cmd N     command work "echo" with {"e":0..N-1}: prints two log lines
 *               ("log line for e=<e>" and "second line") and succeeds
 * (distinct member names, so no two works share a key).
 *   --sleep S   work "slow" with {"sleep":S}: sleeps S seconds, succeeds
 *
 * Every execution that ends prints one line to stdout (flushed at once):
 *   exec WORK KEY12 ran|failed ATTEMPT
 * so a test can count what executed. A call the store answered (succeeded
 * before, or failed for good) prints nothing. Exit 0 after the tick (failed calls are
 * expected), 1 on a library error (message on stderr), 2 on misuse.
 *
 *   seed_calls --db PATH [--ok N] [--fail N] [--cmd N] [--sleep SECONDS]
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tickflow.h"

/* What the flow runs; the works are registered in main. */
typedef struct seed {
    long ok;            /* calls of "square" */
    long fail;          /* calls of "boom" */
    long cmd;           /* calls of "echo" */
    double sleep;       /* seconds of the one "slow" call, or 0 for none */
    tf_work *square;    /* succeeding C work */
    tf_work *boom;      /* failing C work */
    tf_work *echo;      /* command work (writes a log file) */
    tf_work *slow;      /* long C work */
} seed;

static tf_app *the_app; /* for the signal handler */

static void on_signal(int sig)
{
    (void)sig;
    tf_app_stop(the_app);
}

static int square(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)user;
    (void)error;
    double n = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(args, "n"));
    *result = cJSON_CreateNumber(n * n);
    return 0;
}

static int boom(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)user;
    (void)result;
    double n = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(args, "b"));
    char buf[64];
    int m = snprintf(buf, sizeof buf, "boom b=%.0f", n);
    if (m > 0 && (size_t)m < sizeof buf)
        *error = strdup(buf);
    return 1;
}

static int slow(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)user;
    (void)error;
    double s = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(args, "sleep"));
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
    *result = cJSON_CreateTrue();
    return 0;
}

/* Print one line per ended execution. */
static void on_event(const tf_event *ev, void *user)
{
    (void)user;
    /* attempt 0: the store answered (a cached failure), nothing executed */
    if ((strcmp(ev->what, "ran") && strcmp(ev->what, "failed")) || ev->attempt <= 0)
        return;
    printf("exec %s %.12s %s %d\n", ev->work, ev->key, ev->what, ev->attempt);
    fflush(stdout);
}

/* Run work with {name: i} for i in 0..n-1. */
static void run_n(tf_tick *tick, tf_work *work, const char *name, long n)
{
    for (long i = 0; i < n; i++) {
        cJSON *args = cJSON_CreateObject();
        if (!args || !cJSON_AddNumberToObject(args, name, (double)i)) {
            cJSON_Delete(args);
            return;
        }
        tf_run(tick, work, args, NULL);
        cJSON_Delete(args);
    }
}

static void flow(tf_tick *tick, void *user)
{
    seed *s = user;
    run_n(tick, s->square, "n", s->ok);
    run_n(tick, s->boom, "b", s->fail);
    run_n(tick, s->echo, "e", s->cmd);
    if (s->sleep > 0) {
        cJSON *args = cJSON_CreateObject();
        if (args && cJSON_AddNumberToObject(args, "sleep", s->sleep))
            tf_run(tick, s->slow, args, NULL);
        cJSON_Delete(args);
    }
}

/* Parse a non-negative count; -1 if invalid. */
static long count_arg(const char *text)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    return (end == text || *end || v < 0) ? -1 : v;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"ok", required_argument, NULL, 'o'},
        {"fail", required_argument, NULL, 'f'},
        {"cmd", required_argument, NULL, 'c'},
        {"sleep", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *usage =
        "usage: seed_calls --db PATH [--ok N] [--fail N] [--cmd N] [--sleep SECONDS]\n";
    const char *db = NULL;
    seed s = {0};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'o': s.ok = count_arg(optarg); break;
        case 'f': s.fail = count_arg(optarg); break;
        case 'c': s.cmd = count_arg(optarg); break;
        case 's': s.sleep = strtod(optarg, NULL); break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind != argc || !db || s.ok < 0 || s.fail < 0 || s.cmd < 0 || s.sleep < 0) {
        fputs(usage, stderr);
        return 2;
    }
    static const char *const echo_argv[] = {
        "sh", "-c", "echo \"log line for e=$1\"; echo second line", "sh", "{e}", NULL,
    };
    tf_command cmd = {echo_argv, NULL, NULL};
    tf_app *app = NULL;
    int rc = tf_app_open(db, &app);
    if (rc == TF_OK)
        rc = tf_work_new(app, "square", square, NULL, NULL, &s.square);
    if (rc == TF_OK)
        rc = tf_work_new(app, "boom", boom, NULL, NULL, &s.boom);
    if (rc == TF_OK)
        rc = tf_work_new_command(app, "echo", &cmd, NULL, &s.echo);
    if (rc == TF_OK)
        rc = tf_work_new(app, "slow", slow, NULL, NULL, &s.slow);
    if (rc == TF_OK)
        rc = tf_flow_add(app, "seed", flow, &s);
    if (rc == TF_OK) {
        tf_app_on_event(app, on_event, NULL);
        the_app = app;
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        tf_loop_opts lopts;
        tf_loop_opts_init(&lopts);
        lopts.max_ticks = 1;
        lopts.interval = 0.01;
        rc = tf_loop_run(app, &lopts, NULL);
    }
    if (rc != TF_OK)
        fprintf(stderr, "seed_calls: %s\n", tf_errmsg(app));
    tf_app_close(app);
    return rc == TF_OK ? 0 : 1;
}
