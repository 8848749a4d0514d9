/*
 * retry.c - tickflow retry: make failed calls runnable again (failure
 * count and retry time reset); other calls are untouched.
 */
#include <getopt.h>
#include <stdio.h>

#include "tickflow.h"
#include "cli.h"

static void retry_usage(FILE *to)
{
    fputs("usage: tickflow retry [--db PATH] (--work W | --version V | --key KEY | --all)...\n"
          "                      [--json]\n\n"
          "Make failed calls runnable again: their failure count and retry time are\n"
          "reset, so the next tick that calls them executes them again. Selectors\n"
          "combine with AND; at least one is required. Other calls are untouched.\n\n"
          "options:\n"
          "  --db PATH      database (default $TICKFLOW_DB, else ./tickflow.db)\n"
          "  --work W       failed calls of work W\n"
          "  --version V    failed calls of version V ('' for none)\n"
          "  --key KEY      the one call KEY names: a key prefix (4+ hex digits) or the\n"
          "                 form 'ls' prints, WORK/PREFIX or WORK@VERSION/PREFIX; with\n"
          "                 --work and --version, the one call of them all\n"
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
        {"version", required_argument, NULL, 'V'},
        {"key", required_argument, NULL, 'k'},
        {"all", no_argument, NULL, 'A'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *key = NULL;
    tf_cli_key kk;
    tf_filter f = {0};
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'w': f.work = optarg; break;
        case 'V': f.version = optarg; break;
        case 'k': key = optarg; break; /* parsed with --work and --version below */
        case 'A': f.all = 1; break;
        case 'j': json = 1; break;
        case 'h': retry_usage(stdout); return TF_EXIT_OK;
        default: return tf_cli_bad_option("retry", c, argv, retry_usage);
        }
    }
    if (optind < argc)
        return tf_cli_misuse(retry_usage, "retry: unexpected argument '%s'", argv[optind]);
    if (key && tf_cli_parse_key("retry", "--key", key, f.work, f.version, retry_usage, &kk) != 0)
        return TF_EXIT_USAGE;
    if (!f.work && !f.version && !key && !f.all)
        return tf_cli_misuse(retry_usage, "retry: say which calls: --work, --version, --key or --all");

    tf_app *app;
    int ex = tf_cli_open_db("retry", db, &app);
    if (ex)
        return ex;
    tf_cli_rows found = {0};
    if (key)
        ex = tf_cli_narrow_to_key("retry", app, &kk, &found, &f);
    if (!ex) {
        int64_t count = 0;
        int rc = tf_calls_retry(app, &f, &count);
        if (rc != TF_OK) {
            ex = tf_cli_lib_fail("retry", app, rc);
        } else if (json) {
            cJSON *o = cJSON_CreateObject();
            if (o && !cJSON_AddNumberToObject(o, "count", (double)count)) {
                cJSON_Delete(o);
                o = NULL;
            }
            ex = tf_cli_print_json("retry", o);
        } else {
            printf("retried %lld call%s\n", (long long)count, count == 1 ? "" : "s");
            ex = tf_cli_flush_out("retry");
        }
    }
    tf_cli_rows_free(&found);
    tf_app_close(app);
    return ex;
}
