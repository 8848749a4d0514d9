/*
 * proc.h - who is running (owned by proc.c): the identity a runner writes
 * on its claims (host name, pid, process start time) and the check "is the
 * process with this pid and this start time still alive on this host".
 *
 * The start time is field 22 of /proc/PID/stat (clock ticks since boot);
 * together with the pid it names one process even after the pid is reused.
 */
#ifndef TF_PROC_H
#define TF_PROC_H

#include "tickflow.h"

/* One process on one host. */
typedef struct tf_proc_id {
    char host[256];         /* gethostname(), NUL-terminated (truncated if longer) */
    long pid;               /* process id */
    long long start;        /* /proc/PID/stat field 22, or 0 if unknown */
} tf_proc_id;

/* Fill id with the calling process's identity. TF_OK or TF_EIO (no host name). */
int tf_proc_self(tf_proc_id *id);

/*
 * The start time of process pid. TF_OK with *start set; TF_ENOTFOUND if no
 * such process exists or it is a zombie (it has ended, only its exit status
 * is left); TF_EIO if /proc could not be read for another reason.
 */
int tf_proc_start_time(long pid, long long *start);

/*
 * 1 if a process with this pid and (when start != 0) this start time is
 * alive on this host, else 0. When /proc cannot tell, falls back to
 * kill(pid, 0) and answers "alive" unless the pid certainly does not exist,
 * so a doubt never lets a live runner's claim be taken over.
 */
int tf_proc_alive(long pid, long long start);

#endif
