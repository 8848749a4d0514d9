/*
 * reaper.h - a watchdog process that kills a scheduler's running executions
 * when the scheduler dies, however it dies (owned by reaper.c).
 *
 * PR_SET_PDEATHSIG only reaches an execution's direct child; a command that
 * starts its own children (a shell script, a build) would leave them
 * running unsupervised after a SIGKILL of the scheduler. The reaper is
 * forked once per app; the scheduler tells it over a socket which process
 * groups are live. When the socket reaches end-of-file or the reaper's
 * parent-death signal arrives, it SIGKILLs every group it was told about
 * and exits. work.c starts it with the first execution, so a run in which
 * everything is cached never forks.
 *
 * The scheduler keeps its own copy of the groups it registered. Writes use
 * MSG_NOSIGNAL, so a dead watchdog is an error code, never a SIGPIPE that
 * would kill the host program; a watchdog found dead (a failed write, or
 * tf_reaper_check) is started again and told every live group anew.
 */
#ifndef TF_REAPER_H
#define TF_REAPER_H

#include <stddef.h>
#include <sys/types.h>

typedef struct tf_reaper {
    pid_t pid;              /* the watchdog process, or 0 if none */
    int fd;                 /* our end of its socket, or -1 */
    pid_t *groups;          /* live groups registered, owned */
    size_t ngroups;         /* count */
    size_t capgroups;       /* allocated */
    unsigned restarts;      /* watchdogs found dead and started again */
} tf_reaper;

/* A reaper with no watchdog yet (fd -1, no groups). */
void tf_reaper_init(tf_reaper *r);

/* Start the watchdog. 0, or -1 with errno set (the caller may go on without one). */
int tf_reaper_start(tf_reaper *r);

/*
 * Tell it that process group pgid is live / has ended. A watchdog found
 * dead is restarted and told every live group. 0, or -1 with errno set when
 * no watchdog could be had (the group is still remembered for the next).
 */
int tf_reaper_watch(tf_reaper *r, pid_t pgid);
int tf_reaper_forget(tf_reaper *r, pid_t pgid);

/*
 * In a new execution's child, after it made its own process group and
 * before it runs anything: tell the watchdog over fd (tf_reaper.fd, which
 * the child inherited) that this group is live, so no instant passes in
 * which the scheduler could die with the group unknown to its watchdog.
 * One send, async-signal-safe, safe in a vfork-style child; a failure is
 * ignored (the scheduler's own tf_reaper_watch follows and restarts a dead
 * watchdog). A group told twice is one group.
 */
void tf_reaper_announce(int fd);

/*
 * Reap a watchdog that died (killed by someone) and start another one with
 * every live group. 1 when one was restarted, 0 when all was well (or no
 * watchdog was running), -1 when a restart failed (errno set).
 */
int tf_reaper_check(tf_reaper *r);

/*
 * Stop the watchdog (it kills what is still registered), reap it and free
 * the group list. Accepts a stopped or never started one.
 */
void tf_reaper_stop(tf_reaper *r);

#endif
