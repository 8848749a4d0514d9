/*
 * stats.c - tickflow stats: what the cache saved, per work: calls,
 * executions, cache hits, hit rate and time saved (the durations the hits
 * did not spend), over all time and the last 24 hours.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickflow.h"
#include "cli.h"

static void stats_usage(FILE *to)
{
    fputs("usage: tickflow stats [--db PATH] [--work W] [--json]\n\n"
          "What the cache saved, per work: calls (executions + hits), executions\n"
          "(attempts that started, from the history), hits (calls answered from\n"
          "the cache; the scheduler adds them at most once per tick), hit rate\n"
          "(hits / calls) and time saved (for each hit, the duration of the\n"
          "execution whose result answered it), over all time and the last 24\n"
          "hours. clear and gc delete executions with their calls; hits stay.\n\n"
          "options:\n"
          "  --db PATH   database (default $TICKFLOW_DB, else ./tickflow.db)\n"
          "  --work W    only work W\n"
          "  --json      print a JSON array: {\"work\", \"all\": {\"calls\", \"executions\",\n"
          "              \"hits\", \"hit_rate\", \"saved\", \"exec_seconds\"}, \"day\": {...}}\n"
          "  -h, --help  show this help\n\n"
          "exit codes: 0 ok; 1 --work W has no figures; 2 usage; 4 database error\n", to);
}

/* The figures read, copied (the library's strings die with the callback). */
typedef struct stats_list {
    tf_stats_row *v;        /* rows; v[i].work owned */
    size_t n;               /* count */
    int oom;                /* a copy failed */
} stats_list;

static int keep_row(const tf_stats_row *row, void *user)
{
    stats_list *l = user;
    tf_stats_row *p = realloc(l->v, (l->n + 1) * sizeof *p);
    char *w = strdup(row->work);
    if (!p || !w) {
        free(w);
        if (p)
            l->v = p;
        l->oom = 1;
        return 1;
    }
    l->v = p;
    p[l->n] = *row;
    p[l->n++].work = w;
    return 0;
}

static double rate(int64_t hits, int64_t execs)
{
    return hits + execs > 0 ? (double)hits / (double)(hits + execs) : 0;
}

static cJSON *period_json(int64_t execs, double exec_s, int64_t hits, double saved)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "calls", (double)(execs + hits));
    cJSON_AddNumberToObject(o, "executions", (double)execs);
    cJSON_AddNumberToObject(o, "hits", (double)hits);
    cJSON_AddNumberToObject(o, "hit_rate", tf_cli_micro(rate(hits, execs)));
    cJSON_AddNumberToObject(o, "saved", tf_cli_micro(saved));
    cJSON_AddNumberToObject(o, "exec_seconds", tf_cli_micro(exec_s));
    return o;
}

int cmd_stats(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"work", required_argument, NULL, 'w'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *work = NULL;
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'w': work = optarg; break;
        case 'j': json = 1; break;
        case 'h': stats_usage(stdout); return TF_EXIT_OK;
        default: return tf_cli_bad_option("stats", c, argv, stats_usage);
        }
    }
    if (optind < argc)
        return tf_cli_misuse(stats_usage, "stats: unexpected argument '%s'", argv[optind]);

    tf_app *app;
    int ex = tf_cli_open_db("stats", db, &app);
    if (ex)
        return ex;
    stats_list l = {0};
    ex = tf_cli_listed("stats", app, tf_calls_stats(app, work, 0, keep_row, &l), l.oom);
    if (!ex && json) {
        cJSON *a = cJSON_CreateArray();
        for (size_t i = 0; a && i < l.n; i++) {
            const tf_stats_row *r = &l.v[i];
            cJSON *o = cJSON_CreateObject();
            if (!o || !cJSON_AddItemToArray(a, o)) {
                cJSON_Delete(o);
                break;
            }
            cJSON_AddStringToObject(o, "work", r->work);
            cJSON_AddItemToObject(o, "all", period_json(r->executions, r->exec_seconds, r->hits, r->saved));
            cJSON_AddItemToObject(o, "day", period_json(r->day_executions, r->day_exec_seconds,
                                                        r->day_hits, r->day_saved));
        }
        ex = tf_cli_print_json("stats", a);
    } else if (!ex && l.n == 0) {
        printf(work ? "no figures for work '%s'\n" : "no calls yet\n", work ? work : "");
        ex = tf_cli_flush_out("stats");
    } else if (!ex) {
        int ww = (int)strlen("WORK");
        for (size_t i = 0; i < l.n; i++)
            ww = tf_cli_wider(ww, l.v[i].work);
        printf("%-*s  %9s  %10s  %9s  %8s  %10s  |  %9s  %10s  %9s  %8s  %10s\n", ww, "WORK",
               "CALLS", "EXECUTED", "HITS", "HIT RATE", "SAVED", "DAY CALLS", "DAY EXEC",
               "DAY HITS", "DAY RATE", "DAY SAVED");
        for (size_t i = 0; i < l.n; i++) {
            const tf_stats_row *r = &l.v[i];
            char saved[32], dsaved[32];
            tf_cli_fmt_duration(r->saved, 1, saved);
            tf_cli_fmt_duration(r->day_saved, 1, dsaved);
            printf("%-*s  %9lld  %10lld  %9lld  %7.1f%%  %10s  |  %9lld  %10lld  %9lld  %7.1f%%  %10s\n",
                   ww, r->work, (long long)(r->executions + r->hits), (long long)r->executions,
                   (long long)r->hits, 100 * rate(r->hits, r->executions), saved,
                   (long long)(r->day_executions + r->day_hits), (long long)r->day_executions,
                   (long long)r->day_hits, 100 * rate(r->day_hits, r->day_executions), dsaved);
        }
        ex = tf_cli_flush_out("stats");
    }
    if (!ex && work && l.n == 0)
        ex = TF_EXIT_FAILED;
    for (size_t i = 0; i < l.n; i++)
        free((void *)(uintptr_t)l.v[i].work);
    free(l.v);
    tf_app_close(app);
    return ex;
}
