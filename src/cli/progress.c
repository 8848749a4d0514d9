/*
 * progress.c - run's one-line progress display on a terminal: calls done
 * of those seen so far, executions running, the rate over the last ten
 * seconds and an ETA, or how long it has waited for another runner. Only
 * when standard error is a terminal (never in a pipe or a cron log), and
 * only once a run has lasted a second with work outstanding, so a quick
 * run prints nothing extra.
 *
 * A thread redraws the line five times a second with write(2) on standard
 * error (no stdio, no allocation: a fork in the main thread can never
 * inherit a lock of ours that matters). The main thread updates the
 * counters and, around every line it prints, holds the display: the line
 * is erased first and redrawn afterwards, so output never lands in it.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "tickflow.h"
#include "cli.h"

/* Redraw period, and the history kept for the rate (samples of done). */
#define PROGRESS_PERIOD_MS 200
#define PROGRESS_SAMPLES 50 /* 10 s */
/* A run shows the line only after this many seconds. */
#define PROGRESS_DELAY 1.0

struct tf_cli_progress {
    pthread_t thread;       /* the redrawing thread */
    pthread_mutex_t mu;     /* guards everything below */
    pthread_cond_t cv;      /* wakes the thread to stop */
    int stop;               /* the thread should end */
    int drawn;              /* a line is on the screen now */
    int held;               /* the main thread is printing: do not draw */
    double start;           /* monotonic seconds at the start */
    uint64_t calls;         /* calls seen (distinct work and key) */
    uint64_t done;          /* of those, settled: ran, cached, failed */
    uint64_t waiting;       /* of those, waiting for another runner */
    int64_t running;        /* executions started and not ended */
    double wait_since;      /* monotonic start of the current wait on another runner, or 0 */
    double t[PROGRESS_SAMPLES];   /* sample times */
    uint64_t d[PROGRESS_SAMPLES]; /* done at those times */
    size_t ns;              /* samples taken (ring index = ns % PROGRESS_SAMPLES) */
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "1m05s", "3h02m", "12s". */
static void short_time(double s, char out[24])
{
    long long t = s > 0 ? (long long)(s + 0.5) : 0;
    if (t >= 3600)
        snprintf(out, 24, "%lldh%02lldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(out, 24, "%lldm%02llds", t / 60, t % 60);
    else
        snprintf(out, 24, "%llds", t);
}

static void put(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0)
            return; /* a display line is not worth retrying */
        s += w;
        n -= (size_t)w;
    }
}

/* Erase the line if one is drawn. Called with mu held. */
static void erase_locked(tf_cli_progress *p)
{
    if (p->drawn)
        put("\r\033[K", 4);
    p->drawn = 0;
}

/* Compose and draw the line (mu held). */
static void draw_locked(tf_cli_progress *p, double now)
{
    size_t k = p->ns % PROGRESS_SAMPLES;
    p->t[k] = now;
    p->d[k] = p->done;
    p->ns++;
    if (p->held || now - p->start < PROGRESS_DELAY)
        return;
    int64_t left = (int64_t)(p->calls - p->done);
    if (left <= 0 && p->running <= 0) {
        erase_locked(p);
        return;
    }
    /* the rate over the oldest sample kept (up to 10 s back) */
    size_t oldest = p->ns > PROGRESS_SAMPLES ? p->ns % PROGRESS_SAMPLES : 0;
    double dt = now - p->t[oldest];
    double rate = dt > 0.5 ? (double)(p->done - p->d[oldest]) / dt : 0;
    char line[256], eta[24], waited[24];
    int n = snprintf(line, sizeof line, "\r\033[K%llu/%llu calls done, %lld running",
                     (unsigned long long)p->done, (unsigned long long)p->calls,
                     (long long)(p->running > 0 ? p->running : 0));
    if (n > 0 && (size_t)n < sizeof line && rate > 0) {
        short_time(left / rate, eta);
        n += snprintf(line + n, sizeof line - (size_t)n, ", %.1f/s, ETA %s", rate, eta);
    }
    if (n > 0 && (size_t)n < sizeof line && p->waiting && p->wait_since > 0) {
        short_time(now - p->wait_since, waited);
        n += snprintf(line + n, sizeof line - (size_t)n, ", waiting %s for another runner (%llu)",
                      waited, (unsigned long long)p->waiting);
    }
    if (n <= 0)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10 && len - 4 > (size_t)ws.ws_col - 1)
        len = 4 + (size_t)ws.ws_col - 1; /* never wrap: "\r\033[K" is 4 bytes */
    put(line, len);
    p->drawn = 1;
}

static void *run_thread(void *arg)
{
    tf_cli_progress *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += PROGRESS_PERIOD_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->cv, &p->mu, &until);
        if (!p->stop)
            draw_locked(p, mono());
    }
    erase_locked(p);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

tf_cli_progress *tf_cli_progress_start(void)
{
    const char *term = getenv("TERM");
    if (!isatty(STDERR_FILENO) || (term && !strcmp(term, "dumb")))
        return NULL;
    tf_cli_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL; /* no display, the run goes on */
    p->start = mono();
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return NULL;
    }
    pthread_cond_init(&p->cv, NULL);
    /* the thread must not take the signals the run handles (SIGINT, SIGTERM, SIGCHLD) */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&p->thread, NULL, run_thread, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    return p;
}

void tf_cli_progress_stop(tf_cli_progress *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void tf_cli_progress_count(tf_cli_progress *p, const tf_event *ev, uint64_t calls, uint64_t done,
                           uint64_t waiting)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->calls = calls;
    p->done = done;
    if (waiting && !p->waiting)
        p->wait_since = mono();
    else if (!waiting)
        p->wait_since = 0;
    p->waiting = waiting;
    if (!strcmp(ev->what, "started"))
        p->running++;
    else if ((!strcmp(ev->what, "ran") || !strcmp(ev->what, "failed") ||
              !strcmp(ev->what, "interrupted") || !strcmp(ev->what, "fenced-out")) &&
             ev->attempt > 0)
        p->running--;
    pthread_mutex_unlock(&p->mu);
}

void tf_cli_progress_hold(tf_cli_progress *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    erase_locked(p);
    p->held = 1;
}

void tf_cli_progress_release(tf_cli_progress *p)
{
    if (!p)
        return;
    p->held = 0;
    pthread_mutex_unlock(&p->mu);
}
