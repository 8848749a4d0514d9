/*
 * test_work.c - the scheduler core through the public API: cache hits and
 * misses, cache_calls off, versions, retries, crashes, timeouts, parallel
 * works, restarts, recovery from a killed scheduler, racing schedulers,
 * clears from another connection, graceful stop. Real SQLite files in
 * temporary folders, real child processes; executions are counted through
 * a file each work appends to (works run in child processes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tickflow.h"
#include "helpers/lines.h"

typedef struct fixture {
    char dir[64];           /* temporary folder */
    char db[128];           /* database path inside it */
    char counter[128];      /* file the works append one line to per execution */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tf-work-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof f->db, "%s/t.db", f->dir);
    snprintf(f->counter, sizeof f->counter, "%s/count", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static long long sql_int(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* ---- works (they run in child processes) ------------------------------------ */

typedef struct work_ctx {
    const char *counter;    /* execution counter file */
    double sleep_s;         /* seconds to sleep before answering */
    int fail_until;         /* fail while fewer than this many executions happened before */
} work_ctx;

/* Counts, optionally sleeps, then echoes {"echo": args, "n": execution number}. */
static int counting_work(const cJSON *args, void *user, cJSON **result, char **error)
{
    work_ctx *ctx = user;
    int before = count_lines(ctx->counter);
    append_line(ctx->counter, "x");
    if (ctx->sleep_s > 0) {
        struct timespec ts = {(time_t)ctx->sleep_s,
                              (long)((ctx->sleep_s - (double)(time_t)ctx->sleep_s) * 1e9)};
        nanosleep(&ts, NULL);
    }
    if (before < ctx->fail_until) {
        *error = strdup("planned failure");
        return 1;
    }
    *result = cJSON_CreateObject();
    cJSON_AddItemToObject(*result, "echo", cJSON_Duplicate(args, 1));
    cJSON_AddNumberToObject(*result, "n", before + 1);
    return 0;
}

static int crashing_work(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)args; (void)result; (void)error;
    append_line(((work_ctx *)user)->counter, "x");
    raise(SIGSEGV);
    return 0;
}

/* ---- a flow that calls one work with a fixed argument set -------------------- */

typedef struct flow_ctx {
    tf_work *work;          /* the work to call */
    cJSON *args;            /* its arguments */
    int calls_per_tick;     /* how many tf_run per tick */
    tf_call last;           /* the last outcome */
    int last_rc;            /* the last return code */
    char result_text[256];  /* canonical text of the last successful result */
    char error[512];        /* copy of the last error (tf_call.error dies with the tick) */
} flow_ctx;

static void one_work_flow(tf_tick *tick, void *user)
{
    flow_ctx *fc = user;
    for (int i = 0; i < (fc->calls_per_tick ? fc->calls_per_tick : 1); i++) {
        fc->last_rc = tf_run(tick, fc->work, fc->args, &fc->last);
        snprintf(fc->error, sizeof fc->error, "%s", fc->last.error ? fc->last.error : "");
        fc->last.error = NULL;
        if (fc->last_rc == TF_OK && fc->last.status == TF_CALL_SUCCEEDED && fc->last.result) {
            char *s = NULL;
            size_t n = 0;
            if (tf_canon_tree(fc->last.result, &s, &n, NULL) == TF_OK)
                snprintf(fc->result_text, sizeof fc->result_text, "%s", s);
            free(s);
        }
    }
}

/* Open, register one work and the flow, run the loop; returns tf_loop_run's code. */
static int run_app(const fixture *f, tf_work_fn fn, work_ctx *wc, const tf_work_opts *wo,
                   flow_ctx *fc, const tf_loop_opts *lo, uint64_t *failed)
{
    tf_app *app = NULL;
    int rc = tf_app_open(f->db, &app);
    if (rc != TF_OK)
        fprintf(stderr, "open: %s\n", tf_errmsg(app));
    assert_int_equal(rc, TF_OK);
    assert_int_equal(tf_work_new(app, "w", fn, wc, wo, &fc->work), TF_OK);
    assert_int_equal(tf_flow_add(app, "f", one_work_flow, fc), TF_OK);
    rc = tf_loop_run(app, lo, failed);
    tf_app_close(app);
    return rc;
}

static cJSON *args_value(int v)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "value", v);
    return a;
}

static tf_loop_opts ticks(uint64_t n)
{
    tf_loop_opts lo;
    tf_loop_opts_init(&lo);
    lo.max_ticks = n;
    lo.interval = 0.01;
    return lo;
}

static tf_loop_opts until_idle(void)
{
    tf_loop_opts lo = ticks(0);
    lo.until_idle = 1;
    return lo;
}

/* ---- tests -------------------------------------------------------------------- */

static void work__hit_after_first_success(void **state)
{
    fixture *f = *state;
    work_ctx wc = {f->counter, 0, 0};
    flow_ctx fc = {.args = args_value(1), .calls_per_tick = 5};
    tf_loop_opts lo = ticks(3);
    assert_int_equal(run_app(f, counting_work, &wc, NULL, &fc, &lo, NULL), TF_OK);
    assert_int_equal(count_lines(f->counter), 1);
    assert_int_equal(fc.last.status, TF_CALL_SUCCEEDED);
    assert_int_equal(fc.last.cached, 1);
    assert_string_equal(fc.result_text, "{\"echo\":{\"value\":1},\"n\":1}");
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM calls WHERE status='succeeded'"), 1);
    cJSON_Delete(fc.args);
}

static void work__persists_across_restart(void **state)
{
    fixture *f = *state;
    work_ctx wc = {f->counter, 0, 0};
    flow_ctx fc = {.args = args_value(7)};
    tf_loop_opts lo = ticks(1);
    assert_int_equal(run_app(f, counting_work, &wc, NULL, &fc, &lo, NULL), TF_OK);
    flow_ctx again = {.args = args_value(7)};
    assert_int_equal(run_app(f, counting_work, &wc, NULL, &again, &lo, NULL), TF_OK);
    assert_int_equal(count_lines(f->counter), 1);
    assert_int_equal(again.last.status, TF_CALL_SUCCEEDED);
    assert_int_equal(again.last.cached, 1);
    assert_string_equal(again.result_text, "{\"echo\":{\"value\":7},\"n\":1}");
    assert_string_equal(again.last.key, fc.last.key);
    cJSON_Delete(fc.args);
    cJSON_Delete(again.args);
}

static void work__new_args_run_once_each(void **state)
{
    fixture *f = *state;
    work_ctx wc = {f->counter, 0, 0};
    tf_loop_opts lo = ticks(2);
    for (int v = 1; v <= 3; v++) {
        flow_ctx fc = {.args = args_value(v), .calls_per_tick = 2};
        assert_int_equal(run_app(f, counting_work, &wc, NULL, &fc, &lo, NULL), TF_OK);
        cJSON_Delete(fc.args);
    }
    assert_int_equal(count_lines(f->counter), 3);
}

static void work__no_cache_runs_every_call(void **state)
{
    fixture *f = *state;
    work_ctx wc = {f->counter, 0, 0};
    tf_work_opts wo;
    tf_work_opts_init(&wo);
    wo.cache_calls = 0;
    flow_ctx fc = {.args = args_value(1), .calls_per_tick = 3};
    tf_loop_opts lo = ticks(2);
    assert_int_equal(run_app(f, counting_work, &wc, &wo, &fc, &lo, NULL), TF_OK);
    assert_int_equal(count_lines(f->counter), 6);
    assert_int_equal(fc.last.cached, 0);
    assert_int_equal(sql_int(f->db, "SELECT attempts FROM calls"), 6);
    cJSON_Delete(fc.args);
}

static void work__no_cache_runs_once_per_run_until_idle(void **state)
{
    fixture *f = *state;
    work_ctx wc = {f->counter, 0, 0};
    tf_work_opts wo;
    tf_work_opts_init(&wo);
    wo.cache_calls = 0;
    flow_ctx fc = {.args = args_value(1), .calls_per_tick = 2};
    tf_loop_opts lo = until_idle();
    /* Ends (it used to tick for ever) after one execution per argument set. */
    assert_int_equal(run_app(f, counting_work, &wc, &wo, &fc, &lo, NULL), TF_OK);
    assert_int_equal(count_lines(f->counter), 1);
    assert_int_equal(fc.last.status, TF_CALL_SUCCEEDED);
    assert_string_equal(fc.result_text, "{\"echo\":{\"value\":1},\"n\":1}");
    /* The next run executes it again: no cache across runs. */
    assert_int_equal(run_app(f, counting_work, &wc, &wo, &fc, &lo, NULL), TF_OK);
    assert_int_equal(count_lines(f->counter), 2);
    cJSON_Delete(fc.args);
}

static void work__version_change_runs_again(void **state)
{
    fixture *f = *state;
    work_ctx wc = {f->counter, 0, 0};
    tf_work_opts wo;
    tf_work_opts_init(&wo);
    wo.version = "1";
    flow_ctx fc = {.args = args_value(1)};
    tf_loop_opts lo = ticks(2);
    assert_int_equal(run_app(f, counting_work, &wc, &wo, &fc, &lo, NULL), TF_OK);
    assert_int_equal(run_app(f, counting_work, &wc, &wo, &fc, &lo, NULL), TF_OK);
    assert_int_equal(count_lines(f->counter), 1);
    wo.version = "2";
    assert_int_equal(run_app(f, counting_work, &wc, &wo, &fc, &lo, NULL), TF_OK);
    assert_int_equal(count_lines(f->counter), 2);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM calls"), 2);
    cJSON_Delete(fc.args);
}

static void work__failure_retried_then_gives_up(void **state)
{
    fixture *f = *state;
    work_ctx wc = {f->counter, 0, 1000};
    tf_work_opts wo;
    tf_work_opts_init(&wo);
    wo.retries = 2;
    wo.retry_backoff = 0.05;
    flow_ctx fc = {.args = args_value(1)};
    tf_loop_opts lo = until_idle();
    uint64_t failed = 0;
    assert_int_equal(run_app(f, counting_work, &wc, &wo, &fc, &lo, &failed), TF_OK);
    assert_int_equal(count_lines(f->counter), 3);
    assert_int_equal(fc.last.status, TF_CALL_FAILED);
        assert_non_null(strstr(fc.error, "planned failure"));
    assert_int_equal(failed, 1);
    /* It stays failed: never retried again, never reported as success. */
    assert_int_equal(run_app(f, counting_work, &wc, &wo, &fc, &lo, &failed), TF_OK);
    assert_int_equal(count_lines(f->counter), 3);
    assert_int_equal(fc.last.status, TF_CALL_FAILED);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM calls WHERE status='failed'"), 1);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM history WHERE status='failed'"), 3);
    cJSON_Delete(fc.args);
}

static void work__failure_then_success_on_retry(void **state)
{
    fixture *f = *state;
    work_ctx wc = {f->counter, 0, 1};
    tf_work_opts wo;
    tf_work_opts_init(&wo);
    wo.retries = 3;
    wo.retry_backoff = 0.02;
    flow_ctx fc = {.args = args_value(1)};
    tf_loop_opts lo = until_idle();
    uint64_t failed = 9;
    assert_int_equal(run_app(f, counting_work, &wc, &wo, &fc, &lo, &failed), TF_OK);
    assert_int_equal(count_lines(f->counter), 2);
    assert_int_equal(fc.last.status, TF_CALL_SUCCEEDED);
    assert_int_equal(failed, 0);
    cJSON_Delete(fc.args);
}

static void work__crash_fails_call_scheduler_lives(void **state)
{
    fixture *f = *state;
    work_ctx wc = {f->counter, 0, 0};
    flow_ctx fc = {.args = args_value(1)};
    tf_loop_opts lo = until_idle();
    uint64_t failed = 0;
    assert_int_equal(run_app(f, crashing_work, &wc, NULL, &fc, &lo, &failed), TF_OK);
    assert_int_equal(fc.last.status, TF_CALL_FAILED);
    assert_non_null(strstr(fc.error, "signal 11"));
    assert_int_equal(failed, 1);
    assert_int_equal(count_lines(f->counter), 1);
    assert_int_equal(sql_int(f->db, "SELECT signal FROM history"), 11);
    cJSON_Delete(fc.args);
}

static void work__timeout_fails_call(void **state)
{
    fixture *f = *state;
    work_ctx wc = {f->counter, 30, 0};
    tf_work_opts wo;
    tf_work_opts_init(&wo);
    wo.timeout = 0.2;
    flow_ctx fc = {.args = args_value(1)};
    tf_loop_opts lo = until_idle();
    time_t t0 = time(NULL);
    assert_int_equal(run_app(f, counting_work, &wc, &wo, &fc, &lo, NULL), TF_OK);
    assert_true(time(NULL) - t0 < 10);
    assert_int_equal(fc.last.status, TF_CALL_FAILED);
    assert_non_null(strstr(fc.error, "timed out"));
    cJSON_Delete(fc.args);
}

static void work__parallel_returns_at_once(void **state)
{
    fixture *f = *state;
    work_ctx wc = {f->counter, 0.3, 0};
    tf_work_opts wo;
    tf_work_opts_init(&wo);
    wo.parallel = 1;
    flow_ctx fc = {.args = args_value(1)};
    tf_loop_opts lo = ticks(1);
    /* One tick: the call starts and the loop waits for it before returning. */
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(run_app(f, counting_work, &wc, &wo, &fc, &lo, NULL), TF_OK);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_int_equal(fc.last.status, TF_CALL_RUNNING);
    assert_int_equal(count_lines(f->counter), 1);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM calls WHERE status='succeeded'"), 1);
    /* Until idle: the flow sees the result on a later tick, woken early. */
    flow_ctx fc2 = {.args = args_value(2)};
    lo = until_idle();
    lo.interval = 5; /* would take 5 s per tick without the early wake-up */
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(run_app(f, counting_work, &wc, &wo, &fc2, &lo, NULL), TF_OK);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_int_equal(fc2.last.status, TF_CALL_SUCCEEDED);
    assert_string_equal(fc2.result_text, "{\"echo\":{\"value\":2},\"n\":2}");
    assert_true((double)(b.tv_sec - a.tv_sec) < 4.5);
    cJSON_Delete(fc.args);
    cJSON_Delete(fc2.args);
}


/* A flow over many argument sets of a parallel work (a foreach). */
typedef struct fan_ctx {
    tf_work *work;          /* the work to call */
    int n;                  /* argument sets 0..n-1 */
    int ticks;              /* how many times the flow ran */
    int succeeded;          /* calls SUCCEEDED in the latest tick */
} fan_ctx;

static void fan_flow(tf_tick *tick, void *user)
{
    fan_ctx *fc = user;
    fc->ticks++;
    fc->succeeded = 0;
    for (int i = 0; i < fc->n; i++) {
        cJSON *a = args_value(i);
        tf_call c;
        if (tf_run(tick, fc->work, a, &c) == TF_OK && c.status == TF_CALL_SUCCEEDED)
            fc->succeeded++;
        cJSON_Delete(a);
    }
}

/*
 * --max-parallel: a call finding every slot taken waits in tf_run for one,
 * so one tick starts the whole fan-out (before, each tick started two and
 * the next tick decided every element again: quadratic).
 */
static void work__fanout_fills_slots_within_one_tick(void **state)
{
    fixture *f = *state;
    work_ctx wc = {f->counter, 0.002, 0};
    tf_work_opts wo;
    tf_work_opts_init(&wo);
    wo.parallel = 1;
    tf_app *app = NULL;
    assert_int_equal(tf_app_open(f->db, &app), TF_OK);
    fan_ctx fc = {.n = 60};
    assert_int_equal(tf_work_new(app, "w", counting_work, &wc, &wo, &fc.work), TF_OK);
    assert_int_equal(tf_flow_add(app, "f", fan_flow, &fc), TF_OK);
    tf_loop_opts lo = until_idle();
    lo.max_parallel = 2;
    lo.interval = 5; /* ticks come only from ends: woken early */
    assert_int_equal(tf_loop_run(app, &lo, NULL), TF_OK);
    tf_app_close(app);
    assert_int_equal(count_lines(f->counter), 60);
    assert_int_equal(fc.succeeded, 60);
    assert_true(fc.ticks <= 3); /* start all; see the last two end; idle */
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM calls WHERE status='succeeded'"), 60);
}

static void work__killed_scheduler_recovered(void **state)
{
    fixture *f = *state;
    char marker[160];
    snprintf(marker, sizeof marker, "%s/started", f->dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        work_ctx wc = {f->counter, 30, 0};
        flow_ctx fc = {.args = args_value(1)};
        tf_loop_opts lo = ticks(1);
        run_app(f, counting_work, &wc, NULL, &fc, &lo, NULL);
        _exit(0);
    }
    for (int i = 0; i < 500 && count_lines(f->counter) < 1; i++)
        usleep(10000);
    assert_int_equal(count_lines(f->counter), 1);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    /* The next start runs the call again at once, and records the interruption. */
    work_ctx wc = {f->counter, 0, 0};
    flow_ctx fc = {.args = args_value(1)};
    tf_loop_opts lo = until_idle();
    assert_int_equal(run_app(f, counting_work, &wc, NULL, &fc, &lo, NULL), TF_OK);
    assert_int_equal(fc.last.status, TF_CALL_SUCCEEDED);
    assert_int_equal(count_lines(f->counter), 2);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM history WHERE status='interrupted'"), 1);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM history WHERE status='succeeded'"), 1);
    cJSON_Delete(fc.args);
}

static void work__racing_schedulers_execute_once(void **state)
{
    fixture *f = *state;
    enum { RUNNERS = 4, TRIALS = 8 };
    for (int trial = 0; trial < TRIALS; trial++) {
        fixture ft = *f;
        snprintf(ft.db, sizeof ft.db, "%s/race-%d.db", f->dir, trial);
        snprintf(ft.counter, sizeof ft.counter, "%s/race-%d.count", f->dir, trial);
        pid_t pids[RUNNERS];
        for (int i = 0; i < RUNNERS; i++) {
            pids[i] = fork();
            assert_true(pids[i] >= 0);
            if (pids[i] == 0) {
                work_ctx wc = {ft.counter, 0.05, 0};
                flow_ctx fc = {.args = args_value(trial)};
                tf_loop_opts lo = until_idle();
                int rc = run_app(&ft, counting_work, &wc, NULL, &fc, &lo, NULL);
                _exit(rc == TF_OK && fc.last.status == TF_CALL_SUCCEEDED ? 0 : 1);
            }
        }
        for (int i = 0; i < RUNNERS; i++) {
            int st = 0;
            waitpid(pids[i], &st, 0);
            assert_true(WIFEXITED(st));
            assert_int_equal(WEXITSTATUS(st), 0);
        }
        assert_int_equal(count_lines(ft.counter), 1);
    }
}

/* A flow that deletes its call from another connection after the first tick. */
typedef struct clear_ctx {
    flow_ctx fc;            /* the usual flow state */
    const char *db;         /* database to clear */
} clear_ctx;

static void clearing_flow(tf_tick *tick, void *user)
{
    clear_ctx *cc = user;
    one_work_flow(tick, &cc->fc);
    if (tf_tick_number(tick) == 2) {
        sqlite3 *h = NULL;
        sqlite3_open(cc->db, &h);
        sqlite3_busy_timeout(h, 5000);
        sqlite3_exec(h, "DELETE FROM calls", NULL, NULL, NULL);
        sqlite3_close(h);
    }
}

static void work__clear_elsewhere_takes_effect_next_tick(void **state)
{
    fixture *f = *state;
    work_ctx wc = {f->counter, 0, 0};
    clear_ctx cc = {.fc = {.args = args_value(1)}, .db = f->db};
    tf_app *app = NULL;
    assert_int_equal(tf_app_open(f->db, &app), TF_OK);
    assert_int_equal(tf_work_new(app, "w", counting_work, &wc, NULL, &cc.fc.work), TF_OK);
    assert_int_equal(tf_flow_add(app, "f", clearing_flow, &cc), TF_OK);
    tf_loop_opts lo = ticks(4);
    assert_int_equal(tf_loop_run(app, &lo, NULL), TF_OK);
    tf_app_close(app);
    /* tick 1 runs, tick 2 is a memo hit then the clear, tick 3 runs again, tick 4 hits. */
    assert_int_equal(count_lines(f->counter), 2);
    cJSON_Delete(cc.fc.args);
}

static void sql_exec(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
}

/* x: a parallel work taken over by "another runner" while it runs; y: a blocking one. */
typedef struct lost_ctx {
    tf_work *x, *y;         /* the works */
    const char *db;         /* database path, for the takeover behind tickflow's back */
    tf_call_status status;  /* x's status at tick 3 */
    int cached;             /* x's cached flag at tick 3 */
} lost_ctx;

static void lost_flow(tf_tick *tick, void *user)
{
    lost_ctx *lc = user;
    tf_call c;
    uint64_t n = tf_tick_number(tick);
    if (n == 1) {
        assert_int_equal(tf_run(tick, lc->x, NULL, &c), TF_OK);
        assert_int_equal(c.status, TF_CALL_RUNNING);
        /* another host takes x over (its lease: for ever): our success will be fenced out */
        sql_exec(lc->db, "UPDATE calls SET fence = fence + 1, runner_boot = 'elsewhere',"
                         " runner_pidns = 1, lease_until = 1e12, lease_boot_until = NULL"
                         " WHERE work = 'x'");
    } else if (n == 2) {
        /* x ends while y blocks: its success is queued, put in the memo, then fenced out */
        assert_int_equal(tf_run(tick, lc->y, NULL, &c), TF_OK);
    } else if (n == 3) {
        assert_int_equal(tf_run(tick, lc->x, NULL, &c), TF_OK);
        lc->status = c.status;
        lc->cached = c.cached;
    }
}

/*
 * A queued success found fenced out when it is committed is not served
 * from the memo afterwards, although no other connection wrote since the
 * tick that saw the takeover (data_version alone would trust the memo).
 */
static void work__lost_queued_success_not_served_from_memo(void **state)
{
    fixture *f = *state;
    work_ctx quick = {f->counter, 0.2, 0}, slow = {f->counter, 0.6, 0};
    lost_ctx lc = {.db = f->db};
    tf_app *app = NULL;
    assert_int_equal(tf_app_open(f->db, &app), TF_OK);
    tf_work_opts par;
    tf_work_opts_init(&par);
    par.parallel = 1;
    assert_int_equal(tf_work_new(app, "x", counting_work, &quick, &par, &lc.x), TF_OK);
    assert_int_equal(tf_work_new(app, "y", counting_work, &slow, NULL, &lc.y), TF_OK);
    assert_int_equal(tf_flow_add(app, "f", lost_flow, &lc), TF_OK);
    tf_loop_opts lo = ticks(3);
    assert_int_equal(tf_loop_run(app, &lo, NULL), TF_OK);
    tf_app_close(app);
    assert_int_equal(lc.status, TF_CALL_RUNNING); /* the other runner's execution, not our lost result */
    assert_int_equal(lc.cached, 0);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM calls WHERE work = 'x' AND status = 'running'"), 1);
}

static tf_app *stop_target;
static void on_alarm(int sig)
{
    (void)sig;
    tf_app_stop(stop_target);
}

static void work__stop_interrupts_running_execution(void **state)
{
    fixture *f = *state;
    work_ctx wc = {f->counter, 30, 0};
    flow_ctx fc = {.args = args_value(1)};
    tf_app *app = NULL;
    assert_int_equal(tf_app_open(f->db, &app), TF_OK);
    assert_int_equal(tf_work_new(app, "w", counting_work, &wc, NULL, &fc.work), TF_OK);
    assert_int_equal(tf_flow_add(app, "f", one_work_flow, &fc), TF_OK);
    stop_target = app;
    signal(SIGALRM, on_alarm);
    struct itimerval it = {{0, 0}, {0, 300000}};
    setitimer(ITIMER_REAL, &it, NULL);
    tf_loop_opts lo = until_idle();
    time_t t0 = time(NULL);
    assert_int_equal(tf_loop_run(app, &lo, NULL), TF_ESTOPPED);
    assert_true(time(NULL) - t0 < 10);
    tf_app_close(app);
    signal(SIGALRM, SIG_DFL);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM calls WHERE status='interrupted'"), 1);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM history WHERE status='interrupted'"), 1);
    cJSON_Delete(fc.args);
}

static void work__bad_args_refused(void **state)
{
    fixture *f = *state;
    work_ctx wc = {f->counter, 0, 0};
    flow_ctx fc = {.args = cJSON_CreateObject()};
    cJSON_AddNumberToObject(fc.args, "x", 0.0 / 0.0);
    tf_loop_opts lo = ticks(1);
    tf_app *app = NULL;
    assert_int_equal(tf_app_open(f->db, &app), TF_OK);
    assert_int_equal(tf_work_new(app, "w", counting_work, &wc, NULL, &fc.work), TF_OK);
    assert_int_equal(tf_flow_add(app, "f", one_work_flow, &fc), TF_OK);
    assert_int_equal(tf_loop_run(app, &lo, NULL), TF_OK);
    assert_int_equal(fc.last_rc, TF_EINPUT);
    assert_non_null(strstr(tf_errmsg(app), "$.x"));
    tf_app_close(app);
    assert_int_equal(count_lines(f->counter), 0);
    cJSON_Delete(fc.args);
}

static void work__invalid_names_refused(void **state)
{
    fixture *f = *state;
    tf_app *app = NULL;
    tf_work *w = NULL;
    assert_int_equal(tf_app_open(f->db, &app), TF_OK);
    assert_int_equal(tf_work_new(app, "../x", counting_work, NULL, NULL, &w), TF_EINPUT);
    assert_int_equal(tf_work_new(app, "ok", counting_work, NULL, NULL, &w), TF_OK);
    assert_int_equal(tf_work_new(app, "ok", counting_work, NULL, NULL, &w), TF_EINPUT);
    assert_non_null(strstr(tf_errmsg(app), "twice"));
    tf_app_close(app);
}

/* Gone, or a zombie nobody reaped yet (pid 1 here may not reap). */
static int process_gone(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *close_paren = strrchr(buf, ')');
    return close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z';
}

static void work__killed_scheduler_takes_grandchildren_along(void **state)
{
    fixture *f = *state;
    char pidfile[160], script[400];
    snprintf(pidfile, sizeof pidfile, "%s/bg.pid", f->dir);
    snprintf(script, sizeof script, "sleep 60 & echo $! > '%s'; sleep 60", pidfile);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        tf_app *app = NULL;
        tf_work *w = NULL;
        const char *argv[] = {"sh", "-c", script, NULL};
        tf_command cmd = {argv, NULL, NULL};
        flow_ctx fc = {.args = args_value(1)};
        if (tf_app_open(f->db, &app) != TF_OK || tf_work_new_command(app, "w", &cmd, NULL, &w) != TF_OK)
            _exit(3);
        fc.work = w;
        tf_flow_add(app, "f", one_work_flow, &fc);
        tf_loop_opts lo = ticks(1);
        tf_loop_run(app, &lo, NULL);
        _exit(0);
    }
    pid_t bg = 0;
    for (int i = 0; i < 500 && bg <= 0; i++) {
        FILE *fp = fopen(pidfile, "r");
        if (fp) {
            if (fscanf(fp, "%d", &bg) != 1)
                bg = 0;
            fclose(fp);
        }
        if (bg <= 0)
            usleep(10000);
    }
    assert_true(bg > 0);
    assert_false(process_gone(bg));
    /*
     * Kill the scheduler only once it has told its watchdog about the group:
     * it records the execution's group right after (exec_pgid). A scheduler
     * killed in the instant between starting a command and telling the
     * watchdog leaves that command's own children running (a known window).
     */
    for (int i = 0; i < 500 && sql_int(f->db, "SELECT count(*) FROM history WHERE exec_pgid IS NOT NULL") < 1; i++)
        usleep(10000);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    /* Not only the command (parent-death signal) but its own children too. */
    int gone = 0;
    for (int i = 0; i < 1000 && !gone; i++) {
        gone = process_gone(bg);
        if (!gone)
            usleep(10000);
    }
    if (!gone)
        kill(bg, SIGKILL);
    assert_true(gone);
}

/*
 * Ends are group-committed (store.h), but never left waiting on an idle
 * loop: while the scheduler sleeps between ticks another connection sees
 * the success.
 */
static void work__end_visible_while_loop_sleeps(void **state)
{
    fixture *f = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        work_ctx wc = {f->counter, 0, 0};
        flow_ctx fc = {.args = args_value(3)};
        tf_loop_opts lo = ticks(2);
        lo.interval = 30; /* the second tick is far away */
        _exit(run_app(f, counting_work, &wc, NULL, &fc, &lo, NULL) == TF_OK ? 0 : 1);
    }
    long long ok = 0;
    for (int i = 0; i < 100 && ok != 1; i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (count_lines(f->counter) == 1)
            ok = sql_int(f->db, "SELECT count(*) FROM calls WHERE status = 'succeeded'"
                                " AND result_json IS NOT NULL");
    }
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    assert_int_equal(ok, 1);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM history WHERE status = 'succeeded'"
                                    " AND exec_pid > 0"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(work__hit_after_first_success, setup, teardown),
        cmocka_unit_test_setup_teardown(work__persists_across_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(work__new_args_run_once_each, setup, teardown),
        cmocka_unit_test_setup_teardown(work__no_cache_runs_every_call, setup, teardown),
        cmocka_unit_test_setup_teardown(work__no_cache_runs_once_per_run_until_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(work__version_change_runs_again, setup, teardown),
        cmocka_unit_test_setup_teardown(work__failure_retried_then_gives_up, setup, teardown),
        cmocka_unit_test_setup_teardown(work__failure_then_success_on_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(work__crash_fails_call_scheduler_lives, setup, teardown),
        cmocka_unit_test_setup_teardown(work__timeout_fails_call, setup, teardown),
        cmocka_unit_test_setup_teardown(work__parallel_returns_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(work__fanout_fills_slots_within_one_tick, setup, teardown),
        cmocka_unit_test_setup_teardown(work__killed_scheduler_recovered, setup, teardown),
        cmocka_unit_test_setup_teardown(work__racing_schedulers_execute_once, setup, teardown),
        cmocka_unit_test_setup_teardown(work__killed_scheduler_takes_grandchildren_along, setup, teardown),
        cmocka_unit_test_setup_teardown(work__clear_elsewhere_takes_effect_next_tick, setup, teardown),
        cmocka_unit_test_setup_teardown(work__stop_interrupts_running_execution, setup, teardown),
        cmocka_unit_test_setup_teardown(work__bad_args_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(work__invalid_names_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(work__lost_queued_success_not_served_from_memo, setup, teardown),
        cmocka_unit_test_setup_teardown(work__end_visible_while_loop_sleeps, setup, teardown),
    };
    return cmocka_run_group_tests_name("work", tests, NULL, NULL);
}
