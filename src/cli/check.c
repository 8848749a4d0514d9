/*
 * check.c - tickflow check: a health check for cron or a monitor. Every
 * work named (default: every work in the database) must have a success
 * newer than --max-age (when given), no call failed for good and no
 * running call whose lease ended. Exit 0 and silence when all hold, else 1
 * and one line per problem on standard output:
 *
 *   train: last success 2026-11-28T06:31Z, 3d 2h ago (max 26h)
 *
 * Success times are read on the cache clock (calls.result_at), the clock
 * run --now sets, so --now here ages what --now-driven runs recorded.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tickflow.h"
#include "cli.h"

static void check_usage(FILE *to)
{
    fputs("usage: tickflow check [--db PATH] [--work W]... [--max-age DURATION]\n"
          "                      [--now DATETIME] [--verbose]\n\n"
          "Exit 0 when every work named (default: every work in the database) has a\n"
          "success newer than --max-age, no call failed for good (retries exhausted)\n"
          "and no running call's lease ended (a dead or hung runner); otherwise exit 1\n"
          "and print one line per problem, e.g.\n"
          "  train: last success 2026-11-28T06:31Z, 3d 2h ago (max 26h)\n\n"
          "options:\n"
          "  --db PATH            database (default $TICKFLOW_DB, else ./tickflow.db)\n"
          "  --work W             check work W (repeat for more); a work with no calls\n"
          "                       is a problem\n"
          "  --max-age DURATION   the latest success must be younger: 26h, 1d2h, 90m\n"
          "                       (units s m h d w, largest first)\n"
          "  --now DATETIME       judge ages at this time instead of now, as run's --now\n"
          "                       (2026-11-24T07:00[:SS][Z|+HH:MM] or 2026-11-24; local\n"
          "                       time unless a zone is given)\n"
          "  --verbose            also print one line per healthy work\n"
          "  -h, --help           show this help\n\n"
          "exit codes: 0 healthy; 1 a problem (listed); 2 usage; 4 database error\n", to);
}

/* "2026-11-28T06:31Z": epoch seconds as UTC, to the minute. */
static void utc_minute(double t, char out[32])
{
    time_t s = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&s, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%MZ", &tm))
        snprintf(out, 32, "?");
}

/* An age in its two largest units: "3d 2h", "5h 7m", "4m 10s", "12s". */
static void age_text(double sec, char out[32])
{
    long long t = sec > 0 ? (long long)sec : 0;
    if (t >= 86400)
        snprintf(out, 32, "%lldd %lldh", t / 86400, t / 3600 % 24);
    else if (t >= 3600)
        snprintf(out, 32, "%lldh %lldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(out, 32, "%lldm %llds", t / 60, t % 60);
    else
        snprintf(out, 32, "%llds", t);
}

/* The first failed-for-good call of a work (for the problem line). */
typedef struct pick {
    int want_failed;        /* 1: failed with no retry due; 0: running with an ended lease */
    double now;             /* for the lease: the wall clock */
    char key[TF_REF_MAX];   /* its printed form (tf_call_ref), "" if none found */
    char text[300];         /* its error, or its runner and start */
} pick;

static int pick_row(const tf_call_row *r, void *user)
{
    pick *p = user;
    if (p->want_failed ? !(r->failures > 0 && r->next_retry_at < 0)
                       : !(r->lease_until < 0 || r->lease_until < p->now))
        return 0;
    tf_cli_ref(r, p->key);
    if (p->want_failed) {
        snprintf(p->text, sizeof p->text, "%.280s", r->error ? r->error : "no error recorded");
    } else {
        char runner[300];
        tf_cli_runner_text(r->runner_host, r->runner_pid, runner);
        snprintf(p->text, sizeof p->text, "runner %.200s, started %s", runner,
                 tf_cli_or_dash(r->started_at));
    }
    return 1;
}

int cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"work", required_argument, NULL, 'w'},
        {"max-age", required_argument, NULL, 'a'},
        {"now", required_argument, NULL, 'n'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *max_text = NULL;
    const char **names = NULL;
    size_t nnames = 0;
    double max_age = 0, now = tf_cli_now();
    int verbose = 0, c, ex = 0;
    optind = 1;
    opterr = 0;
    tzset();
    while (!ex && (c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'w': {
            const char **v = realloc(names, (nnames + 1) * sizeof *v);
            if (!v) {
                tf_cli_err("check: out of memory");
                ex = TF_EXIT_IO;
                break;
            }
            names = v;
            names[nnames++] = optarg;
            break;
        }
        case 'a': {
            tf_error err;
            if (tf_duration_parse(optarg, &max_age, &err) != TF_OK)
                ex = tf_cli_misuse(check_usage, "check: --max-age: %s", err.msg);
            max_text = optarg;
            break;
        }
        case 'n': {
            if (tf_cli_parse_time(optarg, &now, NULL) != 0)
                ex = tf_cli_misuse(check_usage, "check: --now wants %s, not '%s'", TF_CLI_TIME_GRAMMAR,
                                   optarg);
            break;
        }
        case 'v': verbose = 1; break;
        case 'h': check_usage(stdout); free(names); return TF_EXIT_OK;
        default: ex = tf_cli_bad_option("check", c, argv, check_usage); break;
        }
    }
    if (!ex && optind < argc)
        ex = tf_cli_misuse(check_usage, "check: unexpected argument '%s'", argv[optind]);
    tf_app *app = NULL;
    if (!ex)
        ex = tf_cli_open_db("check", db, &app);
    tf_cli_totals l = {NULL, 0, 0};
    if (!ex)
        ex = tf_cli_listed("check", app, tf_calls_totals(app, tf_cli_totals_add, &l), l.oom);
    int problems = 0;
    size_t todo = nnames ? nnames : l.n;
    double wall = tf_cli_now();
    for (size_t i = 0; !ex && i < todo; i++) {
        const char *name = nnames ? names[i] : l.v[i].work;
        const tf_work_totals *t = NULL;
        for (size_t k = 0; k < l.n && !t; k++)
            if (!strcmp(l.v[k].work, name))
                t = &l.v[k];
        if (!t) {
            printf("%s: no calls in the database\n", name);
            problems++;
            continue;
        }
        int bad = 0;
        char when[32], age[32];
        if (max_age > 0 && t->last_result < 0) {
            printf("%s: never succeeded (max %s)\n", name, max_text);
            bad = 1;
        } else if (max_age > 0 && now - t->last_result > max_age) {
            utc_minute(t->last_result, when);
            age_text(now - t->last_result, age);
            printf("%s: last success %s, %s ago (max %s)\n", name, when, age, max_text);
            bad = 1;
        }
        for (int kind = 0; !ex && kind < 2; kind++) {
            int64_t n = kind == 0 ? t->failed_final : t->lease_ended;
            if (n <= 0)
                continue;
            pick p = {.want_failed = kind == 0, .now = wall};
            tf_filter f = {.work = name, .status = kind == 0 ? "failed" : "running"};
            int rc = tf_calls_list(app, &f, pick_row, &p);
            if (rc != TF_OK) {
                ex = tf_cli_lib_fail("check", app, rc);
                break;
            }
            if (kind == 0)
                printf("%s: %lld call%s failed for good%s%s%s%s\n", name, (long long)n,
                       n == 1 ? "" : "s", p.key[0] ? ", e.g. " : "", p.key, p.key[0] ? ": " : "",
                       p.text);
            else
                printf("%s: %lld running call%s with an ended lease (runner dead or hung)%s%s%s%s\n",
                       name, (long long)n, n == 1 ? "" : "s", p.key[0] ? ", e.g. " : "", p.key,
                       p.key[0] ? ": " : "", p.text);
            bad = 1;
        }
        if (bad) {
            problems++;
        } else if (verbose) {
            if (t->last_result >= 0) {
                utc_minute(t->last_result, when);
                age_text(now - t->last_result, age);
                printf("%s: ok, last success %s, %s ago\n", name, when, age);
            } else {
                printf("%s: ok, no success yet\n", name);
            }
        }
    }
    if (!ex)
        ex = tf_cli_flush_out("check");
    tf_cli_totals_free(&l);
    tf_app_close(app);
    free(names);
    if (ex)
        return ex;
    return problems ? TF_EXIT_FAILED : TF_EXIT_OK;
}
