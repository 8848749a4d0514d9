/*
 * store/stats.c - what the cache saved: the hit counters (schema/sqlite/
 * 0004, table hits) and the per-work figures of `tickflow stats`, written
 * once against the engine seam (store/engine.h).
 *
 * The scheduler counts hits in memory (a hit costs two additions there)
 * and adds them here at most once per tick, in one small write transaction
 * that also carries the deferred writes. Executions are not counted twice:
 * they are the history rows.
 */
#include "store/engine.h"

#include <stdlib.h>
#include <string.h>

/* The UTC hour of epoch seconds t (floor, also before 1970). */
static int64_t hour_of(double t)
{
    int64_t h = (int64_t)(t / 3600.0);
    return (double)h * 3600.0 > t ? h - 1 : h;
}

int tf_store_add_hits(tf_store *s, const tf_hit_count *h, size_t n, double at)
{
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    if (!n)
        return TF_OK;
    int rc = tf_store_begin(s, "count cache hits");
    if (rc != TF_OK)
        return rc;
    int64_t hour = hour_of(at);
    for (size_t i = 0; rc == TF_OK && i < n; i++) {
        tf_q *q = q_get(s, ST_HITS_ADD, &rc);
        if (!q)
            break;
        q_text(s, q, 1, h[i].work);
        q_int64(s, q, 2, hour);
        q_int64(s, q, 3, h[i].hits);
        q_double(s, q, 4, h[i].saved);
        int src = q_step(s, q, "count cache hits");
        if (!q_wrote(src))
            rc = src;
        q_done(s, q);
    }
    if (rc != TF_OK) {
        tf_store_rollback(s);
        return rc;
    }
    return tf_store_commit(s, "commit cache hits");
}

/* The figures of one work while both sorted result sets are merged by name. */
typedef struct stats_acc {
    char *work;             /* owned */
    tf_stats_row row;       /* figures; row.work points at work */
} stats_acc;

static int acc_of(stats_acc **v, size_t *n, const char *work, stats_acc **out)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*v)[i].work, work)) {
            *out = &(*v)[i];
            return TF_OK;
        }
    stats_acc *p = realloc(*v, (*n + 1) * sizeof *p);
    if (!p)
        return TF_ENOMEM;
    *v = p;
    stats_acc *a = &p[*n];
    memset(a, 0, sizeof *a);
    if (!(a->work = strdup(work)))
        return TF_ENOMEM;
    (*n)++;
    *out = a;
    return TF_OK;
}

static int by_work(const void *a, const void *b)
{
    return strcmp(((const stats_acc *)a)->work, ((const stats_acc *)b)->work);
}

int tf_store_stats(tf_store *s, const char *work, double now, tf_stats_fn fn, void *user)
{
    if (!tf_store_is_open(s))
        return TF_ESTATE;
    stats_acc *v = NULL;
    size_t n = 0;
    int rc = TF_OK;
    char since[32];
    tf_store_iso_time(now - 86400.0, since);
    int64_t since_hour = hour_of(now - 86400.0) + 1; /* the 24 whole-or-current hours */
    for (int pass = 0; pass < 2 && rc == TF_OK; pass++) {
        tf_q *q = q_get(s, pass ? ST_STATS_EXECS : ST_STATS_HITS, &rc);
        if (!q)
            break;
        if (pass)
            q_text(s, q, 1, since);
        else
            q_int64(s, q, 1, since_hour);
        q_text(s, q, 2, work);
        int src;
        while (rc == TF_OK && (src = q_step(s, q, "read the cache figures")) == Q_ROW) {
            const char *w = q_col_text(s, q, 0);
            stats_acc *a = NULL;
            if (!w || (rc = acc_of(&v, &n, w, &a)) != TF_OK)
                continue;
            if (pass) {
                a->row.executions = q_col_int64(s, q, 1);
                a->row.exec_seconds = q_col_double(s, q, 2);
                a->row.day_executions = q_col_int64(s, q, 3);
                a->row.day_exec_seconds = q_col_double(s, q, 4);
            } else {
                a->row.hits = q_col_int64(s, q, 1);
                a->row.saved = q_col_double(s, q, 2);
                a->row.day_hits = q_col_int64(s, q, 3);
                a->row.day_saved = q_col_double(s, q, 4);
            }
        }
        if (rc == TF_OK && src != Q_DONE)
            rc = src;
        q_done(s, q);
    }
    if (rc == TF_ENOMEM)
        tf_store_set_err(s, "cannot read the cache figures: out of memory");
    if (rc == TF_OK && n)
        qsort(v, n, sizeof *v, by_work);
    for (size_t i = 0; rc == TF_OK && i < n; i++) {
        v[i].row.work = v[i].work;
        if (fn(&v[i].row, user) != 0)
            break;
    }
    for (size_t i = 0; i < n; i++)
        free(v[i].work);
    free(v);
    return rc;
}
