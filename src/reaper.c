/*
 * reaper.c - the watchdog that outlives its scheduler by a moment: it holds
 * the list of live execution process groups and SIGKILLs them when the
 * scheduler is gone (see reaper.h for why).
 *
 * Protocol: the scheduler sends fixed 8-byte records {op, pgid} over a
 * SOCK_SEQPACKET socket pair (one record per packet), with MSG_NOSIGNAL.
 * The watchdog leaves the scheduler's session (terminal signals are the
 * scheduler's to handle), keeps only the socket open, and waits for
 * records, end-of-file (the scheduler exited or was killed: the kernel
 * closes its end), or SIGHUP (its parent-death signal, for the case where
 * a forked C work still holds the socket open).
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
#include <sys/socket.h>
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
    int sfd = signalfd(-1, &hup, SFD_CLOEXEC | SFD_NONBLOCK);
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
        if (sfd >= 0 && (fds[1].revents & POLLIN)) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                ;
            if (getppid() != parent)
                break; /* the scheduler is gone */
            continue; /* a stray SIGHUP (or the forking thread ended): the scheduler lives */
        }
        if (!(fds[0].revents & (POLLIN | POLLHUP)))
            continue;
        int32_t rec[2];
        ssize_t got = recv(rfd, rec, sizeof rec, 0);
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

void tf_reaper_init(tf_reaper *r)
{
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

int tf_reaper_start(tf_reaper *r)
{
    r->pid = 0;
    r->fd = -1;
    int p[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) != 0)
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
        /* Keep nothing of the scheduler but the read end, first moved out of
           the way of 0-2 (a scheduler started with stdin closed got it as fd 0). */
        int keep = fcntl(p[0], F_DUPFD, 10);
        if (keep < 0)
            _exit(1);
        p[0] = keep;
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

/* Send one record; 0, or -1 with errno set (EPIPE when the watchdog is gone). */
static int send_record(tf_reaper *r, int32_t op, pid_t pgid)
{
    if (r->fd < 0) {
        errno = EPIPE;
        return -1;
    }
    int32_t rec[2] = {op, (int32_t)pgid};
    ssize_t w;
    do
        w = send(r->fd, rec, sizeof rec, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (w < 0 && errno == EINTR);
    return w == (ssize_t)sizeof rec ? 0 : -1;
}

void tf_reaper_announce(int fd)
{
    if (fd < 0)
        return;
    int32_t rec[2] = {OP_WATCH, (int32_t)getpid()}; /* the caller leads its group */
    while (send(fd, rec, sizeof rec, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno == EINTR)
        ;
}

/* The dead watchdog's remains: close our end, reap it if it has ended. */
static void bury(tf_reaper *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    if (r->pid > 0)
        while (waitpid(r->pid, NULL, WNOHANG) < 0 && errno == EINTR)
            ;
    r->pid = 0;
}

/*
 * Start a new watchdog and tell it every live group; counted as a restart
 * when one had been running. 0, or -1 (errno set).
 */
static int restart(tf_reaper *r, int had_one)
{
    bury(r);
    if (tf_reaper_start(r) != 0)
        return -1;
    r->restarts += had_one != 0;
    for (size_t i = 0; i < r->ngroups; i++) {
        if (send_record(r, OP_WATCH, r->groups[i]) != 0) {
            int e = errno;
            bury(r);
            errno = e;
            return -1;
        }
    }
    return 0;
}

/* errno of a failed send says the watchdog is gone (its end is closed), or we never had one. */
static int gone(const tf_reaper *r)
{
    return r->fd < 0 || errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN;
}

/*
 * Send a record; a watchdog found gone is restarted (it then knows every
 * group). Any other failure (a full socket: the watchdog is stopped) is
 * reported and the watchdog left alone: closing a live watchdog's socket
 * would make it kill every group.
 */
static int tell(tf_reaper *r, int32_t op, pid_t pgid)
{
    if (send_record(r, op, pgid) == 0)
        return 0;
    if (!gone(r))
        return -1;
    return restart(r, r->fd >= 0);
}

int tf_reaper_watch(tf_reaper *r, pid_t pgid)
{
    if (pgid <= 1)
        return 0;
    if (r->ngroups == r->capgroups) {
        size_t cap = r->capgroups ? r->capgroups * 2 : 16;
        pid_t *g = realloc(r->groups, cap * sizeof *g);
        if (!g)
            return -1;
        r->groups = g;
        r->capgroups = cap;
    }
    r->groups[r->ngroups++] = pgid;
    return tell(r, OP_WATCH, pgid);
}

int tf_reaper_forget(tf_reaper *r, pid_t pgid)
{
    if (pgid <= 1)
        return 0;
    for (size_t i = 0; i < r->ngroups; i++) {
        if (r->groups[i] == pgid) {
            r->groups[i] = r->groups[--r->ngroups];
            break;
        }
    }
    /* a dead watchdog that forgets is replaced only when groups remain to guard */
    if (send_record(r, OP_FORGET, pgid) == 0)
        return 0;
    if (!gone(r))
        return -1;
    return r->ngroups ? restart(r, r->fd >= 0) : 0;
}

int tf_reaper_check(tf_reaper *r)
{
    if (r->pid <= 0)
        return 0;
    pid_t w;
    do
        w = waitpid(r->pid, NULL, WNOHANG);
    while (w < 0 && errno == EINTR);
    if (w == 0)
        return 0; /* alive */
    r->pid = 0; /* reaped, or not our child any more */
    return restart(r, 1) == 0 ? 1 : -1;
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
    free(r->groups);
    r->groups = NULL;
    r->ngroups = r->capgroups = 0;
}
