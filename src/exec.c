/*
 * exec.c - one execution in a child process.
 *
 * This module owns everything between "run this work now" and "here is how
 * it ended": fork, the child's set-up (own process group, death with the
 * parent, default signals), the pipes back to the parent, the pidfd that
 * tells the loop when the child exited, timeouts (SIGTERM to the group, then
 * SIGKILL after a grace), reaping, and turning what came back into a
 * tf_exec_result.
 *
 * Two kinds of execution:
 *  - C works: the forked child calls the function, canonicalizes its result
 *    and writes one framed message to a result pipe: a status byte ('S'
 *    canonical JSON, 'E' error text), an 8-byte big-endian payload length,
 *    the payload. The child then _exit()s, so atexit handlers and stdio
 *    buffers inherited from the scheduler never run or flush twice.
 *  - commands: a vfork-style spawn (clone with CLONE_VM | CLONE_VFORK, the
 *    child making system calls only, over argv, environment and PATH
 *    candidates the parent prepared) and execve without a shell, searching
 *    PATH like execvpe. stdout goes to a pipe the
 *    parent reads and scans for the last non-empty line (kept in bounded
 *    memory); stderr goes to a second pipe. Both streams, in the order they
 *    are read, feed the execution's output tail: at most spec->output_cap
 *    bytes, the latest ones (the caller stores them with the attempt), so no
 *    file is ever written and a silent command allocates nothing for it.
 *    exec/chdir failures come back over a close-on-exec pipe carrying errno.
 *
 * Nothing here blocks except tf_exec_free's final reap of a killed child.
 * No global state and no signal handlers: the child's exit is observed
 * through a pidfd (or, where pidfds are unavailable, by polling waitpid on
 * the deadline tf_exec_deadline reports).
 *
 * PR_SET_PDEATHSIG fires when the thread that forked exits; the scheduler
 * starts executions from its main thread, which lives as long as it does.
 */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"
#include "reaper.h"

extern char **environ;

#define TF_EXEC_LINE_MAX ((size_t)1 << 20)      /* longest last output line kept (1 MiB) */
#define TF_EXEC_RESULT_MAX ((size_t)256 << 20)  /* largest C work result message (256 MiB) */
#define TF_EXEC_CHUNK ((size_t)64 << 10)        /* bytes per read() */
#define TF_EXEC_STEP_READS 16                   /* reads per pipe per step: keeps one busy child from starving the loop */
#define TF_EXEC_GRACE 2.0                       /* seconds between SIGTERM and SIGKILL */
#define TF_EXEC_POLL_NOPIDFD 0.05               /* step interval when no pidfd can be had */
#define TF_EXEC_ERRMSG_MAX 4096                 /* longest error text kept from a C work */

/* What the command child reports over the exec-error pipe before _exit(127). */
typedef struct exec_failure {
    int stage;              /* 'c': chdir failed, 'x': exec failed, 's': child set-up failed */
    int err;                /* errno of the failing call */
} exec_failure;

struct tf_exec {
    int is_cmd;             /* 1: command, 0: C work */
    pid_t pid;              /* the child, also its process group id */
    int pidfd;              /* pidfd of the child, -1 once reaped or if unavailable */
    int have_pidfd;         /* 1 if pidfd_open worked (else waitpid is polled) */
    int out_fd;             /* C: result pipe; command: stdout pipe (read ends, non-blocking), -1 at EOF */
    int fail_fd;            /* command: exec-error pipe read end, -1 when not used */
    int err_fd;             /* command: stderr pipe read end (non-blocking), -1 at EOF */
    size_t tail_cap;        /* command: output bytes kept (the latest ones); 0 keeps none */
    tf_buf tail;            /* command: output kept so far, at most 2 * tail_cap bytes */
    uint64_t out_total;     /* command: output bytes seen (stdout + stderr) */
    char *argv0;            /* command: copy of argv[0], for messages */
    char *cwd;              /* command: copy of the working folder, for messages */
    double start;           /* app-clock epoch seconds at start */
    struct timespec mono0;  /* CLOCK_MONOTONIC at start, for the duration */
    double timeout;         /* seconds allowed, 0 for no limit */
    int timed_out;          /* 1 once the timeout fired */
    double kill_at;         /* app-clock time to send SIGKILL to the group, 0 if none pending */
    double last_now;        /* now of the latest step (for the no-pidfd poll deadline) */
    int reaped;             /* 1 once waitpid collected the child */
    int wstatus;            /* raw wait status once reaped */
    int lost;               /* 1 if the child was reaped by someone else (ECHILD) */
    char *chunk;            /* TF_EXEC_CHUNK bytes of read buffer */
    tf_buf msg;             /* C: the result message received so far */
    tf_buf cur;             /* command: the output line being assembled (capped) */
    int cur_over;           /* command: cur went past TF_EXEC_LINE_MAX */
    tf_buf last;            /* command: the last complete non-empty line */
    int last_over;          /* command: the last complete non-empty line was too long */
    int done;               /* 1 once the result is built */
    tf_exec_result res;     /* the outcome once done */
    char *res_json;         /* owned storage of res.result_json */
    char *res_error;        /* owned storage of res.error */
    char *res_output;       /* owned storage of res.output */
};

/* ---- small helpers ---------------------------------------------------- */

/* snprintf into err (may be NULL), always terminated even when truncated. */
__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (n < 0)
        err[0] = '\0';
    else if ((size_t)n >= errlen)
        err[errlen - 1] = '\0'; /* truncated: still a terminated message */
}

static double mono_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Write all n bytes (retrying short writes and EINTR). 0 or -1 with errno. */
static int write_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copy of s, or NULL if s is NULL or memory ran out (*oom set then). */
static char *dup_opt(const char *s, int *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = 1;
    return d;
}

/* Format a duration for messages: "5", "0.3", "1.25". */
static void fmt_seconds(char *out, size_t len, double s)
{
    int n = snprintf(out, len, "%g", s);
    if (n < 0 || (size_t)n >= len)
        out[len - 1] = '\0';
}

/* ---- the child side (async-signal-safe calls only before fn/exec) ------ */

/*
 * Common set-up of every child: own process group, SIGKILL when the parent
 * dies (and exit if it already did), the group announced to the watchdog
 * (watch_fd, or -1), default signal dispositions and an empty mask so the
 * work sees a clean slate whatever the scheduler set.
 */
static void child_setup(pid_t parent, int watch_fd)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    tf_reaper_announce(watch_fd); /* from here, the scheduler's death kills the whole group */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (int s = 1; s < NSIG; s++)
        (void)sigaction(s, &sa, NULL); /* fails harmlessly for SIGKILL, SIGSTOP, libc-reserved */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Move fd above the standard descriptors (close-on-exec) so dup2 onto 0..2 cannot clobber it. */
static int child_lift(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

static void child_report(int fd, int stage, int e)
{
    exec_failure f;
    memset(&f, 0, sizeof f);
    f.stage = stage;
    f.err = e;
    (void)write_all(fd, &f, sizeof f);
    _exit(127);
}

/* Send the framed message: status byte, 8-byte big-endian length, payload. */
static void child_send(int fd, char status, const char *p, size_t n)
{
    unsigned char hdr[9];
    hdr[0] = (unsigned char)status;
    uint64_t len = n;
    for (int i = 0; i < 8; i++)
        hdr[1 + i] = (unsigned char)(len >> (56 - 8 * i));
    if (write_all(fd, hdr, sizeof hdr) != 0 || write_all(fd, p, n) != 0)
        _exit(125);
}

static void child_send_str(int fd, char status, const char *s)
{
    child_send(fd, status, s, strlen(s));
}

/* The C work child: run fn, send the outcome, _exit. Never returns. */
static void child_run_work(const tf_exec_spec *spec, int fd)
{
    cJSON *result = NULL;
    char *error = NULL;
    int failed = 1; /* exit status 1 whenever an error frame is sent */
    int rc = spec->fn(spec->args, spec->fn_user, &result, &error);
    if (rc != 0) {
        if (error && *error) {
            child_send_str(fd, 'E', error);
        } else {
            char msg[64];
            snprintf(msg, sizeof msg, "work failed with code %d", rc);
            child_send_str(fd, 'E', msg);
        }
    } else if (!result) {
        child_send_str(fd, 'S', "null");
        failed = 0;
    } else {
        char *canon = NULL;
        size_t clen = 0;
        tf_error jerr;
        memset(&jerr, 0, sizeof jerr);
        int crc = tf_canon_tree(result, &canon, &clen, &jerr);
        if (crc == TF_OK) {
            child_send(fd, 'S', canon, clen);
            failed = 0;
        } else {
            char msg[600];
            snprintf(msg, sizeof msg, "work returned an invalid result: %s",
                     crc == TF_ENOMEM ? "out of memory" : jerr.msg[0] ? jerr.msg : tf_strerror(crc));
            child_send_str(fd, 'E', msg);
        }
        free(canon);
    }
    cJSON_Delete(result);
    free(error);
    close(fd);
    fflush(NULL);
    _exit(failed);
}

/*
 * Everything the command child needs, prepared by the parent before the
 * spawn: the child shares the parent's memory (CLONE_VM) and must not
 * allocate, lock or touch stdio, so it only reads this and makes system
 * calls.
 */
typedef struct spawn_ctx {
    pid_t parent;           /* the scheduler, for the getppid check */
    char *const *argv;      /* the command's argv */
    char *const *envp;      /* its complete environment */
    char **cands;           /* paths to try with execve, in PATH order, NULL-terminated */
    char **script_argv;     /* "/bin/sh", <slot for the candidate>, argv[1..], NULL: for ENOEXEC */
    const char *cwd;        /* folder to change to, or NULL */
    int out_w;              /* stdout pipe, write end */
    int fail_w;             /* exec-error pipe, write end (close-on-exec) */
    int err_w;              /* stderr pipe, write end */
    int watch_fd;           /* the watchdog's socket (close-on-exec), or -1 */
} spawn_ctx;

/*
 * Try each candidate like execvpe: a file that is not an executable format
 * is run by /bin/sh; EACCES is remembered and the search goes on; ENOENT,
 * ENOTDIR and the like go on; any other error stops it. Returns the errno
 * to report (only when nothing could be executed).
 */
static int child_exec_search(const spawn_ctx *c)
{
    int eacces = 0, e = ENOENT;
    for (char **p = c->cands; *p; p++) {
        execve(*p, c->argv, c->envp);
        e = errno;
        if (e == ENOEXEC) {
            c->script_argv[1] = *p; /* the parent is suspended until we exec or exit */
            execve(c->script_argv[0], c->script_argv, c->envp);
            e = errno;
        }
        switch (e) {
        case EACCES:
            eacces = 1;
            break;
        case ENOENT: case ESTALE: case ENOTDIR: case ENODEV: case ETIMEDOUT:
            break;
        default:
            return e;
        }
    }
    return eacces ? EACCES : e;
}

/*
 * The command child, run by clone(CLONE_VM | CLONE_VFORK) on its own stack:
 * async-signal-safe system calls only (see spawn_ctx). Wires fds, chdir,
 * exec. Never returns.
 */
static int child_run_command(void *arg)
{
    const spawn_ctx *c = arg;
    child_setup(c->parent, c->watch_fd);
    int fail_w = child_lift(c->fail_w);
    if (fail_w < 0)
        _exit(127);
    int out_w = child_lift(c->out_w);
    int err_w = child_lift(c->err_w);
    if (out_w < 0 || err_w < 0)
        child_report(fail_w, 's', errno);
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in < 0)
        child_report(fail_w, 's', errno);
    in = child_lift(in);
    if (in < 0 || dup2(in, 0) < 0 || dup2(out_w, 1) < 0)
        child_report(fail_w, 's', errno);
    if (dup2(err_w, 2) < 0)
        child_report(fail_w, 's', errno);
    if (c->cwd && chdir(c->cwd) != 0)
        child_report(fail_w, 'c', errno);
    child_report(fail_w, 'x', child_exec_search(c));
    return 127; /* not reached */
}

/* ---- the parent side -------------------------------------------------- */

/* Length of the NAME part of "NAME=value" (whole string if no '='). */
static size_t env_name_len(const char *s)
{
    const char *eq = strchr(s, '=');
    return eq ? (size_t)(eq - s) : strlen(s);
}

static int env_same_name(const char *a, const char *b)
{
    size_t la = env_name_len(a);
    return la == env_name_len(b) && memcmp(a, b, la) == 0;
}

/*
 * The child's environment: the inherited entries whose names extra does not
 * set, then extra's entries (the last one wins for a repeated name; entries
 * without '=' are ignored). Returns a malloc'd array of borrowed pointers
 * (the caller frees the array only), or NULL on ENOMEM.
 */
static char **build_env(char *const *extra)
{
    size_t n = 0, m = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    for (char *const *x = extra; x && *x; x++)
        m++;
    char **env = calloc(n + m + 1, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (char **e = environ; e && *e; e++) {
        int overridden = 0;
        for (size_t j = 0; j < m && !overridden; j++)
            overridden = strchr(extra[j], '=') && env_same_name(*e, extra[j]);
        if (!overridden)
            env[k++] = *e;
    }
    for (size_t j = 0; j < m; j++) {
        if (!strchr(extra[j], '='))
            continue;
        int later = 0;
        for (size_t i = j + 1; i < m && !later; i++)
            later = strchr(extra[i], '=') && env_same_name(extra[j], extra[i]);
        if (!later)
            env[k++] = extra[j];
    }
    env[k] = NULL;
    return env;
}

/*
 * The paths execvpe would try for file, in one malloc'd block (the caller
 * frees the returned array only): file itself if it has a '/', else each
 * PATH entry of this process joined with it (an empty entry is the working
 * folder; no PATH means "/bin:/usr/bin", glibc's default). NULL on ENOMEM.
 */
static char **exec_candidates(const char *file)
{
    const char *path = strchr(file, '/') ? NULL : getenv("PATH");
    if (!strchr(file, '/') && !path)
        path = "/bin:/usr/bin";
    size_t flen = strlen(file), n = 1, bytes = flen + 1;
    if (path && *file) {
        n = 1;
        for (const char *q = path; *q; q++)
            n += *q == ':';
        bytes = strlen(path) + n * (flen + 2);
    }
    char **v = malloc((n + 1) * sizeof *v + bytes);
    if (!v)
        return NULL;
    char *w = (char *)(v + n + 1);
    if (!path || !*file) {
        /* a path, or an empty name (execve reports ENOENT) */
        memcpy(w, file, flen + 1);
        v[0] = w;
        v[1] = NULL;
        return v;
    }
    size_t k = 0;
    for (const char *q = path;; ) {
        const char *colon = strchr(q, ':');
        size_t dlen = colon ? (size_t)(colon - q) : strlen(q);
        v[k++] = w;
        memcpy(w, q, dlen);
        w += dlen;
        if (dlen)
            *w++ = '/';
        memcpy(w, file, flen + 1);
        w += flen + 1;
        if (!colon)
            break;
        q = colon + 1;
    }
    v[k] = NULL;
    return v;
}

/* {"/bin/sh", NULL (filled by the child), argv[1..], NULL}, malloc'd; NULL on ENOMEM. */
static char **script_argv_of(char *const *argv)
{
    size_t n = 0;
    while (argv[n])
        n++;
    char **v = calloc(n + 2, sizeof *v);
    if (!v)
        return NULL;
    v[0] = (char *)"/bin/sh";
    for (size_t i = 1; i < n; i++)
        v[i + 1] = argv[i];
    return v;
}

#define TF_EXEC_SPAWN_STACK ((size_t)64 << 10) /* the command child's stack (it only makes system calls) */

/*
 * Start a command child without copying the scheduler's address space:
 * clone(CLONE_VM | CLONE_VFORK) runs child_run_command on its own stack in
 * our memory, and we are suspended until it has exec'd or exited, so the
 * cost does not grow with the scheduler's heap the way fork's page-table
 * copy does. Everything the child reads is prepared here first. All
 * signals are blocked around the clone so that none of our handlers can
 * run in the child (which shares our memory) before it has reset them.
 * The read ends of the pipes are close-on-exec, so the child never holds
 * them past its exec. Returns the pid, or -1 with err filled.
 */
static pid_t spawn_command(const tf_exec_spec *spec, char *const *envp, pid_t parent,
                           int out_w, int fail_w, int err_w, struct timespec *mono0,
                           char *err, size_t errlen)
{
    spawn_ctx c = {
        .parent = parent, .argv = spec->argv, .envp = envp, .cwd = spec->cwd,
        .out_w = out_w, .fail_w = fail_w, .err_w = err_w,
        .watch_fd = spec->watchdog ? spec->watchdog->fd : -1,
    };
    c.cands = exec_candidates(spec->argv[0]);
    c.script_argv = script_argv_of(spec->argv);
    char *stack = malloc(TF_EXEC_SPAWN_STACK);
    pid_t pid = -1;
    if (!c.cands || !c.script_argv || !stack) {
        set_err(err, errlen, "cannot start '%s': out of memory", spec->argv[0]);
    } else {
        sigset_t all, old;
        sigfillset(&all);
        sigprocmask(SIG_SETMASK, &all, &old);
        clock_gettime(CLOCK_MONOTONIC, mono0);
        /* the stack grows down on every architecture Linux runs us on here */
        pid = clone(child_run_command, stack + TF_EXEC_SPAWN_STACK,
                    CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
        int e = errno;
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (pid < 0)
            set_err(err, errlen, "cannot start '%s': %s", spec->argv[0], strerror(e));
    }
    free(stack);
    free(c.cands);
    free(c.script_argv);
    return pid;
}

static void exec_destroy(tf_exec *e)
{
    close_fd(&e->pidfd);
    close_fd(&e->out_fd);
    close_fd(&e->fail_fd);
    close_fd(&e->err_fd);
    tf_buf_free(&e->tail);
    free(e->argv0);
    free(e->cwd);
    free(e->chunk);
    tf_buf_free(&e->msg);
    tf_buf_free(&e->cur);
    tf_buf_free(&e->last);
    free(e->res_json);
    free(e->res_error);
    free(e->res_output);
    free(e);
}

/*
 * Start an execution (see exec.h). The spec is only read during the call:
 * nothing in it needs to outlive tf_exec_start. On TF_OK the caller owns
 * *out and frees it with tf_exec_free.
 */
int tf_exec_start(const tf_exec_spec *spec, tf_exec **out, char *err, size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!spec || (!spec->fn && (!spec->argv || !spec->argv[0]))) {
        if (err && errlen)
            snprintf(err, errlen, "nothing to execute: neither a function nor a command");
        return TF_EINPUT;
    }
    tf_exec *e = calloc(1, sizeof *e);
    if (!e)
        return TF_ENOMEM;
    e->pidfd = e->out_fd = e->fail_fd = e->err_fd = -1;
    e->is_cmd = spec->fn == NULL;
    e->start = spec->now;
    e->last_now = spec->now;
    e->timeout = spec->timeout > 0 ? spec->timeout : 0;
    int oom = 0;
    e->chunk = malloc(TF_EXEC_CHUNK);
    if (!e->chunk)
        oom = 1;
    char **envp = NULL;
    if (e->is_cmd) {
        e->argv0 = dup_opt(spec->argv[0], &oom);
        e->cwd = dup_opt(spec->cwd, &oom);
        e->tail_cap = spec->output_cap;
        if (!oom && !(envp = build_env(spec->env)))
            oom = 1;
    }
    if (oom) {
        free(envp);
        exec_destroy(e);
        return TF_ENOMEM;
    }

    int p[2] = {-1, -1};       /* result / stdout pipe */
    int f[2] = {-1, -1};       /* exec-error pipe */
    int q[2] = {-1, -1};       /* command: stderr pipe */
    if (pipe2(p, O_CLOEXEC) != 0
        || (e->is_cmd && (pipe2(f, O_CLOEXEC) != 0 || pipe2(q, O_CLOEXEC) != 0))) {
        set_err(err, errlen, "cannot create a pipe: %s", strerror(errno));
        goto fail;
    }
    if (set_nonblock(p[0]) != 0 || (f[0] >= 0 && set_nonblock(f[0]) != 0)
        || (q[0] >= 0 && set_nonblock(q[0]) != 0)) {
        set_err(err, errlen, "cannot set up a pipe: %s", strerror(errno));
        goto fail;
    }

    pid_t parent = getpid();
    pid_t pid;
    if (e->is_cmd) {
        pid = spawn_command(spec, envp, parent, p[1], f[1], q[1], &e->mono0, err, errlen);
        if (pid < 0)
            goto fail;
    } else {
        fflush(NULL); /* buffered stdio must not be written by both processes */
        clock_gettime(CLOCK_MONOTONIC, &e->mono0);
        pid = fork();
        if (pid < 0) {
            set_err(err, errlen, "cannot fork: %s", strerror(errno));
            goto fail;
        }
        if (pid == 0) {
            child_setup(parent, spec->watchdog ? spec->watchdog->fd : -1);
            close(p[0]);
            child_run_work(spec, p[1]);
            _exit(127); /* not reached */
        }
    }

    /* parent */
    e->pid = pid;
    (void)setpgid(pid, pid); /* also done by the child: whoever runs first makes the group */
    free(envp);
    envp = NULL;
    close(p[1]);
    e->out_fd = p[0];
    if (f[1] >= 0)
        close(f[1]);
    e->fail_fd = f[0];
    if (q[1] >= 0)
        close(q[1]);
    e->err_fd = q[0];
    e->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    e->have_pidfd = e->pidfd >= 0;
    *out = e;
    return TF_OK;

fail:
    free(envp);
    for (int i = 0; i < 2; i++) {
        if (p[i] >= 0)
            close(p[i]);
        if (f[i] >= 0)
            close(f[i]);
        if (q[i] >= 0)
            close(q[i]);
    }
    exec_destroy(e);
    return TF_EIO;
}

pid_t tf_exec_pid(const tf_exec *e)
{
    return e ? e->pid : -1;
}

int tf_exec_pollfds(const tf_exec *e, struct pollfd *fds, int max)
{
    int n = 0;
    if (!e || e->done)
        return 0;
    if (e->pidfd >= 0 && n < max) {
        fds[n].fd = e->pidfd;
        fds[n].events = POLLIN;
        fds[n].revents = 0;
        n++;
    }
    if (e->out_fd >= 0 && n < max) {
        fds[n].fd = e->out_fd;
        fds[n].events = POLLIN;
        fds[n].revents = 0;
        n++;
    }
    if (e->err_fd >= 0 && n < max) {
        fds[n].fd = e->err_fd;
        fds[n].events = POLLIN;
        fds[n].revents = 0;
        n++;
    }
    return n;
}

double tf_exec_deadline(const tf_exec *e)
{
    if (!e || e->done)
        return 0;
    double d = 0;
    if (e->timeout > 0 && !e->timed_out)
        d = e->start + e->timeout;
    if (e->kill_at > 0 && (d == 0 || e->kill_at < d))
        d = e->kill_at;
    if (!e->have_pidfd) {
        double p = e->last_now + TF_EXEC_POLL_NOPIDFD;
        if (d == 0 || p < d)
            d = p;
    }
    return d;
}

const tf_exec_result *tf_exec_result_of(const tf_exec *e)
{
    return e && e->done ? &e->res : NULL;
}

/* ---- reading the pipes ------------------------------------------------ */

/* Append to the line being assembled, remembering (not storing) an overflow. */
static void line_add(tf_exec *e, const char *p, size_t n)
{
    if (e->cur_over || n == 0)
        return;
    if (n > TF_EXEC_LINE_MAX - e->cur.len || tf_buf_append(&e->cur, p, n) != 0) {
        e->cur_over = 1;
        tf_buf_reset(&e->cur);
    }
}

/* The line being assembled is complete (newline or end of output). */
static void line_end(tf_exec *e)
{
    if (e->cur_over) {
        e->last_over = 1;
        tf_buf_reset(&e->last);
    } else {
        if (e->cur.len && e->cur.data[e->cur.len - 1] == '\r')
            e->cur.data[--e->cur.len] = '\0';
        if (e->cur.len) {
            tf_buf t = e->last; /* swap: the old last's memory is reused for the next line */
            e->last = e->cur;
            e->cur = t;
            e->last_over = 0;
        }
    }
    tf_buf_reset(&e->cur);
    e->cur_over = 0;
}

/*
 * Command output bytes (either stream) into the tail: the buffer holds at
 * most 2 * tail_cap bytes and slides the latest tail_cap to its front when
 * full, so keeping the tail costs O(1) per byte whatever the output size.
 * Memory for it is taken only once the command writes something.
 */
static void take_output(tf_exec *e, const char *p, size_t n)
{
    e->out_total += n;
    if (!e->tail_cap || !n)
        return;
    if (n >= e->tail_cap) {
        p += n - e->tail_cap;
        n = e->tail_cap;
        tf_buf_reset(&e->tail);
    } else if (e->tail.len + n > 2 * e->tail_cap) {
        size_t keep = e->tail_cap - n; /* < tail_cap <= tail.len here */
        memmove(e->tail.data, e->tail.data + e->tail.len - keep, keep);
        e->tail.len = keep;
    }
    if (tf_buf_append(&e->tail, p, n) != 0)
        tf_buf_reset(&e->tail); /* out of memory: the output is lost, not the execution */
}

/* Command stdout bytes: into the tail, track the last non-empty line. */
static void take_stdout(tf_exec *e, const char *p, size_t n)
{
    take_output(e, p, n);
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t seg = nl ? (size_t)(nl - p) : n;
        line_add(e, p, seg);
        if (!nl)
            break;
        line_end(e);
        p += seg + 1;
        n -= seg + 1;
    }
}

/* C work result bytes: keep them (bounded) for decoding at the end. */
static void take_result(tf_exec *e, const char *p, size_t n)
{
    if (e->msg.len > TF_EXEC_RESULT_MAX + 9)
        return; /* already too big: decoding will say so */
    if (tf_buf_append(&e->msg, p, n) != 0)
        e->msg.len = TF_EXEC_RESULT_MAX + 10; /* mark as oversized; data not used again */
}

/*
 * Read what is available on the output pipe, at most max_reads chunks
 * (0 = until EAGAIN). Closes it at EOF.
 */
static void drain_fd(tf_exec *e, int *fd, int max_reads)
{
    for (int i = 0; *fd >= 0 && (max_reads == 0 || i < max_reads); i++) {
        ssize_t r = read(*fd, e->chunk, TF_EXEC_CHUNK);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                close_fd(fd); /* a broken pipe ends the stream */
            return;
        }
        if (r == 0) {
            close_fd(fd);
            return;
        }
        if (fd == &e->err_fd)
            take_output(e, e->chunk, (size_t)r);
        else if (e->is_cmd)
            take_stdout(e, e->chunk, (size_t)r);
        else
            take_result(e, e->chunk, (size_t)r);
    }
}

/* Both output pipes (see drain_fd). */
static void drain(tf_exec *e, int max_reads)
{
    drain_fd(e, &e->out_fd, max_reads);
    drain_fd(e, &e->err_fd, max_reads);
}

/* ---- building the result ---------------------------------------------- */

static void set_error(tf_exec *e, const char *msg)
{
    free(e->res_error);
    e->res_error = strdup(msg);
    e->res.ok = 0;
    e->res.error = e->res_error ? e->res_error : "out of memory";
}

static void set_json(tf_exec *e, char *json)
{
    e->res_json = json;
    e->res.ok = 1;
    e->res.result_json = json;
    e->res.error = NULL;
}

/* Fill the ending that does not depend on the kind: timeout, signal. 1 if it decided. */
static int end_by_status(tf_exec *e)
{
    char msg[256];
    if (e->timed_out) {
        char s[64];
        fmt_seconds(s, sizeof s, e->timeout);
        snprintf(msg, sizeof msg, "timed out after %s s", s);
        set_error(e, msg);
        return 1;
    }
    if (e->lost) {
        set_error(e, "the child process was reaped elsewhere: its status is unknown");
        return 1;
    }
    if (WIFSIGNALED(e->wstatus)) {
        int sig = WTERMSIG(e->wstatus);
        const char *name = strsignal(sig);
        snprintf(msg, sizeof msg, "killed by signal %d (%s)", sig, name ? name : "unknown");
        set_error(e, msg);
        return 1;
    }
    return 0;
}

/* One-line, bounded copy of an error text from a work. */
static char *clean_message(const char *p, size_t n)
{
    if (n > TF_EXEC_ERRMSG_MAX)
        n = TF_EXEC_ERRMSG_MAX;
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        s[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    s[n] = '\0';
    return s;
}

static void finish_work(tf_exec *e)
{
    char msg[128];
    if (end_by_status(e))
        return;
    int code = WIFEXITED(e->wstatus) ? WEXITSTATUS(e->wstatus) : -1;
    int error_frame = code == 1 && e->msg.len >= 9 && e->msg.data[0] == 'E';
    if ((code != 0 && !error_frame) || e->msg.len == 0) {
        snprintf(msg, sizeof msg, "work exited with status %d without a result", code);
        set_error(e, msg);
        return;
    }
    if (e->msg.len > TF_EXEC_RESULT_MAX + 9) {
        snprintf(msg, sizeof msg, "work result exceeds %zu MiB", TF_EXEC_RESULT_MAX >> 20);
        set_error(e, msg);
        return;
    }
    const unsigned char *h = (const unsigned char *)e->msg.data;
    uint64_t len = 0;
    if (e->msg.len >= 9)
        for (int i = 0; i < 8; i++)
            len = (len << 8) | h[1 + i];
    if (e->msg.len < 9 || (h[0] != 'S' && h[0] != 'E') || len != e->msg.len - 9) {
        set_error(e, "work returned garbage");
        return;
    }
    const char *payload = e->msg.data + 9;
    if (h[0] == 'E') {
        char *m = clean_message(payload, (size_t)len);
        if (!m) {
            set_error(e, "out of memory");
            return;
        }
        free(e->res_error);
        e->res_error = m;
        e->res.ok = 0;
        e->res.error = m;
        return;
    }
    /* The child canonicalized already; checking again here costs little and
     * guarantees the store never receives bytes that are not canonical JSON. */
    char *canon = NULL;
    size_t clen = 0;
    int rc = tf_canon_text(payload, (size_t)len, &canon, &clen, NULL);
    if (rc == TF_ENOMEM) {
        set_error(e, "out of memory");
    } else if (rc != TF_OK || clen != len || memcmp(canon, payload, clen) != 0) {
        free(canon);
        set_error(e, "work returned garbage");
    } else {
        set_json(e, canon);
    }
}

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return c ? 1 : 0; /* NUL is refused: canonical JSON here never carries U+0000 */
    size_t len;
    uint32_t min, cp;
    if ((c & 0xe0) == 0xc0) { len = 2; min = 0x80; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { len = 3; min = 0x800; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { len = 4; min = 0x10000; cp = c & 0x07; }
    else return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* The line as a JSON string; invalid UTF-8 and NUL bytes become U+FFFD. */
static char *line_as_string(const char *s, size_t n)
{
    tf_buf clean = TF_BUF_INIT, out = TF_BUF_INIT;
    const unsigned char *p = (const unsigned char *)s;
    int bad = 0;
    size_t i = 0;
    while (i < n && !bad) {
        size_t k = utf8_seq(p + i, n - i);
        if (k) {
            bad = tf_buf_append(&clean, p + i, k);
            i += k;
        } else {
            bad = tf_buf_append(&clean, "\xef\xbf\xbd", 3);
            i++;
        }
    }
    if (!bad)
        bad = tf_jcs_string(clean.data ? clean.data : "", clean.len, &out) != TF_OK;
    tf_buf_free(&clean);
    if (bad) {
        tf_buf_free(&out);
        return NULL;
    }
    return tf_buf_take(&out, NULL);
}

static void finish_command(tf_exec *e)
{
    char msg[768];
    exec_failure f;
    ssize_t r = -1;
    if (e->fail_fd >= 0) {
        do
            r = read(e->fail_fd, &f, sizeof f);
        while (r < 0 && errno == EINTR);
        close_fd(&e->fail_fd);
    }
    if (!e->timed_out && r == (ssize_t)sizeof f) {
        if (f.stage == 'c')
            set_err(msg, sizeof msg, "cannot change to folder '%s': %s", e->cwd ? e->cwd : "",
                    strerror(f.err));
        else if (f.stage == 'x')
            set_err(msg, sizeof msg, "cannot run '%s': %s", e->argv0, strerror(f.err));
        else
            set_err(msg, sizeof msg, "cannot set up the child process for '%s': %s", e->argv0,
                    strerror(f.err));
        set_error(e, msg);
        return;
    }
    if (end_by_status(e))
        return;
    int code = WIFEXITED(e->wstatus) ? WEXITSTATUS(e->wstatus) : -1;
    if (code != 0) {
        snprintf(msg, sizeof msg, "exited with status %d", code);
        set_error(e, msg);
        return;
    }
    if (e->last_over) {
        snprintf(msg, sizeof msg, "last output line exceeds %zu MiB", TF_EXEC_LINE_MAX >> 20);
        set_error(e, msg);
        return;
    }
    if (e->last.len == 0) {
        char *n = strdup("null");
        if (n)
            set_json(e, n);
        else
            set_error(e, "out of memory");
        return;
    }
    char *canon = NULL;
    size_t clen = 0;
    int rc = tf_canon_text(e->last.data, e->last.len, &canon, &clen, NULL);
    if (rc == TF_OK) {
        set_json(e, canon);
        return;
    }
    free(canon);
    if (rc == TF_ENOMEM || !(canon = line_as_string(e->last.data, e->last.len))) {
        set_error(e, "out of memory");
        return;
    }
    set_json(e, canon);
}

/*
 * The kept output as text for the store: the latest tail_cap bytes, a
 * sequence cut at the front dropped, invalid UTF-8 and NUL as U+FFFD (so
 * it is valid text in every engine). Out of memory keeps nothing.
 */
static void output_text(tf_exec *e)
{
    e->res.output_total = e->out_total;
    e->res.output_truncated = e->out_total > (e->tail.len < e->tail_cap ? e->tail.len : e->tail_cap);
    if (!e->tail.len)
        return;
    const unsigned char *p = (const unsigned char *)e->tail.data;
    size_t n = e->tail.len;
    if (n > e->tail_cap) {
        p += n - e->tail_cap;
        n = e->tail_cap;
    }
    if (e->res.output_truncated)
        for (int k = 0; k < 3 && n && (*p & 0xc0) == 0x80; k++) {
            p++;
            n--;
        }
    tf_buf clean = TF_BUF_INIT;
    int bad = 0;
    for (size_t i = 0; i < n && !bad;) {
        size_t k = utf8_seq(p + i, n - i);
        bad = k ? tf_buf_append(&clean, p + i, k) : tf_buf_append(&clean, "\xef\xbf\xbd", 3);
        i += k ? k : 1;
    }
    tf_buf_free(&e->tail);
    if (bad) {
        tf_buf_free(&clean);
        return;
    }
    e->res_output = tf_buf_take(&clean, NULL);
    e->res.output = e->res_output;
}

/* The child is reaped: collect the rest of the output, clean the group, decide. */
static void finish(tf_exec *e)
{
    /* Whatever the child wrote before exiting is in the pipe already; what
     * was left of its group (a background grandchild may still hold the pipe
     * open) was killed before the leader was reaped (try_reap). Take it all. */
    drain(e, 64);
    drain(e, 64);
    close_fd(&e->out_fd);
    close_fd(&e->err_fd);
    close_fd(&e->pidfd);
    if (e->is_cmd)
        line_end(e); /* a final line without a newline */
    if (e->is_cmd)
        output_text(e);

    e->res.duration = mono_since(&e->mono0);
    if (e->lost) {
        e->res.exit_code = -1;
        e->res.term_signal = 0;
    } else if (WIFSIGNALED(e->wstatus)) {
        e->res.exit_code = -1;
        e->res.term_signal = WTERMSIG(e->wstatus);
    } else {
        e->res.exit_code = WEXITSTATUS(e->wstatus);
        e->res.term_signal = 0;
    }
    if (e->is_cmd)
        finish_command(e);
    else
        finish_work(e);
    tf_buf_free(&e->msg);
    tf_buf_free(&e->cur);
    tf_buf_free(&e->last);
    free(e->chunk);
    e->chunk = NULL;
    e->done = 1;
}

/* Collect the child if it exited. 1 once reaped. */
static int try_reap(tf_exec *e)
{
    if (e->reaped)
        return 1;
    int st = 0;
    pid_t r;
    /* Ended? Then take its group down while the leader is a zombie: until it is
       reaped its pid, the group id, cannot name anyone else's group. */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int w;
    do
        w = waitid(P_PID, (id_t)e->pid, &si, WEXITED | WNOHANG | WNOWAIT);
    while (w < 0 && errno == EINTR);
    if (w == 0 && si.si_pid == e->pid)
        (void)kill(-e->pid, SIGKILL);
    do
        r = waitpid(e->pid, &st, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == e->pid) {
        e->reaped = 1;
        e->wstatus = st;
    } else if (r < 0 && errno == ECHILD) {
        e->reaped = 1;
        e->lost = 1;
    }
    return e->reaped;
}

/*
 * See exec.h. Reads at most a bounded amount per call so one chatty child
 * cannot starve the loop; the pipe stays readable, so poll() wakes again.
 */
int tf_exec_step(tf_exec *e, double now)
{
    if (!e)
        return 0;
    if (e->done)
        return 1;
    e->last_now = now;
    drain(e, TF_EXEC_STEP_READS);
    if (!e->reaped && e->timeout > 0 && !e->timed_out && now >= e->start + e->timeout) {
        e->timed_out = 1;
        (void)kill(-e->pid, SIGTERM);
        if (e->kill_at == 0 || e->kill_at > now + TF_EXEC_GRACE)
            e->kill_at = now + TF_EXEC_GRACE;
    }
    if (!e->reaped && e->kill_at > 0 && now >= e->kill_at) {
        (void)kill(-e->pid, SIGKILL);
        e->kill_at = 0;
    }
    if (!try_reap(e))
        return 0;
    finish(e);
    return 1;
}

void tf_exec_terminate(tf_exec *e, double now)
{
    if (!e || e->done || e->reaped)
        return;
    (void)kill(-e->pid, SIGTERM);
    if (e->kill_at == 0 || e->kill_at > now + TF_EXEC_GRACE)
        e->kill_at = now + TF_EXEC_GRACE;
}

void tf_exec_free(tf_exec *e)
{
    if (!e)
        return;
    if (!e->reaped) {
        (void)kill(-e->pid, SIGKILL);
        (void)kill(e->pid, SIGKILL); /* in case the group was never made */
        pid_t r;
        do
            r = waitpid(e->pid, NULL, 0);
        while (r < 0 && errno == EINTR);
    } else if (!e->done) {
        (void)kill(-e->pid, SIGKILL);
    }
    exec_destroy(e);
}
