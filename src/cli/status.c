/*
 * status.c - tickflow status: the executions running now, with runner
 * and elapsed time.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickflow.h"
#include "cli.h"

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
        default: return tf_cli_bad_option("status", c, argv, status_usage);
        }
    }
    if (optind < argc)
        return tf_cli_misuse(status_usage, "status: unexpected argument '%s'", argv[optind]);

    tf_app *app;
    int ex = tf_cli_open_db("status", db, &app);
    if (ex)
        return ex;
    tf_cli_rows rs = {0};
    tf_filter f = {0};
    f.status = "running";
    ex = tf_cli_listed("status", app, tf_calls_list(app, &f, tf_cli_rows_add, &rs), rs.oom);
    double now = tf_cli_now();
    if (!ex && json) {
        cJSON *a = tf_cli_rows_json(&rs);
        for (size_t i = 0; a && i < rs.n; i++) {
            double t;
            cJSON *o = cJSON_GetArrayItem(a, (int)i);
            int ok = rs.v[i].started_at && tf_cli_parse_time(rs.v[i].started_at, &t, NULL) == 0;
            tf_cli_add_num_or_null(o, "elapsed", ok ? tf_cli_micro(now - t) : 0, !ok);
        }
        ex = tf_cli_print_json("status", a);
    } else if (!ex && rs.n == 0) {
        printf("nothing running\n");
        ex = tf_cli_flush_out("status");
    } else if (!ex) {
        int kw = (int)strlen("KEY"), rw = (int)strlen("RUNNER");
        char ref[TF_REF_MAX];
        char (*runners)[300] = calloc(rs.n, sizeof *runners);
        if (!runners) {
            tf_cli_err("status: out of memory");
            ex = TF_EXIT_IO;
        }
        for (size_t i = 0; runners && i < rs.n; i++) {
            tf_cli_runner_text(rs.v[i].runner_host, rs.v[i].runner_pid, runners[i]);
            kw = tf_cli_wider(kw, tf_cli_ref(&rs.v[i], ref));
            rw = tf_cli_wider(rw, runners[i]);
        }
        if (runners) {
            printf("%-*s  %7s  %-*s  %-24s  %s\n", kw, "KEY", "ATTEMPT", rw, "RUNNER",
                   "STARTED", "ELAPSED");
            for (size_t i = 0; i < rs.n; i++) {
                const tf_call_row *r = &rs.v[i];
                double t;
                char el[32] = "-";
                if (r->started_at && tf_cli_parse_time(r->started_at, &t, NULL) == 0)
                    tf_cli_fmt_duration(now > t ? now - t : 0, 0, el);
                printf("%-*s  %7d  %-*s  %-24s  %s\n", kw, tf_cli_ref(r, ref), r->attempts, rw,
                       runners[i], tf_cli_or_dash(r->started_at), el);
            }
            free(runners);
            ex = tf_cli_flush_out("status");
        }
    }
    tf_cli_rows_free(&rs);
    tf_app_close(app);
    return ex;
}
