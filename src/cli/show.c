/*
 * show.c - tickflow show: one call (found by key prefix or the printed
 * form WORK[@VERSION]/PREFIX, never guessed) with every execution
 * attempt, as text or one JSON object.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickflow.h"
#include "cli.h"

static void show_usage(FILE *to)
{
    fputs("usage: tickflow show [--db PATH] [--work W] [--version V] [--json] KEY\n\n"
          "Show the one call KEY names: work, version, full key, status, attempts,\n"
          "times, duration, canonical arguments, result, last error, where the last\n"
          "output is, and every execution attempt (status, start, duration, runner\n"
          "host:pid, exit code or signal, the first 12 digits of the digest of the\n"
          "command it ran (\"command_sha256\" in JSON), error). KEY is a key prefix (at\n"
          "least 4 hex digits) or the form 'ls' prints, WORK/PREFIX (the work's call of\n"
          "no version) or WORK@VERSION/PREFIX. Two works called with the same arguments\n"
          "share a key: a prefix that several calls share is refused with the candidates\n"
          "listed in that form.\n\n"
          "options:\n"
          "  --db PATH    database (default $TICKFLOW_DB, else ./tickflow.db)\n"
          "  --work W     only a call of work W (a form naming another work is refused)\n"
          "  --version V  only a call of version V ('' for none)\n"
          "  --json       print one JSON object: the call's fields (as in 'ls --json')\n"
          "               and \"history\", an array of attempt objects\n"
          "  -h, --help   show this help\n\n"
          "exit codes: 0 ok; 1 no call or several calls match; 2 usage; 4 database error\n",
          to);
}

/* Where the last attempt's output is: the database (size), a file of an older version, or none. */
static void log_text(const tf_call_row *r, const tf_cli_hist *h, char *out, size_t len)
{
    const tf_history_row *a = h->n ? &h->v[h->n - 1] : NULL;
    char ref[TF_REF_MAX];
    if (!a)
        snprintf(out, len, "-");
    else if (a->log_path)
        snprintf(out, len, "%.300s", a->log_path);
    else if (a->output_bytes > 0 && a->output_truncated)
        snprintf(out, len, "in the database: the last %zu of %lld bytes (tickflow logs %s)",
                 a->output ? strlen(a->output) : 0, (long long)a->output_bytes,
                 tf_cli_ref(r, ref));
    else if (a->output_bytes > 0)
        snprintf(out, len, "in the database: %lld bytes (tickflow logs %s)",
                 (long long)a->output_bytes, tf_cli_ref(r, ref));
    else if (a->output_bytes == 0)
        snprintf(out, len, "- (printed nothing)");
    else if (a->status && !strcmp(a->status, "running"))
        snprintf(out, len, "- (kept by the runner, stored when the attempt ends)");
    else
        snprintf(out, len, "-");
}

static void print_call(const tf_call_row *r, const tf_cli_hist *h)
{
    char dur[32];
    tf_cli_fmt_duration(r->duration, 1, dur);
    printf("work      %s\n", r->work);
    printf("version   %s\n", r->version && *r->version ? r->version : "(none)");
    printf("key       %s\n", r->args_sha256);
    printf("status    %s%s\n", r->status, r->stale ? " (stale: serving its last good result)" : "");
    printf("attempts  %d\n", r->attempts);
    printf("created   %s\n", tf_cli_or_dash(r->created_at));
    printf("started   %s\n", tf_cli_or_dash(r->started_at));
    printf("finished  %s\n", tf_cli_or_dash(r->finished_at));
    printf("duration  %s\n", dur);
    if (!strcmp(r->status, "running")) {
        char runner[300];
        tf_cli_runner_text(r->runner_host, r->runner_pid, runner);
        printf("runner    %s\n", runner);
    }
    printf("args      %s\n", tf_cli_or_dash(r->args_json));
    printf("result    %s\n", r->result_json ? r->result_json : "-");
    printf("error     %s\n", tf_cli_or_dash(r->error));
    char log[TF_REF_MAX + 100];
    log_text(r, h, log, sizeof log);
    printf("log       %s\n", log);
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
        tf_cli_runner_text(h->v[i].runner_host, h->v[i].runner_pid, runners[i]);
        sw = tf_cli_wider(sw, tf_cli_or_dash(h->v[i].status));
        rw = tf_cli_wider(rw, runners[i]);
    }
    printf("  %7s  %-*s  %-24s  %9s  %-*s  %-10s  %-12s  %s\n", "ATTEMPT", sw, "STATUS", "STARTED",
           "DURATION", rw, "RUNNER", "EXIT", "COMMAND", "ERROR");
    for (size_t i = 0; i < h->n; i++) {
        const tf_history_row *a = &h->v[i];
        char exit_text[32];
        tf_cli_exit_text(a->exit_code, a->term_signal, exit_text);
        tf_cli_fmt_duration(a->duration, 1, dur);
        /* the command's digest, short: an attempt under a changed command shows another one */
        printf("  %7d  %-*s  %-24s  %9s  %-*s  %-10s  %-12.12s  %s\n", a->attempt, sw,
               tf_cli_or_dash(a->status), tf_cli_or_dash(a->started_at), dur, rw, runners[i],
               exit_text, tf_cli_or_dash(a->command_sha256), tf_cli_or_dash(a->error));
    }
    free(runners);
}

int cmd_show(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"work", required_argument, NULL, 'w'},
        {"version", required_argument, NULL, 'V'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *work = NULL, *version = NULL;
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'w': work = optarg; break;
        case 'V': version = optarg; break;
        case 'j': json = 1; break;
        case 'h': show_usage(stdout); return TF_EXIT_OK;
        default: return tf_cli_bad_option("show", c, argv, show_usage);
        }
    }
    tf_cli_key k;
    if (tf_cli_key_operand("show", argc, argv, work, version, show_usage, &k) != 0)
        return TF_EXIT_USAGE;

    tf_app *app;
    int ex = tf_cli_open_db("show", db, &app);
    if (ex)
        return ex;
    tf_cli_rows rs = {0};
    tf_cli_hist h = {0};
    ex = tf_cli_find_with_history("show", app, &k, &rs, &h);
    if (!ex && json) {
        cJSON *o = tf_cli_row_json(&rs.v[0]);
        cJSON *a = o ? cJSON_AddArrayToObject(o, "history") : NULL;
        for (size_t i = 0; a && i < h.n; i++) {
            cJSON *x = tf_cli_hist_json(&h.v[i]);
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
        ex = tf_cli_print_json("show", o);
    } else if (!ex) {
        print_call(&rs.v[0], &h);
        ex = tf_cli_flush_out("show");
    }
    tf_cli_hist_free(&h);
    tf_cli_rows_free(&rs);
    tf_app_close(app);
    return ex;
}
