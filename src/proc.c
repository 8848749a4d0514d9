/*
 * proc.c - runner identity for the store's claims (host, boot id, PID
 * namespace, time namespace, pid, process start time), the liveness check
 * the store uses to take over a claim whose runner died in our namespace,
 * the boot's clock of leases, and the proof required before a dead runner's
 * execution group is signalled (see proc.h).
 *
 * Linux only (/proc); where /proc is missing the boot id and namespace are
 * unknown (every other runner is then judged by its lease), the start time
 * is 0 and the liveness check degrades to kill(pid, 0).
 */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Read a small /proc file into buf (NUL-terminated); bytes read, or -1. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, size - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0 || (len += (size_t)r) == size - 1)
            break;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

/* The boot id without its newline into out[40], or "" when unreadable. */
static void read_boot_id(char out[40])
{
    char buf[64];
    out[0] = '\0';
    if (read_small("/proc/sys/kernel/random/boot_id", buf, sizeof buf) <= 0)
        return;
    size_t n = strcspn(buf, "\n");
    if (n == 0 || n >= 40)
        return;
    memcpy(out, buf, n);
    out[n] = '\0';
}

/*
 * The inode of our PID namespace, or 0 when pids cannot be checked here:
 * also 0 when the /proc mounted is another namespace's (a container
 * without its own /proc: /proc/self then names another pid than ours, and
 * /proc/PID would look up the wrong processes).
 */
/* The inode of namespace file /proc/self/ns/NAME, or 0. */
static uint64_t ns_inode(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static uint64_t read_pidns(void)
{
    char self[32];
    ssize_t n = readlink("/proc/self", self, sizeof self - 1);
    if (n <= 0)
        return 0;
    self[n] = '\0';
    char *end;
    errno = 0;
    long p = strtol(self, &end, 10);
    if (errno || *end || p != (long)getpid())
        return 0;
    return ns_inode("/proc/self/ns/pid");
}

int tf_proc_self(tf_proc_id *id)
{
    memset(id, 0, sizeof *id);
    if (gethostname(id->host, sizeof id->host - 1) != 0) {
        int e = errno;
        if (e != ENAMETOOLONG)
            return TF_EIO;
    }
    id->host[sizeof id->host - 1] = '\0';
    read_boot_id(id->boot);
    id->pidns = read_pidns();
    id->timens = id->pidns ? ns_inode("/proc/self/ns/time") : 0;
    id->pid = (long)getpid();
    long long start = 0;
    if (tf_proc_start_time(id->pid, &start) == TF_OK)
        id->start = start;
    return TF_OK;
}

int tf_proc_same_ns(const tf_proc_id *self, const char *boot, uint64_t pidns)
{
    return self->boot[0] && self->pidns && boot && pidns == self->pidns
           && strcmp(boot, self->boot) == 0;
}

int tf_proc_same_clock(const tf_proc_id *self, const char *boot, uint64_t timens)
{
    return self->boot[0] && self->timens && boot && timens == self->timens
           && strcmp(boot, self->boot) == 0;
}

/*
 * Parse the text of /proc/PID/stat: the state (field 3) and the start time
 * (field 22). The command name (field 2) is in parentheses and may itself
 * hold spaces and ')', so fields are counted from the last ')'.
 */
static int parse_stat(const char *text, char *state, long long *start)
{
    const char *p = strrchr(text, ')');
    if (!p)
        return -1;
    p++;
    int field = 2;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        field++;
        if (field == 3) {
            *state = *p;
        } else if (field == 22) {
            char *end;
            errno = 0;
            long long v = strtoll(p, &end, 10);
            if (errno != 0 || end == p)
                return -1;
            *start = v;
            return 0;
        }
        while (*p && *p != ' ')
            p++;
    }
    return -1;
}

int tf_proc_start_time(long pid, long long *start)
{
    char path[64];
    int n = snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    if (pid <= 0 || n < 0 || (size_t)n >= sizeof path)
        return TF_ENOTFOUND;
    char buf[1024];
    if (read_small(path, buf, sizeof buf) < 0)
        /* ESRCH: the process ended between open and read */
        return errno == ENOENT || errno == ESRCH ? TF_ENOTFOUND : TF_EIO;
    char state = '?';
    long long v = 0;
    if (parse_stat(buf, &state, &v) != 0)
        return TF_EIO;
    if (state == 'Z' || state == 'X')
        return TF_ENOTFOUND; /* ended: only the exit status is left */
    *start = v;
    return TF_OK;
}

/*
 * 1 when /proc has no entry for pid although the kernel knows the process:
 * /proc mounted hidepid=1/2 hides other users' processes (and a zombie
 * still has its entry, so it is not one).
 */
static int proc_hides(long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld", pid);
    struct stat st;
    if (stat(path, &st) == 0)
        return 0;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int tf_proc_alive(long pid, long long start)
{
    if (pid <= 0)
        return 0;
    long long now_start = 0;
    int rc = tf_proc_start_time(pid, &now_start);
    if (rc == TF_OK)
        return start == 0 || now_start == start;
    if (rc == TF_ENOTFOUND && !proc_hides(pid))
        return 0; /* gone, or a zombie */
    /* /proc could not tell: ask the kernel whether the pid exists */
    if (kill((pid_t)pid, 0) == 0)
        return 1;
    return errno != ESRCH;
}

double tf_proc_boot_clock(void)
{
    struct timespec ts;
    if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) != 0)
        clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Write what was (not) done to a group into note; returns 0. */
static int say(char *note, size_t noted, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int say(char *note, size_t noted, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(note, noted, fmt, ap);
    va_end(ap);
    if (n < 0 && noted)
        note[0] = '\0';
    return 0;
}

int tf_proc_kill_group(const tf_proc_id *self, const tf_proc_group *g, char *note, size_t noted)
{
    long pg = g->pgid;
    if (pg <= 1)
        return say(note, noted, "no process group recorded: nothing signalled");
    if (!tf_proc_same_ns(self, g->boot, g->pidns))
        return say(note, noted, "not signalled: process group %ld was recorded in another"
                      " boot or PID namespace, where this pid means another process", pg);
    if (g->leader_start == 0)
        return say(note, noted, "not signalled: process group %ld has no recorded start"
                      " time to prove it", pg);
    /* Hold the leader while deciding: its pid cannot name another process meanwhile. */
    int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pg, 0);
    if (pidfd < 0 && errno == ESRCH)
        return say(note, noted, "not signalled: the leader of process group %ld is gone, so the"
                   " group cannot be proven (the watchdog took it down with its scheduler)", pg);
    if (pidfd < 0 && errno == ENOSYS)
        return say(note, noted, "not signalled: this system has no pidfd_open, so process %ld"
                   " cannot be held while it is checked", pg);
    long long now_start = 0;
    int rc = tf_proc_start_time(pg, &now_start);
    int sent = 0;
    if (rc == TF_ENOTFOUND)
        say(note, noted, "not signalled: the leader of process group %ld is gone, so the"
            " group cannot be proven (the watchdog took it down with its scheduler)", pg);
    else if (rc != TF_OK || pidfd < 0)
        say(note, noted, "not signalled: process %ld could not be checked", pg);
    else if (now_start != g->leader_start)
        say(note, noted, "not signalled: pid %ld is now another process (started at"
               " tick %lld, the execution at %lld)", pg, now_start, g->leader_start);
    else if (getpgid((pid_t)pg) != (pid_t)pg)
        say(note, noted, "not signalled: process %ld no longer leads its group", pg);
    else if (kill(-(pid_t)pg, SIGKILL) == 0) {
        sent = 1;
        say(note, noted, "killed process group %ld left by the dead runner", pg);
    } else {
        int e = errno;
        say(note, noted, "cannot signal process group %ld: %s", pg, strerror(e));
    }
    if (pidfd >= 0)
        close(pidfd);
    return sent;
}
