/*
 * work.c - one call: arguments -> canonical bytes -> key -> decision (hit,
 * run, wait, retry, failed) -> execution -> record. Also the executions a
 * process keeps running in parallel: stepping, lease renewal, finishing and
 * stopping them.
 *
 * The cached path (memo hit) does no allocation and no SQLite round trip:
 * canonicalize into a reused buffer, hash with a reused context, probe the
 * memo. Everything else goes through the store's claim protocol, so two
 * processes never execute the same (work, args) while one execution lives.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "json.h"
#include "proc.h"

/* Outcome texts kept for the duration of the tick (tf_call.error). */
static const char *keep_text(tf_app *app, const char *text)
{
    if (!text)
        return NULL;
    cJSON *s = cJSON_CreateString(text);
    if (!s || tf_app_keep_result(app, s) != TF_OK)
        return "out of memory";
    return s->valuestring;
}

/* ---- running executions ------------------------------------------------ */

/*
 * The executions of this process are found by (work, key) through an
 * open-addressing index (linear probing, backward-shift deletion), and the
 * live ones are counted, so starting, finding and finishing one costs
 * O(1) however many a foreach holds (a linear scan here made a 10,000
 * element fan-out quadratic).
 */
static uint64_t running_hash(const tf_work *w, const char *key)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = key[i];
        v = (v << 4) | (uint64_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v ^ ((uint64_t)w->index * 0x9E3779B97F4A7C15ull);
}

static tf_running *find_running(tf_app *app, const tf_work *w, const char *key)
{
    if (!app->rindex_cap)
        return NULL;
    size_t mask = app->rindex_cap - 1;
    for (size_t i = (size_t)running_hash(w, key) & mask;; i = (i + 1) & mask) {
        tf_running *r = app->rindex[i];
        if (!r)
            return NULL;
        if (r->work == w && !memcmp(r->key, key, 64))
            return r;
    }
}

static void rindex_put(tf_running **slots, size_t cap, tf_running *r)
{
    size_t mask = cap - 1;
    size_t i = (size_t)running_hash(r->work, r->key) & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = r;
}

/* Index r (room for it was made by running_reserve). */
static void rindex_add(tf_app *app, tf_running *r)
{
    rindex_put(app->rindex, app->rindex_cap, r);
}

static void rindex_del(tf_app *app, tf_running *r)
{
    if (!app->rindex_cap)
        return;
    size_t mask = app->rindex_cap - 1;
    size_t i = (size_t)running_hash(r->work, r->key) & mask;
    while (app->rindex[i] && app->rindex[i] != r)
        i = (i + 1) & mask;
    if (!app->rindex[i])
        return;
    app->rindex[i] = NULL;
    /* pull back every later entry of the cluster whose home is not in (i, j] */
    for (size_t j = (i + 1) & mask; app->rindex[j]; j = (j + 1) & mask) {
        size_t home = (size_t)running_hash(app->rindex[j]->work, app->rindex[j]->key) & mask;
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            app->rindex[i] = app->rindex[j];
            app->rindex[j] = NULL;
            i = j;
        }
    }
}

/* Room for one more execution in app->running and the index. TF_OK or TF_ENOMEM. */
static int running_reserve(tf_app *app)
{
    if (app->nrunning == app->caprunning) {
        size_t cap = app->caprunning ? app->caprunning * 2 : 8;
        tf_running **p = realloc(app->running, cap * sizeof *p);
        if (!p)
            return TF_ENOMEM;
        app->running = p;
        app->caprunning = cap;
    }
    if ((app->nrunning + 1) * 2 > app->rindex_cap) {
        size_t cap = app->rindex_cap ? app->rindex_cap * 2 : 16;
        tf_running **slots = calloc(cap, sizeof *slots);
        if (!slots)
            return TF_ENOMEM;
        for (size_t i = 0; i < app->nrunning; i++)
            rindex_put(slots, cap, app->running[i]);
        free(app->rindex);
        app->rindex = slots;
        app->rindex_cap = cap;
    }
    return TF_OK;
}

void tf_running_free_index(tf_app *app)
{
    free(app->rindex);
    app->rindex = NULL;
    app->rindex_cap = 0;
    free(app->pfds);
    app->pfds = NULL;
    app->pfds_cap = 0;
}

static void running_free(tf_app *app, tf_running *r)
{
    if (!r)
        return;
    tf_exec_free(r->exec); /* the group is dead after this */
    if (r->pgid > 0)
        tf_reaper_forget(&app->reaper, r->pgid);
    free(r->args_json);
    free(r->error);
    free(r->stale_json);
    cJSON_Delete(r->result);
    free(r);
}

/*
 * app->running keeps the live executions in [0, nlive) and the done ones
 * after them, each knowing its slot: stepping and polling walk the live
 * ones only, and ending or forgetting one is O(1), however many finished
 * executions wait for their tf_run to report them.
 */
static void running_put(tf_app *app, size_t i, tf_running *r)
{
    app->running[i] = r;
    r->slot = i;
}

/* List r as live (room was made by running_reserve). */
static void running_add_live(tf_app *app, tf_running *r)
{
    if (app->nlive < app->nrunning) /* the first done one moves to the end */
        running_put(app, app->nrunning, app->running[app->nlive]);
    running_put(app, app->nlive, r);
    app->nrunning++;
    app->nlive++;
    rindex_add(app, r);
}

/* r ended: mark it done, and move it from the live part to the done part. */
static void running_mark_done(tf_app *app, tf_running *r)
{
    r->done = 1;
    if (r->slot == TF_UNLISTED || r->slot >= app->nlive)
        return;
    size_t last = --app->nlive;
    tf_running *other = app->running[last];
    running_put(app, r->slot, other);
    running_put(app, last, r);
}

/* Take r out of app->running and free it. */
static void remove_running(tf_app *app, tf_running *r)
{
    if (r->slot != TF_UNLISTED) {
        running_mark_done(app, r); /* now in the done part */
        size_t last = --app->nrunning;
        running_put(app, r->slot, app->running[last]);
        rindex_del(app, r);
    }
    running_free(app, r);
}

/* Parallel executions of this process still running. */
size_t tf_running_live(const tf_app *app)
{
    return app->nlive;
}

/* The steady time at which r's lease is renewed next. */
static double renew_due(const tf_app *app, const tf_running *r)
{
    return r->last_renew + app->lease / 3;
}

static void renew_if_due(tf_app *app, tf_running *r, double now)
{
    if (now < renew_due(app, r) && now >= r->last_renew)
        return;
    r->last_renew = now;
    /* A lost lease is not fatal here: the fenced finish will say so. */
    tf_store_renew(app->store, r->call_id, r->fence, app->lease);
}

/* Whether w keeps its last good result through a refresh (max_age with keep_stale). */
static int keeps_stale(const tf_work *w)
{
    return w->opts.cache_calls && w->opts.max_age > 0 && w->opts.keep_stale;
}

/*
 * Remember a success of w in the memo, replacing what it held for key (a
 * refresh): expiry from result_at (cache clock) when w has max_age. A
 * replaced parsed result lives on until the end of the tick, since answers
 * of this tick may point into it.
 */
static int memo_set(tf_app *app, const tf_work *w, const char *key, const char *result_json,
                    double duration, double result_at, int counted)
{
    cJSON *old = NULL;
    double expires = w->opts.max_age > 0 ? result_at + w->opts.max_age : 0;
    if (tf_memo_set(&app->memo, w->index, key, result_json, duration, expires, &old) != 0)
        return tf_app_fail(app, TF_ENOMEM, "out of memory");
    if (counted) /* answered (or executed) in this evaluation: later answers in it are no new hits */
        ((tf_memo_entry *)tf_memo_get(&app->memo, w->index, key))->hit_epoch = app->hit_epoch;
    return old ? tf_app_keep_result(app, old) : TF_OK;
}

/*
 * Answer a call with the last good result of an expired call (stale-if-
 * error): SUCCEEDED with tf_call.stale set; json is copied into a tree
 * that lives until the end of the tick.
 */
static int serve_stale(tf_app *app, const char *json, tf_call *out)
{
    cJSON *tree = NULL;
    if (tf_parse_text(json, strlen(json), &tree, NULL) != TF_OK)
        return TF_EINPUT; /* unreadable: report the call as it is */
    if (tf_app_keep_result(app, tree) != TF_OK)
        return TF_ENOMEM;
    out->status = TF_CALL_SUCCEEDED;
    out->stale = 1;
    out->result = tree;
    return TF_OK;
}

/*
 * The event of an execution's end: "ran", or "failed" with final = 1 when
 * the store keeps no retry for it (the failures before this claim plus this
 * one exceed the work's retries: what the finish records, see store.h).
 */
static tf_event end_event(const tf_work *w, const char *key, const char *args_json, int ok,
                          int interrupted, const char *error, double duration, int attempt,
                          const char *log_path, int final, int stale)
{
    tf_event ev = {
        .work = w->name, .key = key, .args_json = args_json,
        .what = ok ? "ran" : interrupted ? "interrupted" : "failed",
        .error = error, .duration = duration, .attempt = attempt, .log_path = log_path,
        .final = !ok && final, .stale = stale, .version = w->version ? w->version : "",
    };
    return ev;
}

static void emit_end(tf_app *app, const tf_work *w, const char *key, const char *args_json, int ok,
                     int interrupted, const char *error, double duration, int attempt,
                     const char *log_path, int final, int stale)
{
    if (!app->on_event && !app->ntaps)
        return;
    tf_event ev = end_event(w, key, args_json, ok, interrupted, error, duration, attempt, log_path,
                            final, stale);
    tf_app_emit_event(app, &ev);
}

/*
 * Record the end of r's execution in the store and the memo. interrupted:
 * the scheduler stopped it. Returns TF_OK, or a store error.
 */
static int finish_running(tf_app *app, tf_running *r, int interrupted)
{
    const tf_exec_result *res = tf_exec_result_of(r->exec);
    const tf_work *w = r->work;
    int ok = res && res->ok && !interrupted;
    tf_finish f = {
        .call_id = r->call_id, .fence = r->fence, .history_id = r->history_id,
        .outcome = ok ? TF_OUT_SUCCEEDED : interrupted ? TF_OUT_INTERRUPTED : TF_OUT_FAILED,
        .result_json = ok ? res->result_json : NULL,
        .error = ok ? NULL : interrupted ? "interrupted: the scheduler was stopped"
                                          : (res && res->error ? res->error : "unknown failure"),
        .exit_code = res ? res->exit_code : -1,
        .term_signal = res ? res->term_signal : 0,
        .duration = res ? res->duration : 0,
        .retries = w->opts.retries, .backoff = w->opts.retry_backoff,
        .result_at = tf_app_cache_now(app), .keep_result = keeps_stale(w),
        .output = res ? res->output : NULL, .output_total = res ? res->output_total : 0,
        .output_truncated = res ? res->output_truncated : 0, .output_captured = !w->fn && res,
        .work = w->name, .key = r->key,
    };
    running_mark_done(app, r);
    /* the group died before its leader was reaped (exec.c): its id may name another group now */
    if (r->pgid > 0)
        tf_reaper_forget(&app->reaper, r->pgid);
    r->pgid = 0;
    r->duration = f.duration;
    /* Committed with the next write (group commit, store.h); a fence lost by
       then is noted on the attempt and empties the memo at the next tick.
       Observers hear "ran" once it is committed (tf_app_settle); a failed
       refresh says that its last good result is still served (stale). */
    tf_event end = end_event(w, r->key, r->args_json, ok, interrupted, f.error, f.duration,
                             r->attempt, NULL, !ok && !interrupted && r->failures + 1 > w->opts.retries,
                             !ok && r->stale_json);
    int observed = app->on_event || app->ntaps;
    int held = ok && observed && tf_app_hold_ran(app, &end) == TF_OK;
    int rc = tf_store_finish_later(app->store, &f);
    if (rc != TF_OK) {
        if (held)
            tf_app_unhold_last(app); /* nothing was queued for it */
        return tf_app_fail(app, rc, "%s", tf_store_errmsg(app->store));
    }
    if (held && app->commit_successes)
        (void)tf_app_flush(app); /* its hook runs now; a failure is retried and reported later */
    else
        tf_app_settle(app); /* a full queue commits on its own */
    if (app->until_idle && !w->opts.cache_calls
        && tf_memo_put(ok ? &app->once_ok : &app->once_failed, w->index, r->key,
                       ok ? res->result_json : f.error) != 0)
        return tf_app_fail(app, TF_ENOMEM, "out of memory");
    if (ok) {
        r->status = TF_CALL_SUCCEEDED;
        if (w->opts.cache_calls &&
            memo_set(app, w, r->key, res->result_json, f.duration, f.result_at, 1) != TF_OK)
            return TF_ENOMEM;
        if (tf_parse_text(res->result_json, strlen(res->result_json), &r->result, NULL) != TF_OK)
            r->result = NULL;
    } else {
        r->status = TF_CALL_FAILED;
        r->error = strdup(f.error);
    }
    if (observed && !held)
        tf_app_emit_event(app, &end);
    return TF_OK;
}

/*
 * Whether a finished execution can be forgotten at once: a success of a
 * cache_calls work is in the memo (or the store), where the next tf_run of
 * its key finds it. Others wait for that tf_run to report them.
 */
static int outcome_kept_elsewhere(const tf_running *r)
{
    return r->done && r->status == TF_CALL_SUCCEEDED && r->work->opts.cache_calls;
}

/* Step every live parallel execution; finished ones are recorded. */
int tf_running_step_all(tf_app *app, int *finished)
{
    double now = tf_app_steady();
    int rc = TF_OK;
    for (size_t i = 0; i < app->nlive;) {
        tf_running *r = app->running[i];
        if (!tf_exec_step(r->exec, now)) {
            renew_if_due(app, r, now);
            i++;
            continue;
        }
        /* recorded, r moves to the done part and the last live one into slot i */
        int frc = finish_running(app, r, 0);
        if (frc != TF_OK)
            rc = frc;
        if (finished)
            (*finished)++;
        if (frc == TF_OK && outcome_kept_elsewhere(r))
            remove_running(app, r);
    }
    tf_app_settle(app); /* what renewals committed meanwhile */
    return rc;
}

/* Fill pollfds for every live execution; *deadline gets the earliest deadline (0 none). */
int tf_running_poll_fds(tf_app *app, struct pollfd *fds, int max, double *deadline)
{
    int n = 0;
    for (size_t i = 0; i < app->nlive && n < max; i++) {
        tf_running *r = app->running[i];
        n += tf_exec_pollfds(r->exec, fds + n, max - n);
        double d = tf_exec_deadline(r->exec);
        if (d > 0 && (*deadline == 0 || d < *deadline))
            *deadline = d;
        double renew = renew_due(app, r);
        if (*deadline == 0 || renew < *deadline)
            *deadline = renew;
    }
    return n;
}

/*
 * Wait until `until` (steady clock), an execution ends, a stop request, or
 * the earliest deadline of a live execution, whichever comes first, then
 * step every execution (the ended ones are recorded). The poll set covers
 * every live execution. flush_grace: commit the store's deferred writes
 * once they waited TF_FLUSH_GRACE (they otherwise ride on the next claim);
 * without it they are committed before the wait. *finished (may be NULL)
 * is increased by the number that ended. Returns TF_OK, TF_ENOMEM, or a
 * store error.
 */
int tf_running_wait(tf_app *app, double until, int flush_grace, int *finished)
{
    double now = tf_app_steady();
    if (tf_store_pending(app->store)) {
        if (!flush_grace || now >= app->flush_at) {
            int rc = tf_app_flush(app);
            if (rc != TF_OK && !flush_grace)
                return rc;
            if (rc != TF_OK)
                app->flush_at = now + 1.0; /* retried each second, reported by the next write */
        } else if (app->flush_at < until) {
            until = app->flush_at;
        }
    }
    size_t want = app->nlive * 3 + 1;
    if (want > app->pfds_cap) {
        struct pollfd *p = realloc(app->pfds, want * 2 * sizeof *p);
        if (!p)
            return tf_app_fail(app, TF_ENOMEM, "out of memory");
        app->pfds = p;
        app->pfds_cap = want * 2;
    }
    double deadline = 0;
    int n = tf_running_poll_fds(app, app->pfds, (int)app->pfds_cap - 1, &deadline);
    if (deadline > 0 && deadline < until)
        until = deadline;
    struct pollfd *fds = app->pfds;
    fds[n].fd = app->wake[0];
    fds[n].events = POLLIN;
    fds[n].revents = 0;
    double timeout = until - now;
    int ms = timeout > 3600 ? 3600000 : timeout <= 0 ? 0 : (int)(timeout * 1000.0 + 0.999);
    if (poll(fds, (nfds_t)n + 1, ms) > 0 && (fds[n].revents & POLLIN)) {
        char sink[64];
        while (read(app->wake[0], sink, sizeof sink) > 0)
            ;
    }
    return tf_running_step_all(app, finished);
}

/*
 * A parallel call found every --max-parallel slot taken: wait here until
 * one frees (the ended executions are recorded meanwhile), so the flow
 * goes on with the next element instead of the tick ending and the next
 * one re-deciding every element (quadratic in the foreach size). Returns
 * TF_OK, TF_ESTOPPED, or a store error.
 */
static int wait_for_slot(tf_app *app)
{
    app->flush_at = tf_app_steady() + TF_FLUSH_GRACE;
    while (app->nlive >= app->max_parallel) {
        if (app->stop)
            return tf_app_fail(app, TF_ESTOPPED, "stopped");
        int rc = tf_running_wait(app, tf_app_steady() + 3600, 1, NULL);
        if (rc != TF_OK)
            return rc; /* the message is set */
    }
    return TF_OK;
}

/* Wait (bounded) for fds or the wake pipe; drains the wake pipe. */
static void wait_some(tf_app *app, struct pollfd *fds, int n, double timeout_s)
{
    fds[n].fd = app->wake[0];
    fds[n].events = POLLIN;
    fds[n].revents = 0;
    if (timeout_s < 0)
        timeout_s = 0;
    int ms = timeout_s > 3600 ? 3600000 : (int)(timeout_s * 1000.0 + 0.999);
    if (poll(fds, (nfds_t)n + 1, ms) > 0 && (fds[n].revents & POLLIN)) {
        char sink[64];
        while (read(app->wake[0], sink, sizeof sink) > 0)
            ;
    }
}

/* Stop every parallel execution, wait for them and record them interrupted. */
void tf_running_stop_all(tf_app *app)
{
    double now = tf_app_steady();
    for (size_t i = 0; i < app->nlive; i++)
        tf_exec_terminate(app->running[i]->exec, now);
    while (app->nlive) {
        struct pollfd fds[129];
        double deadline = 0;
        int n = tf_running_poll_fds(app, fds, 128, &deadline);
        now = tf_app_steady();
        for (size_t i = 0; i < app->nlive;) {
            tf_running *r = app->running[i];
            if (tf_exec_step(r->exec, now))
                finish_running(app, r, 1); /* the last live one moves into slot i */
            else
                i++;
        }
        if (app->nlive)
            wait_some(app, fds, n, 0.05);
    }
    while (app->nrunning)
        remove_running(app, app->running[app->nrunning - 1]);
}

/* ---- starting one execution ------------------------------------------------ */

/* Environment additions of a command: the work's env, TICKFLOW_ARGS, TICKFLOW_KEY. */
static char **command_env(const tf_work *w, const char *args_json, const char *key)
{
    size_t n = 0;
    while (w->env && w->env[n])
        n++;
    char **env = calloc(n + 3, sizeof *env);
    if (!env)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(env[i] = strdup(w->env[i])))
            goto fail;
    size_t alen = strlen(args_json) + sizeof "TICKFLOW_ARGS=";
    if (!(env[n] = malloc(alen)) || !(env[n + 1] = malloc(sizeof "TICKFLOW_KEY=" + 64)))
        goto fail;
    snprintf(env[n], alen, "TICKFLOW_ARGS=%s", args_json);
    snprintf(env[n + 1], sizeof "TICKFLOW_KEY=" + 64, "TICKFLOW_KEY=%s", key);
    return env;
fail:
    tf_strv_free(env);
    return NULL;
}

/*
 * Start the execution of a claimed call. On TF_OK *out holds it. A command
 * whose placeholders cannot be filled is reported as TF_EINPUT with the
 * reason in err (the call then fails; the scheduler goes on).
 */
static int start_execution(tf_app *app, tf_work *w, const cJSON *args, const char *key,
                           const tf_claim *c, tf_running **out, char *err, size_t errlen)
{
    tf_running *r = calloc(1, sizeof *r);
    if (!r)
        return TF_ENOMEM;
    r->slot = TF_UNLISTED;
    r->work = w;
    memcpy(r->key, key, 65);
    r->call_id = c->call_id;
    r->fence = c->fence;
    r->history_id = c->history_id;
    r->attempt = c->attempt;
    r->failures = c->failures;
    r->last_renew = tf_app_steady();
    r->args_json = strdup(app->canon.data);
    char **argv = NULL, **env = NULL;
    int rc = r->args_json ? TF_OK : TF_ENOMEM;
    cJSON *empty = NULL;
    tf_exec_spec spec = {.timeout = w->opts.timeout, .now = r->last_renew, .wall = tf_app_now(app)};
    if (rc == TF_OK && w->fn) {
        if (!args)
            args = empty = cJSON_CreateObject();
        spec.fn = w->fn;
        spec.fn_user = w->user;
        spec.args = args;
    } else if (rc == TF_OK) {
        rc = tf_command_argv(w, args, &argv, err, errlen);
        /* the command sees every argument, ignored ones too (never stored) */
        tf_buf full = TF_BUF_INIT;
        const char *env_args = r->args_json;
        if (rc == TF_OK && w->opts.ignore && args) {
            tf_error jerr;
            rc = tf_jcs_tree(args, &full, &jerr);
            if (rc == TF_EINPUT)
                snprintf(err, errlen, "bad arguments: %.400s", jerr.msg);
            env_args = full.data;
        }
        if (rc == TF_OK && !(env = command_env(w, env_args, key)))
            rc = TF_ENOMEM;
        tf_buf_free(&full);
        spec.argv = argv;
        spec.env = env;
        spec.cwd = w->cwd;
        spec.output_cap = TF_OUTPUT_MAX; /* stored with the attempt at its end */
    }
    /* The watchdog starts with the first execution: all-cached runs never fork. */
    if (rc == TF_OK && app->reaper.fd < 0 && tf_reaper_start(&app->reaper) != 0) {
        snprintf(err, errlen, "cannot start the watchdog process: %s", strerror(errno));
        rc = TF_EIO;
    }
    spec.watchdog = &app->reaper; /* the child announces its group before it runs anything */
    if (rc == TF_OK)
        rc = tf_exec_start(&spec, &r->exec, err, errlen);
    cJSON_Delete(empty);
    tf_strv_free(argv);
    tf_strv_free(env);
    if (rc != TF_OK) {
        if (rc == TF_ENOMEM)
            snprintf(err, errlen, "out of memory");
        running_free(app, r);
        return rc;
    }
    pid_t pid = tf_exec_pid(r->exec);
    r->pgid = pid; /* every execution leads its own process group */
    /* the child announced its group already; this keeps our list and restarts a dead watchdog */
    tf_reaper_watch(&app->reaper, pid);
    /* the leader's start time proves the group to a later takeover (proc.h); 0 if it already ended */
    if (tf_proc_start_time(pid, &r->exec_start) != TF_OK)
        r->exec_start = 0;
    /* Only for a takeover after our death (the watchdog kills the group
       first); a failure here must not fail a call whose child already runs. */
    (void)tf_store_exec_started_later(app->store, c->history_id, (long)pid, (long)pid,
                                      r->exec_start, NULL);
    *out = r;
    return TF_OK;
}

/* Record a call that failed before any child ran (bad placeholder, no fork). */
static int fail_unstarted(tf_app *app, tf_work *w, const tf_claim *c, const char *key,
                          const char *why, tf_call *out)
{
    tf_finish f = {
        .call_id = c->call_id, .fence = c->fence, .history_id = c->history_id,
        .outcome = TF_OUT_FAILED, .error = why, .exit_code = -1,
        .retries = w->opts.retries, .backoff = w->opts.retry_backoff,
        .keep_result = keeps_stale(w),
    };
    int rc = tf_store_finish(app->store, &f);
    if (rc != TF_OK && rc != TF_ESTATE)
        return tf_app_fail(app, rc, "%s", tf_store_errmsg(app->store));
    out->status = TF_CALL_FAILED;
    out->executed = 1;
    out->error = keep_text(app, why);
    emit_end(app, w, key, app->canon.data, 0, 0, why, 0, c->attempt, NULL,
             c->failures + 1 > w->opts.retries, 0);
    return TF_OK;
}

/*
 * Out of memory after a claim: hand the call back (recorded interrupted),
 * so it does not stay 'running' under this live process, which no other
 * runner of our namespace would ever take over. Best effort.
 */
static int give_back(tf_app *app, tf_work *w, const tf_claim *c)
{
    tf_finish f = {
        .call_id = c->call_id, .fence = c->fence, .history_id = c->history_id,
        .outcome = TF_OUT_INTERRUPTED, .error = "interrupted: out of memory", .exit_code = -1,
        .retries = w->opts.retries, .backoff = w->opts.retry_backoff,
        .keep_result = keeps_stale(w),
    };
    (void)tf_store_finish(app->store, &f);
    return tf_app_fail(app, TF_ENOMEM, "out of memory");
}

/*
 * Block until r ends (the flow waits: parallel off). Parallel ones keep
 * stepping. The deferred writes wait TF_FLUSH_GRACE for r: a short
 * execution's start and end then ride on the next claim's transaction.
 */
static int wait_blocking(tf_app *app, tf_running *r)
{
    int stopping = 0;
    double flush_at = tf_app_steady() + TF_FLUSH_GRACE;
    for (;;) {
        double now = tf_app_steady();
        if (tf_exec_step(r->exec, now))
            break;
        /* a failed flush is retried here each second and reported by the next
           write (the next claim, or the loop's end) */
        if (now >= flush_at && tf_store_pending(app->store) && tf_store_flush(app->store) != TF_OK)
            flush_at = now + 1.0;
        tf_app_settle(app);
        tf_reaper_check(&app->reaper);
        if (app->stop && !stopping) {
            tf_exec_terminate(r->exec, now);
            stopping = 1;
        }
        renew_if_due(app, r, now);
        tf_running_step_all(app, NULL);
        struct pollfd fds[130];
        double deadline = 0;
        int n = tf_exec_pollfds(r->exec, fds, 8);
        n += tf_running_poll_fds(app, fds + n, 120, &deadline);
        double d = tf_exec_deadline(r->exec);
        if (d > 0 && (deadline == 0 || d < deadline))
            deadline = d;
        double renew = renew_due(app, r);
        if (deadline == 0 || renew < deadline)
            deadline = renew;
        if (tf_store_pending(app->store) && flush_at < deadline)
            deadline = flush_at;
        wait_some(app, fds, n, deadline - now);
    }
    return stopping;
}

/*
 * Copy the outcome of a finished execution into *out. A failed refresh
 * (max_age, keep_stale) still answers with the last good result, stale,
 * and its failure counts as usual.
 */
static void report_done(tf_app *app, tf_running *r, tf_call *out)
{
    out->status = r->status;
    out->executed = 1;
    out->duration = r->duration;
    if (r->status == TF_CALL_SUCCEEDED && r->result) {
        if (tf_app_keep_result(app, r->result) == TF_OK)
            out->result = r->result;
        r->result = NULL;
    }
    if (r->status == TF_CALL_FAILED) {
        out->error = keep_text(app, r->error);
        app->failed++;
        if (r->stale_json)
            (void)serve_stale(app, r->stale_json, out); /* unreadable: the failure alone */
    }
}

/* ---- tf_run ------------------------------------------------------------ */

/*
 * The work's most recent argument set other than key's (the "started"
 * event shows what changed), or NULL. The store is asked once per process
 * and work (its query reads the work's rows); later executions are
 * remembered by remember_args. Valid until the next remember_args.
 */
static const char *previous_args(tf_app *app, tf_work *w, const char *key)
{
    if (!w->last_read) {
        w->last_read = 1;
        tf_store_previous_args(app->store, w->name, key, &w->last_args); /* none on error */
        w->last_key[0] = '\0';
    }
    return strcmp(w->last_key, key) == 0 ? w->other_args : w->last_args;
}

/* Note an execution of w with key and canonical args_json for previous_args. */
static void remember_args(tf_work *w, const char *key, const char *args_json)
{
    if (strcmp(w->last_key, key) == 0)
        return;
    char *copy = strdup(args_json);
    if (!copy)
        return; /* only a diff in an event line is lost */
    free(w->other_args);
    w->other_args = w->last_args;
    w->last_args = copy;
    memcpy(w->last_key, key, 65);
}

/*
 * After a takeover: kill what the dead runner's execution left behind, but
 * only a group proven to still be that execution (proc.h); either way the
 * interrupted attempt says what was done. A failure to note it is not the
 * call's business.
 */
static void settle_stale_group(tf_app *app, const tf_claim *c)
{
    if (!c->stale_history_id || c->stale_pgid <= 0)
        return;
    tf_proc_id self;
    char note[256];
    tf_proc_group g = {c->stale_pgid, c->stale_exec_start, c->stale_boot, c->stale_pidns};
    if (tf_proc_self(&self) != TF_OK)
        snprintf(note, sizeof note, "not signalled: our own identity could not be read");
    else
        tf_proc_kill_group(&self, &g, note, sizeof note);
    (void)tf_store_note_signal(app->store, c->stale_history_id, note);
}

static int run_claimed(tf_app *app, tf_work *w, const cJSON *args, const tf_claim *c, tf_call *out)
{
    char err[512] = "";
    settle_stale_group(app, c);
    tf_running *r = NULL;
    int rc = start_execution(app, w, args, out->key, c, &r, err, sizeof err);
    if (rc != TF_OK) {
        if (rc == TF_ENOMEM)
            return give_back(app, w, c);
        rc = fail_unstarted(app, w, c, out->key, err, out);
        if (rc == TF_OK && c->stale && c->result_json)
            (void)serve_stale(app, c->result_json, out);
        return rc;
    }
    app->tick_busy = 1;
    if (c->stale && c->result_json && !(r->stale_json = strdup(c->result_json))) {
        running_free(app, r);
        return give_back(app, w, c);
    }
    if (app->on_event) {
        if (c->command_changed)
            tf_app_emit(app, w, out->key, r->args_json, "command-changed",
                        c->command_changed == TF_CHANGED_AFTER_FAILURE
                            ? "command changed since its last failure; running again"
                            : "command changed since its interrupted attempt; running again",
                        0, 0, NULL, NULL);
        (r->stale_json ? tf_app_emit_stale : tf_app_emit)(app, w, out->key, r->args_json, "started",
                                                          NULL, 0, c->attempt,
                                                          previous_args(app, w, out->key), NULL);
        remember_args(w, out->key, r->args_json);
    }
    if (w->opts.parallel) {
        if (running_reserve(app) != TF_OK) {
            running_free(app, r);
            return give_back(app, w, c);
        }
        running_add_live(app, r);
        out->status = TF_CALL_RUNNING;
        if (r->stale_json) /* the refresh runs; dependants go on with the last good result */
            (void)serve_stale(app, r->stale_json, out);
        return TF_OK;
    }
    int stopped = wait_blocking(app, r);
    rc = finish_running(app, r, stopped);
    if (rc == TF_OK)
        report_done(app, r, out);
    running_free(app, r);
    if (rc == TF_OK && stopped)
        return tf_app_fail(app, TF_ESTOPPED, "stopped while '%s' was running", w->name);
    return rc;
}

/* Turn a store decision other than RUN into the call's status. */
static int report_decision(tf_app *app, tf_work *w, tf_claim *c, tf_call *out)
{
    const char *args_json = app->canon.data;
    switch (c->decision) {
    case TF_CLAIM_HIT:
        /* The store answers HIT only for cache_calls works: the memo keeps
           the text and parses it once, for this call and every later hit. */
        out->status = TF_CALL_SUCCEEDED;
        out->cached = 1;
        {
            int rc = memo_set(app, w, out->key, c->result_json, c->duration, c->result_at, 1);
            if (rc != TF_OK)
                return rc;
        }
        out->result = tf_memo_result((tf_memo_entry *)tf_memo_get(&app->memo, w->index, out->key));
        w->hits++;
        w->saved += c->duration;
        tf_app_emit(app, w, out->key, args_json, "cached", NULL, 0, 0, NULL, NULL);
        return TF_OK;
    case TF_CLAIM_BUSY:
        out->status = TF_CALL_RUNNING;
        app->tick_busy = 1;
        if (c->stale && c->result_json && serve_stale(app, c->result_json, out) == TF_OK) {
            tf_app_emit_stale(app, w, out->key, args_json, "waiting",
                              "another runner is refreshing it", 0, 0, NULL, NULL);
            return TF_OK;
        }
        tf_app_emit(app, w, out->key, args_json, "waiting", "another runner is executing it", 0, 0, NULL, NULL);
        return TF_OK;
    case TF_CLAIM_RETRY_WAIT:
        out->status = TF_CALL_RETRY_WAIT;
        out->error = keep_text(app, c->error);
        /* not busy: --once waits for a retry only when it is due soon (loop.c) */
        if (app->retry_due <= 0 || c->next_retry_at < app->retry_due)
            app->retry_due = c->next_retry_at;
        if (c->stale && c->result_json && serve_stale(app, c->result_json, out) == TF_OK) {
            tf_app_emit_stale(app, w, out->key, args_json, "retry", c->error, 0, 0, NULL, NULL);
            return TF_OK;
        }
        tf_app_emit(app, w, out->key, args_json, "retry", c->error, 0, 0, NULL, NULL);
        return TF_OK;
    case TF_CLAIM_FAILED:
    default:
        out->status = TF_CALL_FAILED;
        out->cached = 1;
        out->error = keep_text(app, c->error);
        app->failed++;
        if (c->stale && c->result_json && serve_stale(app, c->result_json, out) == TF_OK) {
            tf_app_emit_stale(app, w, out->key, args_json, "failed", c->error, 0, 0, NULL, NULL);
            return TF_OK;
        }
        tf_app_emit(app, w, out->key, args_json, "failed", c->error, 0, 0, NULL, NULL);
        return TF_OK;
    }
}

/*
 * Until idle (--once), a work without cache runs once per loop run: a call
 * it already executed in this run is answered with that outcome, or the
 * loop would never become idle. Returns 1 when *out was filled.
 */
static int report_once(tf_app *app, tf_work *w, tf_call *out)
{
    tf_memo_entry *e = (tf_memo_entry *)tf_memo_get(&app->once_ok, w->index, out->key);
    if (e) {
        out->status = TF_CALL_SUCCEEDED;
        out->cached = 1;
        out->result = tf_memo_result(e);
        tf_app_emit(app, w, out->key, app->canon.data, "cached", NULL, 0, 0, NULL, NULL);
        return 1;
    }
    e = (tf_memo_entry *)tf_memo_get(&app->once_failed, w->index, out->key);
    if (e) {
        out->status = TF_CALL_FAILED;
        out->cached = 1;
        out->error = keep_text(app, e->result_json);
        app->failed++;
        tf_app_emit(app, w, out->key, app->canon.data, "failed", e->result_json, 0, 0, NULL, NULL);
        return 1;
    }
    return 0;
}

/* A parallel execution of this process for the same call: report it. */
static int report_running(tf_app *app, tf_running *r, tf_call *out)
{
    if (!r->done) {
        out->status = TF_CALL_RUNNING;
        app->tick_busy = 1;
        if (r->stale_json && serve_stale(app, r->stale_json, out) == TF_OK) {
            tf_app_emit_stale(app, r->work, r->key, r->args_json, "running", NULL, 0, r->attempt,
                              NULL, NULL);
            return TF_OK;
        }
        tf_app_emit(app, r->work, r->key, r->args_json, "running", NULL, 0, r->attempt, NULL, NULL);
        return TF_OK;
    }
    report_done(app, r, out);
    remove_running(app, r);
    return TF_OK;
}

/* memo_preload's callback: one succeeded call into the memo. */
static int preload_one(const char *key, const char *result_json, double result_at, double duration,
                       void *user)
{
    tf_work *w = user;
    if (strlen(key) != 64)
        return 0;
    return memo_set(w->app, w, key, result_json, duration, result_at, 0) != TF_OK;
}

/*
 * Whether a memo miss of w should read all of w's succeeded calls now.
 * One scan costs about what a few point lookups cost per row, so it pays
 * when the flow will ask for a good share of the work's rows. Sizes are
 * the work's, not the table's: a work of 10,000 calls in a file that also
 * holds 1,000,000 of another work preloads its own 10,000 through the key
 * index at once (judged by the table's size it kept 10,000 point lookups:
 * 4 times slower). A small table is read in one sequential pass; a work of
 * more than TF_MEMO_PRELOAD_SMALL rows preloads only after misses reached
 * 1/32 of the table (a flow asking for 10,000 of its 1,000,000 calls keeps
 * its point lookups and starts in milliseconds).
 */
static int preload_due(tf_app *app, tf_work *w)
{
    if (!w->preload_after) {
        int64_t rows = 0, mine = 0;
        if (tf_store_row_estimate(app->store, &rows) != TF_OK)
            rows = TF_MEMO_PRELOAD_SMALL + 1;
        w->preload_scan = rows <= TF_MEMO_PRELOAD_SMALL;
        w->preload_rows = rows;
        if (!w->preload_scan) {
            /* counting stops at the bound: a few ms at most, once per process and work */
            if (tf_store_count_work(app->store, w->name, w->version, TF_MEMO_PRELOAD_WORK + 1,
                                    &mine) != TF_OK)
                mine = TF_MEMO_PRELOAD_WORK + 1;
            if (mine <= TF_MEMO_PRELOAD_WORK)
                w->preload_rows = mine;
        }
        w->preload_after = w->preload_scan || mine <= TF_MEMO_PRELOAD_WORK ? 1 : rows / 32;
    }
    return ++w->misses >= w->preload_after;
}

/*
 * Read w's succeeded calls (up to TF_MEMO_PRELOAD_MAX) in one statement,
 * once per process and work; later misses (after another connection wrote
 * and the memo was emptied) go back to point lookups.
 */
static int memo_preload(tf_app *app, tf_work *w)
{
    w->preloaded = 1;
    /* a known row count bounds what the read adds: size the memo once */
    if (w->preload_after == 1 && w->preload_rows > 0)
        tf_memo_reserve(&app->memo, (size_t)w->preload_rows); /* a failure only means growing later */
    int rc = tf_store_each_succeeded(app->store, w->name, w->version, TF_MEMO_PRELOAD_MAX,
                                     w->preload_scan, preload_one, w);
    if (rc != TF_OK)
        return tf_app_fail(app, rc, "%s", tf_store_errmsg(app->store));
    return TF_OK;
}

static int run_call(tf_tick *tick, tf_work *w, const cJSON *args, tf_call *out);

int tf_run(tf_tick *tick, tf_work *w, const cJSON *args, tf_call *out)
{
    tf_app *app = tick->app;
    tf_call scratch;
    if (!out)
        out = &scratch;
    memset(out, 0, sizeof *out);
    if (app->fatal)
        return app->fatal;
    int rc = run_call(tick, w, args, out);
    /* Bad arguments are the flow's business; a broken database stops the loop. */
    if (rc != TF_OK && rc != TF_EINPUT && rc != TF_ESTOPPED)
        app->fatal = rc;
    return rc;
}

/* tf_run without the fatal-error bookkeeping. */
static int run_call(tf_tick *tick, tf_work *w, const cJSON *args, tf_call *out)
{
    tf_app *app = tick->app;
    if (app->stop)
        return tf_app_fail(app, TF_ESTOPPED, "stopped");
    tf_error jerr;
    tf_buf_reset(&app->canon);
    /* ignored members stay out of the key and of everything stored (tf_work_opts.ignore) */
    int rc = args ? tf_jcs_tree_skip(args, w->opts.ignore, &app->canon, &jerr)
                  : (tf_buf_puts(&app->canon, "{}") == 0 ? TF_OK : TF_ENOMEM);
    if (rc != TF_OK)
        return tf_app_fail(app, rc, "work '%s': bad arguments: %s", w->name,
                           rc == TF_EINPUT ? jerr.msg : "out of memory");
    unsigned char digest[32];
    rc = tf_hasher_key(&app->hasher, app->canon.data, app->canon.len, digest, out->key);
    if (rc != TF_OK)
        return tf_app_fail(app, rc, "cannot hash the arguments of '%s'", w->name);

    if (w->opts.cache_calls) {
        const tf_memo_entry *e = tf_memo_find(&app->memo, w->index, digest);
        if (!e && !w->preloaded && preload_due(app, w)) {
            rc = memo_preload(app, w);
            if (rc != TF_OK)
                return rc;
            e = tf_memo_find(&app->memo, w->index, digest);
        }
        /* past max_age (one compare; 0 = never): the store decides, and runs it again */
        if (e && e->expires != 0 && app->tick_cache_now >= (double)e->expires)
            e = NULL;
        if (e) {
            out->status = TF_CALL_SUCCEEDED;
            out->cached = 1;
            out->result = tf_memo_result((tf_memo_entry *)e);
            if (e->hit_epoch != app->hit_epoch) { /* once per evaluation (stats) */
                ((tf_memo_entry *)e)->hit_epoch = app->hit_epoch;
                w->hits++;
                w->saved += e->duration;
            }
            if (app->on_event)
                tf_app_emit(app, w, out->key, app->canon.data, "cached", NULL, 0, 0, NULL, NULL);
            return TF_OK;
        }
    }
    tf_running *r = find_running(app, w, out->key);
    if (r)
        return report_running(app, r, out);
    if (!w->opts.cache_calls && app->until_idle && report_once(app, w, out))
        return TF_OK;
    if (w->opts.parallel && app->max_parallel && app->nlive >= app->max_parallel && !app->dry_run) {
        /* Wait here for a slot: app->canon and out->key stay as they are. */
        tf_app_emit(app, w, out->key, app->canon.data, "queued", NULL, 0, 0, NULL, NULL);
        rc = wait_for_slot(app);
        if (rc != TF_OK)
            return rc;
    }

    tf_claim_req req = {
        .work = w->name, .version = w->version, .args_sha256 = out->key,
        .args_json = app->canon.data, .cache_calls = w->opts.cache_calls,
        .retries = w->opts.retries, .backoff = w->opts.retry_backoff,
        .lease = app->lease,
        .max_age = w->opts.cache_calls ? w->opts.max_age : 0, .cache_now = app->tick_cache_now,
        .keep_stale = w->opts.keep_stale,
        .command_sha256 = w->command_sha256[0] ? w->command_sha256 : NULL,
    };
    tf_claim c;
    memset(&c, 0, sizeof c);
    rc = app->dry_run ? tf_store_peek(app->store, &req, &c) : tf_store_claim(app->store, &req, &c);
    if (rc != TF_OK) {
        tf_claim_clear(&c);
        tf_app_settle(app);
        return tf_app_fail(app, rc, "%s", tf_store_errmsg(app->store));
    }
    if (c.decision != TF_CLAIM_RUN)
        rc = report_decision(app, w, &c, out);
    else if (app->dry_run) {
        out->status = TF_CALL_RUNNING;
        tf_app_emit(app, w, out->key, app->canon.data, "would-run", NULL, 0, 0, NULL, NULL);
    } else
        rc = run_claimed(app, w, args, &c, out);
    tf_claim_clear(&c);
    /* The claim committed earlier ends with it: report them now, once this call is
       started, never between its claim and its start (a hook there would age its lease). */
    tf_app_settle(app);
    return rc;
}
