/*
 * hook.h - notification hooks (owned by hook.c): a short command run
 * without a shell when a call of a pipeline work fails for good or an
 * execution succeeds ("on_failure" / "on_success" in pipeline files).
 */
#ifndef TF_HOOK_H
#define TF_HOOK_H

#include <stddef.h>

/* Seconds a hook may run unless the pipeline file says otherwise ("hook_timeout"). */
#define TF_HOOK_TIMEOUT 10.0
/* The longest "hook_timeout" accepted: the loop waits for a hook, and leases must not lapse. */
#define TF_HOOK_TIMEOUT_MAX 20.0

/*
 * Run argv (NULL-terminated; argv[0] looked up in PATH, no shell) with env
 * ("NAME=value", NULL-terminated) set over the inherited environment,
 * standard input from /dev/null, standard output discarded, standard error
 * inherited, in its own process group, and wait for it at most timeout
 * seconds (then SIGTERM to the group, SIGKILL two seconds later). Returns
 * 0 when it exited with status 0; otherwise -1 with a one-line reason in
 * why ("exited with status 3", "timed out after 10 s", "cannot run 'x':
 * No such file or directory").
 */
int tf_hook_run(const char *const *argv, char *const *env, double timeout, char *why,
                size_t whylen);

#endif
