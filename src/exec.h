/*
 * exec.h - one execution in a child process (owned by exec.c).
 *
 * C works: fork; the child runs the function and sends the canonical JSON
 * result (or an error) back over a pipe, then _exit()s. Commands: a
 * vfork-style spawn and execve without a shell; stdout and stderr are two
 * pipes the parent reads (the last stdout line is the result; the latest
 * output_cap bytes of both are kept as the output tail). No file is written.
 * Every child leads its own process group (timeouts and stops kill the
 * whole group) and dies with the parent (PR_SET_PDEATHSIG). stdio is
 * flushed before fork so buffered output is never written twice. The
 * child's exit is watched through a pidfd, so the loop can poll() on it.
 */
#ifndef TF_EXEC_H
#define TF_EXEC_H

#include <poll.h>
#include <stdint.h>
#include <sys/types.h>

#include "tickflow.h"

typedef struct tf_exec tf_exec;

typedef struct tf_exec_spec {
    tf_work_fn fn;          /* C work: the function (NULL for a command) */
    void *fn_user;          /* C work: its user pointer */
    const cJSON *args;      /* C work: the argument set passed to fn */
    char *const *argv;      /* command: NULL-terminated, placeholders already filled */
    char *const *env;       /* command: NULL-terminated NAME=value set over the inherited environment, or NULL */
    const char *cwd;        /* command: working folder or NULL */
    size_t output_cap;      /* command: keep at most this many of the latest output bytes; 0 keeps none */
    double timeout;         /* seconds; 0 = none. Past it: SIGTERM to the group, SIGKILL 2 s later */
    double now;             /* the caller's step clock at start (steady seconds: timeouts, duration) */
    double wall;            /* epoch seconds at start, for the log header */
    const struct tf_reaper *watchdog; /* the child announces its group to it before it runs
                                         anything (tf_reaper_announce), or NULL */
} tf_exec_spec;

/* How an execution ended. Strings owned by the tf_exec. */
typedef struct tf_exec_result {
    int ok;                 /* 1: succeeded, result_json is set */
    const char *result_json;/* canonical JSON result text when ok */
    const char *error;      /* one-line reason when !ok ("killed by signal 11 (Segmentation fault)", "timed out after 5 s", "cannot run 'foo': No such file or directory", ...) */
    int exit_code;          /* exit status, or -1 if killed */
    int term_signal;        /* signal that ended it, or 0 */
    double duration;        /* seconds from start to reap */
    const char *output;     /* command: the latest output_cap bytes of stdout and stderr as read, as
                               UTF-8 text (an invalid byte or NUL becomes U+FFFD), or NULL if none */
    uint64_t output_total;  /* command: bytes the execution wrote in all */
    int output_truncated;   /* command: 1 when output holds only the latest output_cap of them */
} tf_exec_result;

/*
 * Start an execution. On TF_OK *out is running; free it with tf_exec_free.
 * On failure to fork/pipe, TF_EIO with err filled (a command that cannot be
 * executed is NOT a start failure: it ends with !ok and a clear error).
 */
int tf_exec_start(const tf_exec_spec *spec, tf_exec **out, char *err, size_t errlen);

pid_t tf_exec_pid(const tf_exec *e);

/* Fill up to max pollfds to wait on (pidfd, pipes). Returns how many. */
int tf_exec_pollfds(const tf_exec *e, struct pollfd *fds, int max);

/*
 * Do all non-blocking work: read pipes, enforce the timeout against now
 * (the clock of spec->now),
 * reap. Returns 1 once the execution has ended (result available), else 0.
 */
int tf_exec_step(tf_exec *e, double now);

/* The epoch time by which tf_exec_step must be called again (timeout, kill grace), or 0 for none. */
double tf_exec_deadline(const tf_exec *e);

/* The outcome; NULL until tf_exec_step returned 1. */
const tf_exec_result *tf_exec_result_of(const tf_exec *e);

/* Ask the whole group to stop (SIGTERM now, SIGKILL after the grace). Keep stepping to reap. */
void tf_exec_terminate(tf_exec *e, double now);

/* Kill the group (SIGKILL), reap, free. Accepts NULL. */
void tf_exec_free(tf_exec *e);

#endif
