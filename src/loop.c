/*
 * loop.c - the tick loop: evaluate every flow each tick, then sleep until
 * the next tick without busy-waiting. The sleep is a poll() on the pidfds
 * and pipes of the parallel executions and on the app's wake pipe, so the
 * loop wakes early when an execution ends (and starts the next tick at
 * once, so the flow sees the result) or when tf_app_stop() is called.
 *
 * Before each tick the memo is checked against the store's data_version:
 * if another connection wrote (a clear, a retry, another scheduler), the
 * memo is emptied and refilled from the store as calls come. The store's
 * deferred writes (ends of calls, store.h) are committed at the end of
 * every tick and before every sleep, so they never wait on an idle loop.
 */
#include <string.h>

#include "app.h"

void tf_loop_opts_init(tf_loop_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->interval = 1.0;
}

/* Trust the memo only while nobody else wrote to the database. */
static int refresh_memo(tf_app *app)
{
    int64_t v = 0;
    int rc = tf_store_data_version(app->store, &v);
    if (rc != TF_OK)
        return tf_app_fail(app, rc, "%s", tf_store_errmsg(app->store));
    /* a deferred success fenced out at its commit may still be in the memo */
    if (v != app->data_version || tf_store_take_lost(app->store) > 0) {
        tf_memo_clear(&app->memo);
        app->data_version = v;
    }
    return TF_OK;
}

/* Evaluate every flow once. */
static int run_tick(tf_app *app)
{
    tf_tick tick = {app, ++app->tick_no};
    app->tick_cache_now = tf_app_cache_now(app); /* expiry is judged once per tick */
    if (!app->until_idle)
        app->hit_epoch++; /* a daemon's evaluation is a tick; --once's is the whole run */
    app->tick_busy = 0;
    app->retry_due = 0;
    app->failed = 0;
    int rc = refresh_memo(app);
    tf_reaper_check(&app->reaper); /* a killed watchdog is replaced before anything starts */
    if (rc == TF_OK)
        rc = tf_running_step_all(app, NULL);
    for (size_t i = 0; rc == TF_OK && i < app->nflows && !app->stop && !app->fatal; i++)
        app->flows[i].fn(&tick, app->flows[i].user);
    if (app->stop)
        rc = TF_ESTOPPED;
    else if (rc == TF_OK && app->fatal)
        rc = app->fatal; /* tf_errmsg() still holds its message */
    else if (rc == TF_OK && (rc = tf_app_flush_hits(app)) == TF_OK) /* at most once per tick */
        rc = tf_app_flush(app); /* the tick's ends, before anyone waits on them */
    tf_app_free_tick_results(app);
    if (app->nlive)
        app->tick_busy = 1;
    return rc;
}

/* Sleep until `until` (steady clock), an execution ends, or a stop request. */
static int sleep_until(tf_app *app, double until)
{
    for (;;) {
        if (app->stop)
            return TF_ESTOPPED;
        if (tf_app_steady() >= until)
            return TF_OK;
        int finished = 0;
        int rc = tf_running_wait(app, until, 0, &finished); /* flushes first */
        if (rc != TF_OK)
            return rc;
        if (finished)
            return TF_OK; /* a parallel execution ended: tick now */
    }
}

int tf_loop_run(tf_app *app, const tf_loop_opts *opts, uint64_t *failed)
{
    tf_loop_opts defaults;
    tf_loop_opts_init(&defaults);
    if (!opts)
        opts = &defaults;
    if (!(opts->interval >= 0))
        return tf_app_fail(app, TF_EINPUT, "tick interval must be >= 0");
    if (!(opts->lease >= 0))
        return tf_app_fail(app, TF_EINPUT, "lease must be >= 0 seconds");
    app->max_parallel = opts->max_parallel;
    if (opts->lease > 0)
        app->lease = opts->lease;
    app->until_idle = opts->until_idle;
    if (app->until_idle)
        app->hit_epoch++;
    int rc = TF_OK;
    uint64_t ticks = 0;
    for (;;) {
        double start = tf_app_steady();
        rc = run_tick(app);
        ticks++;
        if (rc != TF_OK)
            break;
        if (opts->max_ticks && ticks >= opts->max_ticks)
            break;
        if (opts->until_idle && !app->tick_busy) {
            /* idle but for retries: wait for one due soon, in one sleep; a later one is
               a later run's (its call stays failed until then) */
            double wait = app->retry_due > 0 ? app->retry_due - tf_app_now(app) : -1;
            if (app->retry_due <= 0 || wait > TF_ONCE_RETRY_WAIT)
                break;
            rc = sleep_until(app, tf_app_steady() + (wait > 0.05 ? wait : 0.05));
            if (rc != TF_OK)
                break;
            continue;
        }
        rc = sleep_until(app, start + opts->interval);
        if (rc != TF_OK)
            break;
    }
    if (failed)
        *failed = app->failed;
    app->until_idle = 0;
    tf_memo_clear(&app->once_ok);
    tf_memo_clear(&app->once_failed);
    if (rc == TF_ESTOPPED || app->stop) {
        tf_running_stop_all(app);
        tf_store_flush(app->store); /* best effort: an unrecorded end runs again */
        tf_app_settle(app);
        return tf_app_fail(app, TF_ESTOPPED, "stopped");
    }
    /* A normal end waits for what it started, so nothing runs unsupervised. */
    while (rc == TF_OK && tf_running_live(app))
        rc = sleep_until(app, tf_app_steady() + 3600);
    if (rc == TF_OK)
        rc = tf_app_flush(app);
    return rc;
}
