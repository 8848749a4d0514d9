/*
 * proc.h - who is running (owned by proc.c): the identity a runner writes
 * on its claims and the only judgements of processes tickflow makes from
 * it: "is this runner alive" and "may this process group be signalled".
 *
 * Identity: host name (for people), boot id (/proc/sys/kernel/random/
 * boot_id: one kernel run), PID namespace (inode of /proc/self/ns/pid), pid
 * and process start time (field 22 of /proc/PID/stat, clock ticks since
 * boot). A pid means something only inside one PID namespace of one boot,
 * so a runner is judged by pid only when boot id and namespace are ours
 * (tf_proc_same_ns); anywhere else only its lease can tell.
 *
 * The boot's clock (tf_proc_boot_clock) is the clock of leases between
 * runners of one boot and time namespace: CLOCK_MONOTONIC, which never
 * steps with the wall clock (NTP, a resumed VM, a clock set by hand) and
 * stands still while the machine is suspended - as every runner does then,
 * so a suspend expires no lease of a live runner. It is read by system call,
 * so an LD_PRELOAD clock fake (libfaketime) does not reach it.
 */
#ifndef TF_PROC_H
#define TF_PROC_H

#include <stdint.h>
#include <stddef.h>

#include "tickflow.h"

/* One process on one host. */
typedef struct tf_proc_id {
    char host[256];         /* gethostname(), NUL-terminated (truncated if longer) */
    char boot[40];          /* boot id (a UUID), or "" when /proc does not say */
    uint64_t pidns;         /* inode of the PID namespace, or 0 when unknown */
    uint64_t timens;        /* inode of the time namespace (its clock offsets), or 0 when unknown */
    long pid;               /* process id, in pidns */
    long long start;        /* /proc/PID/stat field 22, or 0 if unknown */
} tf_proc_id;

/* Fill id with the calling process's identity. TF_OK or TF_EIO (no host name). */
int tf_proc_self(tf_proc_id *id);

/*
 * 1 when a runner recorded with this boot id and PID namespace shares
 * self's: its pid can be looked up here. An unknown boot or namespace (""
 * or 0, on either side) never matches.
 */
int tf_proc_same_ns(const tf_proc_id *self, const char *boot, uint64_t pidns);

/*
 * The start time of process pid. TF_OK with *start set; TF_ENOTFOUND if no
 * such process exists or it is a zombie (it has ended, only its exit status
 * is left); TF_EIO if /proc could not be read for another reason.
 */
int tf_proc_start_time(long pid, long long *start);

/*
 * 1 if a process with this pid and (when start != 0) this start time is
 * alive in our PID namespace, else 0. When /proc cannot tell, falls back to
 * kill(pid, 0) and answers "alive" unless the pid certainly does not exist,
 * so a doubt never lets a live runner's claim be taken over. Only
 * meaningful for a runner tf_proc_same_ns() accepted.
 */
int tf_proc_alive(long pid, long long start);

/*
 * 1 when a lease recorded on the boot clock of (boot, timens) can be read
 * against ours: same boot id and time namespace (a time namespace shifts
 * the monotonic clock). Unknown values never match.
 */
int tf_proc_same_clock(const tf_proc_id *self, const char *boot, uint64_t timens);

/*
 * Seconds on CLOCK_MONOTONIC, by system call (see the header comment).
 * Comparable only between processes of one boot and time namespace.
 */
double tf_proc_boot_clock(void);

/*
 * What a dead runner's execution group was recorded as (history row).
 */
typedef struct tf_proc_group {
    long pgid;              /* process group = pid of its leader, or 0 */
    long long leader_start; /* the leader's start time as recorded, or 0 */
    const char *boot;       /* the runner's boot id, or NULL */
    uint64_t pidns;         /* the runner's PID namespace, or 0 */
} tf_proc_group;

/*
 * SIGKILL the group g only if it provably still is that execution: same
 * boot and PID namespace as self, the leader alive (held through a pidfd
 * while deciding) with the recorded start time. Returns 1 when signalled,
 * 0 when not; note (noted bytes, always NUL-terminated) says which and why,
 * for the history row. Never signals on a doubt.
 */
int tf_proc_kill_group(const tf_proc_id *self, const tf_proc_group *g,
                       char *note, size_t noted);

#endif
