/*
 * bench/hotpath.c - the cached-call hot path through the C API: tf_run on
 * argument sets that already succeeded (canonicalize + SHA-256 + decision).
 *
 *   hotpath --db PATH [--populate N] [--distinct D] [--stride S]
 *           [--calls M] [--ticks T]
 *
 * --populate N records N succeeded calls of work "w" (i = 0..N-1) through
 * the store protocol, one tf_store_claim + tf_store_finish per call (the
 * real recording path, no shortcut), and reports its rate.
 *
 * Then one process opens the app and runs a loop (interval 0) of 1 + T
 * ticks. Tick 1 is the cold pass: the memo is empty, so each of the D
 * distinct calls (i = k*S) reads SQLite; its first tf_run alone is the
 * "first lookup after start"; tick 1 then goes on to M calls in all (the
 * issue's "1,000,000 calls over 100,000 sets" in a fresh process). Ticks
 * 2.. are the steady state: M calls each,
 * cycling over the D argument sets, answered from the memo.
 * A breakdown follows: canonicalize only, canonicalize + hash.
 *
 * Output: KEY=VALUE lines (seconds, calls/s, ns). EXECUTED must be 0: a
 * non-zero value means the keys did not match what was populated.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickflow.h"
#include "hash.h"
#include "json.h"
#include "store.h"
#include "common.h"

#define MAX_TICKS 64

typedef struct hot {
    tf_work *work;          /* the cached work */
    cJSON *args;            /* argument set, "i" changed per call */
    cJSON *inode;           /* its "i" node */
    long distinct;          /* distinct argument sets */
    long stride;            /* i = k * stride */
    long calls;             /* calls per steady tick */
    double first_s;         /* first tf_run of the process */
    double cold_s;          /* tick 1: distinct calls from SQLite */
    double first_tick_s;    /* tick 1 whole: M calls of a fresh process, the first D cold */
    double tick_s[MAX_TICKS]; /* steady ticks */
    int nticks;             /* steady ticks done */
    long executed;          /* calls that were not cached (must stay 0) */
    int failed;             /* a tf_run returned an error */
} hot;

static int noop(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)args;
    (void)user;
    (void)error;
    *result = cJSON_CreateTrue();
    return 0;
}

static void one(tf_tick *tick, hot *h, long k)
{
    tf_call c;
    bench_args_set(h->inode, (k % h->distinct) * h->stride);
    if (tf_run(tick, h->work, h->args, &c) != TF_OK) {
        if (!h->failed)
            fprintf(stderr, "hotpath: tf_run: %s\n", tf_errmsg(tf_tick_app(tick)));
        h->failed = 1;
        return;
    }
    if (!c.cached)
        h->executed++;
}

static void flow(tf_tick *tick, void *user)
{
    hot *h = user;
    if (tf_tick_number(tick) == 1) {
        double t0 = bench_now();
        one(tick, h, 0);
        double t1 = bench_now();
        for (long k = 1; k < h->distinct; k++)
            one(tick, h, k);
        h->first_s = t1 - t0;
        h->cold_s = bench_now() - t0;
        /* The measurement: a fresh process making M calls over the
         * D sets; the first D came from SQLite above, the rest follow. */
        for (long k = h->distinct; k < h->calls; k++)
            one(tick, h, k);
        h->first_tick_s = bench_now() - t0;
        return;
    }
    double t0 = bench_now();
    for (long k = 0; k < h->calls; k++)
        one(tick, h, k);
    if (h->nticks < MAX_TICKS)
        h->tick_s[h->nticks++] = bench_now() - t0;
}

/* Record n succeeded calls through tf_store_claim + tf_store_finish. */
static void populate(const char *db, long n, long stride)
{
    tf_store *s = NULL;
    if (tf_store_open(db, &s) != TF_OK)
        bench_die("open store", tf_store_errmsg(s));
    cJSON *inode;
    cJSON *args = bench_args_new(&inode);
    tf_buf canon = TF_BUF_INIT;
    tf_hasher hs;
    if (tf_hasher_init(&hs) != TF_OK)
        bench_die("hasher", "out of memory");
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        char key[65];
        tf_error err;
        bench_args_set(inode, i * stride);
        tf_buf_reset(&canon);
        if (tf_jcs_tree(args, &canon, &err) != TF_OK
            || tf_hasher_hex(&hs, canon.data, canon.len, key) != TF_OK)
            bench_die("canonicalize", err.msg);
        tf_claim_req req = {.work = "w", .version = "", .args_sha256 = key,
                            .args_json = canon.data, .cache_calls = 1, .lease = 30};
        tf_claim c;
        if (tf_store_claim(s, &req, &c) != TF_OK)
            bench_die("claim", tf_store_errmsg(s));
        if (c.decision == TF_CLAIM_RUN) {
            tf_finish f = {.call_id = c.call_id, .fence = c.fence, .history_id = c.history_id,
                           .outcome = TF_OUT_SUCCEEDED, .result_json = "true",
                           .exit_code = 0, .duration = 0.0001, .backoff = 1};
            if (tf_store_finish(s, &f) != TF_OK)
                bench_die("finish", tf_store_errmsg(s));
        }
        tf_claim_clear(&c);
    }
    double dt = bench_now() - t0;
    printf("POPULATE_ROWS=%ld\nPOPULATE_S=%.3f\nPOPULATE_RATE=%.0f\n", n, dt, n / dt);
    tf_buf_free(&canon);
    tf_hasher_free(&hs);
    cJSON_Delete(args);
    tf_store_close(s);
}

/* Canonicalize only, then canonicalize + hash: ns per call of each. */
static void breakdown(hot *h)
{
    tf_buf canon = TF_BUF_INIT;
    tf_hasher hs;
    tf_error err;
    char key[65];
    if (tf_hasher_init(&hs) != TF_OK)
        bench_die("hasher", "out of memory");
    double best_c = 1e9, best_h = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = bench_now();
        for (long k = 0; k < h->calls; k++) {
            bench_args_set(h->inode, (k % h->distinct) * h->stride);
            tf_buf_reset(&canon);
            if (tf_jcs_tree(h->args, &canon, &err) != TF_OK)
                bench_die("canonicalize", err.msg);
        }
        double t1 = bench_now();
        for (long k = 0; k < h->calls; k++) {
            bench_args_set(h->inode, (k % h->distinct) * h->stride);
            tf_buf_reset(&canon);
            if (tf_jcs_tree(h->args, &canon, &err) != TF_OK
                || tf_hasher_hex(&hs, canon.data, canon.len, key) != TF_OK)
                bench_die("hash", err.msg);
        }
        double t2 = bench_now();
        if (t1 - t0 < best_c)
            best_c = t1 - t0;
        if (t2 - t1 < best_h)
            best_h = t2 - t1;
    }
    printf("CANON_NS=%.0f\nCANON_HASH_NS=%.0f\nCANON_BYTES=%zu\n",
           best_c / h->calls * 1e9, best_h / h->calls * 1e9, canon.len);
    tf_buf_free(&canon);
    tf_hasher_free(&hs);
}

int main(int argc, char **argv)
{
    const char *db = NULL;
    long pop = 0;
    hot h = {.distinct = 100000, .stride = 1, .calls = 1000000};
    int ticks = 5;
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"populate", required_argument, NULL, 'p'},
        {"distinct", required_argument, NULL, 'n'},
        {"stride", required_argument, NULL, 's'},
        {"calls", required_argument, NULL, 'c'},
        {"ticks", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd': db = optarg; break;
        case 'p': pop = atol(optarg); break;
        case 'n': h.distinct = atol(optarg); break;
        case 's': h.stride = atol(optarg); break;
        case 'c': h.calls = atol(optarg); break;
        case 't': ticks = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: hotpath --db PATH [--populate N] [--distinct D]"
                    " [--stride S] [--calls M] [--ticks T]\n");
            return 2;
        }
    }
    if (!db || h.distinct < 1 || h.stride < 1 || h.calls < 1 || ticks < 1 || ticks > MAX_TICKS) {
        fprintf(stderr, "usage: hotpath --db PATH [--populate N] [--distinct D]"
                " [--stride S] [--calls M] [--ticks T]\n");
        return 2;
    }
    if (pop > 0)
        populate(db, pop, 1);

    h.args = bench_args_new(&h.inode);
    tf_app *app = NULL;
    double t_open = bench_now();
    if (tf_app_open(db, &app) != TF_OK)
        bench_die("open", tf_errmsg(app));
    t_open = bench_now() - t_open;
    if (tf_work_new(app, "w", noop, NULL, NULL, &h.work) != TF_OK
        || tf_flow_add(app, "hot", flow, &h) != TF_OK)
        bench_die("register", tf_errmsg(app));
    tf_loop_opts lo;
    tf_loop_opts_init(&lo);
    lo.interval = 0;
    lo.max_ticks = 1 + (uint64_t)ticks;
    if (tf_loop_run(app, &lo, NULL) != TF_OK || h.failed)
        bench_die("loop", tf_errmsg(app));

    double med = bench_median(h.tick_s, (size_t)h.nticks);
    printf("OPEN_US=%.0f\nFIRST_LOOKUP_US=%.1f\n", t_open * 1e6, h.first_s * 1e6);
    printf("COLD_CALLS=%ld\nCOLD_S=%.3f\nCOLD_RATE=%.0f\nCOLD_NS=%.0f\n", h.distinct, h.cold_s,
           h.distinct / h.cold_s, h.cold_s / h.distinct * 1e9);
    printf("FIRST_TICK_CALLS=%ld\nFIRST_TICK_S=%.3f\nFIRST_TICK_RATE=%.0f\n", h.calls,
           h.first_tick_s, h.calls / h.first_tick_s);
    printf("STEADY_CALLS=%ld\nSTEADY_TICKS=%d\nSTEADY_S=%.3f\nSTEADY_RATE=%.0f\nSTEADY_NS=%.0f\n",
           h.calls, h.nticks, med, h.calls / med, med / h.calls * 1e9);
    printf("STEADY_MIN_S=%.3f\nSTEADY_MAX_S=%.3f\n", h.tick_s[0], h.tick_s[h.nticks - 1]);
    printf("EXECUTED=%ld\nRSS_KIB=%ld\n", h.executed, bench_rss_kib());
    breakdown(&h);
    tf_app_close(app);
    cJSON_Delete(h.args);
    return h.executed ? 1 : 0;
}
