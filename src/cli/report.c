/*
 * report.c - tickflow report: one self-contained HTML page of what ran
 * (inline CSS and SVG, no script, nothing fetched): a summary per work
 * (executions by outcome, cache hits, last success, last duration), a
 * timeline per day (one row per work, one bar per execution, coloured by
 * outcome, its width the duration, a <title> tooltip with arguments and
 * error) and a table of failures. Days are local days (TZ), newest first.
 *
 * Data comes through the public inspection API only (tf_calls_executions,
 * tf_calls_totals, tf_calls_stats), so the report reads either engine.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tickflow.h"
#include "cli.h"

/* Most days a report covers. */
#define REPORT_DAYS_MAX 366
/* The failures table shows the output of at most this many (the newest). */
#define REPORT_OUTPUTS_MAX 100
/* ... the last bytes of it, from the start of a line where possible. */
#define REPORT_OUTPUT_TAIL 400
/* Timeline geometry (SVG user units = CSS pixels). */
#define TL_LABEL 150        /* the work names' column */
#define TL_WIDTH 960        /* the 24 hours */
#define TL_ROW 24           /* one work */
#define TL_TOP 26           /* the hour axis */
#define TL_BAR 14           /* bar height */

/* One execution, copied. */
typedef struct xrow {
    char *work;             /* work name */
    char *key;              /* full key */
    char *args;             /* canonical arguments */
    char *status;           /* attempt status */
    char *error;            /* error or NULL */
    char *output;           /* failures: the end of the stored output, or NULL */
    int attempt;            /* attempt number */
    int exit_code;          /* -1 none */
    int term_signal;        /* 0 none */
    double start;           /* epoch seconds */
    double end;             /* epoch seconds, or -1 while running */
    double duration;        /* seconds, or -1 */
} xrow;

typedef struct xlist {
    xrow *v;                /* executions, oldest first */
    size_t n;               /* count */
    size_t cap;             /* allocated */
    int oom;                /* a copy failed */
} xlist;

static char *dup_or_null(const char *s, int *oom)
{
    char *c = s ? strdup(s) : NULL;
    if (s && !c)
        *oom = 1;
    return c;
}

static int xadd(const tf_execution_row *r, void *user)
{
    xlist *l = user;
    double start;
    if (!r->h.started_at || tf_cli_parse_time(r->h.started_at, &start, NULL) != 0)
        return 0; /* not a time we wrote: leave it out */
    if (l->n == l->cap) {
        size_t c = l->cap ? l->cap * 2 : 256;
        xrow *v = realloc(l->v, c * sizeof *v);
        if (!v) {
            l->oom = 1;
            return 1;
        }
        l->v = v;
        l->cap = c;
    }
    int oom = 0;
    xrow x = {
        .work = dup_or_null(r->work ? r->work : "", &oom),
        .key = dup_or_null(r->args_sha256 ? r->args_sha256 : "", &oom),
        .args = dup_or_null(r->args_json ? r->args_json : "", &oom),
        .status = dup_or_null(r->h.status ? r->h.status : "", &oom),
        .error = dup_or_null(r->h.error, &oom),
        .attempt = r->h.attempt, .exit_code = r->h.exit_code, .term_signal = r->h.term_signal,
        .start = start, .end = -1, .duration = r->h.duration,
    };
    double end;
    if (r->h.finished_at && tf_cli_parse_time(r->h.finished_at, &end, NULL) == 0)
        x.end = end;
    if (oom) {
        free(x.work); free(x.key); free(x.args); free(x.status); free(x.error);
        l->oom = 1;
        return 1;
    }
    l->v[l->n++] = x;
    return 0;
}

static void xfree(xlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].work); free(l->v[i].key); free(l->v[i].args);
        free(l->v[i].status); free(l->v[i].error); free(l->v[i].output);
    }
    free(l->v);
}

/* Per work: what the summary table shows. */
typedef struct wsum {
    char *work;             /* name */
    int64_t ok, failed, interrupted, running; /* executions in the report's days */
    double seconds;         /* their total duration */
    int64_t hits, day_hits; /* cache hits: all time, last 24 hours (tf_calls_stats) */
    double saved;           /* seconds those hits saved, all time */
    double last_success;    /* tf_work_totals.last_success, or -1 */
    double last_duration;   /* tf_work_totals.last_duration, or -1 */
    int64_t calls;          /* calls in the database */
} wsum;

typedef struct wlist {
    wsum *v;                /* by name */
    size_t n;               /* count */
    int oom;                /* out of memory */
} wlist;

static wsum *wfind(wlist *l, const char *work, int add)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].work, work))
            return &l->v[i];
    if (!add)
        return NULL;
    wsum *v = realloc(l->v, (l->n + 1) * sizeof *v);
    char *name = strdup(work);
    if (!v || !name) {
        free(name);
        if (v)
            l->v = v;
        l->oom = 1;
        return NULL;
    }
    l->v = v;
    v[l->n] = (wsum){.work = name, .last_success = -1, .last_duration = -1};
    return &v[l->n++];
}

static int wcmp(const void *a, const void *b)
{
    return strcmp(((const wsum *)a)->work, ((const wsum *)b)->work);
}

static int totals_add(const tf_work_totals *t, void *user)
{
    wsum *w = wfind(user, t->work, 1);
    if (!w)
        return 1;
    w->last_success = t->last_success;
    w->last_duration = t->last_duration;
    w->calls = t->running + t->succeeded + t->failed + t->interrupted;
    return 0;
}

static int stats_add(const tf_stats_row *r, void *user)
{
    wsum *w = wfind(user, r->work, 0); /* only works with calls */
    if (w) {
        w->hits = r->hits;
        w->day_hits = r->day_hits;
        w->saved = r->saved;
    }
    return 0;
}

/* ---- the output of failures ---------------------------------------------------- */

/* The end of text: its last REPORT_OUTPUT_TAIL bytes, from a line start where possible (malloc'd). */
static char *tail_of(const char *text)
{
    size_t n = strlen(text), from = 0;
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        n--;
    if (n > REPORT_OUTPUT_TAIL) {
        from = n - REPORT_OUTPUT_TAIL;
        const char *nl = memchr(text + from, '\n', n - from);
        if (nl && (size_t)(nl - text) + 1 < n)
            from = (size_t)(nl - text) + 1;
        while (from < n && ((unsigned char)text[from] & 0xC0) == 0x80)
            from++; /* never start inside a UTF-8 sequence */
    }
    return strndup(text + from, n - from);
}

/* Fill the output of the newest REPORT_OUTPUTS_MAX failures of x. 0, or the exit code. */
static int failure_outputs(tf_app *app, xlist *x)
{
    int left = REPORT_OUTPUTS_MAX;
    for (size_t i = x->n; i-- > 0 && left > 0;) {
        xrow *e = &x->v[i];
        if (strcmp(e->status, "failed"))
            continue;
        left--;
        char *all = NULL;
        int rc = tf_calls_output(app, e->work, e->key, e->attempt, &all);
        if (rc != TF_OK)
            return tf_cli_lib_fail("report", app, rc);
        e->output = all ? tail_of(all) : NULL;
        int oom = all && !e->output;
        free(all);
        if (oom)
            return tf_cli_listed("report", app, TF_OK, 1);
    }
    return 0;
}

/* ---- writing HTML ------------------------------------------------------------- */

/* Write s with &, <, >, " and ' escaped (for text and attribute values). */
static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* How local_text writes a time. */
enum { LT_DAY, LT_MINUTE, LT_SECOND, LT_ZONE };

/* Epoch t as local time: "Monday 2026-11-30", "2026-11-30 14:30", "... 14:30:05", "UTC"; "-" when t < 0. */
static void local_text(double t, int kind, char out[64])
{
    time_t s = (time_t)t;
    struct tm tm;
    size_t n = 0;
    if (t >= 0 && localtime_r(&s, &tm)) {
        switch (kind) {
        case LT_DAY: n = strftime(out, 64, "%A %Y-%m-%d", &tm); break;
        case LT_MINUTE: n = strftime(out, 64, "%Y-%m-%d %H:%M", &tm); break;
        case LT_SECOND: n = strftime(out, 64, "%Y-%m-%d %H:%M:%S", &tm); break;
        default: n = strftime(out, 64, "%Z", &tm); break;
        }
    }
    if (!n)
        snprintf(out, 64, "-");
}

/* Local midnight at or before t. */
static double midnight(double t)
{
    time_t s = (time_t)t;
    struct tm tm;
    if (!localtime_r(&s, &tm))
        return t;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return (double)mktime(&tm);
}

/* The local midnight one day after day (DST-safe). */
static double next_day(double day)
{
    time_t s = (time_t)day;
    struct tm tm;
    if (!localtime_r(&s, &tm))
        return day + 86400;
    tm.tm_mday++;
    tm.tm_hour = 12; /* normalised through DST changes */
    tm.tm_isdst = -1;
    return midnight((double)mktime(&tm));
}

static const char *outcome_class(const char *status)
{
    if (!strcmp(status, "succeeded"))
        return "ok";
    if (!strcmp(status, "failed"))
        return "fail";
    if (!strcmp(status, "interrupted"))
        return "intr";
    return "run";
}

static const char css[] =
    "body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2330;"
    "background:#f4f6f9;margin:0;padding:24px 32px}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}"
    ".sub{color:#5b6475;margin:0 0 18px}"
    ".card{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:14px 16px;"
    "margin:0 0 14px;box-shadow:0 1px 2px rgba(20,30,50,.05)}"
    ".day{font-weight:600;margin:0 0 6px}.day span{color:#5b6475;font-weight:400}"
    "table{border-collapse:collapse;width:100%;background:#fff}"
    "th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e6e9ef;vertical-align:top}"
    "th{background:#eef1f6;font-weight:600;font-size:13px;color:#3a4252}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "code{font:12px ui-monospace,Menlo,Consolas,monospace;background:#f1f3f7;padding:1px 4px;"
    "border-radius:3px;word-break:break-all}"
    ".legend span{display:inline-block;margin-right:16px;color:#3a4252}"
    ".legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;"
    "vertical-align:-1px}"
    ".ok{fill:#2f9e63;background:#2f9e63}.fail{fill:#d94848;background:#d94848}"
    ".intr{fill:#e58e26;background:#e58e26}.run{fill:#3b7dd8;background:#3b7dd8}"
    "svg{display:block}svg text{font:12px system-ui,sans-serif;fill:#3a4252}"
    "svg .hour{font-size:11px;fill:#7a8396}svg line{stroke:#e3e7ee}"
    "svg .lane{fill:#f7f8fb}svg rect.bar{rx:2px}svg rect.bar:hover{stroke:#1d2330;stroke-width:1}"
    ".none{color:#7a8396}.bad{color:#c03a3a;font-weight:600}"
    ".kpis{display:flex;gap:14px;margin:0 0 8px}.kpi{flex:1;background:#fff;border:1px solid #dde2ea;"
    "border-radius:8px;padding:10px 14px}.kpi b{display:block;font-size:22px;font-weight:650}"
    ".kpi span{color:#5b6475;font-size:13px}.kpi.alert b{color:#c03a3a}"
    "pre.out{font:12px/1.35 ui-monospace,Menlo,Consolas,monospace;background:#fbf1f1;color:#6b2a2a;"
    "border-left:3px solid #d94848;margin:6px 0 0;padding:5px 8px;white-space:pre-wrap;"
    "word-break:break-word;max-width:560px}";

/*
 * The hours of the day the timelines show: from the hour of the earliest
 * start (time of day) to the hour after the latest end, at least 3 hours;
 * the whole day when that is most of it. Seconds after midnight.
 */
static void window_of(const xlist *x, double *w0, double *w1)
{
    double lo = 86400, hi = 0;
    for (size_t i = 0; i < x->n; i++) {
        const xrow *e = &x->v[i];
        double day = midnight(e->start), s = e->start - day;
        double stop = e->end >= 0 ? e->end : e->start + (e->duration > 0 ? e->duration : 0);
        double t = stop - day > 86400 ? 86400 : stop - day;
        lo = s < lo ? s : lo;
        hi = t > hi ? t : hi;
    }
    double a = (double)((long)(lo / 3600)) * 3600, b = (double)((long)((hi + 3599) / 3600)) * 3600;
    if (b - a < 3 * 3600)
        b = a + 3 * 3600 > 86400 ? 86400 : a + 3 * 3600, a = b - 3 * 3600;
    if (x->n == 0 || b - a > 16 * 3600)
        a = 0, b = 86400;
    *w0 = a;
    *w1 = b;
}

/*
 * One day's timeline: works in wl order; the executions of x that start in
 * [day, end), on the hours [w0, w1) of the day (seconds after midnight).
 */
static void timeline(FILE *f, const wlist *wl, const xlist *x, double day, double end, double w0,
                     double w1)
{
    size_t count = 0, failed = 0;
    for (size_t i = 0; i < x->n; i++)
        if (x->v[i].start >= day && x->v[i].start < end) {
            count++;
            failed += !strcmp(x->v[i].status, "failed");
        }
    char label[64];
    local_text(day, LT_DAY, label);
    fprintf(f, "<div class=\"card\"><p class=\"day\">");
    esc(f, label);
    fprintf(f, " <span>%zu execution%s%s", count, count == 1 ? "" : "s", failed ? ", " : "");
    if (failed)
        fprintf(f, "<b class=\"bad\">%zu failed</b>", failed);
    fputs("</span></p>\n", f);
    if (!count) {
        fputs("<p class=\"none\">nothing ran</p></div>\n", f);
        return;
    }
    double span = w1 - w0;
    int h = TL_TOP + (int)wl->n * TL_ROW + 4;
    fprintf(f, "<svg class=\"timeline\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
            TL_LABEL + TL_WIDTH + 24, h, TL_LABEL + TL_WIDTH + 24, h);
    for (size_t r = 0; r < wl->n; r++) {
        int y = TL_TOP + (int)r * TL_ROW;
        if (r % 2 == 0)
            fprintf(f, "<rect class=\"lane\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n",
                    TL_LABEL, y, TL_WIDTH, TL_ROW);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", TL_LABEL - 10, y + 16);
        esc(f, wl->v[r].work);
        fputs("</text>\n", f);
    }
    int step = span <= 8 * 3600 ? 1 : span <= 16 * 3600 ? 2 : 3;
    for (int hr = (int)(w0 / 3600); hr * 3600.0 <= w1; hr += step) {
        double xx = TL_LABEL + TL_WIDTH * ((hr * 3600.0 - w0) / span);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                "<text class=\"hour\" x=\"%.1f\" y=\"16\" text-anchor=\"middle\">%02d:00</text>\n",
                xx, TL_TOP - 4, xx, h - 4, xx, hr % 24);
    }
    for (size_t i = 0; i < x->n; i++) {
        const xrow *e = &x->v[i];
        if (e->start < day || e->start >= end)
            continue;
        size_t r = 0;
        while (r < wl->n && strcmp(wl->v[r].work, e->work))
            r++;
        double stop = e->end >= 0 ? e->end : e->start + (e->duration > 0 ? e->duration : 0);
        if (stop > day + w1)
            stop = day + w1;
        double x0 = TL_LABEL + TL_WIDTH * ((e->start - day - w0) / span);
        double w = TL_WIDTH * ((stop - e->start) / span);
        if (w < 3)
            w = 3; /* a second-long execution stays visible */
        if (x0 + w > TL_LABEL + TL_WIDTH)
            x0 = TL_LABEL + TL_WIDTH - w;
        char t0[64], dur[32];
        local_text(e->start, LT_SECOND, t0);
        tf_cli_fmt_duration(e->duration, 1, dur);
        fprintf(f, "<rect class=\"bar %s\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\">"
                "<title>", outcome_class(e->status), x0,
                TL_TOP + (int)r * TL_ROW + (TL_ROW - TL_BAR) / 2, w, TL_BAR);
        esc(f, e->work);
        fprintf(f, " %.12s, attempt %d: ", e->key, e->attempt);
        esc(f, e->status);
        fprintf(f, "\nstarted %s, took %s\nargs ", t0, dur);
        esc(f, e->args);
        if (e->error) {
            fputs("\nerror ", f);
            esc(f, e->error);
        }
        fputs("</title></rect>\n", f);
    }
    fputs("</svg></div>\n", f);
}

static void report_usage(FILE *to)
{
    fputs("usage: tickflow report [--db PATH] [--days N] [-o FILE] [--now DATETIME]\n\n"
          "Write one self-contained HTML page (inline CSS and SVG, nothing fetched) of\n"
          "the last N days: per work its executions by outcome, cache hits, last\n"
          "success and duration; a timeline per day with one row per work and one bar\n"
          "per execution (green succeeded, red failed, orange interrupted, blue running;\n"
          "hover a bar for its arguments and error); and a table of the failures.\n\n"
          "options:\n"
          "  --db PATH        database (default $TICKFLOW_DB, else ./tickflow.db)\n"
          "  --days N         days to show, today included (default 7, at most 366)\n"
          "  -o, --output FILE  write FILE (created 0644, replaced) instead of stdout\n"
          "  --now DATETIME   end the report at this time (local unless a zone is given, as run's --now)\n"
          "  -h, --help       show this help\n\n"
          "exit codes: 0 ok; 2 usage; 4 database error; 5 cannot write the output\n", to);
}

/* The whole page to f. */
static void write_page(FILE *f, const char *db, double now, int days, const wlist *wl,
                       const xlist *x, double from)
{
    char gen[64], zone[64];
    local_text(now, LT_MINUTE, gen);
    local_text(now, LT_ZONE, zone);
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>tickflow report</title>\n<style>", f);
    fputs(css, f);
    fputs("</style></head><body>\n<h1>tickflow report</h1>\n<p class=\"sub\">", f);
    esc(f, db);
    fprintf(f, " &middot; the last %d day%s to %s ", days, days == 1 ? "" : "s", gen);
    esc(f, zone);
    size_t nfail = 0;
    for (size_t i = 0; i < x->n; i++)
        nfail += !strcmp(x->v[i].status, "failed");
    fprintf(f, " &middot; %zu execution%s, %zu failed</p>\n", x->n, x->n == 1 ? "" : "s", nfail);
    double busy = 0;
    int64_t hits = 0, all_hits = 0;
    for (size_t i = 0; i < x->n; i++)
        busy += x->v[i].duration > 0 ? x->v[i].duration : 0;
    for (size_t i = 0; i < wl->n; i++) {
        hits += wl->v[i].day_hits;
        all_hits += wl->v[i].hits;
    }
    char busy_text[32];
    tf_cli_fmt_duration(busy, 0, busy_text);
    fprintf(f, "<div class=\"kpis\"><div class=\"kpi\"><b>%zu</b><span>executions</span></div>"
            "<div class=\"kpi%s\"><b>%zu</b><span>failed</span></div>"
            "<div class=\"kpi\"><b>%s</b><span>time executing</span></div>"
            "<div class=\"kpi\"><b>%lld</b><span>cache hits in the last 24 h (%lld in all)</span></div>"
            "<div class=\"kpi\"><b>%zu</b><span>works</span></div></div>\n",
            x->n, nfail ? " alert" : "", nfail, busy_text, (long long)hits, (long long)all_hits, wl->n);

    fputs("<h2>Works</h2>\n<table class=\"works\"><tr><th>work</th><th>calls</th>"
          "<th>executions</th><th>succeeded</th><th>failed</th><th>interrupted</th>"
          "<th>time executing</th><th>cache hits (24 h / all)</th><th>time saved</th>"
          "<th>last success</th><th>last duration</th></tr>\n", f);
    for (size_t i = 0; i < wl->n; i++) {
        const wsum *w = &wl->v[i];
        char secs[32], saved[32], last[64], dur[32];
        tf_cli_fmt_duration(w->seconds, 0, secs);
        tf_cli_fmt_duration(w->saved, 0, saved);
        local_text(w->last_success, LT_MINUTE, last);
        tf_cli_fmt_duration(w->last_duration, 1, dur);
        fputs("<tr><td>", f);
        esc(f, w->work);
        fprintf(f, "</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td>"
                "<td class=\"n%s\">%lld</td><td class=\"n\">%lld</td><td class=\"n\">%s</td>"
                "<td class=\"n\">%lld / %lld</td><td class=\"n\">%s</td><td>%s</td>"
                "<td class=\"n\">%s</td></tr>\n",
                (long long)w->calls, (long long)(w->ok + w->failed + w->interrupted + w->running),
                (long long)w->ok, w->failed ? " bad" : "", (long long)w->failed,
                (long long)w->interrupted, secs, (long long)w->day_hits, (long long)w->hits,
                saved, last, dur);
    }
    fputs("</table>\n", f);

    fputs("<h2>Timeline</h2>\n<p class=\"legend\"><span><i class=\"ok\"></i>succeeded</span>"
          "<span><i class=\"fail\"></i>failed</span><span><i class=\"intr\"></i>interrupted</span>"
          "<span><i class=\"run\"></i>running</span></p>\n", f);
    double days_at[REPORT_DAYS_MAX + 1];
    int nd = 0;
    for (double d = from; d <= now && nd < REPORT_DAYS_MAX; d = next_day(d))
        days_at[nd++] = d;
    double w0, w1;
    window_of(x, &w0, &w1);
    for (int k = nd - 1; k >= 0; k--) /* newest first */
        timeline(f, wl, x, days_at[k], next_day(days_at[k]), w0, w1);

    fputs("<h2>Failures</h2>\n", f);
    if (!nfail) {
        fputs("<p class=\"none\">no execution failed in these days</p>\n", f);
    } else {
        fputs("<table class=\"failures\"><tr><th>started</th><th>work</th><th>key</th>"
              "<th>attempt</th><th>exit</th><th>error and last output</th><th>arguments</th></tr>\n", f);
        for (size_t i = x->n; i-- > 0;) {
            const xrow *e = &x->v[i];
            if (strcmp(e->status, "failed"))
                continue;
            char t0[64], ex[32];
            local_text(e->start, LT_SECOND, t0);
            tf_cli_exit_text(e->exit_code, e->term_signal, ex);
            fprintf(f, "<tr><td>%s</td><td>", t0);
            esc(f, e->work);
            fprintf(f, "</td><td><code>%.12s</code></td><td class=\"n\">%d</td><td>%s</td><td>",
                    e->key, e->attempt, ex);
            esc(f, e->error ? e->error : "-");
            if (e->output) {
                fputs("<pre class=\"out\">", f);
                esc(f, e->output);
                fputs("</pre>", f);
            }
            fputs("</td><td><code>", f);
            esc(f, e->args);
            fputs("</code></td></tr>\n", f);
        }
        fputs("</table>\n", f);
    }
    fputs("</body></html>\n", f);
}

int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"days", required_argument, NULL, 'D'},
        {"output", required_argument, NULL, 'o'},
        {"now", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *out = NULL;
    long days = 7;
    double now = tf_cli_now();
    int c;
    optind = 1;
    opterr = 0;
    tzset();
    while ((c = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'D':
            if (tf_cli_parse_count(optarg, &days) != 0 || days > REPORT_DAYS_MAX)
                return tf_cli_misuse(report_usage, "report: --days: '%s' is not a number of days"
                                     " from 1 to %d", optarg, REPORT_DAYS_MAX);
            break;
        case 'o': out = optarg; break;
        case 'n': {
            int has_time;
            if (tf_cli_parse_time(optarg, &now, &has_time) != 0)
                return tf_cli_misuse(report_usage, "report: --now wants %s, not '%s'",
                                     TF_CLI_TIME_GRAMMAR, optarg);
            if (!has_time)
                now = next_day(now) - 1; /* the whole day */
            break;
        }
        case 'h': report_usage(stdout); return TF_EXIT_OK;
        default: return tf_cli_bad_option("report", c, argv, report_usage);
        }
    }
    if (optind < argc)
        return tf_cli_misuse(report_usage, "report: unexpected argument '%s'", argv[optind]);

    tf_app *app;
    int ex = tf_cli_open_db("report", db, &app);
    if (ex)
        return ex;
    double from = midnight(now);
    for (long i = 1; i < days; i++)
        from = midnight(from - 43200); /* the day before, DST-safe */
    char since[32];
    tf_cli_iso(from, since);
    xlist x = {NULL, 0, 0, 0};
    wlist wl = {NULL, 0, 0};
    ex = tf_cli_listed("report", app, tf_calls_executions(app, since, xadd, &x), x.oom);
    if (!ex)
        ex = tf_cli_listed("report", app, tf_calls_totals(app, totals_add, &wl), wl.oom);
    if (!ex)
        ex = tf_cli_listed("report", app, tf_calls_stats(app, NULL, now, stats_add, &wl), wl.oom);
    /* only executions up to now: a history past --now is not shown */
    size_t kept = 0;
    for (size_t i = 0; i < x.n; i++) {
        if (x.v[i].start <= now) {
            x.v[kept++] = x.v[i];
            continue;
        }
        free(x.v[i].work); free(x.v[i].key); free(x.v[i].args);
        free(x.v[i].status); free(x.v[i].error); free(x.v[i].output);
    }
    x.n = kept;
    /* the works shown: those that executed in these days */
    wlist shown = {NULL, 0, 0};
    for (size_t i = 0; !ex && i < x.n; i++) {
        xrow *e = &x.v[i];
        wsum *w = wfind(&shown, e->work, 1);
        if (!w) {
            ex = tf_cli_listed("report", app, TF_OK, 1);
            break;
        }
        const wsum *all = wfind(&wl, e->work, 0);
        if (all && !w->calls) {
            char *name = w->work;
            *w = *all;
            w->work = name;
            w->ok = w->failed = w->interrupted = w->running = 0;
            w->seconds = 0;
        }
        if (!strcmp(e->status, "succeeded"))
            w->ok++;
        else if (!strcmp(e->status, "failed"))
            w->failed++;
        else if (!strcmp(e->status, "interrupted"))
            w->interrupted++;
        else
            w->running++;
        if (e->duration > 0)
            w->seconds += e->duration;
    }
    if (shown.n > 1)
        qsort(shown.v, shown.n, sizeof *shown.v, wcmp);
    if (!ex)
        ex = failure_outputs(app, &x);
    if (!ex) {
        FILE *f = stdout;
        char tmp[4096];
        int fd = -1;
        if (out) {
            /* the page is written beside FILE and renamed over it: never half a page */
            if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", out) >= sizeof tmp) {
                tf_cli_err("report: output path '%s' is too long", out);
                ex = TF_EXIT_USAGE;
            } else if ((fd = mkstemp(tmp)) < 0 || fchmod(fd, 0644) != 0 || !(f = fdopen(fd, "w"))) {
                tf_cli_err("report: cannot create '%s': %s", out, strerror(errno));
                if (fd >= 0) {
                    close(fd);
                    unlink(tmp);
                }
                ex = TF_EXIT_IO;
            }
        }
        if (!ex) {
            write_page(f, tf_cli_db_path(db, NULL), now, (int)days, &shown, &x, from);
            if (out) {
                int bad = fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0;
                int e = errno;
                bad |= fclose(f) != 0;
                if (!bad && rename(tmp, out) != 0) {
                    e = errno;
                    bad = 1;
                }
                if (bad) {
                    tf_cli_err("report: cannot write '%s': %s", out, strerror(e));
                    unlink(tmp);
                    ex = TF_EXIT_IO;
                }
            } else {
                ex = tf_cli_flush_out("report");
            }
        }
    }
    for (size_t i = 0; i < shown.n; i++)
        free(shown.v[i].work);
    free(shown.v);
    for (size_t i = 0; i < wl.n; i++)
        free(wl.v[i].work);
    free(wl.v);
    xfree(&x);
    tf_app_close(app);
    return ex;
}
