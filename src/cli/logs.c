/*
 * logs.c - tickflow logs: the output of a call's last execution (or of
 * attempt N), read from the database (the latest TF_OUTPUT_MAX bytes are
 * stored with each attempt), so it works on any host that opens the
 * database. Attempts recorded before the output moved into the database
 * name a log file instead: it is copied byte for byte, opened without
 * following a symlink.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tickflow.h"
#include "cli.h"

static void logs_usage(FILE *to)
{
    fputs("usage: tickflow logs [--db PATH] [--work W] [--version V] [--attempt N] KEY\n\n"
          "Print the output (standard output and error) of the last execution, or of\n"
          "attempt N, of the one call KEY names: a key prefix (at least 4 hex digits)\n"
          "or the form 'ls' prints, WORK/PREFIX or WORK@VERSION/PREFIX (a prefix that\n"
          "several calls share is refused with the candidates listed). The database\n"
          "keeps the last 64 KiB of each execution of a command work (a note on\n"
          "standard error says when earlier output was cut); C works keep none.\n\n"
          "options:\n"
          "  --db PATH     database (default $TICKFLOW_DB, else ./tickflow.db)\n"
          "  --work W      only a call of work W (a form naming another work is refused)\n"
          "  --version V   only a call of version V ('' for none)\n"
          "  --attempt N   the log of attempt N (1 is the first execution)\n"
          "  -h, --help    show this help\n\n"
          "exit codes: 0 ok; 1 no such call or attempt, no output recorded, or still\n"
          "  running; 2 usage; 4 database error; 5 an older attempt's log file is missing\n", to);
}

/* Copy the file at path to stdout. Returns an exit code (message printed). */
static int copy_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    FILE *in = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!in) {
        if (fd >= 0)
            close(fd);
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
        {"work", required_argument, NULL, 'w'},
        {"version", required_argument, NULL, 'V'},
        {"attempt", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *work = NULL, *version = NULL;
    long attempt = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'w': work = optarg; break;
        case 'V': version = optarg; break;
        case 'a':
            if (tf_cli_parse_count(optarg, &attempt) != 0)
                return tf_cli_misuse(logs_usage, "logs: --attempt: '%s' is not a positive number", optarg);
            break;
        case 'h': logs_usage(stdout); return TF_EXIT_OK;
        default: return tf_cli_bad_option("logs", c, argv, logs_usage);
        }
    }
    tf_cli_key k;
    if (tf_cli_key_operand("logs", argc, argv, work, version, logs_usage, &k) != 0)
        return TF_EXIT_USAGE;

    tf_app *app;
    int ex = tf_cli_open_db("logs", db, &app);
    if (ex)
        return ex;
    tf_cli_rows rs = {0};
    tf_cli_hist h = {0};
    ex = tf_cli_find_with_history("logs", app, &k, &rs, &h);
    if (!ex) {
        const tf_history_row *a = NULL;
        for (size_t i = 0; i < h.n; i++)
            if (attempt ? h.v[i].attempt == attempt : 1)
                a = &h.v[i]; /* oldest first: the last one wins */
        char ref[TF_REF_MAX];
        const char *key = tf_cli_ref(&rs.v[0], ref);
        if (!a && attempt) {
            tf_cli_err("logs: call %s has no attempt %ld", key, attempt);
            ex = TF_EXIT_FAILED;
        } else if (!a) {
            tf_cli_err("logs: call %s has never executed", key);
            ex = TF_EXIT_FAILED;
        } else if (a->output || a->output_bytes >= 0) {
            size_t n = a->output ? strlen(a->output) : 0;
            if (n && fwrite(a->output, 1, n, stdout) != n) {
                tf_cli_err("logs: cannot write standard output: %s", strerror(errno));
                ex = TF_EXIT_IO;
            } else {
                ex = tf_cli_flush_out("logs");
            }
            if (!ex && a->output_truncated)
                tf_cli_err("logs: note: attempt %d wrote %lld bytes; only the last %zu are kept",
                           a->attempt, (long long)a->output_bytes, n);
        } else if (a->log_path) {
            ex = copy_file(a->log_path); /* recorded by an older tickflow */
        } else if (a->status && !strcmp(a->status, "running")) {
            tf_cli_err("logs: attempt %d of call %s is running: its output is"
                       " stored when it ends", a->attempt, key);
            ex = TF_EXIT_FAILED;
        } else {
            tf_cli_err("logs: attempt %d of call %s has no output recorded"
                       " (only command works keep it)", a->attempt, key);
            ex = TF_EXIT_FAILED;
        }
    }
    tf_cli_hist_free(&h);
    tf_cli_rows_free(&rs);
    tf_app_close(app);
    return ex;
}
