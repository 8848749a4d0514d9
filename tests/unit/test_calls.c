/*
 * test_calls.c - the public inspection API (tf_calls_*) on a real database
 * in a temporary folder, filled by real executions (tf_loop_run of C works):
 * listing with filters, finding by prefix, history, clearing (refusals, dry
 * run, audit), retrying and collecting; failures leave tf_errmsg() set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tickflow.h"

/* A database with three calls: work "ok" {"n":1}, {"n":2} succeeded, work "bad" {"n":1} failed. */
typedef struct fixture {
    char dir[64];           /* mkdtemp folder */
    char path[128];         /* database file */
    tf_app *app;            /* open handle */
    tf_work *ok;            /* succeeding work */
    tf_work *bad;           /* failing work */
    char key1[65];          /* key of {"n":1} */
    char key2[65];          /* key of {"n":2} */
} fixture;

static int work_ok(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)user;
    (void)error;
    *result = cJSON_Duplicate(args, 1);
    return 0;
}

static int work_bad(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)args;
    (void)user;
    (void)result;
    *error = strdup("it broke");
    return 1;
}

static void flow(tf_tick *tick, void *user)
{
    fixture *fx = user;
    cJSON *one = cJSON_Parse("{\"n\":1}"), *two = cJSON_Parse("{\"n\":2}");
    tf_run(tick, fx->ok, one, NULL);
    tf_run(tick, fx->ok, two, NULL);
    tf_run(tick, fx->bad, one, NULL);
    cJSON_Delete(one);
    cJSON_Delete(two);
}

static void run_once(fixture *fx)
{
    tf_loop_opts lo;
    tf_loop_opts_init(&lo);
    lo.max_ticks = 1;
    lo.interval = 0.01;
    assert_int_equal(tf_loop_run(fx->app, &lo, NULL), TF_OK);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/tf_calls_XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof fx->path, "%s/t.db", fx->dir);
    assert_int_equal(tf_app_open(fx->path, &fx->app), TF_OK);
    assert_int_equal(tf_work_new(fx->app, "ok", work_ok, NULL, NULL, &fx->ok), TF_OK);
    assert_int_equal(tf_work_new(fx->app, "bad", work_bad, NULL, NULL, &fx->bad), TF_OK);
    assert_int_equal(tf_flow_add(fx->app, "f", flow, fx), TF_OK);
    assert_int_equal(tf_hash_text("{\"n\":1}", 7, fx->key1, NULL), TF_OK);
    assert_int_equal(tf_hash_text("{\"n\":2}", 7, fx->key2, NULL), TF_OK);
    run_once(fx);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    char cmd[200];
    tf_app_close(fx->app);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

/* Row collector: count, last work and status seen. */
typedef struct seen {
    int n;                  /* rows */
    char work[32];          /* last row's work */
    char status[16];        /* last row's status */
    char error[64];         /* last row's error or "" */
    int64_t id;             /* last row's id */
} seen;

static int see(const tf_call_row *r, void *user)
{
    seen *s = user;
    s->n++;
    snprintf(s->work, sizeof s->work, "%s", r->work);
    snprintf(s->status, sizeof s->status, "%s", r->status);
    snprintf(s->error, sizeof s->error, "%s", r->error ? r->error : "");
    s->id = r->id;
    return 0;
}

static int count_list(tf_app *app, const tf_filter *f)
{
    seen s = {0};
    assert_int_equal(tf_calls_list(app, f, see, &s), TF_OK);
    return s.n;
}

static void calls__list_filters(void **state)
{
    fixture *fx = *state;
    tf_filter f = {0};
    assert_int_equal(count_list(fx->app, &f), 3);
    assert_int_equal(count_list(fx->app, NULL), 3);
    f.work = "ok";
    assert_int_equal(count_list(fx->app, &f), 2);
    f.status = "failed";
    assert_int_equal(count_list(fx->app, &f), 0);
    f.work = NULL;
    assert_int_equal(count_list(fx->app, &f), 1);
    tf_filter g = {0};
    g.args_sha256 = fx->key1;
    assert_int_equal(count_list(fx->app, &g), 2);
    g.limit = 1;
    assert_int_equal(count_list(fx->app, &g), 1);
    tf_filter h = {0};
    h.since = "2999-01-01";
    assert_int_equal(count_list(fx->app, &h), 0);
}

static void calls__find_unique_ambiguous_unknown(void **state)
{
    fixture *fx = *state;
    seen s = {0};
    /* key2 belongs to one call only */
    assert_int_equal(tf_calls_find(fx->app, fx->key2, see, &s), TF_OK);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.work, "ok");
    /* key1 is the key of two calls (two works, same arguments): never guessed */
    memset(&s, 0, sizeof s);
    assert_int_equal(tf_calls_find(fx->app, fx->key1, see, &s), TF_EAMBIGUOUS);
    assert_int_equal(s.n, 0);
    assert_non_null(strstr(tf_errmsg(fx->app), "matches several calls"));
    /* a prefix nobody has */
    char none[5] = "0000";
    for (int c = 0; c < 16 && (!strncmp(none, fx->key1, 4) || !strncmp(none, fx->key2, 4)); c++)
        memset(none, "0123456789abcdef"[c], 4);
    assert_int_equal(tf_calls_find(fx->app, none, see, &s), TF_ENOTFOUND);
    assert_non_null(strstr(tf_errmsg(fx->app), none));
    assert_int_equal(tf_calls_find(fx->app, "zz", see, &s), TF_EINPUT);
    assert_true(tf_errmsg(fx->app)[0] != '\0');
}

static int see_hist(const tf_history_row *h, void *user)
{
    seen *s = user;
    s->n++;
    snprintf(s->status, sizeof s->status, "%s", h->status);
    snprintf(s->error, sizeof s->error, "%s", h->error ? h->error : "");
    return 0;
}

static void calls__history_of_a_failure(void **state)
{
    fixture *fx = *state;
    tf_filter f = {0};
    f.work = "bad";
    seen s = {0};
    assert_int_equal(tf_calls_list(fx->app, &f, see, &s), TF_OK);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.error, "it broke");
    seen h = {0};
    assert_int_equal(tf_calls_history(fx->app, s.id, see_hist, &h), TF_OK);
    assert_int_equal(h.n, 1);
    assert_string_equal(h.status, "failed");
    assert_string_equal(h.error, "it broke");
}

static void calls__clear_refuses_no_filter(void **state)
{
    fixture *fx = *state;
    tf_filter f = {0};
    int64_t n = 99;
    assert_int_equal(tf_calls_clear(fx->app, &f, "me", "", 0, NULL, NULL, &n), TF_EINPUT);
    assert_int_equal(n, 0);
    assert_non_null(strstr(tf_errmsg(fx->app), "refusing"));
    assert_int_equal(tf_calls_clear(fx->app, NULL, "me", "", 0, NULL, NULL, &n), TF_EINPUT);
    assert_int_equal(count_list(fx->app, NULL), 3);
}

static void calls__clear_dry_run_then_real(void **state)
{
    fixture *fx = *state;
    tf_filter f = {0};
    f.work = "ok";
    seen s = {0};
    int64_t n = 0;
    assert_int_equal(tf_calls_clear(fx->app, &f, "me", "--work ok", 1, see, &s, &n), TF_OK);
    assert_int_equal(n, 2);
    assert_int_equal(s.n, 2);
    assert_int_equal(count_list(fx->app, NULL), 3);
    assert_int_equal(tf_calls_clear(fx->app, &f, "me", "--work ok", 0, NULL, NULL, &n), TF_OK);
    assert_int_equal(n, 2);
    assert_int_equal(count_list(fx->app, NULL), 1);
    /* a cleared call runs again */
    run_once(fx);
    assert_int_equal(count_list(fx->app, NULL), 3);
    f.all = 1;
    f.work = NULL;
    assert_int_equal(tf_calls_clear(fx->app, &f, "me", "--all", 0, NULL, NULL, &n), TF_OK);
    assert_int_equal(n, 3);
    assert_int_equal(count_list(fx->app, NULL), 0);
}

static void calls__retry_and_gc(void **state)
{
    fixture *fx = *state;
    tf_filter f = {0};
    f.work = "bad";
    int64_t n = 0;
    assert_int_equal(tf_calls_retry(fx->app, &f, &n), TF_OK);
    assert_int_equal(n, 1);
    run_once(fx);
    seen s = {0};
    assert_int_equal(tf_calls_list(fx->app, &f, see, &s), TF_OK);
    seen h = {0};
    assert_int_equal(tf_calls_history(fx->app, s.id, see_hist, &h), TF_OK);
    assert_int_equal(h.n, 2); /* executed again */
    assert_int_equal(tf_calls_gc(fx->app, (double)time(NULL) - 3600, &n), TF_OK);
    assert_int_equal(n, 0);
    assert_int_equal(tf_calls_gc(fx->app, (double)time(NULL) + 3600, &n), TF_OK);
    assert_int_equal(n, 3);
    assert_int_equal(count_list(fx->app, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(calls__list_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(calls__find_unique_ambiguous_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(calls__history_of_a_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(calls__clear_refuses_no_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(calls__clear_dry_run_then_real, setup, teardown),
        cmocka_unit_test_setup_teardown(calls__retry_and_gc, setup, teardown),
    };
    return cmocka_run_group_tests_name("calls", tests, NULL, NULL);
}
