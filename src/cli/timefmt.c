/*
 * timefmt.c - the one place the tickflow command reads and writes times
 * and durations: dates and times given on the command line (run's --now
 * and --backfill, ls --since, clear --before, check --now: one grammar,
 * tf_cli_parse_time), the store's ISO-8601 UTC text, durations given as
 * options (gc --older-than) and durations printed in tables.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tickflow.h"
#include "cli.h"

double tf_cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tf_cli_iso(double t, char out[32])
{
    long long ms = (long long)(t * 1000.0);
    if ((double)ms > t * 1000.0)
        ms--;
    time_t sec = (time_t)(ms / 1000);
    int milli = (int)(ms % 1000);
    if (milli < 0) {
        milli += 1000;
        sec--;
    }
    struct tm tm;
    int n = -1;
    if (gmtime_r(&sec, &tm))
        n = snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, milli);
    if (n < 0 || n >= 32)
        snprintf(out, 32, "1970-01-01T00:00:00.000Z");
}

/* Read exactly n decimal digits at *p into *v; advance *p. 0 on success. */
static int digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        *v = *v * 10 + (**p - '0');
    }
    return 0;
}

/*
 * Local fields -> epoch seconds through mktime, refusing a time the local
 * clock skips (a DST gap): mktime would move it silently. -1 is a valid
 * result (1969-12-31T23:59:59 in UTC), so success is judged by the fields.
 */
static int local_epoch(struct tm *tm, double *out)
{
    struct tm want = *tm;
    tm->tm_isdst = -1;
    time_t t = mktime(tm);
    if (tm->tm_year != want.tm_year || tm->tm_mon != want.tm_mon || tm->tm_mday != want.tm_mday ||
        tm->tm_hour != want.tm_hour || tm->tm_min != want.tm_min || tm->tm_sec != want.tm_sec)
        return -1;
    *out = (double)t;
    return 0;
}

int tf_cli_parse_time(const char *text, double *out, int *has_time)
{
    const char *p = text;
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, s = 0, zoned = 0, timed = 0;
    double frac = 0;
    long zone = 0;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d))
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        timed = 1;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
            return -1;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &s))
                return -1;
            if (*p == '.') {
                p++;
                double scale = 0.1;
                if (*p < '0' || *p > '9')
                    return -1;
                for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
                    frac += (*p - '0') * scale;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
            zoned = 1;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, zh, zm;
            if (digits(&p, 2, &zh) || *p++ != ':' || digits(&p, 2, &zm) || zh > 23 || zm > 59)
                return -1;
            zone = sign * (zh * 3600L + zm * 60L);
            zoned = 1;
        }
    }
    if (*p)
        return -1;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    double t;
    if (zoned) {
        t = (double)timegm(&tm);
        if (tm.tm_mday != d || tm.tm_mon != mo - 1) /* normalized: 31 April and the like */
            return -1;
        t -= (double)zone;
    } else if (local_epoch(&tm, &t) != 0) {
        return -1; /* 31 April, or a local time that does not exist */
    }
    *out = t + frac;
    if (has_time)
        *has_time = timed;
    return 0;
}

int tf_cli_date_option(const char *cmd, const char *opt, const char *text, char out[32])
{
    double t;
    if (tf_cli_parse_time(text, &t, NULL) != 0) {
        tf_cli_err("%s: %s: '%s' is not a date and time (%s)", cmd, opt, text, TF_CLI_TIME_GRAMMAR);
        return -1;
    }
    tf_cli_iso(t, out);
    return 0;
}

double tf_cli_parse_duration(const char *text)
{
    /* the library's one grammar (also pipeline max_age): 45s, 12h, 1d2h; at most 100 years */
    double seconds = 0;
    return tf_duration_parse(text, &seconds, NULL) == TF_OK ? seconds : -1;
}

void tf_cli_fmt_duration(double sec, int millis, char out[32])
{
    if (sec < 0) {
        snprintf(out, 32, "-");
        return;
    }
    if (sec < 60) {
        if (millis)
            snprintf(out, 32, "%.3fs", sec);
        else
            snprintf(out, 32, "%ds", (int)sec);
        return;
    }
    long long t = (long long)sec;
    if (t < 3600)
        snprintf(out, 32, "%lldm%02llds", t / 60, t % 60);
    else
        snprintf(out, 32, "%lldh%02lldm%02llds", t / 3600, t / 60 % 60, t % 60);
}
