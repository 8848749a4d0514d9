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
 *
 * `numfmt_driver --bench-parse [N]` times N (default 10^6) calls of
 * tf_numparse on long literals: node's String(x) of random bit patterns
 * (what `tickflow canon` reads from JSON.stringify, mostly 16-17 digits) and
 * "%.16e" (exactly 17 significant digits); ns per call, again only a figure.
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

/* Stride between the literals in bench_parse's text buffer. */
#define LIT_STRIDE 32

/* Time tf_numparse over the n literals in text; returns ns per call. */
static double time_parse(const char *text, const unsigned char *lens, size_t n, uint64_t *sink)
{
    double t0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        double v = 0;
        uint64_t b;
        if (tf_numparse(text + i * LIT_STRIDE, lens[i], &v) == 0) {
            memcpy(&b, &v, sizeof b);
            *sink ^= b;
        }
    }
    return (now_ns() - t0) / (double)n;
}

static int bench_parse(size_t n)
{
    char *text = malloc(n * LIT_STRIDE);
    unsigned char *lens = malloc(n);
    if (!text || !lens) {
        fprintf(stderr, "numfmt_driver: cannot allocate %zu literals\n", n);
        free(text);
        free(lens);
        return 2;
    }
    uint64_t st = 0x9e3779b97f4a7c15ULL;
    double x;
    for (size_t i = 0; i < n; i++) {
        do {
            uint64_t b = rand64(&st);
            memcpy(&x, &b, sizeof x);
        } while (!isfinite(x));
        lens[i] = (unsigned char)tf_numfmt(x, text + i * LIT_STRIDE);
    }
    uint64_t sink = 0;
    double node = time_parse(text, lens, n, &sink);
    for (size_t i = 0; i < n; i++) {
        do {
            uint64_t b = rand64(&st);
            memcpy(&x, &b, sizeof x);
        } while (!isfinite(x));
        int k = snprintf(text + i * LIT_STRIDE, LIT_STRIDE, "%.16e", x);
        if (k <= 0 || k >= LIT_STRIDE) {
            fprintf(stderr, "numfmt_driver: literal too long\n");
            free(text);
            free(lens);
            return 2;
        }
        lens[i] = (unsigned char)k;
    }
    double d17 = time_parse(text, lens, n, &sink);
    printf("tf_numparse: %.1f ns/call String(x) of random bits, %.1f ns/call \"%%.16e\" "
           "(n=%zu, check %016llx)\n", node, d17, n, (unsigned long long)sink);
    free(text);
    free(lens);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--bench") == 0) {
        unsigned long long n = argc >= 3 ? strtoull(argv[2], NULL, 10) : 10000000ULL;
        return bench(n ? (size_t)n : 1);
    }
    if (argc >= 2 && strcmp(argv[1], "--bench-parse") == 0) {
        unsigned long long n = argc >= 3 ? strtoull(argv[2], NULL, 10) : 1000000ULL;
        return bench_parse(n ? (size_t)n : 1);
    }
    if (argc >= 2) {
        fprintf(stderr, "usage: numfmt_driver [--bench [N] | --bench-parse [N]] < hex-bits-lines\n");
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
