/*
 * clear.c - tickflow clear: delete recorded calls (and their history) so
 * they run again; selectors combine with AND, a terminal is asked first,
 * and every clear is recorded in the table 'clears'.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickflow.h"
#include "cli.h"

static void clear_usage(FILE *to)
{
    fputs("usage: tickflow clear [--db PATH] (--work W | --version V | --key KEY | --args JSON |\n"
          "                      --status S | --before DATE | --all)... [--ignore NAME]...\n"
          "                      [--dry-run] [--yes] [--json]\n\n"
          "Delete recorded calls (and their history) so they run again. Selectors\n"
          "combine with AND; at least one is required. A running call is spared\n"
          "unless --status running is given. Every clear is\n"
          "recorded in the table 'clears' (time, user, selector, count).\n\n"
          "options:\n"
          "  --db PATH       database (default $TICKFLOW_DB, else ./tickflow.db)\n"
          "  --work W        calls of work W\n"
          "  --version V     calls of version V ('' for none)\n"
          "  --key KEY       the one call KEY names: a key prefix (4+ hex digits) or the\n"
          "                  form 'ls' prints, WORK/PREFIX or WORK@VERSION/PREFIX; with\n"
          "                  --work and --version, the one call of them all (a prefix\n"
          "                  shared by several calls is refused with them listed)\n"
          "  --args JSON     calls whose argument set is JSON (canonicalized and hashed)\n"
          "  --ignore NAME   with --args: leave the top-level member NAME out of the key,\n"
          "                  as a work with \"ignore\": [NAME] does (repeatable); the\n"
          "                  audit row records the arguments without it\n"
          "  --status S      calls in status S: running, succeeded, failed, interrupted\n"
          "  --before DATE   calls created before DATE (YYYY-MM-DD[THH:MM[:SS]][Z|+HH:MM]; local\n"
          "                  time unless a zone is given)\n"
          "  --all           every call\n"
          "  --dry-run       list what would be deleted; delete nothing\n"
          "  --yes           do not ask; without it a terminal is asked \"delete N calls?\n"
          "                  [y/N]\" and a non-terminal standard input is refused; only\n"
          "                  the calls counted then are deleted (those still matching)\n"
          "  --json          print one JSON object {\"dry_run\", \"count\", \"calls\": [...]}\n"
          "                  (asked: also \"counted\", the number confirmed)\n"
          "  -h, --help      show this help\n\n"
          "exit codes: 0 ok (also when nothing matched); 1 --key matched no call or\n"
          "  several, or the question was declined; 2 usage (also: refused without --yes);\n"
          "  3 bad --args JSON; 4 database error\n", to);
}

int cmd_clear(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"work", required_argument, NULL, 'w'},
        {"version", required_argument, NULL, 'V'},
        {"key", required_argument, NULL, 'k'},
        {"args", required_argument, NULL, 'a'},
        {"ignore", required_argument, NULL, 'i'},
        {"status", required_argument, NULL, 's'},
        {"before", required_argument, NULL, 'b'},
        {"all", no_argument, NULL, 'A'},
        {"dry-run", no_argument, NULL, 'n'},
        {"yes", no_argument, NULL, 'y'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *key = NULL;
    tf_cli_key kk;
    tf_filter f = {0};
    char before[32], args_key[65];
    const char *args_text = NULL, *ignore[33] = {NULL};
    size_t nignore = 0, args_at = 0;
    tf_cli_sel s = {{0}, 0, 0};
    int dry = 0, yes = 0, json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'w':
            if (f.work)
                return tf_cli_misuse(clear_usage, "clear: --work given twice");
            f.work = optarg;
            tf_cli_sel_add(&s, "--work", optarg);
            break;
        case 'V':
            if (f.version)
                return tf_cli_misuse(clear_usage, "clear: --version given twice");
            f.version = optarg;
            tf_cli_sel_add(&s, "--version", optarg);
            break;
        case 'k':
            if (key)
                return tf_cli_misuse(clear_usage, "clear: --key given twice");
            key = optarg; /* parsed with --work and --version once all are known */
            tf_cli_sel_add(&s, "--key", optarg);
            break;
        case 'a':
            if (args_text)
                return tf_cli_misuse(clear_usage, "clear: --args given twice");
            args_text = optarg; /* hashed once the --ignore names are known */
            args_at = s.len;    /* its place in the audit selector */
            break;
        case 'i':
            if (!*optarg || nignore == 32)
                return tf_cli_misuse(clear_usage, "clear: --ignore wants a member name (at most 32)");
            ignore[nignore++] = optarg;
            break;
        case 's':
            if (f.status)
                return tf_cli_misuse(clear_usage, "clear: --status given twice");
            if (!tf_cli_valid_status(optarg))
                return tf_cli_misuse(clear_usage, "clear: --status: unknown status '%s'", optarg);
            f.status = optarg;
            tf_cli_sel_add(&s, "--status", optarg);
            break;
        case 'b':
            if (f.before)
                return tf_cli_misuse(clear_usage, "clear: --before given twice");
            if (tf_cli_date_option("clear", "--before", optarg, before) != 0)
                return TF_EXIT_USAGE;
            f.before = before;
            tf_cli_sel_add(&s, "--before", optarg);
            break;
        case 'A':
            if (!f.all)
                tf_cli_sel_add(&s, "--all", NULL);
            f.all = 1;
            break;
        case 'n': dry = 1; break;
        case 'y': yes = 1; break;
        case 'j': json = 1; break;
        case 'h': clear_usage(stdout); return TF_EXIT_OK;
        default: return tf_cli_bad_option("clear", c, argv, clear_usage);
        }
    }
    if (optind < argc)
        return tf_cli_misuse(clear_usage, "clear: unexpected argument '%s'", argv[optind]);
    if (nignore && !args_text)
        return tf_cli_misuse(clear_usage, "clear: --ignore goes with --args");
    if (key && tf_cli_parse_key("clear", "--key", key, f.work, f.version, clear_usage, &kk) != 0)
        return TF_EXIT_USAGE;
    if (args_text) {
        /* the key as the work computes it; ignored members (secrets) stay out of the audit row */
        tf_error err;
        cJSON *tree = NULL;
        char *canon = NULL;
        int rc = nignore ? tf_parse_text(args_text, strlen(args_text), &tree, &err)
                         : tf_hash_text(args_text, strlen(args_text), args_key, &err);
        if (rc == TF_OK && nignore)
            rc = tf_hash_tree_ignoring(tree, ignore, args_key, &err);
        if (rc == TF_OK && nignore)
            rc = tf_canon_tree_ignoring(tree, ignore, &canon, NULL, &err);
        cJSON_Delete(tree);
        if (rc != TF_OK) {
            tf_cli_err("clear: --args: %s", rc == TF_EINPUT ? err.msg : tf_strerror(rc));
            return tf_cli_exit_for(rc);
        }
        f.args_sha256 = args_key;
        /* the selector as typed, with --args (without ignored members) in its place */
        tf_cli_sel piece = {{0}, 0, 0};
        tf_cli_sel_add(&piece, "--args", canon ? canon : args_text);
        for (size_t i = 0; i < nignore; i++)
            tf_cli_sel_add(&piece, "--ignore", ignore[i]);
        free(canon);
        char joined[sizeof s.text];
        const char *rest = s.text + args_at;
        int n = snprintf(joined, sizeof joined, "%.*s%s%s%s%s", (int)args_at, s.text,
                         args_at ? " " : "", piece.text, !args_at && *rest ? " " : "", rest);
        if (n < 0 || (size_t)n >= sizeof joined) {
            memcpy(joined + sizeof joined - 4, "...", 4); /* a cut selector, as tf_cli_sel_add cuts */
            s.cut = 1;
        }
        memcpy(s.text, joined, sizeof joined);
        s.len = strlen(s.text);
    }
    if (!f.work && !f.version && !key && !f.args_sha256 && !f.status && !f.before && !f.all)
        return tf_cli_misuse(clear_usage, "clear: say what to clear: --work, --version, --key,"
                      " --args, --status, --before or --all");
    int ask = !dry && !yes;
    if (ask && tf_cli_cannot_ask("clear"))
        return TF_EXIT_USAGE;

    tf_app *app;
    int ex = tf_cli_open_db("clear", db, &app);
    if (ex)
        return ex;
    tf_cli_rows rs = {0}, found = {0};
    char user[256];
    tf_cli_user_name(user);
    int64_t count = 0, counted = -1;
    int declined = 0;
    if (key)
        ex = tf_cli_narrow_to_key("clear", app, &kk, &found, &f);
    if (!ex) {
        /* asking: only the calls counted and confirmed are deleted (tickflow.h) */
        int rc = ask ? tf_calls_clear_asking(app, &f, user, s.text, tf_cli_confirm, &declined,
                                             tf_cli_rows_add, &rs, &counted, &count)
                     : tf_calls_clear(app, &f, user, s.text, dry, tf_cli_rows_add, &rs, &count);
        ex = tf_cli_listed("clear", app, rc, rs.oom);
        if (!ex && declined) {
            tf_cli_err("clear: nothing deleted");
            ex = TF_EXIT_FAILED;
        }
        if (!ex && json) {
            ex = tf_cli_print_json("clear", tf_cli_count_doc(dry, count, counted, &rs));
        } else if (!ex) {
            if (dry) {
                if (rs.n)
                    tf_cli_print_table(&rs);
                printf("would clear %lld call%s\n", (long long)count, count == 1 ? "" : "s");
            } else {
                tf_cli_print_deleted("cleared", counted, count, "");
            }
            ex = tf_cli_flush_out("clear");
        }
    }
    tf_cli_rows_free(&found);
    tf_cli_rows_free(&rs);
    tf_app_close(app);
    return ex;
}
