/*
 * ls.c - tickflow ls: list recorded calls, newest first, as a table
 * (a page, and how many more) or as one JSON array.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>

#include "tickflow.h"
#include "cli.h"

/* Default number of rows of the human `ls` table. */
#define LS_DEFAULT_LIMIT 50
/* ls counts the calls after its page up to this many ("at least N more" beyond) */
#define LS_COUNT_MAX 1000000

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
          "                 YYYY-MM-DDTHH:MM[:SS[.fff]][Z|+HH:MM]; local time unless a zone is given)\n"
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
            if (!tf_cli_valid_status(optarg))
                return tf_cli_misuse(ls_usage, "ls: --status: unknown status '%s'", optarg);
            f.status = optarg;
            break;
        case 'S':
            if (tf_cli_date_option("ls", "--since", optarg, since) != 0)
                return TF_EXIT_USAGE;
            f.since = since;
            break;
        case 'n':
            if (tf_cli_parse_count(optarg, &limit) != 0)
                return tf_cli_misuse(ls_usage, "ls: --limit: '%s' is not a positive count", optarg);
            break;
        case 'j': json = 1; break;
        case 'h': ls_usage(stdout); return TF_EXIT_OK;
        default: return tf_cli_bad_option("ls", c, argv, ls_usage);
        }
    }
    if (optind < argc)
        return tf_cli_misuse(ls_usage, "ls: unexpected argument '%s'", argv[optind]);
    if (limit < 0)
        limit = json ? 0 : LS_DEFAULT_LIMIT;

    tf_app *app;
    int ex = tf_cli_open_db("ls", db, &app);
    if (ex)
        return ex;
    tf_cli_rows rs = {0};
    rs.keep = (size_t)limit;
    f.limit = limit > 0 && limit < INT_MAX ? (int)limit + 1 : 0; /* one more: count the rest? */
    ex = tf_cli_listed("ls", app, tf_calls_list(app, &f, tf_cli_rows_add, &rs), rs.oom);
    int64_t total = (int64_t)rs.total;
    /* the rest is counted up to LS_COUNT_MAX: exact below, "or more" above */
    int64_t max = (int64_t)rs.n + LS_COUNT_MAX;
    if (!ex && rs.total > rs.n && !json)
        ex = tf_cli_listed("ls", app, tf_calls_count_max(app, &f, max, &total), 0);
    if (!ex && json) {
        ex = tf_cli_print_json("ls", tf_cli_rows_json(&rs));
    } else if (!ex) {
        tf_cli_print_table(&rs);
        if (total > (int64_t)rs.n)
            printf("... %s%lld more (--limit N to see them)\n", total >= max ? "at least " : "",
                   (long long)(total - (int64_t)rs.n));
        ex = tf_cli_flush_out("ls");
    }
    tf_cli_rows_free(&rs);
    tf_app_close(app);
    return ex;
}
