/*
 * cache_calls.c - Lightning's cache_calls example, persistent.
 *
 * Each tick the flow calls the work five times with {"value":1}, then once
 * with {"value":10}. With the cache (the default) each argument set runs
 * once, ever: a fresh database prints two lines, a second process on the
 * same database prints none. --no-cache runs every call (six lines a tick).
 *
 *   cache_calls [--no-cache] [--ticks N] [--interval SECONDS] [--db PATH]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* strdup, strptime: the example builds on its own too */
#endif
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickflow.h"

static tf_app *the_app; /* for the signal handler */

static void on_signal(int sig)
{
    (void)sig;
    tf_app_stop(the_app);
}

/* The work: runs in a child process for each execution. */
static int print_props(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)user;
    (void)error;
    char *canon = NULL;
    size_t len = 0;
    if (tf_canon_tree(args, &canon, &len, NULL) != TF_OK)
        return 1;
    printf("I received the following props: %s\n", canon);
    free(canon);
    *result = NULL;
    return 0;
}

static void flow(tf_tick *tick, void *user)
{
    tf_work *work = user;
    cJSON *one = cJSON_CreateObject(), *ten = cJSON_CreateObject();
    cJSON_AddNumberToObject(one, "value", 1);
    cJSON_AddNumberToObject(ten, "value", 10);
    for (int i = 0; i < 5; i++)
        tf_run(tick, work, one, NULL);
    tf_run(tick, work, ten, NULL);
    cJSON_Delete(one);
    cJSON_Delete(ten);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"no-cache", no_argument, NULL, 'n'},
        {"ticks", required_argument, NULL, 't'},
        {"interval", required_argument, NULL, 'i'},
        {"db", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *usage = "usage: cache_calls [--no-cache] [--ticks N] [--interval SECONDS] [--db PATH]\n";
    const char *db = "cache_calls.db";
    tf_work_opts wopts;
    tf_work_opts_init(&wopts);
    tf_loop_opts lopts;
    tf_loop_opts_init(&lopts);
    lopts.max_ticks = 3;
    lopts.interval = 0.1;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'n': wopts.cache_calls = 0; break;
        case 't': lopts.max_ticks = strtoull(optarg, NULL, 10); break;
        case 'i': lopts.interval = strtod(optarg, NULL); break;
        case 'd': db = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind != argc || lopts.max_ticks == 0) {
        fputs(usage, stderr);
        return 2;
    }
    tf_app *app = NULL;
    tf_work *work = NULL;
    int rc = tf_app_open(db, &app);
    if (rc == TF_OK)
        rc = tf_work_new(app, "print_props", print_props, NULL, &wopts, &work);
    if (rc == TF_OK)
        rc = tf_flow_add(app, "cache_calls", flow, work);
    if (rc == TF_OK) {
        the_app = app;
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        rc = tf_loop_run(app, &lopts, NULL);
    }
    if (rc != TF_OK)
        fprintf(stderr, "cache_calls: %s\n", tf_errmsg(app));
    tf_app_close(app);
    return rc == TF_OK ? 0 : 1;
}
