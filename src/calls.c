/*
 * calls.c - the public cache inspection API (tf_calls_*): listing, finding,
 * history, clearing, retrying and garbage collection of recorded calls.
 * Each function forwards to the store (store.h) and, on failure, copies the
 * store's message onto the app handle so tf_errmsg(app) explains it. The
 * logic and the SQL live in src/store/; this file only bridges the handle.
 *
 * Deleting calls through this handle also makes its memo (succeeded calls
 * seen by this process) stale: the store's data_version does not change
 * for our own commits, so the next tick would otherwise still answer a
 * cleared call from memory instead of running it again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

/* Copy the store's message for rc (if any) onto the app and return rc. */
static int relay(tf_app *app, int rc)
{
    if (rc == TF_OK)
        return TF_OK;
    const char *msg = tf_store_errmsg(app->store);
    return tf_app_fail(app, rc, "%s", msg && *msg ? msg : tf_strerror(rc));
}

/*
 * Our own deletion: have the next tick empty the memo (loop.c refreshes it
 * when data_version differs). Not emptied here, because results handed
 * out during the current tick stay valid until the tick ends.
 */
static void memo_stale(tf_app *app)
{
    app->data_version = -1;
}

/*
 * TF_OK when the app has an open store (else TF_ESTATE with a message),
 * with the store's deferred writes committed, so what is read or changed
 * here includes every call this process has finished.
 */
static int ready(tf_app *app)
{
    if (!app->store)
        return tf_app_fail(app, TF_ESTATE, "the database is not open");
    return relay(app, tf_store_flush(app->store));
}

int tf_calls_list(tf_app *app, const tf_filter *f, tf_row_fn fn, void *user)
{
    int rc = ready(app);
    if (rc != TF_OK)
        return rc;
    tf_filter none = {0};
    return relay(app, tf_store_list(app->store, f ? f : &none, fn, user));
}

int tf_calls_count_max(tf_app *app, const tf_filter *f, int64_t max, int64_t *count)
{
    *count = 0;
    int rc = ready(app);
    if (rc != TF_OK)
        return rc;
    tf_filter none = {0};
    return relay(app, tf_store_count(app->store, f ? f : &none, max, count));
}

int tf_calls_count(tf_app *app, const tf_filter *f, int64_t *count)
{
    return tf_calls_count_max(app, f, 0, count);
}

int tf_calls_find_in(tf_app *app, const char *work, const char *version, const char *prefix,
                     tf_row_fn fn, void *user)
{
    int rc = ready(app);
    if (rc != TF_OK)
        return rc;
    return relay(app, tf_store_find(app->store, work, version, prefix, fn, user));
}

int tf_calls_find(tf_app *app, const char *prefix, tf_row_fn fn, void *user)
{
    return tf_calls_find_in(app, NULL, NULL, prefix, fn, user);
}

int tf_call_ref(const char *work, const char *version, const char *key, char *out, size_t size)
{
    if (!out || !size)
        return TF_EINPUT;
    out[0] = '\0';
    if (!work || !key)
        return TF_EINPUT;
    int has_version = version && *version;
    int n = snprintf(out, size, "%s%s%s/%.*s", work, has_version ? "@" : "",
                     has_version ? version : "", TF_REF_HEX, key);
    if (n >= 0 && (size_t)n < size)
        return TF_OK;
    if (n >= 0 && size >= 4)
        memcpy(out + size - 4, "...", 4);
    return TF_EINPUT;
}

int tf_calls_history(tf_app *app, int64_t call_id, tf_hist_fn fn, void *user)
{
    int rc = ready(app);
    if (rc != TF_OK)
        return rc;
    return relay(app, tf_store_history(app->store, call_id, fn, user));
}

int tf_calls_clear(tf_app *app, const tf_filter *f, const char *user, const char *selector,
                   int dry_run, tf_row_fn fn, void *fn_user, int64_t *count)
{
    if (count)
        *count = 0;
    int rc = ready(app);
    if (rc != TF_OK)
        return rc;
    if (!f)
        return tf_app_fail(app, TF_EINPUT, "refusing to clear calls without a filter");
    int64_t n = 0;
    rc = tf_store_clear(app->store, f, user, selector, dry_run, fn, fn_user, &n);
    if (rc == TF_OK && !dry_run && n > 0)
        memo_stale(app);
    if (count)
        *count = n;
    return relay(app, rc);
}

int tf_calls_clear_asking(tf_app *app, const tf_filter *f, const char *user,
                          const char *selector, tf_confirm_fn ask, void *ask_user,
                          tf_row_fn fn, void *fn_user, int64_t *counted, int64_t *deleted)
{
    int64_t c = 0, d = 0;
    int rc = ready(app);
    if (rc == TF_OK && !f)
        rc = tf_app_fail(app, TF_EINPUT, "refusing to clear calls without a filter");
    if (rc == TF_OK) {
        rc = relay(app, tf_store_clear_asking(app->store, f, user, selector, ask, ask_user, fn,
                                              fn_user, &c, &d));
        if (d > 0)
            memo_stale(app);
    }
    if (counted)
        *counted = c;
    if (deleted)
        *deleted = d;
    return rc;
}

int tf_calls_retry(tf_app *app, const tf_filter *f, int64_t *count)
{
    if (count)
        *count = 0;
    int rc = ready(app);
    if (rc != TF_OK)
        return rc;
    tf_filter none = {0};
    return relay(app, tf_store_retry(app->store, f ? f : &none, count));
}

int tf_calls_gc(tf_app *app, double before, int64_t *count)
{
    if (count)
        *count = 0;
    int rc = ready(app);
    if (rc != TF_OK)
        return rc;
    int64_t n = 0;
    rc = tf_store_gc(app->store, before, &n);
    if (rc == TF_OK && n > 0)
        memo_stale(app);
    if (count)
        *count = n;
    return relay(app, rc);
}

int tf_calls_gc_asking(tf_app *app, double before, tf_confirm_fn ask, void *ask_user,
                       int64_t *counted, int64_t *deleted)
{
    int64_t c = 0, d = 0;
    int rc = ready(app);
    if (rc == TF_OK) {
        rc = relay(app, tf_store_gc_asking(app->store, before, ask, ask_user, &c, &d));
        if (d > 0)
            memo_stale(app);
    }
    if (counted)
        *counted = c;
    if (deleted)
        *deleted = d;
    return rc;
}

int tf_calls_stats(tf_app *app, const char *work, double now, tf_stats_fn fn, void *user)
{
    int rc = ready(app);
    if (rc != TF_OK)
        return rc;
    if (!fn)
        return tf_app_fail(app, TF_EINPUT, "stats: no callback given");
    rc = tf_app_flush_hits(app); /* this app's own hits count too */
    if (rc != TF_OK)
        return rc;
    rc = tf_store_stats(app->store, work, now > 0 ? now : tf_app_now(app), fn, user);
    return rc == TF_OK ? TF_OK : tf_app_fail(app, rc, "%s", tf_store_errmsg(app->store));
}

int tf_calls_totals(tf_app *app, tf_totals_fn fn, void *user)
{
    int rc = ready(app);
    if (rc != TF_OK)
        return rc;
    return relay(app, tf_store_totals(app->store, fn, user));
}

int tf_calls_executions(tf_app *app, const char *since, tf_execution_fn fn, void *user)
{
    int rc = ready(app);
    if (rc != TF_OK)
        return rc;
    return relay(app, tf_store_executions(app->store, since ? since : "", fn, user));
}

/* tf_calls_output: the call's id, then the attempt's output. */
typedef struct out_find {
    int64_t call_id;        /* the call, or 0 */
    int attempt;            /* the attempt wanted */
    char *output;           /* a copy of its output, or NULL */
    int oom;                /* the copy failed */
} out_find;

static int out_call(const tf_call_row *r, void *user)
{
    ((out_find *)user)->call_id = r->id;
    return 1;
}

static int out_attempt(const tf_history_row *h, void *user)
{
    out_find *o = user;
    if (h->attempt != o->attempt || !h->output || !*h->output || o->output)
        return 0;
    o->output = strdup(h->output);
    o->oom = !o->output;
    return 0;
}

int tf_calls_output(tf_app *app, const char *work, const char *key, int attempt, char **output)
{
    *output = NULL;
    if (!work || !key || !*key || attempt <= 0)
        return TF_OK;
    out_find o = {0, attempt, NULL, 0};
    tf_filter f = {.work = work, .args_sha256 = key, .limit = 1};
    int rc = tf_calls_list(app, &f, out_call, &o);
    if (rc == TF_OK && o.call_id)
        rc = tf_calls_history(app, o.call_id, out_attempt, &o);
    if (rc == TF_OK && o.oom)
        rc = tf_app_fail(app, TF_ENOMEM, "out of memory");
    if (rc != TF_OK) {
        free(o.output);
        return rc;
    }
    *output = o.output;
    return TF_OK;
}
