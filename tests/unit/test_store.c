/*
 * test_store.c - the SQLite store and the runner identity (src/store/,
 * proc.c) against real database files in mkdtemp folders and real
 * processes: creation and migration, the claim/lease/fence protocol, dead
 * runners, retries with a simulated clock, inspection and clearing, and a
 * multi-process claim race.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "proc.h"
#include "schema.h"
#include "store.h"
#include "helpers/claims.h"

/* A clock the test moves by hand. */
typedef struct fake_clock {
    double t;               /* epoch seconds returned */
} fake_clock;

static double fake_now(void *user)
{
    return ((fake_clock *)user)->t;
}

/* Per-test state: a temporary folder with one database and an open store. */
typedef struct fx {
    char dir[64];           /* mkdtemp folder */
    char path[128];         /* dir/t.db */
    fake_clock clk;         /* the store's clock */
    tf_store *s;            /* store on path */
} fx;

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(p);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static fx *fx_new(int open_store)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tf_store_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    int n = snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    assert_true(n > 0 && (size_t)n < sizeof f->path);
    f->clk.t = 1700000000.0;
    if (open_store) {
        int rc = tf_store_open(f->path, &f->s);
        if (rc != TF_OK)
            fail_msg("open: %s", tf_store_errmsg(f->s));
        tf_store_set_clock(f->s, fake_now, &f->clk);
    }
    return f;
}

static int setup(void **state)
{
    *state = fx_new(1);
    return 0;
}

static int setup_no_store(void **state)
{
    *state = fx_new(0);
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    tf_store_close(f->s);
    rm_rf(f->dir);
    free(f);
    return 0;
}

/* A second store on the same file, with its own clock. */
static tf_store *open_second(const fx *f, fake_clock *clk)
{
    tf_store *s = NULL;
    int rc = tf_store_open(f->path, &s);
    if (rc != TF_OK)
        fail_msg("open: %s", tf_store_errmsg(s));
    tf_store_set_clock(s, fake_now, clk);
    return s;
}

/*
 * Make s claim as a runner elsewhere: on another boot (another host) or,
 * with same_boot, in another PID namespace of this boot. Such a runner is
 * judged by its lease only (wall clock / boot-time clock).
 */
static void as_elsewhere(tf_store *s, int same_boot)
{
    tf_proc_id id;
    assert_int_equal(tf_proc_self(&id), TF_OK);
    if (same_boot)
        id.pidns += 1;
    else
        snprintf(id.boot, sizeof id.boot, "%s", "00000000-0000-4000-8000-000000000000");
    id.pid = 999999;
    id.start = 42;
    tf_store_set_identity(s, &id);
}

static tf_claim_req req_of(const char *work, const char *key)
{
    tf_claim_req r = {
        .work = work, .version = "", .args_sha256 = key, .args_json = "{\"k\":1}",
        .cache_calls = 1, .retries = 0, .backoff = 10, .lease = 30,
    };
    return r;
}

static int finish(tf_store *s, const tf_claim *c, tf_outcome o, const char *result,
                  const char *error, int retries, double backoff)
{
    tf_finish f = {
        .call_id = c->call_id, .fence = c->fence, .history_id = c->history_id,
        .outcome = o, .result_json = result, .error = error,
        .exit_code = o == TF_OUT_SUCCEEDED ? 0 : 1, .term_signal = 0,
        .duration = 0.25, .retries = retries, .backoff = backoff,
    };
    return tf_store_finish(s, &f);
}

/* One integer from a query on a separate raw connection (-1 if no row). */
static long long raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    long long v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* One text value (malloc'd copy, NULL if none) from a raw query. */
static char *raw_text(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    char *v = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                     NULL), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

/* The whole file (malloc'd), *len its size. */
static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, 1 << 20, fp);
    fclose(fp);
    return buf;
}

/* ---- opening and migrations ---------------------------------------------- */

static void store__create_mode_0600(void **state)
{
    fx *f = fx_new(0);
    *state = f;
    mode_t old = umask(022);
    int rc = tf_store_open(f->path, &f->s);
    umask(old);
    assert_int_equal(rc, TF_OK);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    if (stat(wal, &st) == 0)
        assert_int_equal(st.st_mode & 0777, 0600);
    /* an existing file keeps its mode */
    tf_store_close(f->s);
    f->s = NULL;
    /* the WAL and shared-memory files stay after close (persistent WAL), emptied, 0600 */
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 0);
    char shm[160];
    snprintf(shm, sizeof shm, "%s-shm", f->path);
    assert_int_equal(stat(shm, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(chmod(f->path, 0640), 0);
    assert_int_equal(tf_store_open(f->path, &f->s), TF_OK);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
}

static void store__migrate_from_empty(void **state)
{
    fx *f = *state;
    assert_int_equal(tf_store_schema_version(), tf_schema_sqlite_count);
    assert_true(tf_schema_sqlite_count >= 1);
    assert_int_equal(raw_int(f->path, "PRAGMA user_version"), tf_schema_sqlite_count);
    char *mode = raw_text(f->path, "PRAGMA journal_mode");
    assert_string_equal(mode, "wal");
    free(mode);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master WHERE name IN"
                             " ('calls', 'history', 'clears', 'ran_today', 'failed_calls',"
                             " 'running_calls', 'recent_history')"), 7);
    /* opening again is a no-op */
    tf_store *s2 = open_second(f, &f->clk);
    tf_store_close(s2);
    assert_int_equal(raw_int(f->path, "PRAGMA user_version"), tf_schema_sqlite_count);
}

static void store__reopen_keeps_data(void **state)
{
    fx *f = *state;
    char key[65];
    key_of(key, "aa");
    tf_claim_req r = req_of("w", key);
    tf_claim c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    assert_int_equal(finish(f->s, &c, TF_OUT_SUCCEEDED, "[1,2]", NULL, 0, 1), TF_OK);
    tf_claim_clear(&c);
    tf_store_close(f->s);
    assert_int_equal(tf_store_open(f->path, &f->s), TF_OK);
    c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_HIT);
    assert_string_equal(c.result_json, "[1,2]");
    tf_claim_clear(&c);
}

static void store__refuse_newer_schema(void **state)
{
    fx *f = *state;
    /* a database made by us, then stamped by a "newer" tickflow */
    tf_store_close(f->s);
    f->s = NULL;
    raw_exec(f->path, "PRAGMA user_version = 999");
    size_t n1, n2;
    char *before = slurp(f->path, &n1);
    int rc = tf_store_open(f->path, &f->s);
    assert_int_equal(rc, TF_ESCHEMA);
    char want[512];
    snprintf(want, sizeof want, "database '%s' has schema version 999, newer than this"
             " tickflow (%d); refusing to modify it", f->path, tf_schema_sqlite_count);
    assert_string_equal(tf_store_errmsg(f->s), want);
    tf_store_close(f->s);
    f->s = NULL;
    char *after = slurp(f->path, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    free(before);
    free(after);

    /* a rollback-journal database: not even switched to WAL */
    char other[160];
    snprintf(other, sizeof other, "%s/other.db", f->dir);
    raw_exec(other, "CREATE TABLE calls (x); PRAGMA user_version = 999");
    before = slurp(other, &n1);
    assert_int_equal(tf_store_open(other, &f->s), TF_ESCHEMA);
    tf_store_close(f->s);
    f->s = NULL;
    after = slurp(other, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    free(before);
    free(after);
    char *mode = raw_text(other, "PRAGMA journal_mode");
    assert_string_equal(mode, "delete");
    free(mode);
}

static void store__migrate_from_version_1(void **state)
{
    fx *f = *state;
    /* the previous schema: migration 1 only, applied by hand, with data */
    raw_exec(f->path, tf_schema_sqlite[0]);
    raw_exec(f->path,
             "PRAGMA user_version = 1;"
             "INSERT INTO calls (work, version, args_sha256, args_json, status, result_json,"
             " attempts, fence, created_at) VALUES ('old', '', '" /* key below */
             "b100000000000000000000000000000000000000000000000000000000000000',"
             " '{}', 'succeeded', '\"kept\"', 1, 1, '2025-01-01T00:00:00.000Z')");
    assert_int_equal(tf_store_open(f->path, &f->s), TF_OK);
    assert_int_equal(raw_int(f->path, "PRAGMA user_version"), tf_schema_sqlite_count);
    char key[65];
    key_of(key, "b1");
    tf_claim_req r = req_of("old", key);
    tf_claim c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_HIT);
    assert_string_equal(c.result_json, "\"kept\"");
    tf_claim_clear(&c);
}

/* Schema 1 -> 2 on a database with data: rows, history and views survive, indexes change. */
static void store__migrate_1_to_2_keeps_data(void **state)
{
    fx *f = *state;
    raw_exec(f->path, tf_schema_sqlite[0]);
    raw_exec(f->path,
             "PRAGMA user_version = 1;"
             "INSERT INTO calls (id, work, version, args_sha256, args_json, status, result_json,"
             " error, attempts, failures, fence, created_at) VALUES"
             " (7, 'w', '', 'd100000000000000000000000000000000000000000000000000000000000000',"
             "  '{\"a\":1}', 'succeeded', '[1]', NULL, 1, 0, 1, '2025-01-01T00:00:00.000Z'),"
             " (8, 'w', '', 'd200000000000000000000000000000000000000000000000000000000000000',"
             "  '{\"a\":2}', 'failed', NULL, 'boom', 1, 1, 1, '2025-01-02T00:00:00.000Z'),"
             " (9, 'v', '2', 'd300000000000000000000000000000000000000000000000000000000000000',"
             "  '{\"a\":3}', 'running', NULL, NULL, 1, 0, 4, '2025-01-03T00:00:00.000Z');"
             "INSERT INTO history (call_id, attempt, fence, status, started_at) VALUES"
             " (7, 1, 1, 'succeeded', '2025-01-01T00:00:00.000Z'),"
             " (8, 1, 1, 'failed', '2025-01-02T00:00:00.000Z'),"
             " (9, 1, 4, 'running', '2025-01-03T00:00:00.000Z');"
             /* calls up to 20 existed once and were cleared */
             "UPDATE sqlite_sequence SET seq = 20 WHERE name = 'calls';"
             "INSERT INTO clears (at, user, selector, count) VALUES ('2025-01-04T00:00:00.000Z',"
             " 'me', '--work x', 0)");
    long long seq = raw_int(f->path, "SELECT seq FROM sqlite_sequence WHERE name = 'calls'");
    assert_int_equal(seq, 20);
    assert_int_equal(tf_store_open(f->path, &f->s), TF_OK);
    tf_store_set_clock(f->s, fake_now, &f->clk);
    assert_int_equal(raw_int(f->path, "PRAGMA user_version"), tf_schema_sqlite_count);
    assert_true(tf_schema_sqlite_count >= 3);
    /* the data, the AUTOINCREMENT high-water mark and the audit row are kept */
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls"), 3);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM history"), 3);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM clears"), 1);
    assert_int_equal(raw_int(f->path, "SELECT seq FROM sqlite_sequence WHERE name = 'calls'"), seq);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master WHERE name IN"
                             " ('calls_status', 'calls_work')"), 0);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master WHERE name IN"
                             " ('calls_unsettled', 'history_call')"), 2);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master WHERE name ="
                             " 'calls_created'"), 0); /* 0003: insertion order is id order */
    /* the views answer as before, the partial index holds only unsettled rows */
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM failed_calls"), 1);
    char *err = raw_text(f->path, "SELECT error FROM failed_calls");
    assert_string_equal(err, "boom");
    free(err);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM running_calls"), 1);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls INDEXED BY calls_unsettled"
                             " WHERE status <> 'succeeded'"), 2);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM recent_history"), 3);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM ran_today"), 0);
    /* the store protocol works on the migrated rows */
    char key[65];
    key_of(key, "d1");
    tf_claim_req r = req_of("w", key);
    tf_claim c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_HIT);
    assert_string_equal(c.result_json, "[1]");
    tf_claim_clear(&c);
    key_of(key, "d2");
    r = req_of("w", key);
    r.retries = 3;
    c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    assert_int_equal(c.call_id, 8);
    assert_int_equal(c.attempt, 2);
    assert_int_equal(finish(f->s, &c, TF_OUT_SUCCEEDED, "2", NULL, 3, 1), TF_OK);
    tf_claim_clear(&c);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM failed_calls"), 0);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls INDEXED BY calls_unsettled"
                             " WHERE status <> 'succeeded'"), 1);
    /* a new call after the migration never takes a cleared call's id */
    key_of(key, "d4");
    r = req_of("w", key);
    c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    assert_true(c.call_id > seq);
    tf_claim_clear(&c);
}

static void store__open_errors(void **state)
{
    fx *f = *state;
    char p[200];
    snprintf(p, sizeof p, "%s/missing/t.db", f->dir);
    assert_int_equal(tf_store_open(p, &f->s), TF_EIO);
    char want[400];
    snprintf(want, sizeof want, "cannot open database '%s': No such file or directory", p);
    assert_string_equal(tf_store_errmsg(f->s), want);
    tf_store_close(f->s);
    f->s = NULL;

    /* not a database */
    snprintf(p, sizeof p, "%s/junk.db", f->dir);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++)
        fputs("this is not an sqlite database at all\n", fp);
    fclose(fp);
    assert_int_equal(tf_store_open(p, &f->s), TF_EDB);
    snprintf(want, sizeof want, "database '%s' is corrupt or not a tickflow database: ", p);
    assert_memory_equal(tf_store_errmsg(f->s), want, strlen(want));
    tf_store_close(f->s);
    f->s = NULL;

    /* someone else's database */
    snprintf(p, sizeof p, "%s/foreign.db", f->dir);
    raw_exec(p, "CREATE TABLE t (x)");
    assert_int_equal(tf_store_open(p, &f->s), TF_EDB);
    assert_memory_equal(tf_store_errmsg(f->s), "database '", 10);
    assert_non_null(strstr(tf_store_errmsg(f->s), "not a tickflow database"));
}

/* ---- claims --------------------------------------------------------------- */

static void store__claim_run_finish_hit(void **state)
{
    fx *f = *state;
    char key[65];
    key_of(key, "c0");
    tf_claim_req r = req_of("w", key);
    tf_claim c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    assert_int_equal(c.attempt, 1);
    assert_int_equal(c.fence, 1);
    assert_true(c.history_id > 0);
    assert_int_equal(c.stale_pgid, 0);
    assert_int_equal(tf_store_exec_started(f->s, c.history_id, 4321, 4321, 0, "/tmp/x.log"), TF_OK);
    /* while running (our own live claim): busy */
    tf_claim c2 = claim_ok(f->s, &r);
    assert_int_equal(c2.decision, TF_CLAIM_BUSY);
    f->clk.t += 10;
    assert_int_equal(tf_store_renew(f->s, c.call_id, c.fence, 30), TF_OK);
    assert_int_equal(finish(f->s, &c, TF_OUT_SUCCEEDED, "{\"x\":1}", NULL, 0, 1), TF_OK);
    c2 = claim_ok(f->s, &r);
    assert_int_equal(c2.decision, TF_CLAIM_HIT);
    assert_string_equal(c2.result_json, "{\"x\":1}");
    tf_claim_clear(&c2);
    assert_null(c2.result_json);
    /* renew after the end: the claim is gone */
    assert_int_equal(tf_store_renew(f->s, c.call_id, c.fence, 30), TF_ESTATE);
    /* the row as a person sees it */
    char *s = raw_text(f->path, "SELECT status || ' ' || attempts || ' ' || failures || ' '"
                       " || created_at || ' ' || finished_at || ' ' || duration FROM calls");
    assert_string_equal(s, "succeeded 1 0 2023-11-14T22:13:20.000Z 2023-11-14T22:13:30.000Z 0.25");
    free(s);
    s = raw_text(f->path, "SELECT status || ' ' || exec_pid || ' ' || log_path || ' '"
                 " || exit_code FROM history");
    assert_string_equal(s, "succeeded 4321 /tmp/x.log 0");
    free(s);
    tf_claim_clear(&c);
}

static void store__no_cache_runs_again(void **state)
{
    fx *f = *state;
    char key[65];
    key_of(key, "c1");
    tf_claim_req r = req_of("w", key);
    tf_claim c = claim_ok(f->s, &r);
    assert_int_equal(finish(f->s, &c, TF_OUT_SUCCEEDED, "1", NULL, 0, 1), TF_OK);
    r.cache_calls = 0;
    tf_claim c2 = claim_ok(f->s, &r);
    assert_int_equal(c2.decision, TF_CLAIM_RUN);
    assert_int_equal(c2.attempt, 2);
    assert_int_equal(c2.fence, 2);
    assert_int_equal(finish(f->s, &c2, TF_OUT_SUCCEEDED, "2", NULL, 0, 1), TF_OK);
    r.cache_calls = 1;
    tf_claim c3 = claim_ok(f->s, &r);
    assert_int_equal(c3.decision, TF_CLAIM_HIT);
    assert_string_equal(c3.result_json, "2");
    tf_claim_clear(&c3);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM history"), 2);
}

static void store__failed_retries_backoff(void **state)
{
    fx *f = *state;
    char key[65];
    key_of(key, "d0");
    tf_claim_req r = req_of("w", key);
    r.retries = 2;
    r.backoff = 10;
    f->clk.t = 1000;
    tf_claim c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    f->clk.t = 1001;
    assert_int_equal(finish(f->s, &c, TF_OUT_FAILED, NULL, "boom", 2, 10), TF_OK);

    f->clk.t = 1005;
    c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RETRY_WAIT);
    assert_true(c.next_retry_at == 1011.0);
    assert_string_equal(c.error, "boom");
    tf_claim_clear(&c);

    f->clk.t = 1011;
    c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    assert_int_equal(c.attempt, 2);
    f->clk.t = 1012;
    assert_int_equal(finish(f->s, &c, TF_OUT_FAILED, NULL, "boom 2", 2, 10), TF_OK);

    f->clk.t = 1031; /* second wait is doubled: 1012 + 20 */
    c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RETRY_WAIT);
    assert_true(c.next_retry_at == 1032.0);
    tf_claim_clear(&c);
    f->clk.t = 1032;
    c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    assert_int_equal(c.attempt, 3);
    assert_int_equal(finish(f->s, &c, TF_OUT_FAILED, NULL, "boom 3", 2, 10), TF_OK);

    f->clk.t = 99999; /* out of retries: failed for good, however late */
    c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_FAILED);
    assert_string_equal(c.error, "boom 3");
    tf_claim_clear(&c);
    assert_int_equal(raw_int(f->path, "SELECT failures FROM calls"), 3);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM failed_calls"), 1);

    /* a work without cache runs it regardless */
    r.cache_calls = 0;
    tf_claim p;
    assert_int_equal(tf_store_peek(f->s, &r, &p), TF_OK);
    assert_int_equal(p.decision, TF_CLAIM_RUN);
    tf_claim_clear(&p);
    r.cache_calls = 1;

    /* retry: runnable again, with a full budget */
    tf_filter flt = {.work = "w"};
    int64_t n = 0;
    assert_int_equal(tf_store_retry(f->s, &flt, &n), TF_OK);
    assert_int_equal(n, 1);
    c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    assert_int_equal(c.attempt, 4);
    assert_int_equal(finish(f->s, &c, TF_OUT_SUCCEEDED, "true", NULL, 2, 10), TF_OK);
    assert_int_equal(raw_int(f->path, "SELECT failures FROM calls"), 0);
    assert_int_equal(raw_int(f->path, "SELECT error IS NULL FROM calls"), 1);
}

static void store__interrupted_runs_again(void **state)
{
    fx *f = *state;
    char key[65];
    key_of(key, "d1");
    tf_claim_req r = req_of("w", key);
    tf_claim c = claim_ok(f->s, &r);
    assert_int_equal(finish(f->s, &c, TF_OUT_INTERRUPTED, NULL, "stopped", 0, 1), TF_OK);
    c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    assert_int_equal(c.attempt, 2);
    assert_int_equal(raw_int(f->path, "SELECT failures FROM calls"), 0);
}

static void store__clock_backwards(void **state)
{
    fx *f = *state;
    char key[65];
    key_of(key, "e0");
    tf_claim_req r = req_of("w", key);
    f->clk.t = 5000;
    tf_claim c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    /* the clock jumps back an hour: the live lease stays live */
    fake_clock other = {1400};
    tf_store *s2 = open_second(f, &other);
    tf_claim c2 = claim_ok(s2, &r);
    assert_int_equal(c2.decision, TF_CLAIM_BUSY);

    /* a failure at 5000 retries at 5010; after a jump back to 1000 the wait is
       at most one backoff from now, never an early run */
    f->clk.t = 5000;
    r.retries = 1;
    assert_int_equal(finish(f->s, &c, TF_OUT_FAILED, NULL, "x", 1, 10), TF_OK);
    other.t = 1000;
    c2 = claim_ok(s2, &r);
    assert_int_equal(c2.decision, TF_CLAIM_RETRY_WAIT);
    assert_true(c2.next_retry_at == 1010.0);
    tf_claim_clear(&c2);
    other.t = 1009;
    c2 = claim_ok(s2, &r);
    assert_int_equal(c2.decision, TF_CLAIM_RETRY_WAIT);
    assert_true(c2.next_retry_at == 1010.0);
    tf_claim_clear(&c2);
    other.t = 1010;
    c2 = claim_ok(s2, &r);
    assert_int_equal(c2.decision, TF_CLAIM_RUN);
    tf_store_close(s2);
}

static void store__fencing_takeover(void **state)
{
    fx *f = *state;
    char key[65];
    key_of(key, "f0");
    tf_claim_req r = req_of("w", key);
    f->clk.t = 1000;
    as_elsewhere(f->s, 0); /* another host: only the wall-clock lease tells */
    tf_claim a = claim_ok(f->s, &r);
    assert_int_equal(a.decision, TF_CLAIM_RUN);
    assert_int_equal(tf_store_exec_started(f->s, a.history_id, 777, 777, 0, NULL), TF_OK);

    fake_clock later = {1029};
    tf_store *s2 = open_second(f, &later);
    tf_claim b = claim_ok(s2, &r);
    assert_int_equal(b.decision, TF_CLAIM_BUSY);
    later.t = 1031; /* lease expired */
    b = claim_ok(s2, &r);
    assert_int_equal(b.decision, TF_CLAIM_RUN);
    assert_int_equal(b.fence, 2);
    assert_int_equal(b.attempt, 2);
    assert_int_equal(b.stale_pgid, 777); /* recorded; tf_proc_kill_group refuses another boot's */
    assert_string_equal(b.stale_boot, "00000000-0000-4000-8000-000000000000");
    char *s = raw_text(f->path, "SELECT status || ': ' || error FROM history WHERE attempt = 1");
    assert_string_equal(s, "interrupted: lease expired");
    free(s);

    assert_int_equal(finish(s2, &b, TF_OUT_SUCCEEDED, "\"B\"", NULL, 0, 1), TF_OK);
    f->clk.t = 1040;
    assert_int_equal(tf_store_renew(f->s, a.call_id, a.fence, 30), TF_ESTATE);
    assert_int_equal(finish(f->s, &a, TF_OUT_SUCCEEDED, "\"A\"", NULL, 0, 1), TF_ESTATE);
    assert_non_null(strstr(tf_store_errmsg(f->s), "claimed again"));
    tf_claim h = claim_ok(f->s, &r);
    assert_int_equal(h.decision, TF_CLAIM_HIT);
    assert_string_equal(h.result_json, "\"B\"");
    tf_claim_clear(&h);
    s = raw_text(f->path, "SELECT error FROM history WHERE attempt = 1");
    assert_non_null(s);
    assert_non_null(strstr(s, "fenced out"));
    free(s);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM history WHERE status = 'succeeded'"), 2);
    tf_store_close(s2);
}

static int finish_later(tf_store *s, const tf_claim *c, tf_outcome o, const char *result,
                        const char *error)
{
    tf_finish f = {
        .call_id = c->call_id, .fence = c->fence, .history_id = c->history_id,
        .outcome = o, .result_json = result, .error = error,
        .exit_code = o == TF_OUT_SUCCEEDED ? 0 : 1, .duration = 0.25, .backoff = 10,
    };
    return tf_store_finish_later(s, &f);
}

/* A deferred end is invisible until the next write transaction carries it, in order. */
static void store__deferred_finish_rides_on_next_claim(void **state)
{
    fx *f = *state;
    char ka[65], kb[65];
    key_of(ka, "a1");
    key_of(kb, "b1");
    tf_claim_req ra = req_of("download", ka), rb = req_of("train", kb);
    f->clk.t = 1000;
    tf_claim a = claim_ok(f->s, &ra);
    assert_int_equal(a.decision, TF_CLAIM_RUN);
    assert_int_equal(tf_store_exec_started_later(f->s, a.history_id, 4321, 4321, 0, "/tmp/a.log"), TF_OK);
    f->clk.t = 1002;
    assert_int_equal(finish_later(f->s, &a, TF_OUT_SUCCEEDED, "\"A\"", NULL), TF_OK);
    assert_int_equal(tf_store_pending(f->s), 2);
    /* nothing committed yet: another connection still sees a running call */
    char *st = raw_text(f->path, "SELECT status FROM calls WHERE work = 'download'");
    assert_string_equal(st, "running");
    free(st);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM history WHERE exec_pid = 4321"), 0);

    f->clk.t = 1005;
    tf_claim b = claim_ok(f->s, &rb); /* one transaction: a's start and end, then b's claim */
    assert_int_equal(b.decision, TF_CLAIM_RUN);
    assert_int_equal(tf_store_pending(f->s), 0);
    st = raw_text(f->path, "SELECT status || ' ' || result_json || ' ' || finished_at"
                           " FROM calls WHERE work = 'download'");
    assert_string_equal(st, "succeeded \"A\" 1970-01-01T00:16:42.000Z"); /* the end's time, not the commit's */
    free(st);
    assert_int_equal(raw_int(f->path, "SELECT exec_pid FROM history WHERE call_id = 1"), 4321);
    st = raw_text(f->path, "SELECT status FROM calls WHERE work = 'train'");
    assert_string_equal(st, "running");
    free(st);

    /* flush commits a queue on its own; close commits what is left */
    assert_int_equal(finish_later(f->s, &b, TF_OUT_FAILED, NULL, "boom"), TF_OK);
    assert_int_equal(tf_store_flush(f->s), TF_OK);
    assert_int_equal(tf_store_flush(f->s), TF_OK); /* nothing left: no-op */
    st = raw_text(f->path, "SELECT status || ' ' || error || ' ' || failures FROM calls WHERE work = 'train'");
    assert_string_equal(st, "failed boom 1");
    free(st);
    tf_claim_clear(&a);
    tf_claim_clear(&b);
}

/* A claim of a call whose own end is still queued decides on the end, not on 'running'. */
static void store__claim_sees_own_deferred_finish(void **state)
{
    fx *f = *state;
    char key[65];
    key_of(key, "c1");
    tf_claim_req r = req_of("w", key);
    f->clk.t = 1000;
    tf_claim a = claim_ok(f->s, &r);
    assert_int_equal(finish_later(f->s, &a, TF_OUT_SUCCEEDED, "1", NULL), TF_OK);
    tf_claim h = claim_ok(f->s, &r);
    assert_int_equal(h.decision, TF_CLAIM_HIT);
    assert_string_equal(h.result_json, "1");
    assert_int_equal(tf_store_pending(f->s), 0);
    tf_claim_clear(&h);

    r.cache_calls = 0; /* runs again: a new attempt, not "busy" behind ourselves */
    tf_claim b = claim_ok(f->s, &r);
    assert_int_equal(b.decision, TF_CLAIM_RUN);
    assert_int_equal(finish_later(f->s, &b, TF_OUT_SUCCEEDED, "2", NULL), TF_OK);
    tf_claim c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    assert_int_equal(c.attempt, 3);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM history WHERE status = 'succeeded'"), 2);
    tf_claim_clear(&a);
    tf_claim_clear(&b);
    tf_claim_clear(&c);
}

/* A failed commit keeps the queue; a success whose fence was lost is not recorded and counted. */
static void store__deferred_kept_on_failure_and_fence_checked(void **state)
{
    fx *f = *state;
    char ka[65], kb[65];
    key_of(ka, "d1");
    key_of(kb, "d2");
    tf_claim_req ra = req_of("w", ka), rb = req_of("w", kb);
    f->clk.t = 1000;
    as_elsewhere(f->s, 0); /* another host: its lease runs out on the wall clock */
    tf_claim a = claim_ok(f->s, &ra);
    assert_int_equal(finish_later(f->s, &a, TF_OUT_SUCCEEDED, "\"A\"", NULL), TF_OK);

    /* another connection holds the write lock: the claim and the queued end both wait, then fail */
    tf_store_set_busy_limit(f->s, 0.2);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    tf_claim b;
    assert_int_equal(tf_store_claim(f->s, &rb, &b), TF_EBUSY);
    assert_int_equal(tf_store_flush(f->s), TF_EBUSY);
    assert_int_equal(tf_store_pending(f->s), 1);
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls WHERE status = 'succeeded'"), 0);

    /* a forced clear of the running call: the queued success has no row to land on */
    raw_exec(f->path, "DELETE FROM calls WHERE args_sha256 LIKE 'd1%'");
    assert_int_equal(tf_store_take_lost(f->s), 0);
    b = claim_ok(f->s, &rb);
    assert_int_equal(b.decision, TF_CLAIM_RUN);
    assert_int_equal(tf_store_pending(f->s), 0);
    assert_int_equal(tf_store_take_lost(f->s), 1);
    assert_int_equal(tf_store_take_lost(f->s), 0);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls WHERE status = 'succeeded'"), 0);

    /* the fence of b is taken over: its queued success is noted, not recorded */
    fake_clock later = {1031};
    tf_store *s2 = open_second(f, &later);
    tf_claim b2 = claim_ok(s2, &rb);
    assert_int_equal(b2.decision, TF_CLAIM_RUN);
    assert_int_equal(finish_later(f->s, &b, TF_OUT_SUCCEEDED, "\"stale\"", NULL), TF_OK);
    assert_int_equal(tf_store_flush(f->s), TF_OK);
    assert_int_equal(tf_store_take_lost(f->s), 1);
    char *st = raw_text(f->path, "SELECT status FROM calls WHERE args_sha256 LIKE 'd2%'");
    assert_string_equal(st, "running");
    free(st);
    st = raw_text(f->path, "SELECT error FROM history WHERE fence = 1 AND call_id = 2");
    assert_non_null(st);
    assert_non_null(strstr(st, "fenced out"));
    free(st);
    tf_store_close(s2);
    tf_claim_clear(&a);
    tf_claim_clear(&b);
    tf_claim_clear(&b2);
}

/* In a child: queue an end and die: the end is lost, the call is taken over and runs again. */
static void store__crash_loses_only_queued_ends(void **state)
{
    fx *f = *state;
    tf_store_set_clock(f->s, NULL, NULL);
    char key[65];
    key_of(key, "e1");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        tf_store *s = NULL;
        tf_claim_req r = req_of("w", key);
        tf_claim c;
        int ok = tf_store_open(f->path, &s) == TF_OK && tf_store_claim(s, &r, &c) == TF_OK
                 && c.decision == TF_CLAIM_RUN
                 && finish_later(s, &c, TF_OUT_SUCCEEDED, "1", NULL) == TF_OK;
        _exit(ok ? 0 : 1); /* no flush, no close: a crash */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tf_claim_req r = req_of("w", key);
    tf_claim c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN); /* the dead runner's claim is taken over */
    assert_int_equal(c.attempt, 2);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM history WHERE status = 'succeeded'"), 0);
    tf_claim_clear(&c);
}

/* In a child: claim key and die without finishing. */
static void claim_and_die(const char *path, const char *key, int out_fd)
{
    tf_store *s = NULL;
    int ok = tf_store_open(path, &s) == TF_OK;
    tf_claim_req r = req_of("w", key);
    r.lease = 300;
    tf_claim c;
    ok = ok && tf_store_claim(s, &r, &c) == TF_OK && c.decision == TF_CLAIM_RUN;
    ok = ok && tf_store_exec_started(s, c.history_id, (long)getpid(), (long)getpid(), 0, NULL) == TF_OK;
    char b = ok ? 'y' : 'n';
    if (write(out_fd, &b, 1) != 1)
        _exit(2);
    _exit(0); /* no finish, no close: a crash */
}

static void store__dead_runner_taken_over(void **state)
{
    fx *f = *state;
    tf_store_set_clock(f->s, NULL, NULL); /* real time: the lease is alive */
    char key[65];
    key_of(key, "f1");
    for (int reap = 0; reap < 2; reap++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            claim_and_die(f->path, key, p[1]);
        }
        close(p[1]);
        char b = 0;
        assert_int_equal(read(p[0], &b, 1), 1);
        close(p[0]);
        assert_int_equal(b, 'y');
        if (reap) {
            int st;
            assert_int_equal(waitpid(pid, &st, 0), pid);
        } else {
            /* exited but not reaped: a zombie is dead too */
            siginfo_t si;
            memset(&si, 0, sizeof si);
            assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
        }
        tf_claim_req r = req_of("w", key);
        tf_claim c = claim_ok(f->s, &r);
        assert_int_equal(c.decision, TF_CLAIM_RUN);
        assert_int_equal(c.stale_pgid, (long)pid);
        tf_proc_id me;
        assert_int_equal(tf_proc_self(&me), TF_OK);
        char want[400], sql[200];
        snprintf(want, sizeof want, "runner %s:%ld died", me.host, (long)pid);
        snprintf(sql, sizeof sql, "SELECT status || ': ' || error FROM history"
                 " WHERE runner_pid = %ld", (long)pid);
        char *s = raw_text(f->path, sql);
        char full[450];
        snprintf(full, sizeof full, "interrupted: %s", want);
        assert_string_equal(s, full);
        free(s);
        if (!reap) {
            int st;
            assert_int_equal(waitpid(pid, &st, 0), pid);
        }
        /* back to "interrupted" so the next child can claim */
        assert_int_equal(finish(f->s, &c, TF_OUT_INTERRUPTED, NULL, "test", 0, 1), TF_OK);
    }
}

/* ---- inspection, clear, retry, gc ----------------------------------------- */

/* Collects rows: counts them and keeps the works in order. */
typedef struct rows {
    int n;                  /* rows seen */
    char works[16][32];     /* their work names */
    char first_key[65];     /* key of the first row */
} rows;

static int collect(const tf_call_row *row, void *user)
{
    rows *r = user;
    if (r->n == 0)
        snprintf(r->first_key, sizeof r->first_key, "%s", row->args_sha256);
    if (r->n < 16)
        snprintf(r->works[r->n], sizeof r->works[0], "%s", row->work);
    r->n++;
    return 0;
}

/* Make a settled call of work with the key prefix at time t. */
static void make_call(fx *f, const char *work, const char *prefix, double t,
                      tf_outcome o, const char *args)
{
    char key[65];
    key_of(key, prefix);
    tf_claim_req r = req_of(work, key);
    r.args_json = args;
    f->clk.t = t;
    tf_claim c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    if (o != TF_OUT_INTERRUPTED || args[0] != 'R') /* 'R...': leave it running */
        assert_int_equal(finish(f->s, &c, o, "1", "err", 0, 1), TF_OK);
}

/* A call is (work, version, key): found, listed and cleared by all three (issue 12 point 7). */
static void store__find_by_work_and_version(void **state)
{
    fx *f = *state;
    check_find_by_work_and_version(f->s);
}

static void store__list_find_history(void **state)
{
    fx *f = *state;
    make_call(f, "alpha", "abcd00", 1000, TF_OUT_SUCCEEDED, "{\"n\":1}");
    make_call(f, "beta", "abcd11", 2000, TF_OUT_FAILED, "{\"n\":2}");
    make_call(f, "alpha", "ef01", 3000, TF_OUT_SUCCEEDED, "{\"n\":3}");

    rows r = {0};
    tf_filter all = {0};
    assert_int_equal(tf_store_list(f->s, &all, collect, &r), TF_OK);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.works[0], "alpha"); /* newest first */
    assert_string_equal(r.works[1], "beta");
    int64_t n = -1;
    assert_int_equal(tf_store_count(f->s, &all, 0, &n), TF_OK);
    assert_int_equal(n, 3);
    assert_int_equal(tf_store_count(f->s, &all, 2, &n), TF_OK); /* at most 2: "2 or more" */
    assert_int_equal(n, 2);
    tf_filter fa = {.work = "alpha"};
    assert_int_equal(tf_store_count(f->s, &fa, 5, &n), TF_OK);
    assert_int_equal(n, 2);
    memset(&r, 0, sizeof r);
    tf_filter fl = {.status = "succeeded", .limit = 1};
    assert_int_equal(tf_store_list(f->s, &fl, collect, &r), TF_OK);
    assert_int_equal(r.n, 1);
    /* a status other than succeeded is listed through the partial index, same answer */
    memset(&r, 0, sizeof r);
    tf_filter ff = {.status = "failed"};
    assert_int_equal(tf_store_list(f->s, &ff, collect, &r), TF_OK);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.works[0], "beta");
    memset(&r, 0, sizeof r);
    tf_filter ffw = {.status = "failed", .work = "alpha"};
    assert_int_equal(tf_store_list(f->s, &ffw, collect, &r), TF_OK);
    assert_int_equal(r.n, 0);
    memset(&r, 0, sizeof r);
    tf_filter fs = {.status = "succeeded"};
    assert_int_equal(tf_store_list(f->s, &fs, collect, &r), TF_OK);
    assert_int_equal(r.n, 2);
    memset(&r, 0, sizeof r);
    tf_filter fp = {.key_prefix = "ABCD"};
    assert_int_equal(tf_store_list(f->s, &fp, collect, &r), TF_OK);
    assert_int_equal(r.n, 2);
    tf_filter bad = {.key_prefix = "xyz"};
    assert_int_equal(tf_store_list(f->s, &bad, collect, &r), TF_EINPUT);

    memset(&r, 0, sizeof r);
    assert_int_equal(tf_store_find(f->s, NULL, NULL, "abcd", collect, &r), TF_EAMBIGUOUS);
    assert_int_equal(r.n, 0);
    const char *m = tf_store_errmsg(f->s);
    assert_non_null(strstr(m, "abcd"));
    assert_non_null(strstr(m, "alpha/abcd00000000"));
    assert_non_null(strstr(m, "beta/abcd11000000"));
    assert_null(strstr(m, "abcd000000000")); /* 12 digits, not more */
    assert_int_equal(tf_store_find(f->s, NULL, NULL, "abcd1", collect, &r), TF_OK);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.works[0], "beta");
    assert_int_equal(tf_store_find(f->s, NULL, NULL, "abc", collect, &r), TF_EINPUT);
    assert_int_equal(tf_store_find(f->s, NULL, NULL, "ab-d", collect, &r), TF_EINPUT);
    assert_int_equal(tf_store_find(f->s, NULL, NULL, "1234", collect, &r), TF_ENOTFOUND);

    /* previous args of a work: the most recent other call */
    char key[65], *prev = NULL;
    key_of(key, "ef01");
    assert_int_equal(tf_store_previous_args(f->s, "alpha", key, &prev), TF_OK);
    assert_string_equal(prev, "{\"n\":1}");
    free(prev);
    key_of(key, "abcd00");
    assert_int_equal(tf_store_previous_args(f->s, "alpha", key, &prev), TF_OK);
    assert_string_equal(prev, "{\"n\":3}");
    free(prev);
    assert_int_equal(tf_store_previous_args(f->s, "nobody", key, &prev), TF_OK);
    assert_null(prev);
}

static int count_hist(const tf_history_row *h, void *user)
{
    int *n = user;
    assert_int_equal(h->attempt, *n + 1);
    (*n)++;
    return 0;
}

static void store__history_oldest_first(void **state)
{
    fx *f = *state;
    char key[65];
    key_of(key, "12");
    tf_claim_req r = req_of("w", key);
    r.cache_calls = 0;
    int64_t id = 0;
    for (int i = 0; i < 3; i++) {
        tf_claim c = claim_ok(f->s, &r);
        id = c.call_id;
        assert_int_equal(finish(f->s, &c, TF_OUT_SUCCEEDED, "0", NULL, 0, 1), TF_OK);
    }
    int n = 0;
    assert_int_equal(tf_store_history(f->s, id, count_hist, &n), TF_OK);
    assert_int_equal(n, 3);
}

static void store__clear_and_audit(void **state)
{
    fx *f = *state;
    make_call(f, "alpha", "a1", 1000, TF_OUT_SUCCEEDED, "{}");
    make_call(f, "alpha", "a2", 1001, TF_OUT_FAILED, "{}");
    make_call(f, "beta", "b1", 1002, TF_OUT_SUCCEEDED, "{}");
    make_call(f, "beta", "b2", 1003, TF_OUT_INTERRUPTED, "R"); /* left running, live lease */

    int64_t n = -1;
    tf_filter none = {0};
    assert_int_equal(tf_store_clear(f->s, &none, "me", "", 0, NULL, NULL, &n), TF_EINPUT);

    rows r = {0};
    tf_filter fa = {.work = "alpha"};
    assert_int_equal(tf_store_clear(f->s, &fa, "me", "--work alpha", 1, collect, &r, &n), TF_OK);
    assert_int_equal(n, 2);
    assert_int_equal(r.n, 2);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls"), 4); /* dry run */
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM clears"), 0);

    assert_int_equal(tf_store_clear(f->s, &fa, "me", "--work alpha", 0, NULL, NULL, &n), TF_OK);
    assert_int_equal(n, 2);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls WHERE work = 'alpha'"), 0);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM history h LEFT JOIN calls c"
                             " ON c.id = h.call_id WHERE c.id IS NULL"), 0); /* cascaded */
    char *a = raw_text(f->path, "SELECT user || '|' || selector || '|' || count || '|' || at FROM clears");
    assert_string_equal(a, "me|--work alpha|2|1970-01-01T00:16:43.000Z");
    free(a);

    /* the running call is spared unless the filter says running */
    tf_filter fb = {.work = "beta"};
    assert_int_equal(tf_store_clear(f->s, &fb, "me", "--work beta", 0, NULL, NULL, &n), TF_OK);
    assert_int_equal(n, 1);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls WHERE status = 'running'"), 1);
    tf_filter fr = {.work = "beta", .status = "running"};
    assert_int_equal(tf_store_clear(f->s, &fr, "me", "--status running", 0, NULL, NULL, &n), TF_OK);
    assert_int_equal(n, 1);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls"), 0);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM clears"), 3);

    /* --all */
    make_call(f, "gamma", "c1", 1010, TF_OUT_SUCCEEDED, "{}");
    tf_filter fall = {.all = 1};
    assert_int_equal(tf_store_clear(f->s, &fall, "me", "--all", 0, NULL, NULL, &n), TF_OK);
    assert_int_equal(n, 1);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM clears"), 4);
}

/*
 * A running call whose lease ran out may still have a live runner (stopped,
 * or its clock stepped): clear spares it, unless told --status running.
 * Before, clear judged the lease by the wall clock and deleted it, so the
 * call ran a second time beside its first execution.
 */
static void store__clear_spares_running_whatever_the_lease(void **state)
{
    fx *f = *state;
    make_call(f, "beta", "b1", 1000, TF_OUT_INTERRUPTED, "R"); /* left running */
    raw_exec(f->path, "UPDATE calls SET lease_until = 1, lease_boot_until = 1");
    int64_t n = -1;
    tf_filter fb = {.work = "beta"};
    assert_int_equal(tf_store_clear(f->s, &fb, "me", "--work beta", 0, NULL, NULL, &n), TF_OK);
    assert_int_equal(n, 0);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls WHERE status = 'running'"), 1);
    tf_filter fr = {.work = "beta", .status = "running"};
    assert_int_equal(tf_store_clear(f->s, &fr, "me", "--status running", 0, NULL, NULL, &n), TF_OK);
    assert_int_equal(n, 1);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls"), 0);
}

/* Claim the call (work, key prefix) again at time t as a scheduler would: it runs again. */
static tf_claim run_again(fx *f, const char *work, const char *prefix, double t)
{
    char key[65];
    key_of(key, prefix);
    tf_claim_req r = req_of(work, key);
    r.cache_calls = 0;
    f->clk.t = t;
    tf_claim c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    return c;
}

/* What the ask callbacks below do between the count and the deletion. */
typedef struct meanwhile {
    fx *f;                  /* the fixture */
    int64_t told;           /* the count the question was asked with */
    int answer;             /* what it answers */
} meanwhile;

/* Another scheduler, while the question waits (answered yes): it runs call "a1" again (now
   running under a live lease) and creates a new matching call "a9". */
static int clear_meanwhile(int64_t n, void *user)
{
    meanwhile *m = user;
    m->told = n;
    if (!m->answer)
        return 0;
    run_again(m->f, "alpha", "a1", 1300);
    make_call(m->f, "alpha", "a9", 1301, TF_OUT_SUCCEEDED, "{}");
    return m->answer;
}

/*
 * Asked first, a clear deletes only what it counted: those counted calls
 * that still match (not one that began running since), never one created
 * since; the audit row and *deleted say what was deleted.
 */
static void store__clear_asking_deletes_what_was_counted(void **state)
{
    fx *f = *state;
    make_call(f, "alpha", "a1", 1000, TF_OUT_SUCCEEDED, "{}");
    make_call(f, "alpha", "a2", 1001, TF_OUT_FAILED, "{}");
    make_call(f, "alpha", "a3", 1002, TF_OUT_SUCCEEDED, "{}");
    make_call(f, "beta", "b1", 1003, TF_OUT_SUCCEEDED, "{}");
    f->clk.t = 1010;
    tf_filter fa = {.work = "alpha"};
    int64_t counted = -1, deleted = -1;
    meanwhile no = {f, 0, 0};
    assert_int_equal(tf_store_clear_asking(f->s, &fa, "me", "--work alpha", clear_meanwhile, &no,
                                           NULL, NULL, &counted, &deleted), TF_OK);
    assert_int_equal(no.told, 3);
    assert_int_equal(counted, 3);
    assert_int_equal(deleted, 0); /* declined */
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls"), 4);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM clears"), 0);

    /* counted a1, a2, a3; then a1 runs under a live lease and a9 is new: a2, a3 go */
    meanwhile yes = {f, 0, 1};
    f->clk.t = 1200;
    rows r = {0};
    assert_int_equal(tf_store_clear_asking(f->s, &fa, "me", "--work alpha", clear_meanwhile, &yes,
                                           collect, &r, &counted, &deleted), TF_OK);
    assert_int_equal(yes.told, 3);
    assert_int_equal(counted, 3);
    assert_int_equal(deleted, 2);
    assert_int_equal(r.n, 2);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls WHERE work = 'alpha'"), 2);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls WHERE work = 'alpha'"
                                      " AND status = 'running'"), 1);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls WHERE work = 'alpha'"
                                      " AND args_json = '{}' AND status = 'succeeded'"), 1);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls WHERE work = 'beta'"), 1);
    assert_int_equal(raw_int(f->path, "SELECT count FROM clears"), 2);
}

/* While gc asks: "01" runs again, and a runner with a slow clock records "05" as old. */
static int gc_meanwhile(int64_t n, void *user)
{
    meanwhile *m = user;
    m->told = n;
    tf_claim c = run_again(m->f, "w", "01", 6000);
    assert_int_equal(finish(m->f->s, &c, TF_OUT_SUCCEEDED, "1", NULL, 0, 1), TF_OK);
    make_call(m->f, "w", "05", 1500, TF_OUT_SUCCEEDED, "{}");
    return m->answer;
}

/* Asked first, gc deletes those counted calls that are still old, no other. */
static void store__gc_asking_deletes_what_was_counted(void **state)
{
    fx *f = *state;
    make_call(f, "w", "01", 1000, TF_OUT_SUCCEEDED, "{}");
    make_call(f, "w", "02", 2000, TF_OUT_FAILED, "{}");
    make_call(f, "w", "03", 5000, TF_OUT_SUCCEEDED, "{}");
    meanwhile yes = {f, 0, 1};
    int64_t counted = -1, deleted = -1;
    assert_int_equal(tf_store_gc_asking(f->s, 3000, gc_meanwhile, &yes, &counted, &deleted), TF_OK);
    assert_int_equal(yes.told, 2);
    assert_int_equal(counted, 2);
    assert_int_equal(deleted, 1);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls"), 3); /* 01 (fresh), 03, 05 */
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM history WHERE call_id NOT IN"
                                      " (SELECT id FROM calls)"), 0);
}

/*
 * A call that failed under another command digest than the claim's runs
 * again at once, whatever its retries and backoff, with a new retry
 * budget; under the same digest it waits; a success is a hit whatever the
 * digest, and a row recorded without a digest is never "changed".
 */
static void store__changed_command_runs_a_failure_again(void **state)
{
    fx *f = *state;
    char key[65];
    key_of(key, "cc");
    tf_claim_req r = req_of("w", key);
    r.retries = 2;
    r.backoff = 3600;
    r.command_sha256 = "aaaa";
    f->clk.t = 1000;
    tf_claim a = claim_ok(f->s, &r);
    assert_int_equal(a.decision, TF_CLAIM_RUN);
    assert_int_equal(a.command_changed, 0);
    assert_int_equal(finish(f->s, &a, TF_OUT_FAILED, NULL, "boom", 2, 3600), TF_OK);
    tf_claim w = claim_ok(f->s, &r);
    assert_int_equal(w.decision, TF_CLAIM_RETRY_WAIT); /* same command: the backoff holds */
    tf_claim_clear(&w);

    r.command_sha256 = "bbbb";
    tf_claim b = claim_ok(f->s, &r);
    assert_int_equal(b.decision, TF_CLAIM_RUN);
    assert_int_equal(b.command_changed, TF_CHANGED_AFTER_FAILURE);
    assert_int_equal(b.failures, 0);
    assert_int_equal(raw_int(f->path, "SELECT failures FROM calls"), 0);
    char *d = raw_text(f->path, "SELECT group_concat(command_sha256, ' ') FROM"
                                " (SELECT command_sha256 FROM history ORDER BY attempt)");
    assert_string_equal(d, "aaaa bbbb");
    free(d);
    assert_int_equal(finish(f->s, &b, TF_OUT_SUCCEEDED, "1", NULL, 2, 3600), TF_OK);

    r.command_sha256 = "cccc"; /* a success stays cached */
    tf_claim h = claim_ok(f->s, &r);
    assert_int_equal(h.decision, TF_CLAIM_HIT);
    tf_claim_clear(&h);

    /* a failure recorded before digests were (NULL) waits as before */
    key_of(key, "dd");
    tf_claim_req o = req_of("w", key);
    o.retries = 0;
    tf_claim c = claim_ok(f->s, &o);
    assert_int_equal(finish(f->s, &c, TF_OUT_FAILED, NULL, "boom", 0, 1), TF_OK);
    o.command_sha256 = "aaaa";
    tf_claim n = claim_ok(f->s, &o);
    assert_int_equal(n.decision, TF_CLAIM_FAILED);
    tf_claim_clear(&n);
}

static void store__gc_settled_only(void **state)
{
    fx *f = *state;
    make_call(f, "w", "01", 1000, TF_OUT_SUCCEEDED, "{}");
    make_call(f, "w", "02", 2000, TF_OUT_FAILED, "{}");
    make_call(f, "w", "03", 5000, TF_OUT_SUCCEEDED, "{}");
    make_call(f, "w", "04", 100, TF_OUT_INTERRUPTED, "R"); /* running */
    int64_t n = 0;
    assert_int_equal(tf_store_gc(f->s, 3000, &n), TF_OK);
    assert_int_equal(n, 2);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls"), 2);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM history"), 2);
}


/* A work's calls are counted through the key index, up to a bound (memo preload sizing). */
static void store__count_work_bounded(void **state)
{
    fx *f = *state;
    make_call(f, "a", "01", 1000, TF_OUT_SUCCEEDED, "{}");
    make_call(f, "a", "02", 1000, TF_OUT_FAILED, "{}");
    make_call(f, "a", "03", 1000, TF_OUT_SUCCEEDED, "{}");
    make_call(f, "b", "04", 1000, TF_OUT_SUCCEEDED, "{}");
    int64_t n = -1;
    assert_int_equal(tf_store_count_work(f->s, "a", "", 100, &n), TF_OK);
    assert_int_equal(n, 3);
    assert_int_equal(tf_store_count_work(f->s, "a", "", 2, &n), TF_OK);
    assert_int_equal(n, 2); /* the bound: "2 or more" */
    assert_int_equal(tf_store_count_work(f->s, "b", "", 100, &n), TF_OK);
    assert_int_equal(n, 1);
    assert_int_equal(tf_store_count_work(f->s, "a", "v2", 100, &n), TF_OK);
    assert_int_equal(n, 0);
    assert_int_equal(tf_store_count_work(f->s, "none", "", 100, &n), TF_OK);
    assert_int_equal(n, 0);
}

/* An execution's output tail is stored with its attempt, also through a deferred finish. */
static void store__output_stored_with_attempt(void **state)
{
    fx *f = *state;
    char key[65];
    key_of(key, "0a");
    tf_claim_req r = req_of("w", key);
    tf_claim c = claim_ok(f->s, &r);
    tf_finish fin = {
        .call_id = c.call_id, .fence = c.fence, .history_id = c.history_id,
        .outcome = TF_OUT_SUCCEEDED, .result_json = "1", .duration = 0.1,
        .output = "the tail\n", .output_total = 70000, .output_truncated = 1, .output_captured = 1,
    };
    char tail[] = "the tail\n";
    fin.output = tail;
    assert_int_equal(tf_store_finish_later(f->s, &fin), TF_OK);
    tail[0] = 'X'; /* the queue keeps its own copy */
    key_of(key, "0b");
    r = req_of("w", key);
    tf_claim c2 = claim_ok(f->s, &r); /* commits the deferred end */
    fin = (tf_finish){
        .call_id = c2.call_id, .fence = c2.fence, .history_id = c2.history_id,
        .outcome = TF_OUT_SUCCEEDED, .result_json = "1", .duration = 0.1, .output_captured = 1,
    };
    assert_int_equal(tf_store_finish(f->s, &fin), TF_OK); /* a silent command */
    char *t = raw_text(f->path, "SELECT group_concat(coalesce(output, '-') || '|' || "
                       "coalesce(output_bytes, 'null') || '|' || output_truncated, ';') FROM "
                       "(SELECT * FROM history ORDER BY id)");
    assert_string_equal(t, "the tail\n|70000|1;-|0|0");
    free(t);
    tf_claim_clear(&c);
    tf_claim_clear(&c2);
}

static void store__data_version(void **state)
{
    fx *f = *state;
    int64_t v1 = 0, v2 = 0, v3 = 0;
    assert_int_equal(tf_store_data_version(f->s, &v1), TF_OK);
    tf_store *s2 = open_second(f, &f->clk);
    char key[65];
    key_of(key, "99");
    tf_claim_req r = req_of("w", key);
    tf_claim c = claim_ok(s2, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    assert_int_equal(tf_store_data_version(f->s, &v2), TF_OK);
    assert_true(v2 != v1);
    /* our own commit does not change it */
    key_of(key, "98");
    tf_claim_req r2 = req_of("w", key);
    c = claim_ok(f->s, &r2);
    assert_int_equal(tf_store_data_version(f->s, &v3), TF_OK);
    assert_true(v3 == v2);
    tf_store_close(s2);
}

static void store__busy_reported(void **state)
{
    fx *f = *state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    tf_store_set_busy_limit(f->s, 0.3);
    char key[65];
    key_of(key, "77");
    tf_claim_req r = req_of("w", key);
    tf_claim c;
    assert_int_equal(tf_store_claim(f->s, &r, &c), TF_EBUSY);
    assert_non_null(strstr(tf_store_errmsg(f->s), "stayed locked"));
    /* reads still answer while another connection writes */
    tf_filter all = {0};
    rows rr = {0};
    assert_int_equal(tf_store_list(f->s, &all, collect, &rr), TF_OK);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Regression (fault campaign): opening an up-to-date database took the write lock. */
static void store__open_does_not_wait_for_writers(void **state)
{
    fx *f = *state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    tf_store *s2 = NULL;
    double t0 = now_mono();
    assert_int_equal(tf_store_open(f->path, &s2), TF_OK);
    assert_true(now_mono() - t0 < 2.0);
    tf_filter all = {0};
    rows rr = {0};
    assert_int_equal(tf_store_list(s2, &all, collect, &rr), TF_OK);
    tf_store_close(s2);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* Regression (fault campaign): the busy budget ran 5 s longer than it said. */
static void store__busy_budget_includes_sqlite_timeout(void **state)
{
    fx *f = *state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    tf_store_set_busy_limit(f->s, 5.5); /* SQLite's own timeout is then 5 s */
    char key[65];
    key_of(key, "78");
    tf_claim_req r = req_of("w", key);
    tf_claim c;
    double t0 = now_mono();
    assert_int_equal(tf_store_claim(f->s, &r, &c), TF_EBUSY);
    double took = now_mono() - t0;
    assert_true(took >= 5.0);
    assert_true(took < 8.0); /* it was 10.5 s: 5 s inside SQLite, then 5.5 s more */
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* ---- a race of processes --------------------------------------------------- */

/*
 * In a child: wait for the start signal, open the store and claim the same
 * call ten times; report RUNs (bit 7: an error); stay alive until released
 * so a winner's claim is never taken over for being dead.
 */
static void race_child(const char *path, const char *key, int start_fd, int end_fd, int out_fd)
{
    char b;
    while (read(start_fd, &b, 1) > 0) {}
    tf_store *s = NULL;
    int errs = tf_store_open(path, &s) != TF_OK;
    int runs = 0;
    tf_claim_req r = req_of("race", key);
    r.lease = 60;
    for (int i = 0; i < 10 && !errs; i++) {
        tf_claim c;
        if (tf_store_claim(s, &r, &c) != TF_OK)
            errs++;
        else if (c.decision == TF_CLAIM_RUN)
            runs++;
        else if (c.decision != TF_CLAIM_BUSY)
            errs++;
        tf_claim_clear(&c);
    }
    if (errs)
        fprintf(stderr, "race child %ld: %s\n", (long)getpid(), tf_store_errmsg(s));
    unsigned char rep = (unsigned char)(runs | (errs ? 0x80 : 0));
    if (write(out_fd, &rep, 1) != 1)
        _exit(3);
    while (read(end_fd, &b, 1) > 0) {}
    tf_store_close(s);
    _exit(0);
}

static void store__race_one_run(void **state)
{
    fx *f = *state;
    char key[65];
    key_of(key, "5ace");
    for (int trial = 0; trial < 20; trial++) {
        char path[200];
        snprintf(path, sizeof path, "%s/race%d.db", f->dir, trial);
        int start[2], end[2], res[2];
        assert_int_equal(pipe(start), 0);
        assert_int_equal(pipe(end), 0);
        assert_int_equal(pipe(res), 0);
        pid_t kids[8];
        for (int i = 0; i < 8; i++) {
            kids[i] = fork();
            assert_true(kids[i] >= 0);
            if (kids[i] == 0) {
                close(start[1]);
                close(end[1]);
                close(res[0]);
                race_child(path, key, start[0], end[0], res[1]);
            }
        }
        close(start[0]);
        close(end[0]);
        close(res[1]);
        close(start[1]); /* go */
        int runs = 0, errs = 0;
        for (int i = 0; i < 8; i++) {
            unsigned char rep;
            assert_int_equal(read(res[0], &rep, 1), 1);
            runs += rep & 0x7f;
            errs += (rep & 0x80) != 0;
        }
        close(end[1]); /* release */
        close(res[0]);
        for (int i = 0; i < 8; i++) {
            int st;
            assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
            assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        }
        assert_int_equal(errs, 0);
        if (runs != 1)
            fail_msg("trial %d: %d runs", trial, runs);
        assert_int_equal(raw_int(path, "SELECT count(*) FROM history"), 1);
        assert_int_equal(raw_int(path, "SELECT fence FROM calls"), 1);
    }
}

/* ---- proc ------------------------------------------------------------------ */

/* ---- runner identity and the judgement of other runners (issue: exactly once) ---- */

static void nap(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Claims and attempts name the runner's boot, PID namespace and start time; starts name the leader's. */
static void store__identity_recorded(void **state)
{
    fx *f = *state;
    char key[65];
    key_of(key, "1d");
    tf_claim_req r = req_of("w", key);
    tf_claim c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    assert_int_equal(tf_store_exec_started(f->s, c.history_id, 4321, 4321, 777, NULL), TF_OK);
    tf_proc_id me;
    assert_int_equal(tf_proc_self(&me), TF_OK);
    char *boot = raw_text(f->path, "SELECT runner_boot FROM calls");
    assert_string_equal(boot, me.boot);
    free(boot);
    assert_int_equal(raw_int(f->path, "SELECT runner_pidns FROM calls"), (long long)me.pidns);
    assert_true(raw_int(f->path, "SELECT lease_boot_until > 0 FROM calls") == 1);
    boot = raw_text(f->path, "SELECT runner_boot FROM history");
    assert_string_equal(boot, me.boot);
    free(boot);
    assert_int_equal(raw_int(f->path, "SELECT runner_pidns FROM history"), (long long)me.pidns);
    assert_int_equal(raw_int(f->path, "SELECT runner_start FROM history"), me.start);
    assert_int_equal(raw_int(f->path, "SELECT exec_start FROM history"), 777);
    assert_int_equal(finish(f->s, &c, TF_OUT_SUCCEEDED, "1", NULL, 0, 1), TF_OK);
    assert_int_equal(raw_int(f->path, "SELECT lease_boot_until IS NULL FROM calls"), 1);
    tf_claim_clear(&c);
}

/* In a child: claim with a short lease, say so, then stay alive (or stopped) until killed. */
static void claim_and_stay(const char *path, const char *key, int out_fd, int stop)
{
    tf_store *s = NULL;
    int ok = tf_store_open(path, &s) == TF_OK;
    tf_claim_req r = req_of("w", key);
    r.lease = 0.2;
    tf_claim c;
    ok = ok && tf_store_claim(s, &r, &c) == TF_OK && c.decision == TF_CLAIM_RUN;
    char b = ok ? 'y' : 'n';
    if (write(out_fd, &b, 1) != 1)
        _exit(2);
    if (stop)
        raise(SIGSTOP); /* a stalled runner: no renewals, its lease runs out */
    for (;;)
        pause();
}

/*
 * A live runner of our boot and namespace is never taken over, whatever its
 * lease says - also while it is stopped; once it is dead, at once.
 */
static void store__live_runner_never_taken_over(void **state)
{
    fx *f = *state;
    tf_store_set_clock(f->s, NULL, NULL);
    char key[65];
    key_of(key, "a1");
    for (int stop = 0; stop < 2; stop++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            claim_and_stay(f->path, key, p[1], stop);
        }
        close(p[1]);
        char b = 0;
        assert_int_equal(read(p[0], &b, 1), 1);
        close(p[0]);
        assert_int_equal(b, 'y');
        nap(0.5); /* the 0.2 s lease has long run out */
        tf_claim_req r = req_of("w", key);
        tf_claim c = claim_ok(f->s, &r);
        assert_int_equal(c.decision, TF_CLAIM_BUSY);
        kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, NULL, 0), pid);
        c = claim_ok(f->s, &r);
        assert_int_equal(c.decision, TF_CLAIM_RUN);
        assert_true(c.stale_history_id > 0);
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT error FROM history WHERE runner_pid = %ld", (long)pid);
        char *why = raw_text(f->path, sql);
        assert_non_null(strstr(why, "died"));
        free(why);
        assert_int_equal(finish(f->s, &c, TF_OUT_INTERRUPTED, NULL, "test", 0, 1), TF_OK);
    }
}

/*
 * A runner in another PID namespace of this boot is judged by its lease on
 * the boot-time clock: a wall clock hours ahead or behind changes nothing.
 */
static void store__other_namespace_lease_on_boot_clock(void **state)
{
    fx *f = *state;
    char key[65];
    key_of(key, "b1");
    tf_claim_req r = req_of("w", key);
    r.lease = 0.4;
    f->clk.t = 1700000000.0;
    as_elsewhere(f->s, 1);
    tf_claim a = claim_ok(f->s, &r);
    assert_int_equal(a.decision, TF_CLAIM_RUN);

    fake_clock ahead = {1700000000.0 + 3 * 3600}, behind = {1700000000.0 - 3 * 3600};
    tf_store *s_ahead = open_second(f, &ahead), *s_behind = open_second(f, &behind);
    tf_claim b = claim_ok(s_ahead, &r);
    assert_int_equal(b.decision, TF_CLAIM_BUSY); /* its wall-clock lease looks 3 h expired */
    /* renewals move the boot-time deadline, whatever the renewer's wall clock says */
    f->clk.t -= 7200;
    nap(0.3);
    assert_int_equal(tf_store_renew(f->s, a.call_id, a.fence, 0.4), TF_OK);
    nap(0.2);
    b = claim_ok(s_ahead, &r);
    assert_int_equal(b.decision, TF_CLAIM_BUSY);
    nap(0.35); /* now it has run out on the boot clock */
    b = claim_ok(s_behind, &r); /* its wall clock says the lease still has hours */
    assert_int_equal(b.decision, TF_CLAIM_RUN);
    assert_int_equal(b.fence, a.fence + 1);
    char *why = raw_text(f->path, "SELECT error FROM history WHERE fence = 1");
    assert_string_equal(why, "lease expired");
    free(why);
    tf_store_close(s_ahead);
    tf_store_close(s_behind);
    tf_claim_clear(&a);
    tf_claim_clear(&b);
}

/* A failure finished under a lost fence changes nothing of the newer claim. */
static void store__failure_finish_is_fenced(void **state)
{
    fx *f = *state;
    char key[65];
    key_of(key, "c1");
    tf_claim_req r = req_of("w", key);
    r.retries = 3;
    f->clk.t = 1000;
    as_elsewhere(f->s, 0);
    tf_claim a = claim_ok(f->s, &r);
    fake_clock later = {1031};
    tf_store *s2 = open_second(f, &later);
    tf_claim b = claim_ok(s2, &r);
    assert_int_equal(b.decision, TF_CLAIM_RUN);
    assert_int_equal(finish(f->s, &a, TF_OUT_FAILED, NULL, "late failure", 3, 1), TF_ESTATE);
    char *st = raw_text(f->path, "SELECT status || ' ' || fence || ' ' || failures || ' '"
                        " || coalesce(error, '-') FROM calls");
    assert_string_equal(st, "running 2 0 -");
    free(st);
    assert_int_equal(finish(s2, &b, TF_OUT_SUCCEEDED, "\"B\"", NULL, 3, 1), TF_OK);
    st = raw_text(f->path, "SELECT status || ' ' || result_json FROM calls");
    assert_string_equal(st, "succeeded \"B\"");
    free(st);
    tf_store_close(s2);
    tf_claim_clear(&a);
    tf_claim_clear(&b);
}

/* A takeover hands over what proves the dead execution's group; the note lands on its attempt. */
static void store__takeover_reports_the_stale_group(void **state)
{
    fx *f = *state;
    tf_store_set_clock(f->s, NULL, NULL);
    char key[65];
    key_of(key, "e1");
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        claim_and_die(f->path, key, p[1]);
    }
    close(p[1]);
    char b = 0;
    assert_int_equal(read(p[0], &b, 1), 1);
    close(p[0]);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    tf_claim_req r = req_of("w", key);
    tf_claim c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    tf_proc_id me;
    assert_int_equal(tf_proc_self(&me), TF_OK);
    assert_int_equal(c.stale_pgid, (long)pid);
    assert_string_equal(c.stale_boot, me.boot);
    assert_int_equal(c.stale_pidns, me.pidns);
    assert_int_equal(tf_store_note_signal(f->s, c.stale_history_id, "not signalled: test"), TF_OK);
    char *note = raw_text(f->path, "SELECT signal_note FROM history WHERE status = 'interrupted'");
    assert_string_equal(note, "not signalled: test");
    free(note);
    assert_int_equal(finish(f->s, &c, TF_OUT_SUCCEEDED, "1", NULL, 0, 1), TF_OK);
}

static int count_row(const tf_call_row *row, void *user)
{
    (void)row;
    (*(int64_t *)user)++;
    return 0;
}

/* Fill n rows of work w with status st behind the store's back (one statement). */
static void fill_rows(const char *path, const char *w, const char *st, int n)
{
    char sql[700];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
             " INSERT INTO calls (work, version, args_sha256, args_json, status, result_json,"
             " attempts, failures, next_retry_at, created_at, finished_at)"
             " SELECT '%s', '', lower(hex(randomblob(32))), '{\"i\":' || i || '}', '%s', 'null', 1,"
             " 2, 1e12, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z' FROM n", n, w, st);
    raw_exec(path, sql);
}

/*
 * Clear, retry and gc of many rows run in short batches (engine.h): they
 * still list, delete and audit exactly what matched, and spare the rest.
 */
static void store__long_writes_in_batches(void **state)
{
    fx *f = *state;
    fill_rows(f->path, "big", "succeeded", 12000);
    fill_rows(f->path, "keep", "succeeded", 3);
    fill_rows(f->path, "bad", "failed", 7000);
    tf_filter fl = {.work = "big"};
    int64_t listed = 0, n = 0;
    assert_int_equal(tf_store_clear(f->s, &fl, "u", "--work big", 1, count_row, &listed, &n), TF_OK);
    assert_int_equal(listed, 12000);
    assert_int_equal(n, 12000);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls WHERE work = 'big'"), 12000);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM clears"), 0); /* a dry run is not audited */
    listed = 0;
    assert_int_equal(tf_store_clear(f->s, &fl, "u", "--work big", 0, count_row, &listed, &n), TF_OK);
    assert_int_equal(listed, 12000);
    assert_int_equal(n, 12000);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls WHERE work = 'big'"), 0);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls WHERE work = 'keep'"), 3);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM clears"), 1);
    assert_int_equal(raw_int(f->path, "SELECT sum(count) FROM clears"), 12000);

    tf_filter fb = {.work = "bad"};
    assert_int_equal(tf_store_retry(f->s, &fb, &n), TF_OK);
    assert_int_equal(n, 7000);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls WHERE failures = 0"
                                      " AND next_retry_at IS NULL AND work = 'bad'"), 7000);
    assert_int_equal(tf_store_retry(f->s, &fb, &n), TF_OK);
    assert_int_equal(n, 0); /* already runnable */

    assert_int_equal(tf_store_gc(f->s, 1800000000.0, &n), TF_OK);
    assert_int_equal(n, 7003);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM calls"), 0);
}

static void proc__self_and_alive(void **state)
{
    (void)state;
    tf_proc_id me;
    assert_int_equal(tf_proc_self(&me), TF_OK);
    assert_true(me.host[0] != '\0');
    assert_int_equal(me.pid, (long)getpid());
    assert_true(me.start > 0);
    assert_int_equal(tf_proc_alive(me.pid, me.start), 1);
    assert_int_equal(tf_proc_alive(me.pid, me.start + 1), 0); /* a reused pid */
    assert_int_equal(tf_proc_alive(-1, 0), 0);
    assert_int_equal(tf_proc_alive(0, 0), 0);
    long long st = 0;
    assert_int_equal(tf_proc_start_time(1, &st), TF_OK); /* init */
    assert_true(st >= 0);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
    assert_int_equal(tf_proc_alive((long)pid, 0), 0); /* zombie */
    assert_int_equal(tf_proc_start_time((long)pid, &st), TF_ENOTFOUND);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(tf_proc_alive((long)pid, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(store__create_mode_0600, teardown),
        cmocka_unit_test_setup_teardown(store__migrate_from_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(store__reopen_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(store__refuse_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(store__migrate_from_version_1, setup_no_store, teardown),
        cmocka_unit_test_setup_teardown(store__migrate_1_to_2_keeps_data, setup_no_store, teardown),
        cmocka_unit_test_setup_teardown(store__open_errors, setup_no_store, teardown),
        cmocka_unit_test_setup_teardown(store__claim_run_finish_hit, setup, teardown),
        cmocka_unit_test_setup_teardown(store__no_cache_runs_again, setup, teardown),
        cmocka_unit_test_setup_teardown(store__failed_retries_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(store__interrupted_runs_again, setup, teardown),
        cmocka_unit_test_setup_teardown(store__clock_backwards, setup, teardown),
        cmocka_unit_test_setup_teardown(store__fencing_takeover, setup, teardown),
        cmocka_unit_test_setup_teardown(store__dead_runner_taken_over, setup, teardown),
        cmocka_unit_test_setup_teardown(store__deferred_finish_rides_on_next_claim, setup, teardown),
        cmocka_unit_test_setup_teardown(store__claim_sees_own_deferred_finish, setup, teardown),
        cmocka_unit_test_setup_teardown(store__deferred_kept_on_failure_and_fence_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(store__crash_loses_only_queued_ends, setup, teardown),
        cmocka_unit_test_setup_teardown(store__list_find_history, setup, teardown),
        cmocka_unit_test_setup_teardown(store__find_by_work_and_version, setup, teardown),
        cmocka_unit_test_setup_teardown(store__history_oldest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(store__clear_and_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(store__clear_spares_running_whatever_the_lease, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(store__gc_settled_only, setup, teardown),
        cmocka_unit_test_setup_teardown(store__changed_command_runs_a_failure_again, setup, teardown),
        cmocka_unit_test_setup_teardown(store__clear_asking_deletes_what_was_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(store__gc_asking_deletes_what_was_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(store__count_work_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(store__output_stored_with_attempt, setup, teardown),
        cmocka_unit_test_setup_teardown(store__data_version, setup, teardown),
        cmocka_unit_test_setup_teardown(store__busy_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(store__open_does_not_wait_for_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(store__busy_budget_includes_sqlite_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(store__race_one_run, setup_no_store, teardown),
        cmocka_unit_test_setup_teardown(store__identity_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(store__live_runner_never_taken_over, setup, teardown),
        cmocka_unit_test_setup_teardown(store__other_namespace_lease_on_boot_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(store__failure_finish_is_fenced, setup, teardown),
        cmocka_unit_test_setup_teardown(store__takeover_reports_the_stale_group, setup, teardown),
        cmocka_unit_test_setup_teardown(store__long_writes_in_batches, setup, teardown),
        cmocka_unit_test(proc__self_and_alive),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
