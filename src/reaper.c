/*
 * reaper.c - the watchdog that outlives its scheduler by a moment: it holds
 * the list of live execution process groups and SIGKILLs them when the
 * scheduler is gone (see reaper.h for why).
 *
 * Protocol: the scheduler writes fixed 8-byte records {op, pgid} to a pipe
 * (writes this small are atomic). The watchdog leaves the scheduler's
 * session (terminal signals are the scheduler's to handle), keeps only the
 * pipe open, and waits for records, end-of-file (the scheduler exited or
 * was killed: the kernel closes its end), or SIGHUP (its parent-death
 * signal, for the case where a forked C work still holds the pipe open).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reaper.h"

enum { OP_WATCH = 1, OP_FORGET = 2 };

#define MAX_GROUPS 4096

/* Record one group, or drop it; a full table keeps the oldest entries. */
static void apply(int32_t op, int32_t pgid, pid_t *groups, size_t *n)
{
    for (size_t i = 0; i < *n; i++) {
        if (groups[i] == pgid) {
            if (op == OP_FORGET)
                groups[i] = groups[--*n];
            return;
        }
    }
    if (op == OP_WATCH && *n < MAX_GROUPS && pgid > 1)
        groups[(*n)++] = pgid;
}

/* The watchdog's whole life. Never returns. */
static void watchdog(int rfd, pid_t parent)
{
    pid_t groups[MAX_GROUPS];
    size_t n = 0;
    setsid();
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    sigprocmask(SIG_BLOCK, &hup, NULL);
    int sfd = signalfd(-1, &hup, SFD_CLOEXEC);
    prctl(PR_SET_PDEATHSIG, SIGHUP);
    if (getppid() != parent)
        goto kill_all; /* the scheduler died before we were ready */
    for (;;) {
        struct pollfd fds[2] = {{rfd, POLLIN, 0}, {sfd, POLLIN, 0}};
        if (poll(fds, sfd >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (sfd >= 0 && (fds[1].revents & POLLIN))
            break;
        if (!(fds[0].revents & (POLLIN | POLLHUP)))
            continue;
        int32_t rec[2];
        ssize_t got = read(rfd, rec, sizeof rec);
        if (got == (ssize_t)sizeof rec)
            apply(rec[0], rec[1], groups, &n);
        else if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
            break;
    }
kill_all:
    for (size_t i = 0; i < n; i++)
        kill(-groups[i], SIGKILL);
    _exit(0);
}

int tf_reaper_start(tf_reaper *r)
{
    r->pid = 0;
    r->fd = -1;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        errno = e;
        return -1;
    }
    if (pid == 0) {
        /* Keep nothing of the scheduler but the read end. */
        for (int fd = 0; fd < 3; fd++) {
            int null = open("/dev/null", O_RDWR);
            if (null >= 0 && null != fd) {
                dup2(null, fd);
                close(null);
            }
        }
        if (p[0] != 3 && dup2(p[0], 3) != 3)
            _exit(1);
        close_range(4, ~0U, 0);
        watchdog(3, parent);
    }
    close(p[0]);
    r->pid = pid;
    r->fd = p[1];
    return 0;
}

static void send_record(tf_reaper *r, int32_t op, pid_t pgid)
{
    if (r->fd < 0 || pgid <= 1)
        return;
    int32_t rec[2] = {op, (int32_t)pgid};
    ssize_t w;
    do
        w = write(r->fd, rec, sizeof rec);
    while (w < 0 && errno == EINTR);
}

void tf_reaper_watch(tf_reaper *r, pid_t pgid)
{
    send_record(r, OP_WATCH, pgid);
}

void tf_reaper_forget(tf_reaper *r, pid_t pgid)
{
    send_record(r, OP_FORGET, pgid);
}

void tf_reaper_stop(tf_reaper *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    if (r->pid > 0) {
        while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    r->pid = 0;
}
