/*
 * test_store_pg.c - the store protocol on the PostgreSQL engine
 * (src/store/protocol.c, inspect.c, postgres.c) against a real server:
 * the throwaway cluster scripts/pg-cluster starts for make test (TF_PG_ADMIN,
 * a superuser URI with a password). Each test gets a database of its own.
 * Without a server every test prints "skipped: <reason>" and passes.
 *
 * Covered: migration (fresh, reopen, newer refused untouched, foreign
 * refused, concurrent first opens migrate once, search_path option), the
 * claim/lease/fence protocol with leases on the server clock (a host clock
 * hours ahead takes nothing over), takeover after the lease and the fenced
 * finish, deferred writes, inspection and clearing, the change counter
 * (LISTEN/NOTIFY) seeing other sessions only, a killed connection retried
 * without failing the operation, passwords never in messages, and a
 * multi-process claim race with exactly one runner.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "schema.h"
#include "store.h"
#include "store/engine.h"
#include "helpers/claims.h"

/* Per-test state: a database of its own and an open store on it. */
typedef struct fx {
    char db[64];            /* database name */
    char uri[512];          /* URI of that database (with the password) */
    tf_store *s;            /* store on uri, or NULL */
} fx;

static const char *admin_uri(void)
{
    const char *u = getenv("TF_PG_ADMIN");
    return u && *u ? u : NULL;
}

/* Skip the test (printing why) when there is no server. */
static int no_server(void)
{
    if (admin_uri())
        return 0;
    const char *why = getenv("TF_PG_SKIP");
    print_message("skipped: PostgreSQL store tests: %s\n",
                  why && *why ? why : "no server (run through make test or scripts/pg-cluster run)");
    return 1;
}

/* uri with its database name replaced by db, into out. */
static void uri_for(const char *uri, const char *db, char *out, size_t size)
{
    const char *q = strchr(uri, '?');
    size_t base = q ? (size_t)(q - uri) : strlen(uri);
    const char *slash = uri + base;
    while (slash > uri && *(slash - 1) != '/')
        slash--;
    int n = snprintf(out, size, "%.*s%s%s", (int)(slash - uri), uri, db, q ? q : "");
    assert_true(n > 0 && (size_t)n < size);
}

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* Run sql on the database uri (a fresh connection); fails the test on error. */
static void sql_on(const char *uri, const char *sql)
{
    PGconn *c = PQconnectdb(uri);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    PQsetNoticeProcessor(c, quiet, NULL);
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* One integer from a query on uri (-1 if no row or NULL). */
static long long int_on(const char *uri, const char *sql)
{
    PGconn *c = PQconnectdb(uri);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    long long v = PQntuples(r) && !PQgetisnull(r, 0, 0) ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    return v;
}

static int counter;

static fx *fx_new(int open_store)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->db, sizeof f->db, "tf_t%ld_%d", (long)getpid(), ++counter);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", f->db);
    sql_on(admin_uri(), sql);
    uri_for(admin_uri(), f->db, f->uri, sizeof f->uri);
    if (open_store) {
        int rc = tf_store_open(f->uri, &f->s);
        if (rc != TF_OK)
            fail_msg("open: %s", tf_store_errmsg(f->s));
    }
    return f;
}

static int setup(void **state)
{
    *state = no_server() ? NULL : fx_new(1);
    return 0;
}

static int setup_no_store(void **state)
{
    *state = no_server() ? NULL : fx_new(0);
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    if (!f)
        return 0;
    tf_store_close(f->s);
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->db);
    sql_on(admin_uri(), sql);
    free(f);
    return 0;
}

#define NEED_SERVER(f) do { if (!(f)) return; } while (0)


static tf_claim_req req_of(const char *work, const char *key, double lease)
{
    tf_claim_req r = {
        .work = work, .version = "", .args_sha256 = key, .args_json = "{\"k\":1}",
        .cache_calls = 1, .retries = 0, .backoff = 10, .lease = lease,
    };
    return r;
}

static tf_finish finish_of(const tf_claim *c, tf_outcome o, const char *result)
{
    tf_finish f = {
        .call_id = c->call_id, .fence = c->fence, .history_id = c->history_id,
        .outcome = o, .result_json = result, .error = o == TF_OUT_SUCCEEDED ? NULL : "boom",
        .exit_code = o == TF_OUT_SUCCEEDED ? 0 : 1, .duration = 0.25,
    };
    return f;
}

static tf_store *open_ok(const char *uri)
{
    tf_store *s = NULL;
    int rc = tf_store_open(uri, &s);
    if (rc != TF_OK)
        fail_msg("open: %s", tf_store_errmsg(s));
    return s;
}

static void sleep_s(double t)
{
    struct timespec ts = {(time_t)t, (long)((t - (double)(time_t)t) * 1e9)};
    nanosleep(&ts, NULL);
}

/* ---- opening and migrations ---------------------------------------------- */

static void store_pg__migrate_and_reopen(void **state)
{
    fx *f = *state;
    NEED_SERVER(f);
    assert_int_equal(int_on(f->uri, "SELECT version FROM tickflow_schema"), tf_schema_postgres_count);
    /* the tables and views of the SQLite schema, by the same names */
    assert_int_equal(int_on(f->uri, "SELECT count(*) FROM information_schema.tables"
                            " WHERE table_schema = 'public' AND table_name IN"
                            " ('calls', 'history', 'clears', 'ran_today', 'failed_calls',"
                            " 'running_calls', 'recent_history')"), 7);
    char k[65];
    key_of(k, "aa");
    tf_claim_req r = req_of("w", k, 30);
    tf_claim c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    tf_finish fin = finish_of(&c, TF_OUT_SUCCEEDED, "{\"ok\":1}");
    assert_int_equal(tf_store_finish(f->s, &fin), TF_OK);
    tf_claim_clear(&c);
    tf_store_close(f->s);
    f->s = open_ok(f->uri);
    c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_HIT);
    assert_string_equal(c.result_json, "{\"ok\":1}");
    tf_claim_clear(&c);
    /* the README's inspection SQL runs in psql too */
    assert_int_equal(int_on(f->uri, "SELECT count(*) FROM recent_history"), 1);
    assert_int_equal(int_on(f->uri, "SELECT count(*) FROM ran_today"), 1);
    assert_int_equal(int_on(f->uri, "SELECT count(*) FROM running_calls"), 0);
    assert_int_equal(int_on(f->uri, "SELECT count(*) FROM failed_calls"), 0);
}

static void store_pg__refuse_newer_schema(void **state)
{
    fx *f = *state;
    NEED_SERVER(f);
    tf_store_close(f->s);
    f->s = NULL;
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE tickflow_schema SET version = %d", tf_schema_postgres_count + 1);
    sql_on(f->uri, sql);
    long long tables = int_on(f->uri, "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace");
    assert_int_equal(tf_store_open(f->uri, &f->s), TF_ESCHEMA);
    assert_non_null(strstr(tf_store_errmsg(f->s), "newer than this tickflow"));
    assert_int_equal(int_on(f->uri, "SELECT version FROM tickflow_schema"), tf_schema_postgres_count + 1);
    assert_int_equal(int_on(f->uri, "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"),
                     tables);
}

static void store_pg__foreign_schema_refused(void **state)
{
    fx *f = *state;
    NEED_SERVER(f);
    sql_on(f->uri, "CREATE TABLE calls (x integer)");
    assert_int_equal(tf_store_open(f->uri, &f->s), TF_EDB);
    assert_non_null(strstr(tf_store_errmsg(f->s), "not a tickflow database"));
    assert_int_equal(int_on(f->uri, "SELECT count(*) FROM pg_class WHERE relname = 'tickflow_schema'"), 0);
}

/* 8 processes open an empty database at once: each opens, the schema is migrated once. */
static void store_pg__concurrent_first_open(void **state)
{
    fx *f = *state;
    NEED_SERVER(f);
    enum { N = 8 };
    pid_t kids[N];
    for (int i = 0; i < N; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            tf_store *s = NULL;
            int rc = tf_store_open(f->uri, &s);
            if (rc != TF_OK)
                fprintf(stderr, "child open: %s\n", tf_store_errmsg(s));
            tf_store_close(s);
            _exit(rc == TF_OK ? 0 : 1);
        }
    }
    for (int i = 0; i < N; i++) {
        int st = 0;
        assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    assert_int_equal(int_on(f->uri, "SELECT count(*) FROM tickflow_schema"), 1);
    assert_int_equal(int_on(f->uri, "SELECT version FROM tickflow_schema"), tf_schema_postgres_count);
}

/* ?options=-csearch_path%3Dtickflow puts the tables in that schema. */
static void store_pg__search_path_option(void **state)
{
    fx *f = *state;
    NEED_SERVER(f);
    sql_on(f->uri, "CREATE SCHEMA tickflow");
    char uri[600];
    snprintf(uri, sizeof uri, "%s?options=-csearch_path%%3Dtickflow", f->uri);
    f->s = open_ok(uri);
    assert_int_equal(int_on(f->uri, "SELECT count(*) FROM information_schema.tables"
                            " WHERE table_schema = 'tickflow' AND table_name = 'calls'"), 1);
    assert_int_equal(int_on(f->uri, "SELECT count(*) FROM information_schema.tables"
                            " WHERE table_schema = 'public' AND table_name = 'calls'"), 0);
    char k[65];
    key_of(k, "bb");
    tf_claim_req r = req_of("w", k, 30);
    tf_claim c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    tf_claim_clear(&c);
    assert_int_equal(int_on(f->uri, "SELECT count(*) FROM tickflow.calls"), 1);
}

/* Every statement of the protocol has its PostgreSQL text (a new SQLite one must come here too). */
static void store_pg__every_statement_mirrored(void **state)
{
    (void)state;
    assert_int_equal(tf_store_pg_missing_statement(), -1);
    /* and each migration of SQLite has its counterpart's tables (a smoke check of the counts) */
    assert_true(tf_schema_postgres_count >= 1);
}

/* The sorted column names of table in a fresh SQLite store, comma-separated, into out. */
static void sqlite_columns(const char *table, char *out, size_t size)
{
    char dir[] = "/tmp/tf_pgcols_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/t.db", dir);
    tf_store *s = NULL;
    assert_int_equal(tf_store_open(path, &s), TF_OK);
    tf_store_close(s);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(name, ',') FROM"
                                        " (SELECT name FROM pragma_table_info(?1) ORDER BY name)",
                                        -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const unsigned char *v = sqlite3_column_text(st, 0);
    snprintf(out, size, "%s", v ? (const char *)v : "");
    sqlite3_finalize(st);
    sqlite3_close(db);
    char wal[80], shm[80];
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(shm, sizeof shm, "%s-shm", path);
    unlink(path);
    unlink(wal);
    unlink(shm);
    rmdir(dir);
}

/* Both engines have the same tables with the same columns (every migration mirrored). */
static void store_pg__same_columns_as_sqlite(void **state)
{
    fx *f = *state;
    NEED_SERVER(f);
    static const char *const tables[] = {"calls", "history", "clears", "hits"};
    PGconn *c = PQconnectdb(f->uri);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char want[2048];
        sqlite_columns(tables[i], want, sizeof want);
        const char *vals[1] = {tables[i]};
        PGresult *r = PQexecParams(c, "SELECT string_agg(column_name::text, ',' ORDER BY column_name"
                                   " COLLATE \"C\") FROM information_schema.columns"
                                   " WHERE table_schema = current_schema() AND table_name = $1",
                                   1, NULL, vals, NULL, NULL, 0);
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        const char *got = PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0);
        if (strcmp(want, got) != 0)
            fail_msg("table %s: SQLite has columns %s, PostgreSQL %s", tables[i], want, got);
        PQclear(r);
    }
    PQfinish(c);
}

/* ---- passwords ------------------------------------------------------------ */

static void store_pg__password_never_shown(void **state)
{
    (void)state;
    char *r = tf_db_redact("postgresql://alice:s3cret@db.example:5432/tf?sslmode=require");
    assert_string_equal(r, "postgresql://alice@db.example:5432/tf?sslmode=require");
    free(r);
    r = tf_db_redact("postgres://h/db?user=bob&password=s3cret&application_name=x");
    assert_string_equal(r, "postgres://h/db?user=bob&password=***&application_name=x");
    free(r);
    r = tf_db_redact("./tickflow.db");
    assert_string_equal(r, "./tickflow.db");
    free(r);
    assert_true(tf_db_is_server("postgresql://h/db"));
    assert_true(tf_db_is_server("postgres://h/db"));
    assert_false(tf_db_is_server("postgresql.db"));
    if (no_server())
        return;
    /* a wrong password: the message names the database without it */
    char uri[512];
    snprintf(uri, sizeof uri, "%s", admin_uri());
    char *at = strrchr(uri, '@');
    char *colon = NULL;
    for (char *p = strstr(uri, "://") + 3; p < at; p++)
        if (*p == ':')
            colon = p;
    assert_non_null(colon);
    char bad[600];
    snprintf(bad, sizeof bad, "%.*s:Wr0ngPassw0rd%s", (int)(colon - uri), uri, at);
    tf_store *s = NULL;
    assert_int_not_equal(tf_store_open(bad, &s), TF_OK);
    assert_null(strstr(tf_store_errmsg(s), "Wr0ngPassw0rd"));
    assert_non_null(strstr(tf_store_errmsg(s), "tickflow@127.0.0.1"));
    tf_store_close(s);
}

/* ---- the protocol ---------------------------------------------------------- */

static void store_pg__claim_busy_hit(void **state)
{
    fx *f = *state;
    NEED_SERVER(f);
    tf_store *b = open_ok(f->uri);
    char k[65];
    key_of(k, "cc");
    tf_claim_req r = req_of("w", k, 30);
    tf_claim c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    assert_int_equal(c.fence, 1);
    assert_int_equal(c.attempt, 1);
    tf_claim o = claim_ok(b, &r);
    assert_int_equal(o.decision, TF_CLAIM_BUSY);
    tf_claim_clear(&o);
    assert_int_equal(tf_store_exec_started(f->s, c.history_id, 4242, 4242, 0, "/tmp/x.log"), TF_OK);
    assert_int_equal(tf_store_renew(f->s, c.call_id, c.fence, 30), TF_OK);
    tf_finish fin = finish_of(&c, TF_OUT_SUCCEEDED, "42");
    assert_int_equal(tf_store_finish(f->s, &fin), TF_OK);
    o = claim_ok(b, &r);
    assert_int_equal(o.decision, TF_CLAIM_HIT);
    assert_string_equal(o.result_json, "42");
    tf_claim_clear(&o);
    tf_claim_clear(&c);
    /* a failure is recorded fenced, and not retried without a budget */
    key_of(k, "cd");
    r = req_of("w", k, 30);
    c = claim_ok(f->s, &r);
    fin = finish_of(&c, TF_OUT_FAILED, NULL);
    assert_int_equal(tf_store_finish(f->s, &fin), TF_OK);
    o = claim_ok(b, &r);
    assert_int_equal(o.decision, TF_CLAIM_FAILED);
    assert_string_equal(o.error, "boom");
    tf_claim_clear(&o);
    tf_claim_clear(&c);
    tf_store_close(b);
}

/*
 * The lease is judged on the server's clock: a handle whose host clock is
 * two hours ahead (the clock seam) does not take over a live lease; once
 * the lease really expired another runner takes over, and the first
 * runner's finish is refused (fenced out) and leaves the newer result.
 */
static double two_hours_ahead(void *user)
{
    (void)user;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 7200.0;
}

static void store_pg__lease_on_server_clock_and_fence(void **state)
{
    fx *f = *state;
    NEED_SERVER(f);
    tf_store *b = open_ok(f->uri);
    tf_store_set_clock(b, two_hours_ahead, NULL);
    char k[65];
    key_of(k, "dd");
    tf_claim_req r = req_of("w", k, 2);
    /* a runner on another host: only its lease can free the call */
    tf_claim c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE calls SET runner_host = 'elsewhere', runner_boot = 'another-boot' WHERE id = %lld",
             (long long)c.call_id);
    sql_on(f->uri, sql);
    tf_claim o = claim_ok(b, &r);
    assert_int_equal(o.decision, TF_CLAIM_BUSY);
    tf_claim_clear(&o);
    sleep_s(2.3);
    o = claim_ok(b, &r);
    assert_int_equal(o.decision, TF_CLAIM_RUN);
    assert_int_equal(o.fence, 2);
    assert_int_equal(o.attempt, 2);
    tf_finish fb = finish_of(&o, TF_OUT_SUCCEEDED, "\"b\"");
    assert_int_equal(tf_store_finish(b, &fb), TF_OK);
    tf_finish fa = finish_of(&c, TF_OUT_SUCCEEDED, "\"a\"");
    assert_int_equal(tf_store_finish(f->s, &fa), TF_ESTATE);
    assert_non_null(strstr(tf_store_errmsg(f->s), "fence 1 lost"));
    assert_int_equal(tf_store_renew(f->s, c.call_id, c.fence, 30), TF_ESTATE);
    tf_claim h = claim_ok(f->s, &r);
    assert_int_equal(h.decision, TF_CLAIM_HIT);
    assert_string_equal(h.result_json, "\"b\"");
    tf_claim_clear(&h);
    /* the first attempt is recorded interrupted (lease expired), then noted fenced out */
    assert_int_equal(int_on(f->uri, "SELECT count(*) FROM history WHERE error LIKE 'fenced out%'"), 1);
    tf_claim_clear(&o);
    tf_claim_clear(&c);
    tf_store_close(b);
}

static void store_pg__deferred_writes(void **state)
{
    fx *f = *state;
    NEED_SERVER(f);
    char k1[65], k2[65];
    key_of(k1, "e1");
    key_of(k2, "e2");
    tf_claim_req r1 = req_of("w", k1, 30), r2 = req_of("w", k2, 30);
    tf_claim c1 = claim_ok(f->s, &r1);
    assert_int_equal(tf_store_exec_started_later(f->s, c1.history_id, 7, 7, 0, NULL), TF_OK);
    tf_finish fin = finish_of(&c1, TF_OUT_SUCCEEDED, "1");
    assert_int_equal(tf_store_finish_later(f->s, &fin), TF_OK);
    assert_int_equal(tf_store_pending(f->s), 2);
    /* not visible to others until the next transaction carries it */
    assert_int_equal(int_on(f->uri, "SELECT count(*) FROM calls WHERE status = 'succeeded'"), 0);
    tf_claim c2 = claim_ok(f->s, &r2);
    assert_int_equal(c2.decision, TF_CLAIM_RUN);
    assert_int_equal(tf_store_pending(f->s), 0);
    assert_int_equal(int_on(f->uri, "SELECT count(*) FROM calls WHERE status = 'succeeded'"), 1);
    assert_int_equal(int_on(f->uri, "SELECT exec_pid FROM history WHERE call_id = (SELECT id FROM calls"
                            " WHERE args_sha256 LIKE 'e1%')"), 7);
    /* a queued success whose fence was lost is counted, not recorded */
    tf_finish f2 = finish_of(&c2, TF_OUT_SUCCEEDED, "2");
    sql_on(f->uri, "UPDATE calls SET fence = fence + 1 WHERE args_sha256 LIKE 'e2%'");
    assert_int_equal(tf_store_finish_later(f->s, &f2), TF_OK);
    assert_int_equal(tf_store_flush(f->s), TF_OK);
    assert_int_equal(tf_store_take_lost(f->s), 1);
    assert_int_equal(int_on(f->uri, "SELECT count(*) FROM calls WHERE status = 'succeeded'"), 1);
    tf_claim_clear(&c1);
    tf_claim_clear(&c2);
}

static int count_rows(const tf_call_row *r, void *user)
{
    (void)r;
    (*(int *)user)++;
    return 0;
}

static int count_hist(const tf_history_row *h, void *user)
{
    (void)h;
    (*(int *)user)++;
    return 0;
}

static void store_pg__inspect_clear_retry_gc(void **state)
{
    fx *f = *state;
    NEED_SERVER(f);
    char k[65];
    const char *prefixes[] = {"f1", "f2", "f3"};
    for (int i = 0; i < 3; i++) {
        key_of(k, prefixes[i]);
        tf_claim_req r = req_of(i < 2 ? "a" : "b", k, 30);
        tf_claim c = claim_ok(f->s, &r);
        tf_finish fin = finish_of(&c, i == 1 ? TF_OUT_FAILED : TF_OUT_SUCCEEDED, "1");
        assert_int_equal(tf_store_finish(f->s, &fin), TF_OK);
        tf_claim_clear(&c);
    }
    int n = 0;
    tf_filter all = {0};
    assert_int_equal(tf_store_list(f->s, &all, count_rows, &n), TF_OK);
    assert_int_equal(n, 3);
    n = 0;
    tf_filter fa = {0};
    fa.work = "a";
    fa.limit = 1;
    assert_int_equal(tf_store_list(f->s, &fa, count_rows, &n), TF_OK);
    assert_int_equal(n, 1);
    tf_filter failed = {0};
    failed.status = "failed";
    n = 0;
    assert_int_equal(tf_store_list(f->s, &failed, count_rows, &n), TF_OK);
    assert_int_equal(n, 1);
    int64_t cnt = 0;
    assert_int_equal(tf_store_count(f->s, &all, 0, &cnt), TF_OK);
    assert_int_equal(cnt, 3);
    assert_int_equal(tf_store_count(f->s, &all, 2, &cnt), TF_OK);
    assert_int_equal(cnt, 2);
    n = 0;
    assert_int_equal(tf_store_find(f->s, NULL, NULL, "f100", count_rows, &n), TF_OK);
    assert_int_equal(n, 1);
    assert_int_equal(tf_store_find(f->s, NULL, NULL, "0000", NULL, NULL), TF_ENOTFOUND);
    int64_t rows = 0;
    assert_int_equal(tf_store_row_estimate(f->s, &rows), TF_OK);
    assert_int_equal(rows, 3);
    int h = 0;
    assert_int_equal(tf_store_history(f->s, 1, count_hist, &h), TF_OK);
    assert_int_equal(h, 1);
    assert_int_equal(tf_store_retry(f->s, &failed, &cnt), TF_OK);
    assert_int_equal(cnt, 1);
    tf_filter fb = {0};
    fb.work = "b";
    assert_int_equal(tf_store_clear(f->s, &fb, "tester", "--work b", 1, NULL, NULL, &cnt), TF_OK);
    assert_int_equal(cnt, 1);
    assert_int_equal(int_on(f->uri, "SELECT count(*) FROM calls"), 3);
    assert_int_equal(tf_store_clear(f->s, &fb, "tester", "--work b", 0, NULL, NULL, &cnt), TF_OK);
    assert_int_equal(cnt, 1);
    assert_int_equal(int_on(f->uri, "SELECT count(*) FROM clears WHERE \"user\" = 'tester'"), 1);
    tf_filter empty = {0};
    assert_int_equal(tf_store_clear(f->s, &empty, "t", "", 0, NULL, NULL, &cnt), TF_EINPUT);
    char *prev = NULL;
    key_of(k, "f1");
    assert_int_equal(tf_store_previous_args(f->s, "a", k, &prev), TF_OK);
    assert_string_equal(prev, "{\"k\":1}");
    free(prev);
    assert_int_equal(tf_store_gc(f->s, 4102444800.0 /* 2100 */, &cnt), TF_OK);
    assert_int_equal(cnt, 2);
    assert_int_equal(int_on(f->uri, "SELECT count(*) FROM history"), 0);
}

/* One succeeded call of work w with key prefix p, through store s. */
static void pg_call(tf_store *s, const char *w, const char *p)
{
    char k[65];
    key_of(k, p);
    tf_claim_req r = req_of(w, k, 30);
    tf_claim c = claim_ok(s, &r);
    tf_finish fin = finish_of(&c, TF_OUT_SUCCEEDED, "1");
    assert_int_equal(tf_store_finish(s, &fin), TF_OK);
    tf_claim_clear(&c);
}

/* What another session records while the question waits. */
typedef struct pg_later {
    fx *f;                  /* the fixture */
    const char *prefix;     /* the key prefix of the new call (work w) */
} pg_later;

/* While the question waits, another session records a new call that matches too. */
static int pg_meanwhile(int64_t n, void *user)
{
    pg_later *m = user;
    tf_store *b = open_ok(m->f->uri);
    pg_call(b, "w", m->prefix);
    tf_store_close(b);
    return n > 0;
}

/* Asked first, clear and gc delete the calls counted, not one recorded since. */
static void store_pg__asking_deletes_what_was_counted(void **state)
{
    fx *f = *state;
    NEED_SERVER(f);
    pg_call(f->s, "w", "e1");
    pg_call(f->s, "w", "e2");
    tf_filter fw = {0};
    fw.work = "w";
    int64_t counted = 0, deleted = 0;
    pg_later e9 = {f, "e9"}, e8 = {f, "e8"};
    assert_int_equal(tf_store_clear_asking(f->s, &fw, "t", "--work w", pg_meanwhile, &e9, NULL,
                                           NULL, &counted, &deleted), TF_OK);
    assert_int_equal(counted, 2);
    assert_int_equal(deleted, 2);
    assert_int_equal(int_on(f->uri, "SELECT count(*) FROM calls"), 1); /* e9 */
    assert_int_equal(int_on(f->uri, "SELECT count FROM clears"), 2);
    /* everything finished before 2100: e9 and e1 counted, e8 recorded after the count */
    pg_call(f->s, "w", "e1");
    assert_int_equal(tf_store_gc_asking(f->s, 4102444800.0, pg_meanwhile, &e8, &counted, &deleted),
                     TF_OK);
    assert_int_equal(counted, 2);
    assert_int_equal(deleted, 2);
    assert_int_equal(int_on(f->uri, "SELECT count(*) FROM calls"), 1); /* e8 */
}

/* A call is (work, version, key): found, listed and cleared by all three (issue 12 point 7). */
static void store_pg__find_by_work_and_version(void **state)
{
    fx *f = *state;
    NEED_SERVER(f);
    check_find_by_work_and_version(f->s);
}

/* The change counter moves for other sessions' commits, not for ours. */
static void store_pg__data_version_other_sessions(void **state)
{
    fx *f = *state;
    NEED_SERVER(f);
    tf_store *b = open_ok(f->uri);
    int64_t v0 = 0, v1 = 0;
    assert_int_equal(tf_store_data_version(f->s, &v0), TF_OK);
    char k[65];
    key_of(k, "a1");
    tf_claim_req r = req_of("w", k, 30);
    tf_claim c = claim_ok(f->s, &r);
    tf_claim_clear(&c);
    sleep_s(0.2);
    assert_int_equal(tf_store_data_version(f->s, &v1), TF_OK);
    assert_int_equal(v1, v0);
    tf_filter fw = {0};
    fw.work = "w";
    fw.status = "running";
    int64_t cnt = 0;
    assert_int_equal(tf_store_clear(b, &fw, "t", "", 0, NULL, NULL, &cnt), TF_OK);
    assert_int_equal(cnt, 1);
    for (int i = 0; i < 50 && v1 == v0; i++) {
        sleep_s(0.02);
        assert_int_equal(tf_store_data_version(f->s, &v1), TF_OK);
    }
    assert_true(v1 != v0);
    tf_store_close(b);
}

/* The server ends our session between operations: the next ones reconnect and succeed. */
static void store_pg__lost_connection_retried(void **state)
{
    fx *f = *state;
    NEED_SERVER(f);
    char k[65];
    key_of(k, "b1");
    tf_claim_req r = req_of("w", k, 30);
    char kill[256];
    snprintf(kill, sizeof kill, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
             " WHERE datname = '%s' AND pid <> pg_backend_pid()", f->db);
    sql_on(admin_uri(), kill);
    tf_claim c = claim_ok(f->s, &r);
    assert_int_equal(c.decision, TF_CLAIM_RUN);
    sql_on(admin_uri(), kill);
    tf_finish fin = finish_of(&c, TF_OUT_SUCCEEDED, "1");
    assert_int_equal(tf_store_finish_later(f->s, &fin), TF_OK);
    assert_int_equal(tf_store_flush(f->s), TF_OK);
    sql_on(admin_uri(), kill);
    tf_claim h = claim_ok(f->s, &r);
    assert_int_equal(h.decision, TF_CLAIM_HIT);
    tf_claim_clear(&h);
    tf_claim_clear(&c);
    /* a server that stays away is reported after the budget, as busy, not as a result */
    tf_store_set_busy_limit(f->s, 0.5);
    char bad[600];
    snprintf(bad, sizeof bad, "DROP DATABASE %s WITH (FORCE)", f->db);
    sql_on(admin_uri(), bad);
    key_of(k, "b2");
    r = req_of("w", k, 30);
    tf_claim x;
    int rc = tf_store_claim(f->s, &r, &x);
    assert_int_equal(rc, TF_EBUSY);
    assert_non_null(strstr(tf_store_errmsg(f->s), "unreachable"));
    tf_claim_clear(&x);
}

/* 8 processes claim one new call at once: exactly one runs it. */
static void store_pg__race_one_run(void **state)
{
    fx *f = *state;
    NEED_SERVER(f);
    enum { N = 8 };
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t kids[N];
    for (int i = 0; i < N; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            close(fd[1]);
            tf_store *s = NULL;
            if (tf_store_open(f->uri, &s) != TF_OK)
                _exit(3);
            char k[65];
            key_of(k, "99");
            tf_claim_req r = req_of("w", k, 30);
            char go;
            if (read(fd[0], &go, 1) != 1)
                _exit(4);
            tf_claim c;
            int rc = tf_store_claim(s, &r, &c);
            int code = rc != TF_OK ? 2 : c.decision == TF_CLAIM_RUN ? 0 : 1;
            /* the runner stays alive while the others decide (a dead one is taken over) */
            sleep_s(1.5);
            tf_claim_clear(&c);
            tf_store_close(s);
            _exit(code);
        }
    }
    close(fd[0]);
    sleep_s(0.5); /* all connected and migrated: release them together */
    char gate[N];
    memset(gate, 'g', sizeof gate);
    assert_int_equal(write(fd[1], gate, sizeof gate), N);
    close(fd[1]);
    int runs = 0, waits = 0;
    for (int i = 0; i < N; i++) {
        int st = 0;
        assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
        assert_true(WIFEXITED(st));
        runs += WEXITSTATUS(st) == 0;
        waits += WEXITSTATUS(st) == 1;
    }
    assert_int_equal(runs, 1);
    assert_int_equal(waits, N - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(store_pg__migrate_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(store_pg__refuse_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(store_pg__foreign_schema_refused, setup_no_store, teardown),
        cmocka_unit_test_setup_teardown(store_pg__concurrent_first_open, setup_no_store, teardown),
        cmocka_unit_test_setup_teardown(store_pg__search_path_option, setup_no_store, teardown),
        cmocka_unit_test(store_pg__every_statement_mirrored),
        cmocka_unit_test_setup_teardown(store_pg__same_columns_as_sqlite, setup, teardown),
        cmocka_unit_test(store_pg__password_never_shown),
        cmocka_unit_test_setup_teardown(store_pg__claim_busy_hit, setup, teardown),
        cmocka_unit_test_setup_teardown(store_pg__lease_on_server_clock_and_fence, setup, teardown),
        cmocka_unit_test_setup_teardown(store_pg__deferred_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(store_pg__inspect_clear_retry_gc, setup, teardown),
        cmocka_unit_test_setup_teardown(store_pg__asking_deletes_what_was_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(store_pg__find_by_work_and_version, setup, teardown),
        cmocka_unit_test_setup_teardown(store_pg__data_version_other_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(store_pg__lost_connection_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(store_pg__race_one_run, setup_no_store, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
