/*
 * logs.c - tickflow logs: copy the log file of a call's last execution
 * (or of attempt N) to standard output, byte for byte.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "tickflow.h"
#include "cli.h"

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
    return ex ? ex : tf_cli_flush_out("logs");
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
            if (tf_cli_parse_count(optarg, &attempt) != 0)
                return tf_cli_misuse(logs_usage, "logs: --attempt: '%s' is not a positive number", optarg);
            break;
        case 'h': logs_usage(stdout); return TF_EXIT_OK;
        default: return tf_cli_bad_option("logs", c, argv, logs_usage);
        }
    }
    const char *prefix;
    if (tf_cli_prefix_operand("logs", argc, argv, logs_usage, &prefix) != 0)
        return TF_EXIT_USAGE;

    tf_app *app;
    int ex = tf_cli_open_db("logs", db, &app);
    if (ex)
        return ex;
    tf_cli_rows rs = {0};
    tf_cli_hist h = {0};
    ex = tf_cli_find_with_history("logs", app, prefix, &rs, &h);
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
    tf_cli_hist_free(&h);
    tf_cli_rows_free(&rs);
    tf_app_close(app);
    return ex;
}
