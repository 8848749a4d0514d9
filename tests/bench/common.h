/*
 * bench/common.h - helpers shared by the benchmark programs (bench/ *.c):
 * a monotonic clock, medians, the benchmark's argument set, VmRSS.
 *
 * Benchmarks print figures (KEY=VALUE lines the scripts/bench-* read); they
 * never pass or fail on a timing. A header rather than a .c file because the
 * Makefile builds every bench/ *.c into its own program.
 */
#ifndef TF_BENCH_COMMON_H
#define TF_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tickflow.h"

/* Monotonic seconds. */
static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) this process used so far. */
static inline double bench_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of n values (sorts v in place); 0 when n is 0. */
static inline double bench_median(double *v, size_t n)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Print a message to stderr and exit 1. */
static inline void bench_die(const char *what, const char *detail)
{
    fprintf(stderr, "bench: %s: %s\n", what, detail ? detail : "");
    exit(1);
}

/*
 * The benchmark's argument set:
 *   {"day":"2026-11-25","i":N,"tags":["a","b"],"opt":{"x":1.5}}
 * Built once; bench_args_set() changes N in place (what a flow that builds
 * its arguments per call would produce, without measuring cJSON building).
 * *inode receives the "i" node. The caller frees the tree with cJSON_Delete.
 */
static inline cJSON *bench_args_new(cJSON **inode)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *tags = cJSON_CreateArray();
    cJSON *opt = cJSON_CreateObject();
    if (!o || !tags || !opt)
        bench_die("build arguments", "out of memory");
    cJSON_AddStringToObject(o, "day", "2026-11-25");
    *inode = cJSON_AddNumberToObject(o, "i", 0);
    cJSON_AddItemToArray(tags, cJSON_CreateString("a"));
    cJSON_AddItemToArray(tags, cJSON_CreateString("b"));
    cJSON_AddItemToObject(o, "tags", tags);
    cJSON_AddNumberToObject(opt, "x", 1.5);
    cJSON_AddItemToObject(o, "opt", opt);
    if (!*inode)
        bench_die("build arguments", "out of memory");
    return o;
}

static inline void bench_args_set(cJSON *inode, long n)
{
    cJSON_SetNumberValue(inode, (double)n);
}

/* This process's resident set size in KiB (VmRSS), or -1. */
static inline long bench_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

#endif
