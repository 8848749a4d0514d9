/*
 * run.c - `tickflow run`: load pipeline files, attach them to one app on
 * one database, and evaluate them: once until idle (--once), day by day
 * (--backfill), or as a daemon ticking until SIGINT/SIGTERM, re-reading
 * pipeline files that change. Prints one line (or one JSON object) per
 * decision as it happens, and a summary at the end of --once.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tickflow.h"
#include "cli.h"

static const char usage_text[] =
    "usage: tickflow run [--db PATH] [--once] [--tick SECONDS] [--now DATETIME]\n"
    "                    [--backfill FROM..TO] [--max-parallel N] [--lease SECONDS]\n"
    "                    [--dry-run] [--metrics-file PATH] [--no-progress] [--verbose]\n"
    "                    [--json] PIPELINE...\n"
    "\n"
    "Evaluate pipeline files: each work runs once per new argument set; a call\n"
    "that already succeeded is answered from the database.\n"
    "\n"
    "  --db PATH           database (default: $TICKFLOW_DB, else the first\n"
    "                      pipeline's \"db\", else ./tickflow.db)\n"
    "  --once              evaluate until nothing more can run now, then exit\n"
    "  --tick SECONDS      seconds between ticks (default: the pipeline's tick, else 60)\n"
    "  --now DATETIME      template clock: 2026-11-24T07:00[:SS[.fff]][Z|+HH:MM] or\n"
    "                      2026-11-24, local time unless a zone is given (any time,\n"
    "                      1970-01-01 included); results age (max_age) on it too\n"
    "  --backfill FROM..TO evaluate each local day FROM..TO (YYYY-MM-DD) in order;\n"
    "                      implies --once\n"
    "  --max-parallel N    at most N parallel executions at once (a call waits for a slot)\n"
    "  --lease SECONDS     how long a claim lives without renewal (default 30); it\n"
    "                      decides only for runners on other hosts or PID namespaces\n"
    "  --dry-run           decide only: nothing is claimed, executed or written (the\n"
    "                      database is opened read-only, never created or migrated)\n"
    "  --metrics-file PATH rewrite PATH (atomically, mode 0644) with Prometheus metrics\n"
    "                      after each --once run and each daemon tick (tickflow metrics)\n"
    "  --no-progress       no progress line (shown only when stderr is a terminal)\n"
    "  --verbose           also print cached calls and every wait with its reason\n"
    "  --json              one JSON object per decision (and for the summary)\n"
    "  --help              this text\n"
    "\n"
    "exit codes: 0 every call succeeded or was cached; 1 a call failed; 2 usage;\n"
    "  3 bad pipeline file; 4 database error; 5 I/O error; 130/143 SIGINT/SIGTERM\n";

static volatile sig_atomic_t got_signal; /* the signal that asked us to stop */
static tf_app *signal_app;               /* what the handler stops */

static void on_signal(int sig)
{
    got_signal = sig;
    if (signal_app)
        tf_app_stop(signal_app);
}

/* ---- final status per (work, key) --------------------------------------- */

/*
 * Decisions, as far as the summary cares: the last one per (work, key)
 * wins. D_NONE never ends up recorded; every decision the summary does not
 * name (started, running, waiting, queued, retry, ...) counts as waiting.
 */
enum { D_NONE, D_RAN, D_CACHED, D_FAILED, D_WOULD, D_STARTED, D_RETRY, D_WAITING, D_INTERRUPTED, D_FENCED,
       D_CHANGED, D_OTHER };

static int decision_of(const char *what)
{
    switch (what[0]) {
    case 'c': return !strcmp(what, "cached") ? D_CACHED : !strcmp(what, "command-changed") ? D_CHANGED : D_OTHER;
    case 'r': return !strcmp(what, "ran") ? D_RAN : !strcmp(what, "retry") ? D_RETRY : D_OTHER;
    case 'f': return !strcmp(what, "failed") ? D_FAILED : !strcmp(what, "fenced-out") ? D_FENCED : D_OTHER;
    case 'w': return !strcmp(what, "would-run") ? D_WOULD : !strcmp(what, "waiting") ? D_WAITING : D_OTHER;
    case 's': return !strcmp(what, "started") ? D_STARTED : D_OTHER;
    case 'i': return !strcmp(what, "interrupted") ? D_INTERRUPTED : D_OTHER;
    default: return D_OTHER;
    }
}

typedef struct tally_entry {
    uint32_t work;          /* index into run_state.works */
    uint32_t klen;          /* key length */
    size_t koff;            /* key bytes at keys.data + koff (NUL-terminated) */
    unsigned char final;    /* last decision (D_*) */
    unsigned char ran;      /* an execution of this call succeeded in this run */
    unsigned char gone;     /* a keyless wait later resolved by a keyed decision */
    uint64_t shown;         /* hash of the last failure printed for it (0 none): no repeats */
    double wait_since;      /* monotonic seconds its current wait on another runner began, 0 none */
} tally_entry;

/* One work name seen in events. */
typedef struct tally_work {
    char *name;             /* owned copy */
    char *version;          /* its version in the latest event that gave one (owned), or NULL */
    const char *seen;       /* the event pointer last matched to it (a fast path only) */
    uint32_t keyless;       /* index + 1 of its keyless entry, 0 none */
} tally_work;

typedef struct run_state {
    int verbose;            /* print every decision */
    int json;               /* JSON lines */
    uint64_t *slots;        /* open addressing: (hash high 32 bits << 32) | (entry index + 1); 0 empty */
    size_t cap;             /* power of two */
    tally_entry *entries;   /* in order of first sight */
    size_t used;            /* entries in use */
    size_t capentries;      /* entries allocated */
    char *keys;             /* all keys, NUL-terminated, back to back */
    size_t keyslen;         /* bytes used in keys */
    size_t keyscap;         /* bytes allocated for keys */
    tally_work *works;      /* work names seen */
    size_t nworks;          /* count */
    uint32_t last_work;     /* index of the work of the previous event */
    int width;              /* widest printed form of a call (or work name) seen */
    int oom;                /* tracking ran out of memory */
    tf_cli_mrun *metrics;   /* --metrics-file: what the run saw, or NULL */
    tf_cli_progress *progress; /* the terminal's progress line, or NULL */
    uint64_t ncalls;        /* keyed calls seen (tally entries with a key) */
    uint64_t ndone;         /* of those, settled (ran, cached, failed, would run) */
    uint64_t nwaiting;      /* of those, waiting for another runner */
} run_state;

/* FNV-1a over bytes, continuing from h. */
static uint64_t hash_bytes(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* Hash of (work index, key): eight bytes at a time, then a final mix. */
static uint64_t hash_key(uint32_t work, const char *key, size_t klen)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL * (work + 1) ^ klen;
    size_t i = 0;
    for (; i + 8 <= klen; i += 8) {
        uint64_t v;
        memcpy(&v, key + i, 8);
        h = (h ^ v) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
    }
    if (i < klen) {
        uint64_t v = 0;
        memcpy(&v, key + i, klen - i);
        h = (h ^ v) * 0xFF51AFD7ED558CCDULL;
    }
    h ^= h >> 29;
    h *= 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 32);
}

/* Index of work `name` in st->works, added if new; -1 when out of memory. */
static long tally_work_of(run_state *st, const char *name)
{
    if (st->nworks && st->works[st->last_work].seen == name && !strcmp(st->works[st->last_work].name, name))
        return st->last_work;
    for (size_t i = 0; i < st->nworks; i++) {
        if (!strcmp(st->works[i].name, name)) {
            st->works[i].seen = name;
            st->last_work = (uint32_t)i;
            return (long)i;
        }
    }
    tally_work *p = realloc(st->works, (st->nworks + 1) * sizeof *p);
    if (!p)
        return -1;
    st->works = p;
    char *copy = strdup(name);
    if (!copy)
        return -1;
    st->works[st->nworks] = (tally_work){copy, NULL, name, 0};
    st->last_work = (uint32_t)st->nworks;
    return (long)st->nworks++;
}

static int tally_grow(run_state *st)
{
    size_t cap = st->cap ? st->cap * 2 : 1024;
    uint64_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < st->used; i++) {
        const tally_entry *e = &st->entries[i];
        uint64_t h = hash_key(e->work, st->keys + e->koff, e->klen);
        size_t j = h & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = (h >> 32 << 32) | (uint64_t)(i + 1);
    }
    free(st->slots);
    st->slots = slots;
    st->cap = cap;
    return 0;
}

/* The entry of (work, key), created if absent; NULL when out of memory. */
static tally_entry *tally_get(run_state *st, uint32_t work, const char *key, size_t klen)
{
    if ((st->used + 1) * 2 > st->cap && tally_grow(st) != 0)
        return NULL;
    uint64_t h = hash_key(work, key, klen);
    uint64_t tag = h >> 32 << 32;
    size_t j = h & (st->cap - 1);
    for (uint64_t s; (s = st->slots[j]); j = (j + 1) & (st->cap - 1)) {
        if ((s & 0xFFFFFFFF00000000ULL) != tag)
            continue;
        tally_entry *e = &st->entries[(s & 0xFFFFFFFFULL) - 1];
        if (e->work == work && e->klen == klen && !memcmp(st->keys + e->koff, key, klen))
            return e;
    }
    if (st->used == st->capentries) {
        size_t c = st->capentries ? st->capentries * 2 : 1024;
        tally_entry *p = realloc(st->entries, c * sizeof *p);
        if (!p)
            return NULL;
        st->entries = p;
        st->capentries = c;
    }
    if (st->keyscap - st->keyslen < klen + 1) {
        size_t c = st->keyscap ? st->keyscap * 2 : 65536;
        while (c - st->keyslen < klen + 1)
            c *= 2;
        char *p = realloc(st->keys, c);
        if (!p)
            return NULL;
        st->keys = p;
        st->keyscap = c;
    }
    memcpy(st->keys + st->keyslen, key, klen);
    st->keys[st->keyslen + klen] = '\0';
    tally_entry *e = &st->entries[st->used];
    *e = (tally_entry){.work = work, .klen = (uint32_t)klen, .koff = st->keyslen};
    st->keyslen += klen + 1;
    st->slots[j] = tag | (uint64_t)(st->used + 1);
    st->used++;
    return e;
}

/* Record ev's decision d; returns its entry (NULL when out of memory). */
static tally_entry *tally_record(run_state *st, const tf_event *ev, int d)
{
    const char *key = ev->key ? ev->key : "";
    long wi = tally_work_of(st, ev->work);
    tally_entry *e = wi < 0 ? NULL : tally_get(st, (uint32_t)wi, key, strlen(key));
    if (!e) {
        st->oom = 1;
        return NULL;
    }
    tally_work *w = &st->works[wi];
    if (ev->version && (!w->version || strcmp(w->version, ev->version))) {
        /* for print_stopped's forms; changes only when a reload changed the version */
        char *v = strdup(ev->version);
        if (v) {
            free(w->version);
            w->version = v;
        }
    }
    if (*key) { /* the progress counts: calls seen, settled, waiting */
        int was = e->final, settled = d == D_RAN || d == D_CACHED || d == D_FAILED || d == D_WOULD;
        int was_settled = was == D_RAN || was == D_CACHED || was == D_FAILED || was == D_WOULD;
        st->ncalls += was == D_NONE;
        st->ndone += (uint64_t)settled - (uint64_t)was_settled;
        st->nwaiting += (uint64_t)(d == D_WAITING) - (uint64_t)(was == D_WAITING);
    }
    e->final = (unsigned char)d;
    e->gone = 0;
    if (d == D_RAN)
        e->ran = 1;
    else if (d == D_FENCED)
        e->ran = 0; /* its "ran" did not count: the database kept another runner's outcome */
    if (!*key) {
        w->keyless = (uint32_t)(e - st->entries) + 1;
    } else if (w->keyless) { /* the work got past its waits: forget its keyless wait */
        tally_entry *k = &st->entries[w->keyless - 1];
        if (k->final != D_FAILED)
            k->gone = 1;
    }
    return e;
}

typedef struct summary {
    unsigned long ran, cached, failed, would, waiting, interrupted, fenced; /* final states */
} summary;

static summary tally_sum(const run_state *st)
{
    summary s = {0, 0, 0, 0, 0, 0, 0};
    for (size_t i = 0; i < st->used; i++) {
        const tally_entry *e = &st->entries[i];
        if (e->gone || e->final == D_NONE)
            continue;
        if (e->final == D_FAILED || e->final == D_RETRY) /* a retry left to a later run */
            s.failed++;
        else if (e->final == D_FENCED)
            s.fenced++;
        else if (e->final == D_RAN || (e->ran && e->final == D_CACHED))
            s.ran++;
        else if (e->final == D_CACHED)
            s.cached++;
        else if (e->final == D_WOULD)
            s.would++;
        else if (e->final == D_INTERRUPTED)
            s.interrupted++;
        else
            s.waiting++;
    }
    return s;
}

static void tally_free(run_state *st)
{
    for (size_t i = 0; i < st->nworks; i++) {
        free(st->works[i].name);
        free(st->works[i].version);
    }
    free(st->works);
    free(st->slots);
    free(st->entries);
    free(st->keys);
    st->works = NULL;
    st->slots = NULL;
    st->entries = NULL;
    st->keys = NULL;
    st->nworks = st->cap = st->used = st->capentries = st->keyslen = st->keyscap = 0;
}

/* ---- printing decisions ------------------------------------------------------ */

/* Canonical text of v, cut to 60 bytes; caller frees. */
static char *value_text(const cJSON *v)
{
    char *out = NULL;
    size_t len = 0;
    if (!v)
        return strdup("(none)");
    if (tf_canon_tree(v, &out, &len, NULL) != TF_OK)
        return strdup("?");
    if (len > 60)
        memcpy(out + 57, "...", 4);
    return out;
}

/*
 * The top-level argument fields that differ between prev and cur (JSON
 * texts): appended to line as `f: old -> new, ...`, and to changed (may be
 * NULL) as {"f": {"from": old, "to": new}}.
 */
static void diff_args(const char *prev, const char *cur, char *line, size_t linelen, cJSON *changed)
{
    cJSON *a = NULL, *b = NULL;
    if (!prev || !cur || tf_parse_text(prev, strlen(prev), &a, NULL) != TF_OK ||
        tf_parse_text(cur, strlen(cur), &b, NULL) != TF_OK || !cJSON_IsObject(a) || !cJSON_IsObject(b)) {
        cJSON_Delete(a);
        cJSON_Delete(b);
        return;
    }
    size_t used = strlen(line);
    int first = 1;
    for (int pass = 0; pass < 2; pass++) {
        const cJSON *x;
        const cJSON *src = pass ? a : b;
        cJSON_ArrayForEach(x, src) {
            const cJSON *old = pass ? x : cJSON_GetObjectItemCaseSensitive(a, x->string);
            const cJSON *new = pass ? cJSON_GetObjectItemCaseSensitive(b, x->string) : x;
            if (pass && new)
                continue; /* seen in the first pass */
            char *ot = value_text(old), *nt = value_text(new);
            if (ot && nt && strcmp(ot, nt)) {
                int n = snprintf(line + used, linelen - used, "%s%s: %s -> %s", first ? "  " : ", ",
                                 x->string, ot, nt);
                if (n > 0 && (size_t)n < linelen - used) {
                    used += (size_t)n;
                    first = 0;
                }
                else
                    line[used] = '\0'; /* no room: the line keeps the fields that fit */
                if (changed) {
                    cJSON *f = cJSON_AddObjectToObject(changed, x->string);
                    if (f) {
                        cJSON_AddItemToObject(f, "from", old ? cJSON_Duplicate(old, 1) : cJSON_CreateNull());
                        cJSON_AddItemToObject(f, "to", new ? cJSON_Duplicate(new, 1) : cJSON_CreateNull());
                    }
                }
            }
            free(ot);
            free(nt);
        }
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static int wants_line(const run_state *st, const tf_event *ev, int d)
{
    if (st->verbose)
        return 1;
    if (d == D_RAN || d == D_STARTED || d == D_FAILED || d == D_RETRY || d == D_WOULD || d == D_INTERRUPTED ||
        d == D_FENCED || d == D_CHANGED)
        return 1;
    /* Waits on another runner (a key) matter; waits on a dependency or the clock repeat each tick. */
    return d == D_WAITING && ev->key && *ev->key;
}

/*
 * The call of ev as show, logs, clear --key and retry --key take it back
 * (tf_call_ref: work[@version]/key), or its work when it has no key.
 */
static const char *event_ref(const tf_event *ev, char out[TF_REF_MAX])
{
    if (ev->key && *ev->key)
        tf_call_ref(ev->work, ev->version, ev->key, out, TF_REF_MAX);
    else
        snprintf(out, TF_REF_MAX, "%.300s", ev->work);
    return out;
}

/* The same for the call of tally entry e. */
static const char *entry_ref(const run_state *st, const tally_entry *e, char out[TF_REF_MAX])
{
    const tally_work *w = &st->works[e->work];
    tf_call_ref(w->name, w->version, st->keys + e->koff, out, TF_REF_MAX);
    return out;
}

static void print_json(const tf_event *ev, const char *stamp)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    cJSON_AddStringToObject(o, "time", stamp);
    cJSON_AddStringToObject(o, "work", ev->work);
    if (ev->key && *ev->key) {
        char ref[TF_REF_MAX];
        cJSON_AddStringToObject(o, "key", ev->key);
        cJSON_AddStringToObject(o, "ref", event_ref(ev, ref));
    } else {
        cJSON_AddNullToObject(o, "key");
    }
    cJSON_AddStringToObject(o, "decision", ev->what);
    if (!strcmp(ev->what, "ran") || !strcmp(ev->what, "failed") || !strcmp(ev->what, "waited") ||
        !strcmp(ev->what, "interrupted"))
        cJSON_AddNumberToObject(o, "duration", ev->duration);
    if (ev->error)
        cJSON_AddStringToObject(o, "error", ev->error);
    if (ev->prev_args_json && ev->args_json) {
        cJSON *changed = cJSON_AddObjectToObject(o, "changed");
        char scratch[1024] = "";
        if (changed)
            diff_args(ev->prev_args_json, ev->args_json, scratch, sizeof scratch, changed);
    }
    if (ev->log_path && strcmp(ev->what, "cached"))
        cJSON_AddStringToObject(o, "log", ev->log_path);
    if (ev->stale)
        cJSON_AddTrueToObject(o, "stale");
    char *text = cJSON_PrintUnformatted(o);
    if (text) {
        puts(text);
        free(text);
    }
    cJSON_Delete(o);
}

/* Monotonic seconds, for how long a wait lasted (immune to clock changes). */
static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_event(run_state *st, const tf_event *ev, int d, tally_entry *e);

/*
 * Waits on another runner (a keyed "waiting") are said once when they
 * begin and once when they end, with how long (*waited >= 0: a "waited"
 * line is due before ev's own); the looks in between (about five a second
 * under --once) only with --verbose. Returns 1 when ev's own line is to be
 * left out.
 */
static int wait_lines(run_state *st, const tf_event *ev, int d, tally_entry *e, double *waited)
{
    *waited = -1;
    if (!e || !ev->key || !*ev->key)
        return 0;
    if (d == D_WAITING) {
        if (e->wait_since > 0)
            return !st->verbose; /* a repeat look */
        e->wait_since = mono_now();
        return 0;
    }
    if (e->wait_since > 0) {
        *waited = mono_now() - e->wait_since;
        e->wait_since = 0;
    }
    return 0;
}

static void on_event(const tf_event *ev, void *user)
{
    run_state *st = user;
    if (!strcmp(ev->what, "hook-failed")) { /* a report, not a decision: never tallied */
        tf_cli_progress_hold(st->progress);
        char ref[TF_REF_MAX];
        tf_cli_err("%s: %s", event_ref(ev, ref), ev->error ? ev->error : "");
        tf_cli_progress_release(st->progress);
        return;
    }
    tf_cli_mrun_event(st->metrics, ev);
    int d = decision_of(ev->what);
    tally_entry *e = tally_record(st, ev, d);
    tf_cli_progress_count(st->progress, ev, st->ncalls, st->ndone, st->nwaiting);
    double waited;
    int own = !wait_lines(st, ev, d, e, &waited) && wants_line(st, ev, d);
    if (!own && waited < 0)
        return;
    tf_cli_progress_hold(st->progress);
    if (waited >= 0) {
        tf_event end = *ev;
        end.what = "waited";
        end.duration = waited;
        end.error = NULL;
        end.prev_args_json = end.args_json = NULL;
        end.stale = 0;
        print_event(st, &end, D_OTHER, NULL);
    }
    if (own)
        print_event(st, ev, d, e);
    tf_cli_progress_release(st->progress);
}

/* The line (or JSON object) of one decision d of ev (its tally entry e, or NULL). */
static void print_event(run_state *st, const tf_event *ev, int d, tally_entry *e)
{
    if (d == D_FAILED && e && !st->verbose) {
        /* A failure stays failed: say it once, not at every tick. */
        const char *why = ev->error ? ev->error : "";
        uint64_t h = hash_bytes(1469598103934665603ULL, why, strlen(why)) | 1;
        if (e->shown == h)
            return;
        e->shown = h;
    }
    time_t now = time(NULL);
    struct tm tm;
    char stamp[40] = "";
    if (localtime_r(&now, &tm))
        strftime(stamp, sizeof stamp, st->json ? "%Y-%m-%dT%H:%M:%S%z" : "%H:%M:%S", &tm);
    if (st->json) {
        print_json(ev, stamp);
        return;
    }
    char ref[TF_REF_MAX];
    int w = (int)strlen(event_ref(ev, ref));
    if (w > st->width && w <= 60)
        st->width = w;
    char what[1400];
    const char *dw = ev->what;
    const char *err = ev->error ? ev->error : "";
    if (!strcmp(dw, "ran"))
        snprintf(what, sizeof what, "ran %.2fs", ev->duration);
    else if (!strcmp(dw, "failed") && ev->key && *ev->key && !ev->attempt)
        snprintf(what, sizeof what, "failed earlier: %.1200s", err); /* the stored outcome */
    else if (!strcmp(dw, "failed") && ev->key && *ev->key)
        snprintf(what, sizeof what, "failed %.2fs: %.1200s", ev->duration, err);
    else if (!strcmp(dw, "failed"))
        snprintf(what, sizeof what, "failed: %.1200s", err);
    else if (!strcmp(dw, "fenced-out"))
        snprintf(what, sizeof what, "fenced out (%.1200s)", err);
    else if (!strcmp(dw, "interrupted"))
        snprintf(what, sizeof what, "interrupted %.2fs (%.1200s)", ev->duration,
                 strncmp(err, "interrupted: ", 13) ? err : err + 13);
    else if (!strcmp(dw, "retry"))
        snprintf(what, sizeof what, "retry: %.1200s", err);
    else if (!strcmp(dw, "waiting"))
        snprintf(what, sizeof what, "waiting (%.1200s)", err);
    else if (!strcmp(dw, "waited"))
        snprintf(what, sizeof what, "waited %.1fs", ev->duration);
    else if (!strcmp(dw, "would-run"))
        snprintf(what, sizeof what, "would run");
    else if (!strcmp(dw, "command-changed"))
        snprintf(what, sizeof what, "%.1200s", err);
    else if (!strcmp(dw, "queued"))
        snprintf(what, sizeof what, "queued (--max-parallel)");
    else if (!strcmp(dw, "started")) {
        snprintf(what, sizeof what, "started");
        diff_args(ev->prev_args_json, ev->args_json, what, sizeof what, NULL);
    } else
        snprintf(what, sizeof what, "%.100s", dw);
    printf("%s %-*s %s%s\n", stamp, st->width, ref, what,
           !ev->stale ? "" : !strcmp(dw, "started") ? " (a refresh: its last good result stays available)"
                                                     : " - stale: the last good result is served");
}

/*
 * A run stopped by a signal says so: why, and which executions it
 * interrupted (each recorded interrupted, so it runs again on the next
 * start). Up to 10 are named; the rest are counted.
 */
static void print_stopped(const run_state *st, const char *why)
{
    size_t n = 0;
    for (size_t i = 0; i < st->used; i++)
        n += st->entries[i].final == D_INTERRUPTED;
    if (st->json) {
        cJSON *o = cJSON_CreateObject(), *list = o ? cJSON_AddArrayToObject(o, "interrupted") : NULL;
        cJSON_AddStringToObject(o, "stopped", why);
        for (size_t i = 0; list && i < st->used; i++) {
            const tally_entry *e = &st->entries[i];
            if (e->final != D_INTERRUPTED)
                continue;
            cJSON *x = cJSON_CreateObject();
            char ref[TF_REF_MAX];
            cJSON_AddStringToObject(x, "work", st->works[e->work].name);
            cJSON_AddStringToObject(x, "key", st->keys + e->koff);
            cJSON_AddStringToObject(x, "ref", entry_ref(st, e, ref));
            cJSON_AddItemToArray(list, x);
        }
        char *text = o ? cJSON_PrintUnformatted(o) : NULL;
        if (text)
            puts(text);
        free(text);
        cJSON_Delete(o);
        return;
    }
    if (!n) {
        printf("stopped by %s: nothing was running\n", why);
        return;
    }
    printf("stopped by %s: %zu execution%s interrupted (recorded interrupted; %s again on the next start):",
           why, n, n == 1 ? "" : "s", n == 1 ? "it runs" : "they run");
    size_t shown = 0;
    for (size_t i = 0; i < st->used && shown < 10; i++) {
        const tally_entry *e = &st->entries[i];
        if (e->final != D_INTERRUPTED)
            continue;
        char ref[TF_REF_MAX];
        printf("%s %s", shown ? "," : "", entry_ref(st, e, ref));
        shown++;
    }
    if (n > shown)
        printf(", and %zu more", n - shown);
    printf("\n");
}

/* ---- options ------------------------------------------------------------------ */

static int parse_positive(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || v > 1e9)
        return -1;
    *out = v;
    return 0;
}

__attribute__((format(printf, 1, 2)))
static int misuse(const char *fmt, ...)
{
    va_list ap;
    fputs("tickflow run: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    fputs(usage_text, stderr);
    return TF_EXIT_USAGE;
}

/* Daemon ticks with --metrics-file: a flow before the pipelines' and one after. */
static void metrics_begin_flow(tf_tick *tick, void *user)
{
    (void)tick;
    tf_cli_mrun_begin(user);
}

static void metrics_end_flow(tf_tick *tick, void *user)
{
    (void)tf_app_flush(tf_tick_app(tick)); /* the tick's ends reach the counts first; a failure is the loop's */
    tf_cli_mrun_end(user, tf_tick_app(tick));
}

/* Keeps the pipelines to reload in a daemon. */
typedef struct reload_ctx {
    tf_pipeline **pipes;    /* the loaded pipelines */
    size_t n;               /* count */
    int json;               /* print as JSON */
} reload_ctx;

/* A flow registered before the pipelines: re-read changed files at tick start. */
static void reload_flow(tf_tick *tick, void *user)
{
    (void)tick;
    reload_ctx *rc = user;
    for (size_t i = 0; i < rc->n; i++) {
        int reloaded = 0;
        tf_error err;
        int r = tf_pipeline_reload(rc->pipes[i], &reloaded, &err);
        if (r != TF_OK) {
            tf_cli_err("pipeline not reloaded, keeping the running definition: %s", err.msg);
        } else if (reloaded) {
            if (rc->json)
                printf("{\"reloaded\":\"%s\"}\n", tf_pipeline_name(rc->pipes[i]));
            else
                printf("reloaded pipeline '%s'\n", tf_pipeline_name(rc->pipes[i]));
        }
    }
}

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"once", no_argument, NULL, 'o'},
        {"tick", required_argument, NULL, 't'},
        {"now", required_argument, NULL, 'n'},
        {"backfill", required_argument, NULL, 'b'},
        {"max-parallel", required_argument, NULL, 'p'},
        {"lease", required_argument, NULL, 'l'},
        {"dry-run", no_argument, NULL, 'r'},
        {"metrics-file", required_argument, NULL, 'm'},
        {"no-progress", no_argument, NULL, 'P'},
        {"verbose", no_argument, NULL, 'v'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db_opt = NULL, *backfill = NULL, *metrics_path = NULL;
    int once = 0, dry_run = 0, has_now = 0, has_time = 0, no_progress = 0;
    double tick = 0, now = 0, lease = 0;
    unsigned max_parallel = 0;
    run_state st;
    memset(&st, 0, sizeof st);
    st.width = 23; /* a work of 10 characters, '/', 12 hex digits */
    tzset();
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db_opt = optarg; break;
        case 'o': once = 1; break;
        case 't':
            if (parse_positive(optarg, &tick) != 0)
                return misuse("--tick wants a number of seconds > 0, not '%s'", optarg);
            break;
        case 'n':
            if (tf_cli_parse_time(optarg, &now, &has_time) != 0)
                return misuse("--now wants %s, not '%s'", TF_CLI_TIME_GRAMMAR, optarg);
            has_now = 1;
            break;
        case 'b': backfill = optarg; break;
        case 'p': {
            char *end;
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            if (errno || end == optarg || *end || v == 0 || v > 100000 || optarg[0] == '-')
                return misuse("--max-parallel wants a whole number > 0, not '%s'", optarg);
            max_parallel = (unsigned)v;
            break;
        }
        case 'l':
            if (parse_positive(optarg, &lease) != 0 || lease < 1 || lease > 86400 * 7)
                return misuse("--lease wants a number of seconds from 1 to 604800, not '%s'", optarg);
            break;
        case 'r': dry_run = 1; break;
        case 'm': metrics_path = optarg; break;
        case 'P': no_progress = 1; break;
        case 'v': st.verbose = 1; break;
        case 'j': st.json = 1; break;
        case 'h': fputs(usage_text, stdout); return TF_EXIT_OK;
        default: fputs(usage_text, stderr); return TF_EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return misuse("%s", "no pipeline file given");

    /* --backfill FROM..TO: the days, at --now's time of day or midnight. */
    double day_from = 0, day_to = 0;
    if (backfill) {
        const char *dots = strstr(backfill, "..");
        char from[32], to[32];
        int ht = 0;
        if (!dots || (size_t)(dots - backfill) >= sizeof from || strlen(dots + 2) >= sizeof to)
            return misuse("--backfill wants FROM..TO (YYYY-MM-DD..YYYY-MM-DD), not '%s'", backfill);
        memcpy(from, backfill, (size_t)(dots - backfill));
        from[dots - backfill] = '\0';
        snprintf(to, sizeof to, "%s", dots + 2); /* length checked above */
        if (tf_cli_parse_time(from, &day_from, &ht) != 0 || ht)
            return misuse("--backfill: bad first day in '%s' (days are YYYY-MM-DD, local)", backfill);
        if (tf_cli_parse_time(to, &day_to, &ht) != 0 || ht)
            return misuse("--backfill: bad last day in '%s' (days are YYYY-MM-DD, local)", backfill);
        if (day_to < day_from)
            return misuse("--backfill: the last day comes before the first in '%s'", backfill);
        once = 1;
    }
    if (!st.json)
        setvbuf(stdout, NULL, _IOLBF, 0);

    size_t npipes = (size_t)(argc - optind);
    tf_pipeline **pipes = calloc(npipes, sizeof *pipes);
    if (!pipes) {
        tf_cli_err("out of memory");
        return TF_EXIT_IO;
    }
    int code = TF_EXIT_OK;
    tf_app *app = NULL;
    for (size_t i = 0; i < npipes && code == TF_EXIT_OK; i++) {
        tf_error err;
        int rc = tf_pipeline_load(argv[optind + (int)i], &pipes[i], &err);
        if (rc != TF_OK) {
            tf_cli_err("%s", err.msg);
            code = rc == TF_EINPUT ? TF_EXIT_INPUT : tf_cli_exit_for(rc);
        }
    }
    reload_ctx rctx = {pipes, npipes, st.json};
    if (code == TF_EXIT_OK) {
        const char *db = tf_cli_db_path(db_opt, tf_pipeline_db(pipes[0]));
        /* a dry run writes nothing: not even a new database or its -wal/-shm */
        int rc = dry_run ? tf_app_open_readonly(db, &app) : tf_app_open(db, &app);
        if (rc != TF_OK) {
            tf_cli_err("%s", tf_errmsg(app));
            code = tf_cli_exit_for(rc);
        }
    }
    if (code == TF_EXIT_OK && !once && tf_flow_add(app, "reload", reload_flow, &rctx) != TF_OK) {
        tf_cli_err("%s", tf_errmsg(app));
        code = TF_EXIT_IO;
    }
    /* --metrics-file (not with --dry-run, which writes nothing) */
    if (code == TF_EXIT_OK && metrics_path && !dry_run &&
        tf_cli_mrun_new(metrics_path, pipes, npipes, &st.metrics) != 0)
        code = TF_EXIT_USAGE;
    if (code == TF_EXIT_OK && st.metrics && !once &&
        tf_flow_add(app, "metrics-begin", metrics_begin_flow, st.metrics) != TF_OK) {
        tf_cli_err("%s", tf_errmsg(app));
        code = TF_EXIT_IO;
    }
    for (size_t i = 0; i < npipes && code == TF_EXIT_OK; i++) {
        int rc = tf_pipeline_attach(pipes[i], app);
        if (rc != TF_OK) {
            tf_cli_err("%s", tf_errmsg(app));
            code = rc == TF_EINPUT ? TF_EXIT_INPUT : tf_cli_exit_for(rc);
        }
        if (has_now)
            tf_pipeline_set_now(pipes[i], now);
    }
    if (code == TF_EXIT_OK && has_now)
        tf_app_set_cache_now(app, now); /* results age on the same clock as the templates */
    if (code == TF_EXIT_OK && st.metrics && !once &&
        tf_flow_add(app, "metrics-end", metrics_end_flow, st.metrics) != TF_OK) {
        tf_cli_err("%s", tf_errmsg(app));
        code = TF_EXIT_IO;
    }
    if (code == TF_EXIT_OK) {
        tf_app_set_dry_run(app, dry_run);
        tf_app_on_event(app, on_event, &st);
        if (!no_progress)
            st.progress = tf_cli_progress_start();
        signal_app = app;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);

        tf_loop_opts lo;
        tf_loop_opts_init(&lo);
        lo.max_parallel = max_parallel;
        lo.lease = lease;
        int rc = TF_OK;
        if (once) {
            lo.until_idle = 1;
            lo.interval = 0.2; /* how often to look again while another runner works */
        } else {
            lo.interval = tick > 0 ? tick : tf_pipeline_tick(pipes[0]) > 0 ? tf_pipeline_tick(pipes[0]) : 60;
        }
        if (backfill) {
            double tod = 0;
            if (has_now && has_time) {
                time_t t = (time_t)now;
                struct tm tm;
                if (localtime_r(&t, &tm))
                    tod = tm.tm_hour * 3600.0 + tm.tm_min * 60.0 + tm.tm_sec;
            }
            time_t day = (time_t)day_from;
            struct tm dtm;
            localtime_r(&day, &dtm);
            while (rc == TF_OK) {
                struct tm at = dtm;
                at.tm_hour = (int)(tod / 3600);
                at.tm_min = (int)(tod / 60) % 60;
                at.tm_sec = (int)tod % 60;
                at.tm_isdst = -1;
                time_t when = mktime(&at);
                struct tm mid = dtm;
                mid.tm_hour = mid.tm_min = mid.tm_sec = 0;
                mid.tm_isdst = -1;
                if ((double)mktime(&mid) > day_to)
                    break;
                char label[16];
                strftime(label, sizeof label, "%Y-%m-%d", &at);
                if (st.json)
                    printf("{\"backfill\":\"%s\"}\n", label);
                else
                    printf("-- %s\n", label);
                for (size_t i = 0; i < npipes; i++)
                    tf_pipeline_set_now(pipes[i], (double)when);
                tf_app_set_cache_now(app, (double)when);
                tf_cli_mrun_begin(st.metrics);
                rc = tf_loop_run(app, &lo, NULL);
                if (rc == TF_OK)
                    tf_cli_mrun_end(st.metrics, app);
                dtm.tm_mday++;
                dtm.tm_hour = 12; /* normalise through DST changes */
                dtm.tm_isdst = -1;
                time_t next = mktime(&dtm);
                localtime_r(&next, &dtm);
            }
        } else {
            if (once)
                tf_cli_mrun_begin(st.metrics);
            rc = tf_loop_run(app, &lo, NULL);
            if (once && rc == TF_OK)
                tf_cli_mrun_end(st.metrics, app);
        }
        if (rc == TF_ESTOPPED || got_signal) {
            code = got_signal == SIGINT ? 130 : 143;
        } else if (rc != TF_OK) {
            tf_cli_err("%s", tf_errmsg(app));
            code = tf_cli_exit_for(rc);
        }
        tf_cli_progress_stop(st.progress); /* the line is erased before the summary */
        st.progress = NULL;
        if (code == 130 || code == 143)
            print_stopped(&st, got_signal == SIGINT ? "SIGINT" : got_signal ? "SIGTERM" : "a stop request");
        if (once && code == TF_EXIT_OK) {
            summary s = tally_sum(&st);
            char fenced[48] = "";
            if (s.fenced) /* a count that fits: no truncation */
                snprintf(fenced, sizeof fenced, ", %lu fenced out", s.fenced);
            if (st.json)
                printf("{\"summary\":{\"ran\":%lu,\"cached\":%lu,\"failed\":%lu,\"waiting\":%lu,"
                       "\"would_run\":%lu%s%.0lu}}\n", s.ran, s.cached, s.failed, s.waiting, s.would,
                       s.fenced ? ",\"fenced_out\":" : "", s.fenced);
            else if (dry_run)
                printf("%lu would run, %lu cached, %lu failed, %lu waiting\n", s.would, s.cached,
                       s.failed, s.waiting);
            else if (s.waiting)
                printf("%lu ran, %lu cached, %lu failed, %lu waiting%s\n", s.ran, s.cached, s.failed,
                       s.waiting, fenced);
            else
                printf("%lu ran, %lu cached, %lu failed%s\n", s.ran, s.cached, s.failed, fenced);
            if (s.failed || st.oom)
                code = TF_EXIT_FAILED;
        }
        signal_app = NULL;
    }
    tf_app_close(app);
    for (size_t i = 0; i < npipes; i++)
        tf_pipeline_free(pipes[i]);
    free(pipes);
    tally_free(&st);
    tf_cli_mrun_free(st.metrics);
    return code;
}
