/*
 * test_cache.c - the cache semantics of issue 16 through the public API:
 * the duration grammar, arguments outside the key (ignore), expiry with
 * stale-if-error (max_age, keep_stale, driven by the clock seam) and the
 * hit counters behind `tickflow stats`. Real SQLite files in temporary
 * folders, real child processes; executions are counted through a file
 * each work appends to (works run in child processes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "tickflow.h"
#include "helpers/lines.h"
#include "filehash.h"

typedef struct fixture {
    char dir[64];           /* temporary folder */
    char db[128];           /* database path inside it */
    char counter[128];      /* file the works append one line to per execution */
    char seen[128];         /* file the works append their arguments to */
    char fail[128];         /* while this file exists, the work fails */
    double now;             /* the clock the app sees (tf_app_set_clock) */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tf-cache-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof f->db, "%s/t.db", f->dir);
    snprintf(f->counter, sizeof f->counter, "%s/count", f->dir);
    snprintf(f->seen, sizeof f->seen, "%s/seen", f->dir);
    snprintf(f->fail, sizeof f->fail, "%s/fail", f->dir);
    f->now = 1800000000.0;
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

static double fixture_clock(void *user)
{
    return ((fixture *)user)->now;
}

/* The first column of the first row of sql, as text (malloc'd) or NULL. */
static char *sql_text(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    char *v = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* Counts, records its arguments, fails while f->fail exists, else returns {"n": count}. */
static int recording_work(const cJSON *args, void *user, cJSON **result, char **error)
{
    fixture *f = user;
    int before = count_lines(f->counter);
    append_line(f->counter, "x");
    char *text = cJSON_PrintUnformatted(args);
    append_line(f->seen, text ? text : "?");
    free(text);
    if (access(f->fail, F_OK) == 0) {
        *error = strdup("planned failure");
        return 1;
    }
    *result = cJSON_CreateObject();
    cJSON_AddNumberToObject(*result, "n", before + 1);
    return 0;
}

/* A flow calling one work with one argument set per tick, keeping the outcome. */
typedef struct flow_ctx {
    tf_work *work;          /* the work */
    cJSON *args;            /* its arguments */
    tf_call last;           /* the last outcome (pointers die with the tick) */
    int last_rc;            /* the last return code */
    int result_n;           /* result.n of the last outcome, or -1 */
    char error[256];        /* copy of the last error, or "" */
} flow_ctx;

static void one_call_flow(tf_tick *tick, void *user)
{
    flow_ctx *fc = user;
    fc->last_rc = tf_run(tick, fc->work, fc->args, &fc->last);
    const cJSON *n = fc->last.result ? cJSON_GetObjectItemCaseSensitive(fc->last.result, "n") : NULL;
    fc->result_n = cJSON_IsNumber(n) ? n->valueint : -1;
    snprintf(fc->error, sizeof fc->error, "%s", fc->last.error ? fc->last.error : "");
}

static void one_tick(tf_app *app)
{
    tf_loop_opts lo;
    tf_loop_opts_init(&lo);
    lo.max_ticks = 1;
    lo.interval = 0;
    assert_int_equal(tf_loop_run(app, &lo, NULL), TF_OK);
}

/* tf_calls_list callback: the row's stale flag into *(int *)user. */
static int remember_stale(const tf_call_row *row, void *user)
{
    *(int *)user = row->stale;
    return 0;
}

/* ---- durations ------------------------------------------------------------------ */

static void cache__duration_grammar(void **state)
{
    (void)state;
    static const struct { const char *text; double seconds; } good[] = {
        {"45s", 45}, {"90m", 5400}, {"12h", 43200}, {"3d", 259200}, {"2w", 1209600},
        {"1d2h", 93600}, {"1h30m", 5400}, {"2w3d4h5m6s", 1209600 + 259200 + 14400 + 300 + 6},
        {"0h5m", 300},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        double s = -1;
        tf_error err;
        assert_int_equal(tf_duration_parse(good[i].text, &s, &err), TF_OK);
        assert_true(s == good[i].seconds);
    }
    static const char *const bad[] = {
        "", "12", "h", "1.5h", "-1h", "+1h", "1H", "1h 2m", "2h1d", "1h1h", "0s", "0d0h",
        "999999999999d", "1d2", " 1d", "1x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double s = 7;
        tf_error err;
        err.msg[0] = '\0';
        assert_int_equal(tf_duration_parse(bad[i], &s, &err), TF_EINPUT);
        assert_true(s == 0);
        assert_true(err.msg[0] != '\0');
    }
}

/* ---- arguments outside the key ------------------------------------------------- */

static void cache__ignored_args_reach_the_work_not_the_key(void **state)
{
    fixture *f = *state;
    tf_app *app = NULL;
    assert_int_equal(tf_app_open(f->db, &app), TF_OK);
    static const char *const ignore[] = {"token", NULL};
    tf_work_opts o;
    tf_work_opts_init(&o);
    o.ignore = ignore;
    flow_ctx fc = {0};
    assert_int_equal(tf_work_new(app, "fetch", recording_work, f, &o, &fc.work), TF_OK);
    assert_int_equal(tf_flow_add(app, "f", one_call_flow, &fc), TF_OK);

    fc.args = cJSON_Parse("{\"url\":\"u1\",\"token\":\"sekrit-one\"}");
    one_tick(app);
    assert_int_equal(fc.last.status, TF_CALL_SUCCEEDED);
    assert_int_equal(count_lines(f->counter), 1);
    char key[65];
    assert_int_equal(tf_hash_tree_ignoring(fc.args, ignore, key, NULL), TF_OK);
    assert_string_equal(fc.last.key, key);
    cJSON *no_token = cJSON_Parse("{\"url\":\"u1\"}");
    char plain[65];
    assert_int_equal(tf_hash_tree(no_token, plain, NULL), TF_OK);
    assert_string_equal(key, plain); /* leaving a member out = not having it */
    cJSON_Delete(no_token);

    /* a rotated token is the same call: nothing runs */
    cJSON_Delete(fc.args);
    fc.args = cJSON_Parse("{\"url\":\"u1\",\"token\":\"sekrit-two\"}");
    one_tick(app);
    assert_int_equal(fc.last.status, TF_CALL_SUCCEEDED);
    assert_int_equal(fc.last.cached, 1);
    assert_int_equal(count_lines(f->counter), 1);
    tf_app_close(app);

    /* the work saw the token; the database never holds it */
    char *seen = sql_text(f->db, "SELECT args_json FROM calls");
    assert_string_equal(seen, "{\"url\":\"u1\"}");
    free(seen);
    FILE *fp = fopen(f->seen, "r");
    assert_non_null(fp);
    char line[256] = "";
    assert_non_null(fgets(line, sizeof line, fp));
    fclose(fp);
    assert_non_null(strstr(line, "sekrit-one"));
    char cmd[400];
    snprintf(cmd, sizeof cmd, "cat '%s' '%s-wal' 2>/dev/null | grep -q sekrit", f->db, f->db);
    assert_int_not_equal(system(cmd), 0);
    cJSON_Delete(fc.args);
}

static void cache__ignore_needs_an_object(void **state)
{
    (void)state;
    static const char *const ignore[] = {"token", NULL};
    cJSON *arr = cJSON_Parse("[1,2]");
    char key[65];
    tf_error err;
    assert_int_equal(tf_hash_tree_ignoring(arr, ignore, key, &err), TF_EINPUT);
    assert_int_equal(tf_hash_tree_ignoring(arr, NULL, key, &err), TF_OK);
    cJSON_Delete(arr);
}

/* ---- expiry with stale-if-error -------------------------------------------------- */

/* An app on f's database and clock with one work (opts) called by one flow. */
static tf_app *expiry_app(fixture *f, const tf_work_opts *o, flow_ctx *fc)
{
    tf_app *app = NULL;
    assert_int_equal(tf_app_open(f->db, &app), TF_OK);
    tf_app_set_clock(app, fixture_clock, f);
    assert_int_equal(tf_work_new(app, "rates", recording_work, f, o, &fc->work), TF_OK);
    assert_int_equal(tf_flow_add(app, "f", one_call_flow, fc), TF_OK);
    return app;
}

static void cache__max_age_refreshes_and_serves_stale_on_failure(void **state)
{
    fixture *f = *state;
    tf_work_opts o;
    tf_work_opts_init(&o);
    assert_int_equal(o.keep_stale, 1);
    assert_int_equal(tf_duration_parse("1h", &o.max_age, NULL), TF_OK);
    flow_ctx fc = {0};
    fc.args = cJSON_Parse("{\"cur\":\"EUR\"}");
    tf_app *app = expiry_app(f, &o, &fc);

    one_tick(app); /* executes */
    assert_int_equal(fc.last.status, TF_CALL_SUCCEEDED);
    assert_int_equal(fc.result_n, 1);
    f->now += 3599; /* within the hour: the memo answers */
    one_tick(app);
    assert_int_equal(fc.last.cached, 1);
    assert_int_equal(fc.last.stale, 0);
    assert_int_equal(count_lines(f->counter), 1);
    f->now += 2; /* past it: runs again, fresh */
    one_tick(app);
    assert_int_equal(count_lines(f->counter), 2);
    assert_int_equal(fc.last.executed, 1);
    assert_int_equal(fc.last.stale, 0);
    assert_int_equal(fc.result_n, 2);

    /* the refresh fails: the last good result answers, stale, with the error */
    append_line(f->fail, "x");
    f->now += 3600;
    one_tick(app);
    assert_int_equal(count_lines(f->counter), 3);
    assert_int_equal(fc.last.status, TF_CALL_SUCCEEDED);
    assert_int_equal(fc.last.stale, 1);
    assert_int_equal(fc.result_n, 2);
    assert_string_equal(fc.error, "planned failure");
    /* failed for good (no retries): later calls still get it, nothing runs */
    one_tick(app);
    assert_int_equal(count_lines(f->counter), 3);
    assert_int_equal(fc.last.stale, 1);
    assert_int_equal(fc.result_n, 2);
    tf_app_close(app);

    /* another process sees the call as stale, its last good result kept */
    tf_app *other = NULL;
    assert_int_equal(tf_app_open(f->db, &other), TF_OK);
    tf_filter flt = {0};
    flt.work = "rates";
    int stale = -1;
    assert_int_equal(tf_calls_list(other, &flt, remember_stale, &stale), TF_OK);
    assert_int_equal(stale, 1);
    tf_app_close(other);
    cJSON_Delete(fc.args);
}

static void cache__keep_stale_off_reports_the_failure(void **state)
{
    fixture *f = *state;
    tf_work_opts o;
    tf_work_opts_init(&o);
    o.max_age = 60;
    o.keep_stale = 0;
    flow_ctx fc = {0};
    fc.args = cJSON_Parse("{}");
    tf_app *app = expiry_app(f, &o, &fc);
    one_tick(app);
    assert_int_equal(fc.result_n, 1);
    append_line(f->fail, "x");
    f->now += 61;
    one_tick(app);
    assert_int_equal(count_lines(f->counter), 2);
    assert_int_equal(fc.last.status, TF_CALL_FAILED);
    assert_int_equal(fc.last.stale, 0);
    assert_null(fc.last.result);
    tf_app_close(app);
    cJSON_Delete(fc.args);
}

/* The cache clock (tf_app_set_cache_now) ages results; leases stay on the app clock. */
static void cache__cache_clock_moves_expiry(void **state)
{
    fixture *f = *state;
    tf_work_opts o;
    tf_work_opts_init(&o);
    o.max_age = 3600;
    flow_ctx fc = {0};
    fc.args = cJSON_Parse("{}");
    tf_app *app = expiry_app(f, &o, &fc);
    tf_app_set_cache_now(app, 1700000000.0);
    one_tick(app);
    assert_int_equal(count_lines(f->counter), 1);
    tf_app_set_cache_now(app, 1700000000.0 + 3000);
    one_tick(app);
    assert_int_equal(count_lines(f->counter), 1);
    tf_app_set_cache_now(app, 1700000000.0 + 3601);
    one_tick(app);
    assert_int_equal(count_lines(f->counter), 2);
    tf_app_close(app);
    cJSON_Delete(fc.args);
}

/* ---- hits and time saved ----------------------------------------------------------- */

typedef struct stats_seen {
    int rows;               /* callbacks */
    tf_stats_row row;       /* the last one (work pointer not kept) */
} stats_seen;

static int keep_stats(const tf_stats_row *row, void *user)
{
    stats_seen *s = user;
    s->rows++;
    s->row = *row;
    s->row.work = NULL;
    return 0;
}

static void cache__hits_counted_per_tick_and_saved_time(void **state)
{
    fixture *f = *state;
    tf_app *app = NULL;
    assert_int_equal(tf_app_open(f->db, &app), TF_OK);
    flow_ctx fc = {0};
    fc.args = cJSON_Parse("{\"a\":1}");
    assert_int_equal(tf_work_new(app, "w", recording_work, f, NULL, &fc.work), TF_OK);
    /* three calls of the same arguments per tick: one hit per tick counted */
    for (int i = 0; i < 3; i++)
        assert_int_equal(tf_flow_add(app, "f", one_call_flow, &fc), TF_OK);
    tf_loop_opts lo;
    tf_loop_opts_init(&lo);
    lo.max_ticks = 5;
    lo.interval = 0;
    assert_int_equal(tf_loop_run(app, &lo, NULL), TF_OK);
    assert_int_equal(count_lines(f->counter), 1);
    stats_seen seen = {0};
    assert_int_equal(tf_calls_stats(app, "w", 0, keep_stats, &seen), TF_OK);
    assert_int_equal(seen.rows, 1);
    assert_int_equal(seen.row.executions, 1);
    assert_int_equal(seen.row.hits, 4); /* ticks 2..5; tick 1 executed it */
    assert_true(seen.row.exec_seconds > 0);
    double diff = seen.row.saved - 4 * seen.row.exec_seconds;
    assert_true(diff < 1e-5 && diff > -1e-5);
    assert_int_equal(seen.row.day_hits, 4);
    assert_int_equal(seen.row.day_executions, 1);
    /* a day later, the day figures are empty, the totals stay */
    seen.rows = 0;
    assert_int_equal(tf_calls_stats(app, NULL, 0, keep_stats, &seen), TF_OK);
    double later = 0;
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        later = (double)ts.tv_sec + 2 * 86400.0;
    }
    seen.rows = 0;
    assert_int_equal(tf_calls_stats(app, "w", later, keep_stats, &seen), TF_OK);
    assert_int_equal(seen.row.hits, 4);
    assert_int_equal(seen.row.day_hits, 0);
    assert_int_equal(seen.row.day_executions, 0);
    tf_app_close(app);
    cJSON_Delete(fc.args);
}

/* ---- content keys of files ----------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* Set path's mtime to sec (nanoseconds 0), keeping its bytes. */
static void set_mtime(const char *path, time_t sec)
{
    struct timespec ts[2] = {{sec, 0}, {sec, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void cache__file_hashed_once_while_unchanged(void **state)
{
    fixture *f = *state;
    char path[160], tmp[160];
    snprintf(path, sizeof path, "%s/a.txt", f->dir);
    snprintf(tmp, sizeof tmp, "%s/a.new", f->dir);
    write_file(path, "hello\n");
    set_mtime(path, 1700000000);
    tf_filecache *fc = tf_filecache_new();
    assert_non_null(fc);
    tf_fileinfo a, b;
    char err[256];
    assert_int_equal(tf_filecache_get(fc, f->dir, "a.txt", 1, &a, err, sizeof err), TF_OK);
    assert_string_equal(a.sha256, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
    assert_int_equal(a.size, 6);
    assert_int_equal(tf_filecache_reads(fc), 1);
    /* same tick: not looked at again, even if it changed */
    write_file(path, "HELLO\n");
    set_mtime(path, 1700000000);
    assert_int_equal(tf_filecache_get(fc, f->dir, "a.txt", 1, &b, err, sizeof err), TF_OK);
    assert_int_equal(tf_filecache_reads(fc), 1);
    /* next tick, same inode, size and mtime: trusted without reading (documented) */
    assert_int_equal(tf_filecache_get(fc, f->dir, "a.txt", 2, &b, err, sizeof err), TF_OK);
    assert_int_equal(tf_filecache_reads(fc), 1);
    assert_string_equal(b.sha256, a.sha256);
    /* a new mtime: read again, and the new bytes give a new digest */
    set_mtime(path, 1700000001);
    assert_int_equal(tf_filecache_get(fc, f->dir, "a.txt", 3, &b, err, sizeof err), TF_OK);
    assert_int_equal(tf_filecache_reads(fc), 2);
    assert_string_not_equal(b.sha256, a.sha256);
    /* replaced by rename (new inode), same size and mtime: read again */
    write_file(tmp, "hello\n");
    set_mtime(tmp, 1700000001);
    assert_int_equal(rename(tmp, path), 0);
    assert_int_equal(tf_filecache_get(fc, f->dir, "a.txt", 4, &b, err, sizeof err), TF_OK);
    assert_int_equal(tf_filecache_reads(fc), 3);
    assert_string_equal(b.sha256, a.sha256);
    /* missing, refused paths, links, folders */
    assert_int_equal(tf_filecache_get(fc, f->dir, "nope.txt", 5, &b, err, sizeof err), TF_ENOTFOUND);
    assert_int_equal(tf_filecache_get(fc, f->dir, "../a.txt", 5, &b, err, sizeof err), TF_EINPUT);
    assert_int_equal(tf_filecache_get(fc, f->dir, "/etc/passwd", 5, &b, err, sizeof err), TF_EINPUT);
    char link[160], sub[160];
    snprintf(link, sizeof link, "%s/l.txt", f->dir);
    assert_int_equal(symlink("a.txt", link), 0);
    assert_int_equal(tf_filecache_get(fc, f->dir, "l.txt", 5, &b, err, sizeof err), TF_EINPUT);
    snprintf(sub, sizeof sub, "%s/sub", f->dir);
    assert_int_equal(symlink(".", sub), 0); /* a linked folder on the way */
    assert_int_equal(tf_filecache_get(fc, f->dir, "sub/a.txt", 5, &b, err, sizeof err), TF_EINPUT);
    assert_int_equal(tf_filecache_get(fc, f->dir, "./a.txt", 5, &b, err, sizeof err), TF_OK);
    /* a sweep forgets what was not seen since; what was is kept without a read */
    uint64_t reads = tf_filecache_reads(fc);
    tf_filecache_sweep(fc, 5);
    assert_int_equal(tf_filecache_get(fc, f->dir, "./a.txt", 6, &b, err, sizeof err), TF_OK);
    assert_int_equal(tf_filecache_reads(fc), reads);
    tf_filecache_sweep(fc, 7);
    assert_int_equal(tf_filecache_get(fc, f->dir, "./a.txt", 8, &b, err, sizeof err), TF_OK);
    assert_int_equal(tf_filecache_reads(fc), reads + 1);
    tf_filecache_free(fc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cache__duration_grammar),
        cmocka_unit_test_setup_teardown(cache__ignored_args_reach_the_work_not_the_key, setup, teardown),
        cmocka_unit_test(cache__ignore_needs_an_object),
        cmocka_unit_test_setup_teardown(cache__file_hashed_once_while_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(cache__max_age_refreshes_and_serves_stale_on_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(cache__keep_stale_off_reports_the_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(cache__cache_clock_moves_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(cache__hits_counted_per_tick_and_saved_time, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
