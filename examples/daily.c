/*
 * daily.c - the motivating pipeline: download, then train on what was
 * downloaded. train's argument is download's result, so each step runs once
 * per new day and not again when the same day is evaluated again (after a
 * restart too).
 *
 *   daily [--day YYYY-MM-DD] [--db PATH] [--data DIR]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* strdup, strptime: the example builds on its own too */
#endif
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tickflow.h"

static tf_app *the_app; /* for the signal handler */

static void on_signal(int sig)
{
    (void)sig;
    tf_app_stop(the_app);
}

typedef struct pipeline {
    tf_work *download;      /* fetches the day's data */
    tf_work *train;         /* trains on it */
    const char *day;        /* YYYY-MM-DD */
    const char *data_dir;   /* where files go */
} pipeline;

/* download({"day","dir"}) -> {"path": file, "rows": n}: writes the day's data file. */
static int download(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)user;
    const char *day = cJSON_GetStringValue(cJSON_GetObjectItem(args, "day"));
    const char *dir = cJSON_GetStringValue(cJSON_GetObjectItem(args, "dir"));
    char path[4096];
    if (!day || !dir || snprintf(path, sizeof path, "%s/%s.csv", dir, day) >= (int)sizeof path) {
        *error = strdup("download: bad arguments");
        return 1;
    }
    printf("download: fetching data for %s -> %s\n", day, path);
    FILE *f = fopen(path, "w");
    if (!f) {
        *error = strdup(strerror(errno));
        return 1;
    }
    int rows = 100 + (day[9] - '0') * 10;
    fprintf(f, "day,i,value\n");
    for (int i = 0; i < rows; i++)
        fprintf(f, "%s,%d,%d\n", day, i, (i * 37) % 101);
    if (fclose(f) != 0) {
        *error = strdup(strerror(errno));
        return 1;
    }
    *result = cJSON_CreateObject();
    cJSON_AddStringToObject(*result, "path", path);
    cJSON_AddNumberToObject(*result, "rows", rows);
    return 0;
}

/* train({"data": download's result}) -> {"model": file, "mean": m}. */
static int train(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)user;
    const cJSON *data = cJSON_GetObjectItem(args, "data");
    const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(data, "path"));
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) {
        *error = strdup("train: cannot read the downloaded data");
        return 1;
    }
    char line[256], day[32];
    long sum = 0, n = 0;
    int i, v;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%31[^,],%d,%d", day, &i, &v) == 3) {
            sum += v;
            n++;
        }
    fclose(f);
    printf("train: training on %s (%ld rows)\n", path, n);
    char model[4200];
    snprintf(model, sizeof model, "%s.model", path);
    *result = cJSON_CreateObject();
    cJSON_AddStringToObject(*result, "model", model);
    cJSON_AddNumberToObject(*result, "mean", n ? (double)sum / (double)n : 0);
    return 0;
}

static void flow(tf_tick *tick, void *user)
{
    pipeline *p = user;
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "day", p->day);
    cJSON_AddStringToObject(args, "dir", p->data_dir);
    tf_call dl;
    if (tf_run(tick, p->download, args, &dl) == TF_OK && dl.status == TF_CALL_SUCCEEDED) {
        /* Reachable: a blocking run returns once the execution ended. */
        cJSON *targs = cJSON_CreateObject();
        cJSON_AddItemToObject(targs, "data", cJSON_Duplicate(dl.result, 1));
        tf_run(tick, p->train, targs, NULL);
        cJSON_Delete(targs);
    }
    cJSON_Delete(args);
}

static void on_event(const tf_event *ev, void *user)
{
    (void)user;
    if (!strcmp(ev->what, "started"))
        return;
    printf("%-8s %.12s %-7s", ev->work, ev->key, ev->what);
    if (!strcmp(ev->what, "ran") || !strcmp(ev->what, "failed"))
        printf(" %.3fs", ev->duration);
    if (ev->error)
        printf(" (%s)", ev->error);
    putchar('\n');
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"day", required_argument, NULL, 'D'},
        {"db", required_argument, NULL, 'd'},
        {"data", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *usage = "usage: daily [--day YYYY-MM-DD] [--db PATH] [--data DIR]\n";
    char today[16];
    time_t t = time(NULL);
    struct tm tm;
    strftime(today, sizeof today, "%Y-%m-%d", localtime_r(&t, &tm));
    pipeline p = {NULL, NULL, today, "daily-data"};
    const char *db = "daily.db";
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'D': p.day = optarg; break;
        case 'd': db = optarg; break;
        case 'a': p.data_dir = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    struct tm check;
    const char *end = strptime(p.day, "%Y-%m-%d", &check);
    if (optind != argc || !end || *end || strlen(p.day) != 10) {
        fprintf(stderr, "daily: --day wants YYYY-MM-DD, got '%s'\n%s", p.day, usage);
        return 2;
    }
    if (mkdir(p.data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "daily: cannot create '%s': %s\n", p.data_dir, strerror(errno));
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    tf_app *app = NULL;
    int rc = tf_app_open(db, &app);
    if (rc == TF_OK)
        rc = tf_work_new(app, "download", download, NULL, NULL, &p.download);
    if (rc == TF_OK)
        rc = tf_work_new(app, "train", train, NULL, NULL, &p.train);
    if (rc == TF_OK)
        rc = tf_flow_add(app, "daily", flow, &p);
    uint64_t failed = 0;
    if (rc == TF_OK) {
        the_app = app;
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        tf_app_on_event(app, on_event, NULL);
        tf_loop_opts lopts;
        tf_loop_opts_init(&lopts);
        lopts.until_idle = 1;
        lopts.interval = 0.05;
        rc = tf_loop_run(app, &lopts, &failed);
    }
    if (rc != TF_OK)
        fprintf(stderr, "daily: %s\n", tf_errmsg(app));
    tf_app_close(app);
    return rc != TF_OK || failed ? 1 : 0;
}
