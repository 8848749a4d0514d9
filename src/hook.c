/*
 * hook.c - run one notification hook to its end (see hook.h). The child is
 * an ordinary command execution (exec.c: spawn without a shell, own
 * process group, dies with us, timeout with SIGTERM then SIGKILL); this
 * file only waits for it on the real clock, never the app's clock, so a
 * test clock cannot stretch or shrink a hook's timeout.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "exec.h"
#include "hook.h"

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int tf_hook_run(const char *const *argv, char *const *env, double timeout, char *why,
                size_t whylen)
{
    double now = wall_now();
    tf_exec_spec spec = {
        .argv = (char *const *)(uintptr_t)argv, .env = env, .timeout = timeout, .now = now,
    };
    tf_exec *e = NULL;
    char err[512];
    if (tf_exec_start(&spec, &e, err, sizeof err) != 0) {
        snprintf(why, whylen, "%s", err);
        return -1;
    }
    while (!tf_exec_step(e, wall_now())) {
        struct pollfd fds[8];
        int n = tf_exec_pollfds(e, fds, 8);
        double deadline = tf_exec_deadline(e);
        int ms = 100; /* without a pidfd the exit is noticed by polling waitpid */
        if (deadline > 0) {
            double left = deadline - wall_now();
            ms = left <= 0 ? 0 : left < 0.1 ? (int)(left * 1000) + 1 : 100;
        }
        if (poll(fds, (nfds_t)n, ms) < 0 && errno != EINTR)
            break; /* tf_exec_step still enforces the timeout */
    }
    const tf_exec_result *res = tf_exec_result_of(e);
    int rc = 0;
    if (!res) {
        snprintf(why, whylen, "lost track of the hook process");
        rc = -1;
    } else if (!res->ok || res->exit_code != 0) {
        snprintf(why, whylen, "%s", res->error && *res->error ? res->error : "failed");
        rc = -1;
    }
    tf_exec_free(e);
    return rc;
}
