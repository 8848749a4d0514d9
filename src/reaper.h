/*
 * reaper.h - a watchdog process that kills a scheduler's running executions
 * when the scheduler dies, however it dies (owned by reaper.c).
 *
 * PR_SET_PDEATHSIG only reaches an execution's direct child; a command that
 * starts its own children (a shell script, a build) would leave them
 * running unsupervised after a SIGKILL of the scheduler. The reaper is
 * forked once per app; the scheduler
 * tells it over a pipe which process groups are live. When the pipe reaches
 * end-of-file or the reaper's parent-death signal arrives, it SIGKILLs every
 * group it was told about and exits. work.c starts it with the first
 * execution, so a run in which everything is cached never forks.
 */
#ifndef TF_REAPER_H
#define TF_REAPER_H

#include <sys/types.h>

typedef struct tf_reaper {
    pid_t pid;              /* the watchdog process, or 0 if none */
    int fd;                 /* write end of its pipe, or -1 */
} tf_reaper;

/* Start the watchdog. 0, or -1 with errno set (the caller may go on without one). */
int tf_reaper_start(tf_reaper *r);

/* Tell it that process group pgid is live / has ended. Best effort. */
void tf_reaper_watch(tf_reaper *r, pid_t pgid);
void tf_reaper_forget(tf_reaper *r, pid_t pgid);

/* Stop the watchdog (it kills what is still registered) and reap it. Accepts a stopped one. */
void tf_reaper_stop(tf_reaper *r);

#endif
