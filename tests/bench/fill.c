/*
 * bench/fill.c - BENCH-ONLY bulk filler: writes N succeeded calls of one
 * work straight into a tickflow database, in large transactions, so the
 * scale benchmark can have 10,000,000 rows in minutes.
 *
 *   fill --db PATH --work NAME --rows N [--first I] [--batch B]
 *
 * It is not a way to record calls: it bypasses the claim protocol and runs
 * with journal_mode=OFF and synchronous=OFF while it writes (a crash in the
 * middle leaves a broken database: only for throwaway bench files), then
 * switches back to WAL. The rows are what the store writes for a call that
 * was claimed once and finished with success (tf_store_claim +
 * tf_store_finish): the same columns and values, one calls row and one
 * history row each. Arguments are the bench set
 * {"day":"2026-11-25","i":I,"opt":{"x":1.5},"tags":["a","b"]} for
 * I = first..first+N-1, canonicalized with tf_jcs_tree and hashed with
 * SHA-256 exactly as tf_run does, so bench/hotpath finds them.
 *
 * The database is created and migrated first through tf_store_open.
 * Output: KEY=VALUE lines (rows, seconds, rows/s).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tickflow.h"
#include "hash.h"
#include "json.h"
#include "store.h"
#include "common.h"

static void check(sqlite3 *db, int src, const char *what)
{
    if (src != SQLITE_OK && src != SQLITE_DONE && src != SQLITE_ROW)
        bench_die(what, sqlite3_errmsg(db));
}

int main(int argc, char **argv)
{
    const char *path = NULL, *work = NULL;
    long rows = 0, first = 0, batch = 200000;
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"work", required_argument, NULL, 'w'},
        {"rows", required_argument, NULL, 'n'},
        {"first", required_argument, NULL, 'f'},
        {"batch", required_argument, NULL, 'b'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd': path = optarg; break;
        case 'w': work = optarg; break;
        case 'n': rows = atol(optarg); break;
        case 'f': first = atol(optarg); break;
        case 'b': batch = atol(optarg); break;
        default: path = NULL; break;
        }
    }
    if (!path || !work || rows < 1 || first < 0 || batch < 1) {
        fprintf(stderr, "usage: fill --db PATH --work NAME --rows N [--first I] [--batch B]\n");
        return 2;
    }
    tf_store *s = NULL;
    if (tf_store_open(path, &s) != TF_OK)
        bench_die("open store", tf_store_errmsg(s));
    tf_store_close(s);

    sqlite3 *db = NULL;
    check(db, sqlite3_open(path, &db), "open");
    check(db, sqlite3_exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                           " PRAGMA cache_size=-2000000; PRAGMA foreign_keys=ON",
                           NULL, NULL, NULL), "pragmas");
    sqlite3_stmt *ic = NULL, *ih = NULL;
    check(db, sqlite3_prepare_v2(db,
        "INSERT INTO calls (work, version, args_sha256, args_json, status, result_json,"
        " attempts, failures, fence, lease_until, runner_host, runner_pid, runner_start,"
        " created_at, started_at, finished_at, duration)"
        " VALUES (?1, '', ?2, ?3, 'succeeded', 'true', 1, 0, 1, NULL, ?4, ?5, ?6, ?7, ?7, ?7,"
        " 0.0001)", -1, &ic, NULL), "prepare calls insert");
    check(db, sqlite3_prepare_v2(db,
        "INSERT INTO history (call_id, attempt, fence, status, runner_host, runner_pid,"
        " started_at, finished_at, duration, exit_code, signal, error)"
        " VALUES (?1, 1, 1, 'succeeded', ?2, ?3, ?4, ?4, 0.0001, 0, NULL, NULL)",
        -1, &ih, NULL), "prepare history insert");

    char host[256] = "bench";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    long pid = (long)getpid();
    cJSON *inode;
    cJSON *args = bench_args_new(&inode);
    tf_buf canon = TF_BUF_INIT;
    tf_hasher hs;
    if (tf_hasher_init(&hs) != TF_OK)
        bench_die("hasher", "out of memory");
    double t0 = bench_now();
    for (long done = 0; done < rows;) {
        check(db, sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), "begin");
        long end = done + batch < rows ? done + batch : rows;
        for (; done < end; done++) {
            char key[65], iso[32];
            tf_error err;
            long i = first + done;
            bench_args_set(inode, i);
            tf_buf_reset(&canon);
            if (tf_jcs_tree(args, &canon, &err) != TF_OK
                || tf_hasher_hex(&hs, canon.data, canon.len, key) != TF_OK)
                bench_die("canonicalize", err.msg);
            /* one row per millisecond, starting 2026-01-01 */
            long ms = i % 1000, sec = i / 1000;
            snprintf(iso, sizeof iso, "2026-%02ld-%02ldT%02ld:%02ld:%02ld.%03ldZ",
                     1 + (sec / 2419200) % 12, 1 + (sec / 86400) % 28,
                     (sec / 3600) % 24, (sec / 60) % 60, sec % 60, ms);
            sqlite3_bind_text(ic, 1, work, -1, SQLITE_STATIC);
            sqlite3_bind_text(ic, 2, key, 64, SQLITE_STATIC);
            sqlite3_bind_text(ic, 3, canon.data, (int)canon.len, SQLITE_STATIC);
            sqlite3_bind_text(ic, 4, host, -1, SQLITE_STATIC);
            sqlite3_bind_int64(ic, 5, pid);
            sqlite3_bind_int64(ic, 6, 12345);
            sqlite3_bind_text(ic, 7, iso, -1, SQLITE_STATIC);
            check(db, sqlite3_step(ic), "insert call");
            sqlite3_reset(ic);
            sqlite3_bind_int64(ih, 1, sqlite3_last_insert_rowid(db));
            sqlite3_bind_text(ih, 2, host, -1, SQLITE_STATIC);
            sqlite3_bind_int64(ih, 3, pid);
            sqlite3_bind_text(ih, 4, iso, -1, SQLITE_STATIC);
            check(db, sqlite3_step(ih), "insert history");
            sqlite3_reset(ih);
        }
        check(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
    }
    double dt = bench_now() - t0;
    sqlite3_finalize(ic);
    sqlite3_finalize(ih);
    check(db, sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL), "wal");
    sqlite3_close(db);
    printf("FILL_ROWS=%ld\nFILL_S=%.2f\nFILL_RATE=%.0f\n", rows, dt, rows / dt);
    tf_buf_free(&canon);
    tf_hasher_free(&hs);
    cJSON_Delete(args);
    return 0;
}
