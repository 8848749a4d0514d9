/*
 * app.c - the application handle: opening the store, registering works and
 * flows, the clock seam (wall time for timestamps and backoff) and the
 * steady clock (CLOCK_MONOTONIC, for timeouts, durations, lease renewal and
 * tick intervals: it never steps with the wall clock and stands still in a
 * suspend, so a job suspended past its timeout is not killed on resume), the stop request, decision events, and the
 * results a tick owns. The per-call logic lives in work.c, the tick loop in
 * loop.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"

static double real_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double tf_app_now(const tf_app *app)
{
    return app->clock ? app->clock(app->clock_user) : real_clock();
}

double tf_app_steady(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Keep a formatted message on the handle and return rc. */
int tf_app_fail(tf_app *app, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(app->errmsg, sizeof app->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

const char *tf_errmsg(const tf_app *app)
{
    return app ? app->errmsg : "no tickflow handle (out of memory)";
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/*
 * "<db_path>.logs" ("./tickflow.logs" for a server URI), made absolute so
 * the paths recorded in history stay valid from any folder (tickflow logs,
 * sqlite3). malloc'd; NULL on ENOMEM.
 */
static char *default_log_dir(const char *db_path)
{
    char cwd[4096];
    const char *prefix = "";
    if (tf_db_is_server(db_path))
        db_path = "tickflow"; /* a server has no folder of ours: ./tickflow.logs */
    if (db_path[0] != '/' && getcwd(cwd, sizeof cwd))
        prefix = cwd;
    size_t n = strlen(prefix) + strlen(db_path) + sizeof "/.logs";
    char *dir = malloc(n);
    if (dir)
        snprintf(dir, n, "%s%s%s.logs", prefix, *prefix ? "/" : "", db_path);
    return dir;
}

static int app_open(const char *db_path, int readonly, tf_app **out)
{
    *out = NULL;
    tf_app *app = calloc(1, sizeof *app);
    if (!app)
        return TF_ENOMEM;
    *out = app;
    app->wake[0] = app->wake[1] = -1;
    tf_reaper_init(&app->reaper);
    app->lease = TF_LEASE_SECONDS;
    if (!db_path || !*db_path)
        return tf_app_fail(app, TF_EINPUT, "no database path given");
    app->db_path = strdup(db_path);
    app->log_dir = default_log_dir(db_path);
    if (!app->db_path || !app->log_dir || tf_hasher_init(&app->hasher) != TF_OK)
        return tf_app_fail(app, TF_ENOMEM, "out of memory");
    if (pipe2(app->wake, O_CLOEXEC | O_NONBLOCK) != 0)
        return tf_app_fail(app, TF_EIO, "cannot create a pipe: %s", strerror(errno));
    int rc = readonly ? tf_store_open_readonly(db_path, &app->store) : tf_store_open(db_path, &app->store);
    if (rc != TF_OK)
        return tf_app_fail(app, rc, "%s", app->store ? tf_store_errmsg(app->store) : "out of memory");
    rc = tf_store_data_version(app->store, &app->data_version);
    if (rc != TF_OK)
        return tf_app_fail(app, rc, "%s", tf_store_errmsg(app->store));
    app->dry_run = app->readonly = readonly;
    return TF_OK;
}

int tf_app_open(const char *db_path, tf_app **out)
{
    return app_open(db_path, 0, out);
}

int tf_app_open_readonly(const char *db_path, tf_app **out)
{
    return app_open(db_path, 1, out);
}

static void work_free(tf_work *w)
{
    if (!w)
        return;
    free(w->name);
    free(w->version);
    free(w->last_args);
    free(w->other_args);
    tf_strv_free(w->argv);
    tf_strv_free(w->env);
    tf_strv_free(w->ignore);
    free(w->cwd);
    free(w);
}

/* What a held event owns. */
static void held_free(struct tf_held_ran *h)
{
    free(h->args_json);
    free(h->version);
}

void tf_app_close(tf_app *app)
{
    if (!app)
        return;
    tf_running_stop_all(app);
    (void)tf_app_flush(app); /* the last ends, and the events they settle */
    for (size_t i = 0; i < app->nheld; i++) /* never committed: never reported as ran */
        held_free(&app->held[i]);
    free(app->held);
    tf_reaper_stop(&app->reaper);
    free(app->running);
    tf_running_free_index(app);
    tf_app_free_tick_results(app);
    free(app->tick_results);
    tf_memo_clear(&app->memo);
    tf_memo_clear(&app->once_ok);
    tf_memo_clear(&app->once_failed);
    for (size_t i = 0; i < app->nworks; i++)
        work_free(app->works[i]);
    free(app->works);
    for (size_t i = 0; i < app->nflows; i++)
        free(app->flows[i].name);
    free(app->flows);
    free(app->taps);
    tf_store_close(app->store);
    tf_buf_free(&app->canon);
    tf_hasher_free(&app->hasher);
    if (app->wake[0] >= 0)
        close(app->wake[0]);
    if (app->wake[1] >= 0)
        close(app->wake[1]);
    free(app->db_path);
    free(app->log_dir);
    free(app);
}

int tf_app_set_log_dir(tf_app *app, const char *dir)
{
    char *copy = dir ? strdup(dir) : NULL;
    if (!copy)
        return tf_app_fail(app, dir ? TF_ENOMEM : TF_EINPUT, dir ? "out of memory" : "no log folder given");
    free(app->log_dir);
    app->log_dir = copy;
    return TF_OK;
}

void tf_app_set_clock(tf_app *app, tf_clock_fn clock, void *user)
{
    app->clock = clock;
    app->clock_user = user;
    tf_store_set_clock(app->store, clock, user);
}

void tf_app_set_cache_now(tf_app *app, double now)
{
    app->cache_offset = isnan(now) ? 0 : now - tf_app_now(app); /* 0 is 1970-01-01, not unset */
}

double tf_app_cache_now(const tf_app *app)
{
    return tf_app_now(app) + app->cache_offset;
}

void tf_app_set_dry_run(tf_app *app, int on)
{
    app->dry_run = on != 0 || app->readonly;
}

void tf_app_stop(tf_app *app)
{
    int saved = errno;
    app->stop = 1;
    if (app->wake[1] >= 0) {
        ssize_t w = write(app->wake[1], "x", 1);
        (void)w; /* a full pipe already wakes the loop */
    }
    errno = saved;
}

void tf_app_on_event(tf_app *app, tf_event_fn fn, void *user)
{
    app->on_event = fn;
    app->event_user = user;
}

static void emit(tf_app *app, const tf_work *w, const char *key, const char *args_json,
                 const char *what, const char *error, double duration, int attempt,
                 const char *prev_args, const char *log_path, int stale)
{
    if (!app->on_event && !app->ntaps)
        return;
    tf_event ev = {
        .work = w->name, .key = key, .args_json = args_json, .what = what,
        .error = error, .duration = duration, .attempt = attempt,
        .prev_args_json = prev_args, .log_path = log_path, .stale = stale,
        .version = w->version ? w->version : "",
    };
    tf_app_emit_event(app, &ev);
}

void tf_app_emit_event(tf_app *app, const tf_event *ev)
{
    for (size_t i = 0; i < app->ntaps; i++)
        app->taps[i].fn(ev, app->taps[i].user);
    tf_app_report(app, ev);
}

void tf_app_report(tf_app *app, const tf_event *ev)
{
    if (app->on_event)
        app->on_event(ev, app->event_user);
}

int tf_app_add_tap(tf_app *app, tf_event_fn fn, void *user)
{
    tf_tap *t = realloc(app->taps, (app->ntaps + 1) * sizeof *t);
    if (!t)
        return tf_app_fail(app, TF_ENOMEM, "out of memory");
    app->taps = t;
    app->taps[app->ntaps++] = (tf_tap){fn, user};
    return TF_OK;
}

void tf_app_emit(tf_app *app, const tf_work *w, const char *key, const char *args_json,
                 const char *what, const char *error, double duration, int attempt,
                 const char *prev_args, const char *log_path)
{
    emit(app, w, key, args_json, what, error, duration, attempt, prev_args, log_path, 0);
}

/* tf_app_emit for a call answered with its last good result (tf_event.stale). */
void tf_app_emit_stale(tf_app *app, const tf_work *w, const char *key, const char *args_json,
                       const char *what, const char *error, double duration, int attempt,
                       const char *prev_args, const char *log_path)
{
    emit(app, w, key, args_json, what, error, duration, attempt, prev_args, log_path, 1);
}

/*
 * Add the hits the works counted in memory (tf_run's cached answers) to
 * the store: one small transaction, only when there are any, at most once
 * per tick (loop.c) so the cached path itself never writes. A dry run
 * writes nothing, so its hits are dropped.
 */
int tf_app_flush_hits(tf_app *app)
{
    tf_hit_count small[16], *h = small;
    size_t n = 0;
    for (size_t i = 0; i < app->nworks; i++)
        n += app->works[i]->hits != 0;
    if (!n)
        return TF_OK;
    if (app->dry_run) {
        for (size_t i = 0; i < app->nworks; i++)
            app->works[i]->hits = 0, app->works[i]->saved = 0;
        return TF_OK;
    }
    if (n > sizeof small / sizeof small[0] && !(h = malloc(n * sizeof *h)))
        return tf_app_fail(app, TF_ENOMEM, "out of memory");
    n = 0;
    for (size_t i = 0; i < app->nworks; i++)
        if (app->works[i]->hits)
            h[n++] = (tf_hit_count){app->works[i]->name, app->works[i]->hits, app->works[i]->saved};
    int rc = tf_store_add_hits(app->store, h, n, tf_app_now(app));
    if (h != small)
        free(h);
    if (rc != TF_OK) /* kept in memory: added with the next flush */
        return tf_app_fail(app, rc, "%s", tf_store_errmsg(app->store));
    for (size_t i = 0; i < app->nworks; i++)
        app->works[i]->hits = 0, app->works[i]->saved = 0;
    return TF_OK;
}

int tf_app_hold_ran(tf_app *app, const tf_event *ev)
{
    if (app->nheld == app->capheld) {
        size_t cap = app->capheld ? app->capheld * 2 : 16;
        struct tf_held_ran *h = realloc(app->held, cap * sizeof *h);
        if (!h)
            return TF_ENOMEM;
        app->held = h;
        app->capheld = cap;
    }
    struct tf_held_ran *h = &app->held[app->nheld];
    if (!ev->key || strlen(ev->key) != 64 || !(h->args_json = strdup(ev->args_json ? ev->args_json : "")))
        return TF_ENOMEM;
    if (!(h->version = strdup(ev->version ? ev->version : ""))) {
        free(h->args_json);
        return TF_ENOMEM;
    }
    h->work = ev->work;
    memcpy(h->key, ev->key, 65);
    h->duration = ev->duration;
    h->attempt = ev->attempt;
    app->nheld++;
    return TF_OK;
}

void tf_app_commit_successes(tf_app *app)
{
    app->commit_successes = 1;
}

void tf_app_unhold_last(tf_app *app)
{
    if (app->nheld)
        held_free(&app->held[--app->nheld]);
}

/* The held event of (work, key), or -1. Commits come in queue order: the first one matches. */
static long held_index(const tf_app *app, const char *work, const char *key)
{
    for (size_t i = 0; i < app->nheld; i++)
        if (!strcmp(app->held[i].work, work) && !strcmp(app->held[i].key, key))
            return (long)i;
    return -1;
}

/* One committed deferred success: "ran" if recorded, else "fenced-out", as the database says. */
static void settled(const char *work, const char *key, int recorded, void *user)
{
    tf_app *app = user;
    long i = held_index(app, work, key);
    struct tf_held_ran h = {0};
    if (i >= 0) {
        h = app->held[i];
        memmove(&app->held[i], &app->held[i + 1], (app->nheld - (size_t)i - 1) * sizeof h);
        app->nheld--;
    }
    if (recorded && i >= 0) {
        tf_event ev = {
            .work = h.work, .key = h.key, .args_json = h.args_json, .what = "ran",
            .duration = h.duration, .attempt = h.attempt, .version = h.version,
        };
        tf_app_emit_event(app, &ev);
    } else if (!recorded) {
        const tf_work *w = i >= 0 ? NULL : tf_work_find(app, work); /* gone after a reload: unknown */
        tf_event ev = {
            .work = work, .key = key, .args_json = i >= 0 ? h.args_json : NULL,
            .what = "fenced-out", .attempt = i >= 0 ? h.attempt : 0,
            .duration = i >= 0 ? h.duration : 0,
            .version = i >= 0 ? h.version : w ? (w->version ? w->version : "") : NULL,
            .error = "another runner took this call over before our result was recorded: ours was not",
        };
        tf_app_emit_event(app, &ev);
    }
    held_free(&h);
}

void tf_app_settle(tf_app *app)
{
    if (app->settling)
        return;
    app->settling = 1;
    tf_store_take_settled(app->store, settled, app);
    app->settling = 0;
}

/*
 * Commit the store's deferred writes before a wait, so other processes see
 * our ends (and our executions' process groups) while we sit idle, and
 * emit what they settled. A failure stops the loop like any other store
 * error.
 */
int tf_app_flush(tf_app *app)
{
    int rc = tf_store_flush(app->store);
    tf_app_settle(app);
    return rc == TF_OK ? TF_OK : tf_app_fail(app, rc, "%s", tf_store_errmsg(app->store));
}

/* Results handed to flows live until the end of the tick. */
int tf_app_keep_result(tf_app *app, cJSON *tree)
{
    if (app->ntick_results == app->cap_tick_results) {
        size_t cap = app->cap_tick_results ? app->cap_tick_results * 2 : 16;
        cJSON **p = realloc(app->tick_results, cap * sizeof *p);
        if (!p) {
            cJSON_Delete(tree);
            return tf_app_fail(app, TF_ENOMEM, "out of memory");
        }
        app->tick_results = p;
        app->cap_tick_results = cap;
    }
    app->tick_results[app->ntick_results++] = tree;
    return TF_OK;
}

void tf_app_free_tick_results(tf_app *app)
{
    for (size_t i = 0; i < app->ntick_results; i++)
        cJSON_Delete(app->tick_results[i]);
    app->ntick_results = 0;
}

/* ---- works ---------------------------------------------------------- */

void tf_work_opts_init(tf_work_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->cache_calls = 1;
    opts->version = "";
    opts->retry_backoff = 1.0;
    opts->keep_stale = 1;
}

/*
 * Check the cache options of opts for work `name`: max_age >= 0, ignore
 * names non-empty. On TF_OK *ignore is an owned copy of opts->ignore (NULL
 * when it names nothing).
 */
static int cache_opts(tf_app *app, const char *name, const tf_work_opts *opts, char ***ignore)
{
    *ignore = NULL;
    if (!(opts->max_age >= 0))
        return tf_app_fail(app, TF_EINPUT, "work '%s': max_age must be >= 0 seconds", name);
    if (!opts->ignore || !opts->ignore[0])
        return TF_OK;
    for (const char *const *p = opts->ignore; *p; p++)
        if (!**p)
            return tf_app_fail(app, TF_EINPUT, "work '%s': an ignored argument name is empty", name);
    if (!(*ignore = tf_strv_dup(opts->ignore)))
        return tf_app_fail(app, TF_ENOMEM, "out of memory");
    return TF_OK;
}

/* Work names become folder names for logs: keep them plain. */
static int valid_work_name(const char *name)
{
    if (!name || !*name || name[0] == '.' || strlen(name) > 128)
        return 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

static int add_work(tf_app *app, const char *name, const tf_work_opts *opts, tf_work **out)
{
    *out = NULL;
    if (!valid_work_name(name))
        return tf_app_fail(app, TF_EINPUT,
                           "invalid work name '%s': use 1-128 of A-Z a-z 0-9 _ - . (not starting with '.')",
                           name ? name : "");
    if (tf_work_find(app, name))
        return tf_app_fail(app, TF_EINPUT, "work '%s' is registered twice", name);
    tf_work_opts defaults;
    tf_work_opts_init(&defaults);
    if (!opts)
        opts = &defaults;
    if (opts->retries < 0 || opts->retry_backoff < 0 || opts->timeout < 0)
        return tf_app_fail(app, TF_EINPUT, "work '%s': retries, retry_backoff and timeout must be >= 0", name);
    char **ignore = NULL;
    int rc = cache_opts(app, name, opts, &ignore);
    if (rc != TF_OK)
        return rc;
    if (app->nworks == app->capworks) {
        size_t cap = app->capworks ? app->capworks * 2 : 8;
        tf_work **p = realloc(app->works, cap * sizeof *p);
        if (!p) {
            tf_strv_free(ignore);
            return tf_app_fail(app, TF_ENOMEM, "out of memory");
        }
        app->works = p;
        app->capworks = cap;
    }
    tf_work *w = calloc(1, sizeof *w);
    if (!w) {
        tf_strv_free(ignore);
        return tf_app_fail(app, TF_ENOMEM, "out of memory");
    }
    w->app = app;
    w->name = strdup(name);
    w->version = strdup(opts->version ? opts->version : "");
    w->opts = *opts;
    w->opts.version = w->version;
    w->ignore = ignore;
    w->opts.ignore = (const char *const *)ignore;
    if (!w->name || !w->version) {
        work_free(w);
        return tf_app_fail(app, TF_ENOMEM, "out of memory");
    }
    w->index = (uint32_t)app->nworks;
    app->works[app->nworks++] = w;
    *out = w;
    return TF_OK;
}

int tf_work_new(tf_app *app, const char *name, tf_work_fn fn, void *user,
                const tf_work_opts *opts, tf_work **out)
{
    tf_work *w = NULL;
    if (out)
        *out = NULL;
    if (!fn)
        return tf_app_fail(app, TF_EINPUT, "work '%s': no function given", name ? name : "");
    int rc = add_work(app, name, opts, &w);
    if (rc != TF_OK)
        return rc;
    w->fn = fn;
    w->user = user;
    if (out)
        *out = w;
    return TF_OK;
}

int tf_work_new_command(tf_app *app, const char *name, const tf_command *cmd,
                        const tf_work_opts *opts, tf_work **out)
{
    tf_work *w = NULL;
    if (out)
        *out = NULL;
    if (!cmd || !cmd->argv || !cmd->argv[0] || !*cmd->argv[0])
        return tf_app_fail(app, TF_EINPUT, "work '%s': empty command", name ? name : "");
    int rc = add_work(app, name, opts, &w);
    if (rc != TF_OK)
        return rc;
    w->argv = tf_strv_dup(cmd->argv);
    w->env = cmd->env ? tf_strv_dup(cmd->env) : NULL;
    w->cwd = dup_or_null(cmd->cwd);
    if (!w->argv || (cmd->env && !w->env) || (cmd->cwd && !w->cwd) ||
        tf_command_digest(cmd, w->command_sha256) != TF_OK) {
        app->nworks--;
        work_free(w);
        return tf_app_fail(app, TF_ENOMEM, "out of memory");
    }
    if (out)
        *out = w;
    return TF_OK;
}

int tf_work_set_command(tf_work *w, const tf_command *cmd, const tf_work_opts *opts)
{
    tf_app *app = w->app;
    if (w->fn)
        return tf_app_fail(app, TF_EINPUT, "work '%s' is a C work, not a command", w->name);
    if (!cmd || !cmd->argv || !cmd->argv[0] || !*cmd->argv[0])
        return tf_app_fail(app, TF_EINPUT, "work '%s': empty command", w->name);
    tf_work_opts defaults;
    tf_work_opts_init(&defaults);
    if (!opts)
        opts = &defaults;
    char **ignore = NULL;
    int rc = cache_opts(app, w->name, opts, &ignore);
    if (rc != TF_OK)
        return rc;
    char **argv = tf_strv_dup(cmd->argv);
    char **env = cmd->env ? tf_strv_dup(cmd->env) : NULL;
    char *cwd = dup_or_null(cmd->cwd);
    char *version = strdup(opts->version ? opts->version : "");
    char digest[65];
    if (!argv || (cmd->env && !env) || (cmd->cwd && !cwd) || !version ||
        tf_command_digest(cmd, digest) != TF_OK) {
        tf_strv_free(ignore);
        tf_strv_free(argv);
        tf_strv_free(env);
        free(cwd);
        free(version);
        return tf_app_fail(app, TF_ENOMEM, "out of memory");
    }
    tf_strv_free(w->argv);
    tf_strv_free(w->env);
    free(w->cwd);
    free(w->version);
    w->argv = argv;
    w->env = env;
    w->cwd = cwd;
    memcpy(w->command_sha256, digest, sizeof digest);
    w->version = version;
    w->opts = *opts;
    w->opts.version = version;
    tf_strv_free(w->ignore);
    w->ignore = ignore;
    w->opts.ignore = (const char *const *)ignore;
    tf_memo_clear(&app->memo); /* keys of the old version must not answer */
    w->preloaded = 0;
    w->misses = w->preload_after = 0;
    return TF_OK;
}

tf_work *tf_work_find(tf_app *app, const char *name)
{
    for (size_t i = 0; i < app->nworks; i++)
        if (!strcmp(app->works[i]->name, name))
            return app->works[i];
    return NULL;
}

int tf_flow_add(tf_app *app, const char *name, tf_flow_fn fn, void *user)
{
    if (!fn)
        return tf_app_fail(app, TF_EINPUT, "flow '%s': no function given", name ? name : "");
    tf_flow *p = realloc(app->flows, (app->nflows + 1) * sizeof *p);
    if (!p)
        return tf_app_fail(app, TF_ENOMEM, "out of memory");
    app->flows = p;
    char *copy = strdup(name ? name : "flow");
    if (!copy)
        return tf_app_fail(app, TF_ENOMEM, "out of memory");
    app->flows[app->nflows++] = (tf_flow){copy, fn, user};
    return TF_OK;
}

tf_app *tf_tick_app(tf_tick *tick)
{
    return tick->app;
}

uint64_t tf_tick_number(const tf_tick *tick)
{
    return tick->number;
}
