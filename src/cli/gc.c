/*
 * gc.c - tickflow gc: delete settled calls that finished more than a
 * duration ago and their history, which holds their output. gc deletes
 * no file: executions write none (their output is stored with the
 * attempt), and files under <db>.logs written by an older tickflow are
 * left for their owner to remove.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "tickflow.h"
#include "cli.h"

static void gc_usage(FILE *to)
{
    fputs("usage: tickflow gc [--db PATH] --older-than DURATION [--dry-run] [--yes] [--json]\n\n"
          "Delete settled calls (succeeded, failed, interrupted) that finished more\n"
          "than DURATION ago, and their history with the output it holds. Running\n"
          "calls are never touched, and no file is deleted.\n\n"
          "options:\n"
          "  --db PATH              database (default $TICKFLOW_DB, else ./tickflow.db)\n"
          "  --older-than DURATION  whole numbers with units s, m, h, d or w, largest\n"
          "                         first (45s, 90m, 12h, 30d, 2w, 1d12h; at most 100 years)\n"
          "  --dry-run              list what would be deleted; delete nothing\n"
          "  --yes                  do not ask; without it a terminal is asked and a\n"
          "                         non-terminal standard input is refused; only the\n"
          "                         calls counted then are deleted (those still old)\n"
          "  --json                 print {\"dry_run\", \"count\"[, \"calls\"]}\n"
          "  -h, --help             show this help\n\n"
          "exit codes: 0 ok (also when nothing is old enough); 1 the question was\n"
          "  declined; 2 usage (also: refused without --yes); 4 database error\n", to);
}

/* What gc would delete: settled rows finished before `cutoff` (ISO text). */
typedef struct gc_scan {
    const char *cutoff;     /* finished_at < this */
    tf_cli_rows *out;       /* copies of the matching rows */
} gc_scan;

static int gc_pick(const tf_call_row *r, void *user)
{
    gc_scan *g = user;
    if (!strcmp(r->status, "running") || !r->finished_at || strcmp(r->finished_at, g->cutoff) >= 0)
        return 0;
    return tf_cli_rows_add(r, g->out);
}

int cmd_gc(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"older-than", required_argument, NULL, 'o'},
        {"dry-run", no_argument, NULL, 'n'},
        {"yes", no_argument, NULL, 'y'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    double age = -1;
    int dry = 0, yes = 0, json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'o': {
            tf_error err;
            if (tf_duration_parse(optarg, &age, &err) != TF_OK)
                return tf_cli_misuse(gc_usage, "gc: --older-than: '%s' is not a duration: %s", optarg,
                                     err.msg);
            /* the cutoff must be a real time: not before 1970-01-01 */
            if (tf_cli_now() - age < 0)
                return tf_cli_misuse(gc_usage, "gc: --older-than %s reaches before 1970-01-01T00:00:00Z",
                                     optarg);
            break;
        }
        case 'n': dry = 1; break;
        case 'y': yes = 1; break;
        case 'j': json = 1; break;
        case 'h': gc_usage(stdout); return TF_EXIT_OK;
        default: return tf_cli_bad_option("gc", c, argv, gc_usage);
        }
    }
    if (optind < argc)
        return tf_cli_misuse(gc_usage, "gc: unexpected argument '%s'", argv[optind]);
    if (age <= 0)
        return tf_cli_misuse(gc_usage, "gc: --older-than DURATION is required");
    int ask = !dry && !yes;
    if (ask && tf_cli_cannot_ask("gc"))
        return TF_EXIT_USAGE;

    tf_app *app;
    int ex = tf_cli_open_db("gc", db, &app);
    if (ex)
        return ex;
    double before = tf_cli_now() - age;
    char cutoff[32];
    tf_cli_iso(before, cutoff);
    tf_cli_rows rs = {0};
    int64_t count = 0, counted = -1;
    int declined = 0;
    if (dry) {
        gc_scan g = {cutoff, &rs};
        ex = tf_cli_listed("gc", app, tf_calls_list(app, NULL, gc_pick, &g), rs.oom);
        count = (int64_t)rs.n;
    } else {
        /* asking: only the calls counted and confirmed are deleted (tickflow.h) */
        int rc = ask ? tf_calls_gc_asking(app, before, tf_cli_confirm, &declined, &counted, &count)
                     : tf_calls_gc(app, before, &count);
        if (rc != TF_OK)
            ex = tf_cli_lib_fail("gc", app, rc);
        else if (declined) {
            tf_cli_err("gc: nothing deleted");
            ex = TF_EXIT_FAILED;
        }
    }
    if (!ex && json) {
        ex = tf_cli_print_json("gc", tf_cli_count_doc(dry, count, counted, dry ? &rs : NULL));
    } else if (!ex) {
        char tail[64];
        snprintf(tail, sizeof tail, " finished before %s", cutoff);
        if (dry) {
            if (rs.n)
                tf_cli_print_table(&rs);
            printf("would delete %lld call%s%s\n", (long long)count, count == 1 ? "" : "s", tail);
        } else {
            tf_cli_print_deleted("deleted", counted, count, tail);
        }
        ex = tf_cli_flush_out("gc");
    }
    tf_cli_rows_free(&rs);
    tf_app_close(app);
    return ex;
}
