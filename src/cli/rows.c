/*
 * rows.c - listed calls as the inspection commands hold and print them:
 * owned copies of the rows a tf_calls_* callback lends (the library's
 * strings live only during the callback: calls, attempts, work totals), their JSON objects (built with
 * cJSON) and the aligned human table of ls, clear --dry-run and gc --dry-run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickflow.h"
#include "cli.h"

/* ---- owned copies ----------------------------------------------------------- */

/* A malloc'd copy of s (NULL stays NULL); sets *oom when the copy fails. */
static const char *copy_str(const char *s, int *oom)
{
    char *c = s ? strdup(s) : NULL;
    if (s && !c)
        *oom = 1;
    return c;
}

/*
 * The array v of n elements of size bytes (capacity *cap), with room for
 * one more: v itself, or v reallocated (first elements the first time).
 * NULL when out of memory: v is untouched and still the caller's.
 */
static void *grow(void *v, size_t n, size_t *cap, size_t size, size_t first)
{
    if (n < *cap)
        return v;
    size_t c = *cap ? *cap * 2 : first;
    void *p = realloc(v, c * size);
    if (p)
        *cap = c;
    return p;
}

static void free_str(const char *s)
{
    free((void *)(uintptr_t)s);
}

static void row_free(tf_call_row *r)
{
    free_str(r->work);
    free_str(r->version);
    free_str(r->args_sha256);
    free_str(r->args_json);
    free_str(r->status);
    free_str(r->result_json);
    free_str(r->error);
    free_str(r->created_at);
    free_str(r->started_at);
    free_str(r->finished_at);
    free_str(r->runner_host);
    free_str(r->log_path);
}

void tf_cli_rows_free(tf_cli_rows *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        row_free(&rs->v[i]);
    free(rs->v);
    memset(rs, 0, sizeof *rs);
}

int tf_cli_rows_add(const tf_call_row *r, void *user)
{
    tf_cli_rows *rs = user;
    rs->total++;
    if (rs->keep && rs->n >= rs->keep)
        return 0;
    tf_call_row *v = grow(rs->v, rs->n, &rs->cap, sizeof *v, 32);
    if (!v) {
        rs->oom = 1;
        return 1;
    }
    rs->v = v;
    int oom = 0;
    tf_call_row c = *r;
    c.work = copy_str(r->work, &oom);
    c.version = copy_str(r->version, &oom);
    c.args_sha256 = copy_str(r->args_sha256, &oom);
    c.args_json = copy_str(r->args_json, &oom);
    c.status = copy_str(r->status, &oom);
    c.result_json = copy_str(r->result_json, &oom);
    c.error = copy_str(r->error, &oom);
    c.created_at = copy_str(r->created_at, &oom);
    c.started_at = copy_str(r->started_at, &oom);
    c.finished_at = copy_str(r->finished_at, &oom);
    c.runner_host = copy_str(r->runner_host, &oom);
    c.log_path = copy_str(r->log_path, &oom);
    if (oom || !c.work || !c.args_sha256 || !c.status) {
        row_free(&c);
        rs->oom = 1;
        return 1;
    }
    rs->v[rs->n++] = c;
    return 0;
}

static void hist_row_free(tf_history_row *r)
{
    free_str(r->status);
    free_str(r->started_at);
    free_str(r->finished_at);
    free_str(r->runner_host);
    free_str(r->error);
    free_str(r->log_path);
    free_str(r->output);
    free_str(r->command_sha256);
}

void tf_cli_hist_free(tf_cli_hist *h)
{
    for (size_t i = 0; i < h->n; i++)
        hist_row_free(&h->v[i]);
    free(h->v);
    memset(h, 0, sizeof *h);
}

int tf_cli_hist_add(const tf_history_row *r, void *user)
{
    tf_cli_hist *h = user;
    tf_history_row *v = grow(h->v, h->n, &h->cap, sizeof *v, 8);
    if (!v) {
        h->oom = 1;
        return 1;
    }
    h->v = v;
    int oom = 0;
    tf_history_row c = *r;
    c.status = copy_str(r->status, &oom);
    c.started_at = copy_str(r->started_at, &oom);
    c.finished_at = copy_str(r->finished_at, &oom);
    c.runner_host = copy_str(r->runner_host, &oom);
    c.error = copy_str(r->error, &oom);
    c.log_path = copy_str(r->log_path, &oom);
    c.output = copy_str(r->output, &oom);
    c.command_sha256 = copy_str(r->command_sha256, &oom);
    if (oom) {
        hist_row_free(&c);
        h->oom = 1;
        return 1;
    }
    h->v[h->n++] = c;
    return 0;
}

/* ---- totals per work, owned ------------------------------------------------------ */

int tf_cli_totals_add(const tf_work_totals *t, void *user)
{
    tf_cli_totals *l = user;
    tf_work_totals *v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v) {
        l->oom = 1;
        return 1;
    }
    l->v = v;
    v[l->n] = *t;
    v[l->n].work = strdup(t->work);
    v[l->n].last_status = t->last_status ? strdup(t->last_status) : NULL;
    if (!v[l->n].work || (t->last_status && !v[l->n].last_status)) {
        free((void *)(uintptr_t)v[l->n].work);
        free((void *)(uintptr_t)v[l->n].last_status);
        l->oom = 1;
        return 1;
    }
    l->n++;
    return 0;
}

void tf_cli_totals_free(tf_cli_totals *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free((void *)(uintptr_t)l->v[i].work);
        free((void *)(uintptr_t)l->v[i].last_status);
    }
    free(l->v);
}

/* ---- JSON ------------------------------------------------------------------ */

/* Add a string member, or null. */
static void add_str(cJSON *o, const char *name, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

/* Add stored JSON text as a JSON value (exact text when it parses), or null. */
static void add_raw(cJSON *o, const char *name, const char *json)
{
    cJSON *tree = NULL;
    if (!json) {
        cJSON_AddNullToObject(o, name);
    } else if (tf_parse_text(json, strlen(json), &tree, NULL) == TF_OK) {
        cJSON_Delete(tree);
        cJSON_AddRawToObject(o, name, json);
    } else {
        cJSON_AddStringToObject(o, name, json); /* not JSON: keep it visible as text */
    }
}

double tf_cli_micro(double sec)
{
    return (double)(long long)(sec * 1e6 + 0.5) / 1e6;
}

void tf_cli_add_num_or_null(cJSON *o, const char *name, double v, int null)
{
    if (null)
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddNumberToObject(o, name, v);
}

cJSON *tf_cli_row_json(const tf_call_row *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "id", (double)r->id);
    add_str(o, "work", r->work);
    add_str(o, "version", r->version);
    add_str(o, "key", r->args_sha256);
    char ref[TF_REF_MAX];
    add_str(o, "ref", tf_cli_ref(r, ref));
    add_raw(o, "args", r->args_json);
    add_str(o, "status", r->status);
    cJSON_AddNumberToObject(o, "attempts", r->attempts);
    add_str(o, "created_at", r->created_at);
    add_str(o, "started_at", r->started_at);
    add_str(o, "finished_at", r->finished_at);
    tf_cli_add_num_or_null(o, "duration", tf_cli_micro(r->duration), r->duration < 0);
    add_raw(o, "result", r->result_json);
    add_str(o, "error", r->error);
    add_str(o, "runner_host", r->runner_host);
    tf_cli_add_num_or_null(o, "runner_pid", (double)r->runner_pid, r->runner_pid <= 0);
    add_str(o, "log_path", r->log_path);
    cJSON_AddBoolToObject(o, "stale", r->stale);
    if (r->result_at >= 0) {
        char at[32];
        tf_cli_iso(r->result_at, at);
        add_str(o, "result_at", at);
    } else {
        cJSON_AddNullToObject(o, "result_at");
    }
    return o;
}

cJSON *tf_cli_hist_json(const tf_history_row *h)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "attempt", h->attempt);
    add_str(o, "status", h->status);
    add_str(o, "started_at", h->started_at);
    add_str(o, "finished_at", h->finished_at);
    tf_cli_add_num_or_null(o, "duration", tf_cli_micro(h->duration), h->duration < 0);
    add_str(o, "runner_host", h->runner_host);
    tf_cli_add_num_or_null(o, "runner_pid", (double)h->runner_pid, h->runner_pid <= 0);
    tf_cli_add_num_or_null(o, "exec_pid", (double)h->exec_pid, h->exec_pid <= 0);
    tf_cli_add_num_or_null(o, "exit_code", h->exit_code, h->exit_code < 0);
    tf_cli_add_num_or_null(o, "signal", h->term_signal, h->term_signal <= 0);
    add_str(o, "error", h->error);
    add_str(o, "log_path", h->log_path);
    tf_cli_add_num_or_null(o, "output_bytes", (double)h->output_bytes, h->output_bytes < 0);
    cJSON_AddBoolToObject(o, "output_truncated", h->output_truncated);
    add_str(o, "command_sha256", h->command_sha256);
    return o;
}

cJSON *tf_cli_rows_json(const tf_cli_rows *rs)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < rs->n; i++) {
        cJSON *o = tf_cli_row_json(&rs->v[i]);
        if (!o) {
            cJSON_Delete(a);
            return NULL;
        }
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

cJSON *tf_cli_count_doc(int dry, int64_t count, int64_t counted, const tf_cli_rows *calls)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *a = calls ? tf_cli_rows_json(calls) : NULL;
    if (!o || (calls && !a)) {
        cJSON_Delete(a);
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddBoolToObject(o, "dry_run", dry);
    cJSON_AddNumberToObject(o, "count", (double)count);
    if (counted >= 0)
        cJSON_AddNumberToObject(o, "counted", (double)counted);
    if (a)
        cJSON_AddItemToObject(o, "calls", a);
    return o;
}

/* ---- the human table ---------------------------------------------------------- */

const char *tf_cli_or_dash(const char *s)
{
    return s && *s ? s : "-";
}

int tf_cli_wider(int w, const char *s)
{
    int n = (int)strlen(s);
    return n > w ? n : w;
}

void tf_cli_runner_text(const char *host, long pid, char out[300])
{
    int n = -1;
    if (host && pid > 0)
        n = snprintf(out, 300, "%s:%ld", host, pid);
    else if (pid > 0)
        n = snprintf(out, 300, "?:%ld", pid);
    if (n < 0)
        snprintf(out, 300, "-");
    else if ((size_t)n >= 300)
        memcpy(out + 296, "...", 4);
}

void tf_cli_exit_text(int exit_code, int term_signal, char out[32])
{
    if (term_signal > 0)
        snprintf(out, 32, "signal %d", term_signal);
    else if (exit_code >= 0)
        snprintf(out, 32, "%d", exit_code);
    else
        snprintf(out, 32, "-");
}

/* Copy s into out (TF_CLI_ARGS_WIDTH bytes at most, cut on a UTF-8 boundary, "..." when cut). */
static void clip(const char *s, char out[TF_CLI_ARGS_WIDTH + 4])
{
    size_t n = s ? strlen(s) : 0;
    if (n <= TF_CLI_ARGS_WIDTH) {
        memcpy(out, s ? s : "", n + 1);
        return;
    }
    size_t k = TF_CLI_ARGS_WIDTH - 3;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    memcpy(out, s, k);
    memcpy(out + k, "...", 4);
}

/* The status column: a row serving its last good result says so. */
static void status_text(const tf_call_row *r, char out[48])
{
    snprintf(out, 48, "%.20s%s", r->status, r->stale ? " (stale)" : "");
}

void tf_cli_print_table(const tf_cli_rows *rs)
{
    int kw = (int)strlen("KEY"), sw = (int)strlen("STATUS");
    for (size_t i = 0; i < rs->n; i++) {
        char st[48], ref[TF_REF_MAX];
        status_text(&rs->v[i], st);
        kw = tf_cli_wider(kw, tf_cli_ref(&rs->v[i], ref));
        sw = tf_cli_wider(sw, st);
    }
    printf("%-*s  %-*s  %8s  %-24s  %9s  %s\n", kw, "KEY", sw, "STATUS", "ATTEMPTS", "CREATED",
           "DURATION", "ARGS");
    for (size_t i = 0; i < rs->n; i++) {
        const tf_call_row *r = &rs->v[i];
        char dur[32], args[TF_CLI_ARGS_WIDTH + 4], st[48], ref[TF_REF_MAX];
        tf_cli_fmt_duration(r->duration, 1, dur);
        clip(r->args_json, args);
        status_text(r, st);
        printf("%-*s  %-*s  %8d  %-24s  %9s  %s\n", kw, tf_cli_ref(r, ref), sw, st, r->attempts,
               tf_cli_or_dash(r->created_at), dur, args);
    }
}
