/*
 * timefmt.c - the one place the tickflow command reads and writes times
 * and durations: dates given on the command line (--since, --before and
 * run's --now), the store's ISO-8601 UTC text, durations given as options
 * (gc --older-than) and durations printed in tables.
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

int tf_cli_parse_date(const char *text, double *out)
{
    const char *p = text;
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, s = 0;
    double frac = 0;
    long zone = 0;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d))
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
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
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, zh, zm;
            if (digits(&p, 2, &zh) || *p++ != ':' || digits(&p, 2, &zm) || zh > 23 || zm > 59)
                return -1;
            zone = sign * (zh * 3600L + zm * 60L);
        }
    }
    if (*p)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    time_t t = timegm(&tm);
    if (tm.tm_mday != d || tm.tm_mon != mo - 1) /* normalized: 31 April and the like */
        return -1;
    *out = (double)t + frac - (double)zone;
    return 0;
}

double tf_cli_parse_local_datetime(const char *s, int *has_time)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    *has_time = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return -1;
    const char *t = s + n;
    if (*t == 'T' || *t == ' ') {
        int m = 0;
        if (sscanf(t + 1, "%2d:%2d%n", &h, &mi, &m) != 2 || m != 5)
            return -1;
        t += 1 + m;
        if (*t == ':') {
            if (sscanf(t + 1, "%2d%n", &sec, &m) != 1 || m != 2)
                return -1;
            t += 3;
        }
        *has_time = 1;
    }
    if (*t || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    tm.tm_isdst = -1;
    time_t at = mktime(&tm);
    if (at == (time_t)-1 || tm.tm_mday != d)
        return -1; /* mktime normalised an impossible date such as 02-30 */
    return (double)at;
}

int tf_cli_date_option(const char *cmd, const char *opt, const char *text, char out[32])
{
    double t;
    if (tf_cli_parse_date(text, &t) != 0) {
        tf_cli_err("%s: %s: '%s' is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z])",
                   cmd, opt, text);
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
