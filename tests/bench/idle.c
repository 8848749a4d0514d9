/*
 * bench/idle.c - a scheduler with nothing to do: memory over many ticks,
 * CPU while it sleeps between ticks.
 *
 *   idle --db PATH [--calls C] [--ticks T]        memory mode
 *   idle --db PATH [--calls C] --interval S       daemon mode (runs until killed)
 *
 * Both register one C work and a flow calling it with C argument sets per
 * tick (default 100); the first tick executes them (forks), every later
 * tick finds them all cached.
 * Memory mode: loop with interval 0 for T ticks (default 100,000); prints
 * VmRSS at tick 100 and at tick T (RSS_100_KIB, RSS_END_KIB) and the
 * time per tick.
 * Daemon mode: tf_loop_run with the given interval and no tick limit, so
 * the caller can read /proc/PID/stat; it prints READY once the first tick
 * (the executions) is done, then sleeps between ticks until SIGTERM.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickflow.h"
#include "common.h"

typedef struct idle {
    tf_work *work;      /* the cached work */
    cJSON *args;        /* argument set */
    cJSON *inode;       /* its "i" node */
    long calls;         /* calls per tick */
    uint64_t ticks;     /* memory mode: last tick */
    long rss_100;       /* VmRSS at tick 100 */
    long rss_end;       /* VmRSS at the last tick */
    double t_100;       /* monotonic time at tick 100 */
    double t_end;       /* at the last tick */
    int daemon;         /* daemon mode */
    int failed;         /* a call failed */
} idle;

static tf_app *the_app; /* for the signal handler */

static void on_term(int sig)
{
    (void)sig;
    tf_app_stop(the_app);
}

static int noop(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)args;
    (void)user;
    (void)error;
    *result = cJSON_CreateTrue();
    return 0;
}

static void flow(tf_tick *tick, void *user)
{
    idle *d = user;
    uint64_t n = tf_tick_number(tick);
    for (long k = 0; k < d->calls; k++) {
        tf_call c;
        bench_args_set(d->inode, k);
        if (tf_run(tick, d->work, d->args, &c) != TF_OK || c.status != TF_CALL_SUCCEEDED)
            d->failed = 1;
    }
    if (n == 1 && d->daemon) {
        printf("READY\n");
        fflush(stdout);
    }
    if (n == 100) {
        d->rss_100 = bench_rss_kib();
        d->t_100 = bench_now();
    }
    if (n == d->ticks) {
        d->rss_end = bench_rss_kib();
        d->t_end = bench_now();
    }
}

int main(int argc, char **argv)
{
    const char *db = NULL;
    double interval = -1;
    idle d = {.calls = 100, .ticks = 100000};
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"calls", required_argument, NULL, 'c'},
        {"ticks", required_argument, NULL, 't'},
        {"interval", required_argument, NULL, 'i'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd': db = optarg; break;
        case 'c': d.calls = atol(optarg); break;
        case 't': d.ticks = strtoull(optarg, NULL, 10); break;
        case 'i': interval = atof(optarg); break;
        default: db = NULL; break;
        }
    }
    if (!db || d.calls < 1 || d.ticks < 101) {
        fprintf(stderr, "usage: idle --db PATH [--calls C] [--ticks T (>100)] [--interval S]\n");
        return 2;
    }
    d.daemon = interval >= 0;
    d.args = bench_args_new(&d.inode);
    tf_app *app = NULL;
    if (tf_app_open(db, &app) != TF_OK)
        bench_die("open", tf_errmsg(app));
    the_app = app;
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    if (tf_work_new(app, "w", noop, NULL, NULL, &d.work) != TF_OK
        || tf_flow_add(app, "idle", flow, &d) != TF_OK)
        bench_die("register", tf_errmsg(app));
    tf_loop_opts lo;
    tf_loop_opts_init(&lo);
    lo.interval = d.daemon ? interval : 0;
    lo.max_ticks = d.daemon ? 0 : d.ticks;
    int rc = tf_loop_run(app, &lo, NULL);
    if (d.daemon) {
        tf_app_close(app);
        cJSON_Delete(d.args);
        return rc == TF_ESTOPPED || rc == TF_OK ? 0 : 1;
    }
    if (rc != TF_OK || d.failed)
        bench_die("loop", tf_errmsg(app));
    printf("TICKS=%llu\nCALLS_PER_TICK=%ld\nRSS_100_KIB=%ld\nRSS_END_KIB=%ld\nRSS_GROWTH_KIB=%ld\n",
           (unsigned long long)d.ticks, d.calls, d.rss_100, d.rss_end, d.rss_end - d.rss_100);
    printf("TICK_US=%.2f\n", (d.t_end - d.t_100) / (double)(d.ticks - 100) * 1e6);
    tf_app_close(app);
    cJSON_Delete(d.args);
    return 0;
}
