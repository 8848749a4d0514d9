/*
 * duration.c - the one grammar of durations (tf_duration_parse): pipeline
 * options such as "max_age": "12h" and the command's duration options
 * (gc --older-than, ...) all read durations here, so "1d2h" means the same
 * thing everywhere.
 *
 * Grammar: one or more NUMBER UNIT pairs, NUMBER a whole decimal number,
 * UNIT one of w d h m s, units in that order (largest first) and each at
 * most once; no spaces, no sign, no fraction. The total is > 0 and at most
 * 100 years, so no sum or product can overflow or reach before the epoch.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tickflow.h"

#define MAX_SECONDS (100.0 * 366 * 86400)

__attribute__((format(printf, 2, 3)))
static int bad(tf_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap); /* bounded message: truncation is fine */
        va_end(ap);
        err->offset = 0;
        err->line = err->column = 0;
    }
    return TF_EINPUT;
}

int tf_duration_parse(const char *text, double *seconds, tf_error *err)
{
    static const char units[] = "wdhms";
    static const double unit_s[] = {7 * 86400.0, 86400.0, 3600.0, 60.0, 1.0};
    *seconds = 0;
    if (!text || !*text)
        return bad(err, "empty duration (use e.g. 45s, 90m, 12h, 3d, 1d2h)");
    const char *p = text;
    double total = 0;
    size_t next_unit = 0; /* units must come largest first, each once */
    while (*p) {
        if (*p < '0' || *p > '9')
            return bad(err, "bad duration '%.60s': expected a whole number at '%.20s'", text, p);
        double v = 0;
        for (; *p >= '0' && *p <= '9'; p++) {
            v = v * 10 + (*p - '0');
            if (v > MAX_SECONDS)
                return bad(err, "duration '%.60s' is too long (at most 100 years)", text);
        }
        const char *u = *p ? strchr(units, *p) : NULL;
        if (!u)
            return bad(err, "bad duration '%.60s': a number needs a unit (s, m, h, d or w)", text);
        size_t ui = (size_t)(u - units);
        if (ui < next_unit)
            return bad(err, "bad duration '%.60s': units go largest first, each once (1d2h)", text);
        next_unit = ui + 1;
        total += v * unit_s[ui];
        if (total > MAX_SECONDS)
            return bad(err, "duration '%.60s' is too long (at most 100 years)", text);
        p++;
    }
    if (!(total > 0))
        return bad(err, "duration '%.60s' must be longer than 0", text);
    *seconds = total;
    return TF_OK;
}
