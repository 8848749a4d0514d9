/*
 * test_proc.c - runner identity, the proof required before a process group
 * is signalled (proc.c) and the watchdog's survival of its own death
 * (reaper.c), against real child processes.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "exec.h"
#include "proc.h"
#include "reaper.h"

static void nap(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* A child leading its own process group, with one grandchild in it; both sleep. */
static pid_t spawn_group(pid_t *grandchild)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        pid_t g = fork();
        if (g == 0) {
            close(p[0]);
            close(p[1]);
            execlp("sleep", "sleep", "30", (char *)NULL);
            _exit(127);
        }
        close(p[0]);
        if (write(p[1], &g, sizeof g) != (ssize_t)sizeof g)
            _exit(1);
        close(p[1]);
        execlp("sleep", "sleep", "30", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    assert_int_equal(read(p[0], grandchild, sizeof *grandchild), (ssize_t)sizeof *grandchild);
    close(p[0]);
    setpgid(pid, pid); /* also from here: no race with the child's own call */
    return pid;
}

/* 1 while pid exists (a zombie counts as gone). */
static int exists(pid_t pid)
{
    long long st;
    return tf_proc_start_time(pid, &st) == TF_OK;
}

static void reap(pid_t pid)
{
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* Our identity and a live group (leader pid, grandchild g) with its leader's start time. */
typedef struct live_group {
    tf_proc_id me;          /* this process */
    pid_t pid;              /* the group's leader */
    pid_t g;                /* a grandchild in the group */
    long long st;           /* the leader's start time */
} live_group;

static void group_up(live_group *x)
{
    assert_int_equal(tf_proc_self(&x->me), TF_OK);
    x->pid = spawn_group(&x->g);
    assert_int_equal(tf_proc_start_time(x->pid, &x->st), TF_OK);
}

/* Nothing of the group was signalled; then it is taken down. */
static void group_untouched_then_reaped(live_group *x)
{
    nap(0.05);
    assert_true(exists(x->pid));
    assert_true(exists(x->g));
    reap(x->pid);
}

static void proc__identity_names_boot_and_namespace(void **state)
{
    (void)state;
    tf_proc_id me;
    assert_int_equal(tf_proc_self(&me), TF_OK);
    assert_int_equal(strlen(me.boot), 36); /* a UUID */
    assert_true(me.pidns != 0);
    assert_int_equal(me.pid, (long)getpid());
    assert_true(me.start > 0);
    assert_int_equal(tf_proc_same_ns(&me, me.boot, me.pidns), 1);
    assert_int_equal(tf_proc_same_ns(&me, me.boot, me.pidns + 1), 0);
    assert_int_equal(tf_proc_same_ns(&me, "00000000-0000-0000-0000-000000000000", me.pidns), 0);
    assert_int_equal(tf_proc_same_ns(&me, NULL, me.pidns), 0);
    assert_int_equal(tf_proc_same_ns(&me, me.boot, 0), 0);
    tf_proc_id unknown = me;
    unknown.boot[0] = '\0';
    assert_int_equal(tf_proc_same_ns(&unknown, "", me.pidns), 0);
}

static void proc__boot_clock_advances(void **state)
{
    (void)state;
    double a = tf_proc_boot_clock();
    nap(0.05);
    double b = tf_proc_boot_clock();
    assert_true(a > 0);
    assert_true(b >= a + 0.04);
    assert_true(b - a < 5);
}

static void proc__kill_group_needs_our_namespace(void **state)
{
    (void)state;
    live_group x;
    group_up(&x);
    char note[256];
    tf_proc_group other_ns = {x.pid, x.st, x.me.boot, x.me.pidns + 1};
    assert_int_equal(tf_proc_kill_group(&x.me, &other_ns, note, sizeof note), 0);
    assert_non_null(strstr(note, "another boot or PID namespace"));
    tf_proc_group other_boot = {x.pid, x.st, "00000000-0000-0000-0000-000000000000", x.me.pidns};
    assert_int_equal(tf_proc_kill_group(&x.me, &other_boot, note, sizeof note), 0);
    tf_proc_group no_start = {x.pid, 0, x.me.boot, x.me.pidns};
    assert_int_equal(tf_proc_kill_group(&x.me, &no_start, note, sizeof note), 0);
    assert_non_null(strstr(note, "no recorded start time"));
    group_untouched_then_reaped(&x);
}

/*
 * A group is signalled only while its leader is held through a pidfd; where
 * pidfd_open does not exist (Linux < 5.3, or valgrind 3.19, which does not
 * know the call) nothing is ever signalled, and the tests of the proof skip.
 */
static int have_pidfd(void)
{
    int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (fd >= 0) {
        close(fd);
        return 1;
    }
    if (errno != ENOSYS)
        return 1; /* another failure: let the test say what it is */
    print_message("skipped: group kill proof (pidfd_open is not available here%s)\n",
                  getenv("TF_VALGRIND") ? ": valgrind does not know it" : "");
    return 0;
}

static void proc__kill_group_refuses_a_reused_pid(void **state)
{
    (void)state;
    if (!have_pidfd())
        skip();
    live_group x;
    group_up(&x);
    /* the execution recorded under this pid started at another time: a bystander has the pid now */
    tf_proc_group stale = {x.pid, x.st - 7, x.me.boot, x.me.pidns};
    char note[256];
    assert_int_equal(tf_proc_kill_group(&x.me, &stale, note, sizeof note), 0);
    assert_non_null(strstr(note, "is now another process"));
    group_untouched_then_reaped(&x);
}

static void proc__kill_group_kills_the_proven_group(void **state)
{
    (void)state;
    if (!have_pidfd()) {
        char note[256];
        tf_proc_id me;
        assert_int_equal(tf_proc_self(&me), TF_OK);
        tf_proc_group self = {me.pid, me.start, me.boot, me.pidns};
        assert_int_equal(tf_proc_kill_group(&me, &self, note, sizeof note), 0); /* never a guess */
        assert_non_null(strstr(note, "no pidfd_open"));
        skip();
    }
    live_group x;
    group_up(&x);
    tf_proc_group grp = {x.pid, x.st, x.me.boot, x.me.pidns};
    char note[256];
    assert_int_equal(tf_proc_kill_group(&x.me, &grp, note, sizeof note), 1);
    assert_non_null(strstr(note, "killed process group"));
    int status = 0;
    assert_int_equal(waitpid(x.pid, &status, 0), x.pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    for (int i = 0; i < 100 && exists(x.g); i++)
        nap(0.02);
    assert_false(exists(x.g));
    /* once gone, nothing is signalled and the note says so */
    assert_int_equal(tf_proc_kill_group(&x.me, &grp, note, sizeof note), 0);
    assert_non_null(strstr(note, "is gone, so the group cannot be proven"));
}

/* The watchdog's pid from the outside: its state must be gone or a zombie. */
static int reaper_gone(pid_t pid)
{
    return !exists(pid);
}

static void reaper__survives_its_watchdogs_death(void **state)
{
    (void)state;
    /* SIGPIPE keeps its default action: a write into a dead watchdog must not kill us
       (a pipe would; the SOCK_SEQPACKET socket pair never raises it, MSG_NOSIGNAL aside) */
    signal(SIGPIPE, SIG_DFL);
    tf_reaper r;
    tf_reaper_init(&r);
    assert_int_equal(tf_reaper_start(&r), 0);
    pid_t g = 0;
    pid_t pid = spawn_group(&g);
    assert_int_equal(tf_reaper_watch(&r, pid), 0);
    pid_t first = r.pid;
    nap(0.1); /* let it read the record: a dead reader with nothing unread is EPIPE, SIGPIPE's case */
    kill(first, SIGKILL);
    for (int i = 0; i < 100 && !reaper_gone(first); i++)
        nap(0.01);
    /* the next message finds it dead: no SIGPIPE, a new watchdog told every live group */
    assert_int_equal(tf_reaper_watch(&r, 99999), 0);
    assert_int_equal(tf_reaper_forget(&r, 99999), 0);
    assert_true(r.pid > 0 && r.pid != first);
    assert_int_equal(r.restarts, 1);
    assert_true(exists(pid));
    /* the new watchdog kills the group when we go away (here: stop) */
    tf_reaper_stop(&r);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    for (int i = 0; i < 100 && exists(g); i++)
        nap(0.02);
    assert_false(exists(g));
}

static void reaper__check_replaces_a_killed_watchdog(void **state)
{
    (void)state;
    tf_reaper r;
    tf_reaper_init(&r);
    assert_int_equal(tf_reaper_check(&r), 0); /* none started: nothing to do */
    assert_int_equal(tf_reaper_start(&r), 0);
    pid_t g = 0;
    pid_t pid = spawn_group(&g);
    assert_int_equal(tf_reaper_watch(&r, pid), 0);
    assert_int_equal(tf_reaper_check(&r), 0);
    pid_t first = r.pid;
    kill(first, SIGKILL);
    int restarted = 0;
    for (int i = 0; i < 200 && !restarted; i++) {
        restarted = tf_reaper_check(&r);
        if (!restarted)
            nap(0.01);
    }
    assert_int_equal(restarted, 1);
    assert_true(r.pid != first);
    tf_reaper_stop(&r);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    for (int i = 0; i < 100 && exists(g); i++)
        nap(0.02);
    assert_false(exists(g));
}

/*
 * A scheduler started with standard input closed: the socket's end must not
 * be taken for fd 0 in the watchdog, and a stray SIGHUP (the scheduler
 * lives) must not make it kill anything.
 */
static void reaper__survives_closed_stdin_and_stray_hup(void **state)
{
    (void)state;
    pid_t t = fork();
    assert_true(t >= 0);
    if (t == 0) {
        close(0);
        tf_reaper r;
        tf_reaper_init(&r);
        if (tf_reaper_start(&r) != 0)
            _exit(10);
        pid_t g = 0;
        pid_t pid = spawn_group(&g);
        if (tf_reaper_watch(&r, pid) != 0)
            _exit(11);
        nap(0.2);
        if (waitpid(r.pid, NULL, WNOHANG) != 0)
            _exit(12); /* the watchdog died */
        kill(r.pid, SIGHUP);
        nap(0.2);
        if (waitpid(r.pid, NULL, WNOHANG) != 0 || !exists(pid))
            _exit(13); /* it took the stray SIGHUP for its scheduler's death */
        tf_reaper_stop(&r);
        waitpid(pid, NULL, 0);
        for (int i = 0; i < 100 && exists(g); i++)
            nap(0.02);
        _exit(exists(g) ? 14 : 0);
    }
    int st = 0;
    assert_int_equal(waitpid(t, &st, 0), t);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/*
 * An execution's child tells the watchdog about its group before it runs
 * anything: a scheduler that dies right after the spawn, before its own
 * tf_reaper_watch, still has the group killed (here tf_reaper_watch is
 * never called; before, the group and its grandchild lived on).
 */
static void reaper__execution_announces_its_group(void **state)
{
    (void)state;
    tf_reaper r;
    tf_reaper_init(&r);
    assert_int_equal(tf_reaper_start(&r), 0);
    char sh[] = "sh", c[] = "-c", script[] = "sleep 30 & exec sleep 30";
    char *argv[] = {sh, c, script, NULL};
    tf_exec_spec spec = {.argv = argv, .watchdog = &r};
    tf_exec *e = NULL;
    char err[256];
    assert_int_equal(tf_exec_start(&spec, &e, err, sizeof err), TF_OK);
    pid_t pid = tf_exec_pid(e);
    nap(0.2); /* the shell has started its grandchild */
    assert_int_equal(kill(-pid, 0), 0);
    tf_reaper_stop(&r); /* as when the scheduler dies: the watchdog kills what it knows */
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    int gone = 0;
    for (int i = 0; i < 200 && !gone; i++) {
        gone = kill(-pid, 0) != 0 && errno == ESRCH;
        if (!gone)
            nap(0.01);
    }
    assert_true(gone); /* the grandchild too */
    tf_exec_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(proc__identity_names_boot_and_namespace),
        cmocka_unit_test(proc__boot_clock_advances),
        cmocka_unit_test(proc__kill_group_needs_our_namespace),
        cmocka_unit_test(proc__kill_group_refuses_a_reused_pid),
        cmocka_unit_test(proc__kill_group_kills_the_proven_group),
        cmocka_unit_test(reaper__survives_its_watchdogs_death),
        cmocka_unit_test(reaper__check_replaces_a_killed_watchdog),
        cmocka_unit_test(reaper__survives_closed_stdin_and_stray_hup),
        cmocka_unit_test(reaper__execution_announces_its_group),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
