/*
 * numfmt_driver - filter for the differential test against node
 * (scripts/diff-numbers): reads one double per line as 16 hex digits of its
 * IEEE-754 bits and prints tf_numfmt of it on its own line. NaN and
 * infinity patterns print nothing (node filters them out before sending).
 * A malformed line is reported on stderr and ends the run with status 2.
 *
 * `numfmt_driver --bench [N]` instead times N (default 10^7) calls of
 * tf_numfmt on random finite doubles (uniform over the bit patterns, and
 * separately on random "short decimals") and prints ns per call: a figure
 * to read by hand, never a pass/fail check.
 */
#include "numfmt.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* xorshift64*: reproducible random bits for the benchmark. */
static uint64_t rand64(uint64_t *st)
{
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return *st * 2685821657736338717ULL;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Time tf_numfmt over xs[0..n); returns ns per call. */
static double time_fmt(const double *xs, size_t n, size_t *sink)
{
    char buf[TF_NUMFMT_MAX];
    double t0 = now_ns();
    for (size_t i = 0; i < n; i++)
        *sink += tf_numfmt(xs[i], buf) + (size_t)buf[0];
    return (now_ns() - t0) / (double)n;
}

static int bench(size_t n)
{
    double *xs = malloc(n * sizeof *xs);
    if (!xs) {
        fprintf(stderr, "numfmt_driver: cannot allocate %zu doubles\n", n);
        return 2;
    }
    uint64_t st = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < n; i++) {
        do {
            uint64_t b = rand64(&st);
            memcpy(&xs[i], &b, sizeof xs[i]);
        } while (!isfinite(xs[i]));
    }
    size_t sink = 0;
    double rnd = time_fmt(xs, n, &sink);
    for (size_t i = 0; i < n; i++) /* e.g. 1234.567: up to 7 digits */
        xs[i] = (double)(rand64(&st) % 10000000) / 1000.0;
    double dec = time_fmt(xs, n, &sink);
    for (size_t i = 0; i < n; i++)
        xs[i] = (double)(rand64(&st) % 1000000);
    double ints = time_fmt(xs, n, &sink);
    printf("tf_numfmt: %.1f ns/call random bits, %.1f ns/call short decimals, "
           "%.1f ns/call integers (n=%zu, check %zu)\n", rnd, dec, ints, n, sink % 10);
    free(xs);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--bench") == 0) {
        unsigned long long n = argc >= 3 ? strtoull(argv[2], NULL, 10) : 10000000ULL;
        return bench(n ? (size_t)n : 1);
    }
    if (argc >= 2) {
        fprintf(stderr, "usage: numfmt_driver [--bench [N]] < hex-bits-lines\n");
        return 2;
    }
    char line[128];
    unsigned long lineno = 0;
    while (fgets(line, sizeof line, stdin)) {
        lineno++;
        char *end = NULL;
        errno = 0;
        unsigned long long u = strtoull(line, &end, 16);
        if (end != line + 16 || errno != 0 || (*end != '\n' && *end != '\0')) {
            fprintf(stderr, "numfmt_driver: line %lu: expected 16 hex digits\n", lineno);
            return 2;
        }
        uint64_t bits = (uint64_t)u;
        double x;
        memcpy(&x, &bits, sizeof x);
        if (!isfinite(x))
            continue;
        char buf[TF_NUMFMT_MAX];
        size_t n = tf_numfmt(x, buf);
        buf[n] = '\n';
        if (fwrite(buf, 1, n + 1, stdout) != n + 1) {
            fprintf(stderr, "numfmt_driver: cannot write output: %s\n", strerror(errno));
            return 2;
        }
    }
    if (ferror(stdin)) {
        fprintf(stderr, "numfmt_driver: cannot read input: %s\n", strerror(errno));
        return 2;
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "numfmt_driver: cannot write output: %s\n", strerror(errno));
        return 2;
    }
    return 0;
}
