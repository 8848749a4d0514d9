/*
 * bench/record.c - the recording path: what a call that runs costs besides
 * the work itself.
 *
 *   record --dir DIR [--db URI] [--calls N] [--rounds R] [--commands C]
 * --db records into that database (a PostgreSQL URI, say) instead of
 * DIR/record.db; the SQLite peer stays in DIR.
 *
 * 1. Store protocol, as tf_run records a call: tf_store_claim (a new call:
 *    BEGIN IMMEDIATE, the previous call's queued end, insert the call and its
 *    attempt, COMMIT) + tf_store_finish_later (queued: group commit, store.h)
 *    per call, N calls per round and a final tf_store_flush inside the timed
 *    round, R rounds; median rate.
 *    Peer in the same run: the cheapest crash-safe write SQLite offers in
 *    the same mode (WAL, synchronous=NORMAL): one INSERT of a similar row into
 *    a plain table, one transaction per call.
 * 2. Command works: tf_run of a command work running /bin/true (a new
 *    argument set each call, so it executes: claim, log file, fork+exec,
 *    wait, finish) versus fork + execv + waitpid of /bin/true done here
 *    directly; C calls of each, interleaved in rounds; medians per call.
 *
 * Output: KEY=VALUE lines. Files are created in DIR (the caller removes it).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tickflow.h"
#include "hash.h"
#include "json.h"
#include "store.h"
#include "common.h"

static long next_i; /* argument sets are never reused across rounds */

/* N claim+finish pairs of new calls; returns seconds. */
static double store_round(tf_store *s, long n, cJSON *args, cJSON *inode, tf_buf *canon,
                          tf_hasher *hs)
{
    double t0 = bench_now();
    for (long k = 0; k < n; k++) {
        char key[65];
        tf_error err;
        bench_args_set(inode, next_i++);
        tf_buf_reset(canon);
        if (tf_jcs_tree(args, canon, &err) != TF_OK
            || tf_hasher_hex(hs, canon->data, canon->len, key) != TF_OK)
            bench_die("canonicalize", err.msg);
        tf_claim_req req = {.work = "w", .version = "", .args_sha256 = key,
                            .args_json = canon->data, .cache_calls = 1, .lease = 30};
        tf_claim c;
        if (tf_store_claim(s, &req, &c) != TF_OK || c.decision != TF_CLAIM_RUN)
            bench_die("claim", tf_store_errmsg(s));
        tf_finish f = {.call_id = c.call_id, .fence = c.fence, .history_id = c.history_id,
                       .outcome = TF_OUT_SUCCEEDED, .result_json = "true",
                       .exit_code = 0, .duration = 0.0001, .backoff = 1};
        if (tf_store_finish_later(s, &f) != TF_OK)
            bench_die("finish", tf_store_errmsg(s));
        tf_claim_clear(&c);
    }
    if (tf_store_flush(s) != TF_OK)
        bench_die("flush", tf_store_errmsg(s));
    return bench_now() - t0;
}

/* N single-row transactions into a plain WAL table; returns seconds. */
static double sqlite_round(sqlite3 *db, sqlite3_stmt *ins, long n)
{
    static const char row[] = "{\"day\":\"2026-11-25\",\"i\":1,\"opt\":{\"x\":1.5},\"tags\":[\"a\",\"b\"]}";
    double t0 = bench_now();
    for (long k = 0; k < n; k++) {
        char key[65];
        tf_sha256_hex(&k, sizeof k, key);
        sqlite3_bind_text(ins, 1, key, 64, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 2, row, -1, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE)
            bench_die("peer insert", sqlite3_errmsg(db));
        sqlite3_reset(ins);
    }
    return bench_now() - t0;
}

/* One fork + execv + waitpid of /bin/true; returns seconds. */
static double direct_true(void)
{
    double t0 = bench_now();
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork", "failed");
    if (pid == 0) {
        char *const av[] = {(char *)"/bin/true", NULL};
        execv("/bin/true", av);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        ;
    return bench_now() - t0;
}

typedef struct cmdbench {
    tf_work *work;      /* command work running /bin/true */
    cJSON *args;        /* argument set, "i" new per call */
    cJSON *inode;       /* its "i" node */
    long calls;         /* per round */
    int rounds;         /* rounds */
    double *tf_s;       /* per call: tf_run seconds */
    double *direct_s;   /* per call: direct fork+exec+wait seconds */
    long n;             /* filled */
    int failed;         /* a call did not run and succeed */
} cmdbench;

static void cmd_flow(tf_tick *tick, void *user)
{
    cmdbench *b = user;
    for (int r = 0; r < b->rounds; r++) {
        for (long k = 0; k < b->calls; k++) {
            tf_call c;
            bench_args_set(b->inode, next_i++);
            double t0 = bench_now();
            int rc = tf_run(tick, b->work, b->args, &c);
            double dt = bench_now() - t0;
            if (rc != TF_OK || !c.executed || c.status != TF_CALL_SUCCEEDED) {
                if (!b->failed)
                    fprintf(stderr, "record: command call: %s\n", tf_errmsg(tf_tick_app(tick)));
                b->failed = 1;
            }
            b->tf_s[b->n] = dt;
            b->direct_s[b->n] = direct_true();
            b->n++;
        }
    }
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *db_uri = NULL;
    long calls = 5000, commands = 100;
    int rounds = 5;
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"db", required_argument, NULL, 'u'},
        {"calls", required_argument, NULL, 'n'},
        {"rounds", required_argument, NULL, 'r'},
        {"commands", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd': dir = optarg; break;
        case 'u': db_uri = optarg; break;
        case 'n': calls = atol(optarg); break;
        case 'r': rounds = atoi(optarg); break;
        case 'c': commands = atol(optarg); break;
        default: dir = NULL; calls = 0; break;
        }
    }
    if (!dir || calls < 1 || rounds < 1 || rounds > 100 || commands < 1) {
        fprintf(stderr, "usage: record --dir DIR [--db URI] [--calls N] [--rounds R] [--commands C]\n");
        return 2;
    }
    char path[4096], peer_path[4096];
    int n1 = db_uri ? snprintf(path, sizeof path, "%s", db_uri)
                    : snprintf(path, sizeof path, "%s/record.db", dir);
    int n2 = snprintf(peer_path, sizeof peer_path, "%s/peer.db", dir);
    if (n1 < 0 || (size_t)n1 >= sizeof path || n2 < 0 || (size_t)n2 >= sizeof peer_path)
        bench_die("path", "too long");

    /* 1. store protocol vs one-row transactions, interleaved rounds */
    tf_store *s = NULL;
    if (tf_store_open(path, &s) != TF_OK)
        bench_die("open store", tf_store_errmsg(s));
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    if (sqlite3_open(peer_path, &db) != SQLITE_OK
        || sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                        " CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY,"
                        " k TEXT NOT NULL, args TEXT NOT NULL, at TEXT NOT NULL)",
                        NULL, NULL, NULL) != SQLITE_OK
        || sqlite3_prepare_v2(db, "INSERT INTO t (k, args, at) VALUES (?1, ?2,"
                              " strftime('%Y-%m-%dT%H:%M:%fZ','now'))", -1, &ins, NULL) != SQLITE_OK)
        bench_die("peer database", sqlite3_errmsg(db));
    cJSON *inode;
    cJSON *args = bench_args_new(&inode);
    tf_buf canon = TF_BUF_INIT;
    tf_hasher hs;
    if (tf_hasher_init(&hs) != TF_OK)
        bench_die("hasher", "out of memory");
    double st_rate[100], peer_rate[100], st_cpu[100];
    for (int r = 0; r < rounds; r++) {
        double c0 = bench_cpu();
        st_rate[r] = calls / store_round(s, calls, args, inode, &canon, &hs);
        st_cpu[r] = (bench_cpu() - c0) / calls;
        peer_rate[r] = calls / sqlite_round(db, ins, calls);
    }
    double st_med = bench_median(st_rate, (size_t)rounds);
    double peer_med = bench_median(peer_rate, (size_t)rounds);
    printf("STORE_CALLS=%ld\nSTORE_ROUNDS=%d\nSTORE_RATE=%.0f\nSTORE_US=%.1f\n",
           calls, rounds, st_med, 1e6 / st_med);
    printf("STORE_CPU_US=%.1f\n", bench_median(st_cpu, (size_t)rounds) * 1e6);
    printf("PEER_TXN_RATE=%.0f\nPEER_TXN_US=%.1f\n", peer_med, 1e6 / peer_med);
    sqlite3_finalize(ins);
    sqlite3_close(db);
    tf_store_close(s);

    /* 2. command work vs direct fork+exec+wait */
    tf_app *app = NULL;
    if (tf_app_open(path, &app) != TF_OK)
        bench_die("open", tf_errmsg(app));
    static const char *const av[] = {"/bin/true", NULL};
    tf_command cmd = {.argv = av};
    cmdbench b = {.args = args, .inode = inode, .calls = commands, .rounds = 3};
    b.tf_s = calloc((size_t)(commands * 3), sizeof *b.tf_s);
    b.direct_s = calloc((size_t)(commands * 3), sizeof *b.direct_s);
    if (!b.tf_s || !b.direct_s)
        bench_die("allocate", "out of memory");
    if (tf_work_new_command(app, "t", &cmd, NULL, &b.work) != TF_OK
        || tf_flow_add(app, "cmd", cmd_flow, &b) != TF_OK)
        bench_die("register", tf_errmsg(app));
    /* warm up: one execution of each kind */
    direct_true();
    tf_loop_opts lo;
    tf_loop_opts_init(&lo);
    lo.interval = 0;
    lo.max_ticks = 1;
    if (tf_loop_run(app, &lo, NULL) != TF_OK || b.failed)
        bench_die("loop", tf_errmsg(app));
    double tf_med = bench_median(b.tf_s, (size_t)b.n);
    double dir_med = bench_median(b.direct_s, (size_t)b.n);
    printf("CMD_CALLS=%ld\nCMD_TF_US=%.0f\nCMD_DIRECT_US=%.0f\nCMD_OVERHEAD_US=%.0f\n",
           b.n, tf_med * 1e6, dir_med * 1e6, (tf_med - dir_med) * 1e6);
    tf_app_close(app);
    free(b.tf_s);
    free(b.direct_s);
    tf_buf_free(&canon);
    tf_hasher_free(&hs);
    cJSON_Delete(args);
    return b.failed ? 1 : 0;
}
