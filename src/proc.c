/*
 * proc.c - runner identity for the store's claims: host name, pid and the
 * process start time from /proc/PID/stat, and the liveness check the store
 * uses to take over a claim whose runner died on this host.
 *
 * Linux only (/proc); where /proc is missing the start time is 0 and the
 * liveness check degrades to kill(pid, 0).
 */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tf_proc_self(tf_proc_id *id)
{
    memset(id, 0, sizeof *id);
    if (gethostname(id->host, sizeof id->host - 1) != 0) {
        int e = errno;
        if (e != ENAMETOOLONG)
            return TF_EIO;
    }
    id->host[sizeof id->host - 1] = '\0';
    id->pid = (long)getpid();
    long long start = 0;
    if (tf_proc_start_time(id->pid, &start) == TF_OK)
        id->start = start;
    return TF_OK;
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
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ESRCH ? TF_ENOTFOUND : TF_EIO;
    char buf[1024];
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            /* the process ended between open and read */
            return e == ESRCH ? TF_ENOTFOUND : TF_EIO;
        }
        if (r == 0 || (len += (size_t)r) == sizeof buf - 1)
            break;
    }
    close(fd);
    buf[len] = '\0';
    char state = '?';
    long long v = 0;
    if (parse_stat(buf, &state, &v) != 0)
        return TF_EIO;
    if (state == 'Z' || state == 'X')
        return TF_ENOTFOUND; /* ended: only the exit status is left */
    *start = v;
    return TF_OK;
}

int tf_proc_alive(long pid, long long start)
{
    if (pid <= 0)
        return 0;
    long long now_start = 0;
    int rc = tf_proc_start_time(pid, &now_start);
    if (rc == TF_ENOTFOUND)
        return 0;
    if (rc == TF_OK)
        return start == 0 || now_start == start;
    /* /proc could not tell: ask the kernel whether the pid exists */
    if (kill((pid_t)pid, 0) == 0)
        return 1;
    return errno != ESRCH;
}
