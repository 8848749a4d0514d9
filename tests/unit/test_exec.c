/*
 * test_exec.c - unit tests of exec.c with real child processes: C works
 * (results, errors, crashes, timeouts, stdio), commands (last line as the
 * result, log file, env, cwd, huge output, process groups) and the death
 * of the parent.
 *
 * The test process makes itself a child subreaper so that orphaned
 * grandchildren come back to it and can be reaped: a zombie still answers
 * kill(pid, 0), so without reaping "is it gone" could not be asked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec.h"

/* How one execution ended, copied out of the tf_exec before it is freed. */
typedef struct outcome {
    int ok;                 /* tf_exec_result.ok */
    char *json;             /* result_json copy or NULL */
    char *error;            /* error copy or NULL */
    int exit_code;          /* tf_exec_result.exit_code */
    int term_signal;        /* tf_exec_result.term_signal */
    double duration;        /* tf_exec_result.duration */
    double wall;            /* seconds run_to_end took */
    pid_t pid;              /* the child (and its process group) */
    char *output;           /* tf_exec_result.output copy or NULL */
    unsigned long long output_total; /* tf_exec_result.output_total */
    int output_truncated;   /* tf_exec_result.output_truncated */
} outcome;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void outcome_free(outcome *o)
{
    free(o->json);
    free(o->error);
    free(o->output);
    memset(o, 0, sizeof *o);
}

/*
 * Start spec (its now is set here), poll on the execution's fds and
 * deadline until tf_exec_step says it ended (failing the test after limit
 * seconds), copy the outcome into *o and free the execution.
 */
static void run_to_end(tf_exec_spec *spec, outcome *o, double limit)
{
    memset(o, 0, sizeof *o);
    char err[256];
    tf_exec *e = NULL;
    double t0 = now_s();
    spec->now = t0;
    int rc = tf_exec_start(spec, &e, err, sizeof err);
    if (rc != TF_OK)
        fail_msg("tf_exec_start: %s (%s)", tf_strerror(rc), err);
    o->pid = tf_exec_pid(e);
    assert_true(o->pid > 0);
    assert_null(tf_exec_result_of(e));
    for (;;) {
        double now = now_s();
        if (tf_exec_step(e, now))
            break;
        if (now - t0 > limit) {
            tf_exec_free(e);
            fail_msg("execution still running after %g s", limit);
        }
        struct pollfd fds[8];
        int n = tf_exec_pollfds(e, fds, 8);
        int ms = 200;
        double d = tf_exec_deadline(e);
        if (d > 0) {
            double left = (d - now) * 1000.0 + 1.0;
            if (left < ms)
                ms = left < 0 ? 0 : (int)left;
        }
        (void)poll(fds, (nfds_t)n, ms);
    }
    const tf_exec_result *r = tf_exec_result_of(e);
    assert_non_null(r);
    o->wall = now_s() - t0;
    o->ok = r->ok;
    o->json = dup_or_null(r->ok ? r->result_json : NULL);
    o->error = dup_or_null(r->ok ? NULL : r->error);
    o->exit_code = r->exit_code;
    o->term_signal = r->term_signal;
    o->duration = r->duration;
    o->output = dup_or_null(r->output);
    o->output_total = r->output_total;
    o->output_truncated = r->output_truncated;
    assert_int_equal(tf_exec_step(e, now_s()), 1); /* stays ended */
    tf_exec_free(e);
}

/* Reap every orphan handed to us (call only when no execution is live). */
static void reap_orphans(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

/* 1 once no process is left in group pgid (reaping orphans), 0 after 2 s. */
static int group_gone(pid_t pgid)
{
    for (int i = 0; i < 200; i++) {
        reap_orphans();
        if (kill(-pgid, 0) != 0 && errno == ESRCH)
            return 1;
        usleep(10000);
    }
    return 0;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Descriptors 3 and up that a child would inherit through exec (no FD_CLOEXEC). */
static int count_inheritable(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        int fd = atoi(de->d_name);
        if (de->d_name[0] == '.' || fd < 3 || fd == dirfd(d))
            continue;
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0 && !(fl & FD_CLOEXEC))
            n++;
    }
    closedir(d);
    return n;
}

/* Read a whole (small) file into a malloc'd string. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = NULL;
    size_t len = 0, cap = 0, r;
    char tmp[4096];
    while ((r = fread(tmp, 1, sizeof tmp, f)) > 0) {
        if (len + r + 1 > cap) {
            cap = (len + r + 1) * 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        memcpy(buf + len, tmp, r);
        len += r;
    }
    fclose(f);
    if (!buf)
        buf = calloc(1, 1);
    else
        buf[len] = '\0';
    return buf;
}

/* A fresh temporary folder for log files; removed by rm_tmpdir. */
static void make_tmpdir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/tf_exec_test_XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void rm_tmpdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        char p[512];
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* ---- C works ---------------------------------------------------------- */

static int work_object(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)error;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(r, "zeta", cJSON_CreateString((const char *)user));
    cJSON_AddItemToObject(r, "n", cJSON_Duplicate(cJSON_GetObjectItem(args, "n"), 1));
    cJSON *arr = cJSON_AddArrayToObject(r, "b");
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(1));
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(2.5));
    cJSON_AddItemToArray(arr, cJSON_CreateTrue());
    cJSON_AddItemToObject(r, "a", cJSON_CreateNull());
    *result = r;
    return 0;
}

static void exec__work_object_result(void **state)
{
    (void)state;
    cJSON *args = cJSON_Parse("{\"n\":42}");
    char user[] = "from-user";
    tf_exec_spec spec = {.fn = work_object, .fn_user = user, .args = args};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_true(o.ok);
    assert_null(o.error);
    assert_string_equal(o.json, "{\"a\":null,\"b\":[1,2.5,true],\"n\":42,\"zeta\":\"from-user\"}");
    assert_int_equal(o.exit_code, 0);
    assert_int_equal(o.term_signal, 0);
    assert_true(o.duration >= 0 && o.duration < 5);
    assert_true(group_gone(o.pid));
    outcome_free(&o);
    cJSON_Delete(args);
}

static int work_null(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)args, (void)user, (void)result, (void)error;
    return 0;
}

static void exec__work_null_result(void **state)
{
    (void)state;
    tf_exec_spec spec = {.fn = work_null};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_true(o.ok);
    assert_string_equal(o.json, "null");
    outcome_free(&o);
}

static int work_big(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)args, (void)user, (void)error;
    size_t n = 3u << 20; /* far past the pipe buffer: the parent must read while the child writes */
    char *s = malloc(n + 1);
    if (!s)
        return 1;
    memset(s, 'q', n);
    s[n] = '\0';
    *result = cJSON_CreateString(s);
    free(s);
    return 0;
}

static void exec__work_large_result(void **state)
{
    (void)state;
    tf_exec_spec spec = {.fn = work_big};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_true(o.ok);
    size_t n = 3u << 20;
    assert_int_equal(strlen(o.json), n + 2);
    assert_int_equal(o.json[0], '"');
    assert_int_equal(o.json[n + 1], '"');
    assert_int_equal(o.json[n / 2], 'q');
    outcome_free(&o);
}

static int work_error(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)args, (void)user, (void)result;
    *error = strdup("cannot fetch 'x': connection refused\nsecond line");
    return 1;
}

static void exec__work_error_message(void **state)
{
    (void)state;
    tf_exec_spec spec = {.fn = work_error};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_false(o.ok);
    assert_null(o.json);
    assert_string_equal(o.error, "cannot fetch 'x': connection refused second line");
    assert_int_equal(o.exit_code, 1); /* a failed work exits 1, so history shows it */
    outcome_free(&o);
}

static int work_fail_silent(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)args, (void)user, (void)result, (void)error;
    return 7;
}

static void exec__work_error_without_message(void **state)
{
    (void)state;
    tf_exec_spec spec = {.fn = work_fail_silent};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_false(o.ok);
    assert_string_equal(o.error, "work failed with code 7");
    outcome_free(&o);
}

static int work_segv(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)args, (void)user, (void)result, (void)error;
    raise(SIGSEGV);
    return 0;
}

static void exec__work_segfault(void **state)
{
    (void)state;
    tf_exec_spec spec = {.fn = work_segv};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_false(o.ok);
    assert_string_equal(o.error, "killed by signal 11 (Segmentation fault)");
    assert_int_equal(o.exit_code, -1);
    assert_int_equal(o.term_signal, SIGSEGV);
    outcome_free(&o);
}

static int work_abort(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)args, (void)user, (void)result, (void)error;
    abort();
}

static void exec__work_abort(void **state)
{
    (void)state;
    tf_exec_spec spec = {.fn = work_abort};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_false(o.ok);
    assert_string_equal(o.error, "killed by signal 6 (Aborted)");
    assert_int_equal(o.term_signal, SIGABRT);
    outcome_free(&o);
}

static int work_hang(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)args, (void)user, (void)result, (void)error;
    sleep(60);
    return 0;
}

static void exec__work_timeout(void **state)
{
    (void)state;
    tf_exec_spec spec = {.fn = work_hang, .timeout = 0.3};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_false(o.ok);
    assert_string_equal(o.error, "timed out after 0.3 s");
    assert_int_equal(o.term_signal, SIGTERM);
    assert_true(o.wall >= 0.29 && o.wall < 3.0);
    assert_true(group_gone(o.pid));
    outcome_free(&o);
}

static int work_exit3(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)args, (void)user, (void)result, (void)error;
    _exit(3);
}

static void exec__work_exit_without_result(void **state)
{
    (void)state;
    tf_exec_spec spec = {.fn = work_exit3};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_false(o.ok);
    assert_string_equal(o.error, "work exited with status 3 without a result");
    assert_int_equal(o.exit_code, 3);
    outcome_free(&o);
}

static int work_nan(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)args, (void)user, (void)error;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(r, "x", cJSON_CreateNumber(NAN));
    *result = r;
    return 0;
}

static void exec__work_nan_result_is_invalid(void **state)
{
    (void)state;
    tf_exec_spec spec = {.fn = work_nan};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_false(o.ok);
    const char *prefix = "work returned an invalid result: ";
    assert_non_null(o.error);
    assert_memory_equal(o.error, prefix, strlen(prefix));
    assert_true(strlen(o.error) > strlen(prefix));
    if (getenv("TF_EXEC_VERBOSE"))
        fprintf(stderr, "nan: %s\n", o.error);
    outcome_free(&o);
}

static int work_bad_utf8(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)args, (void)user, (void)error;
    *result = cJSON_CreateString("ok\xff");
    return 0;
}

static void exec__work_invalid_utf8_result_is_invalid(void **state)
{
    (void)state;
    tf_exec_spec spec = {.fn = work_bad_utf8};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_false(o.ok);
    assert_non_null(strstr(o.error, "work returned an invalid result: "));
    outcome_free(&o);
}

/*
 * Write raw bytes into the result pipe, bypassing the framing: the pipe is
 * the only write-only close-on-exec pipe a C work child has (descriptors
 * inherited from whoever ran the tests cannot be close-on-exec).
 */
static int work_garbage(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)args, (void)result, (void)error;
    const char *bytes = user;
    for (int fd = 3; fd < 1024; fd++) {
        int fdfl = fcntl(fd, F_GETFD), fl = fcntl(fd, F_GETFL);
        struct stat st;
        if (fdfl < 0 || !(fdfl & FD_CLOEXEC) || (fl & O_ACCMODE) != O_WRONLY ||
            fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode))
            continue;
        if (write(fd, bytes, strlen(bytes) + 1) < 0) /* with the NUL: 'S' frames need it */
            _exit(2);
        _exit(0);
    }
    _exit(1);
}

static void exec__work_garbage_message(void **state)
{
    (void)state;
    char unframed[] = "Zgarbage";
    char short_frame[] = "S\x01\x01\x01\x01\x01\x01\x01\x01" "12"; /* claims far more than it sends */
    char *cases[] = {unframed, short_frame};
    for (int i = 0; i < 2; i++) {
        tf_exec_spec spec = {.fn = work_garbage, .fn_user = cases[i]};
        outcome o;
        run_to_end(&spec, &o, 5);
        assert_false(o.ok);
        assert_string_equal(o.error, "work returned garbage");
        outcome_free(&o);
    }
}

static int work_print(const cJSON *args, void *user, cJSON **result, char **error)
{
    (void)args, (void)user, (void)error;
    printf("in-work|");
    *result = cJSON_CreateNumber(1);
    return 0;
}

static void exec__work_stdio_not_duplicated(void **state)
{
    (void)state;
    char path[] = "/tmp/tf_exec_stdio_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    int saved = dup(1);
    assert_true(saved >= 0);
    assert_true(dup2(fd, 1) == 1);
    printf("before-fork|"); /* stays in the stdio buffer: no newline, no flush */
    tf_exec_spec spec = {.fn = work_print};
    outcome o;
    run_to_end(&spec, &o, 5);
    printf("after|");
    fflush(stdout);
    assert_true(dup2(saved, 1) == 1);
    close(saved);
    close(fd);
    char *text = slurp(path);
    unlink(path);
    assert_true(o.ok);
    assert_string_equal(text, "before-fork|in-work|after|");
    free(text);
    outcome_free(&o);
}

/* ---- commands --------------------------------------------------------- */

static void exec__cmd_json_line_canonicalized(void **state)
{
    (void)state;
    /* stderr goes to its own pipe: the result is stdout's last line, and both are in the output */
    const char *argv[] = {"sh", "-c", "echo hello; sleep 0.05; echo oops >&2; sleep 0.05;"
                          " echo '{\"b\":1, \"a\":2}'", NULL};
    tf_exec_spec spec = {.argv = (char *const *)argv, .output_cap = 4096};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_true(o.ok);
    assert_string_equal(o.json, "{\"a\":2,\"b\":1}");
    assert_string_equal(o.output, "hello\noops\n{\"b\":1, \"a\":2}\n");
    assert_int_equal(o.output_total, strlen(o.output));
    assert_false(o.output_truncated);
    outcome_free(&o);
}

static void exec__cmd_text_line_is_string(void **state)
{
    (void)state;
    const char *argv[] = {"printf", "1\\n\"x\"\\nplain \"text\"\\r\\n\\n\\r\\n", NULL};
    tf_exec_spec spec = {.argv = (char *const *)argv};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_true(o.ok);
    assert_string_equal(o.json, "\"plain \\\"text\\\"\"");
    outcome_free(&o);
}

static void exec__cmd_last_line_without_newline(void **state)
{
    (void)state;
    const char *argv[] = {"printf", "first\\n[3, 2]", NULL};
    tf_exec_spec spec = {.argv = (char *const *)argv};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_true(o.ok);
    assert_string_equal(o.json, "[3,2]");
    outcome_free(&o);
}

static void exec__cmd_invalid_utf8_replaced(void **state)
{
    (void)state;
    const char *argv[] = {"printf", "a\\377b\\n", NULL};
    tf_exec_spec spec = {.argv = (char *const *)argv};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_true(o.ok);
    assert_string_equal(o.json, "\"a\xef\xbf\xbd" "b\"");
    outcome_free(&o);
}

static void exec__cmd_no_output_is_null(void **state)
{
    (void)state;
    const char *argv[] = {"true", NULL};
    tf_exec_spec spec = {.argv = (char *const *)argv};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_true(o.ok);
    assert_string_equal(o.json, "null");
    assert_int_equal(o.exit_code, 0);
    outcome_free(&o);
}

static void exec__cmd_nonzero_exit_fails(void **state)
{
    (void)state;
    const char *argv[] = {"sh", "-c", "echo 1; exit 4", NULL};
    tf_exec_spec spec = {.argv = (char *const *)argv};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_false(o.ok);
    assert_null(o.json);
    assert_string_equal(o.error, "exited with status 4");
    assert_int_equal(o.exit_code, 4);
    outcome_free(&o);
}

static void exec__cmd_not_found(void **state)
{
    (void)state;
    const char *argv[] = {"tickflow-no-such-program-x9", "a", NULL};
    tf_exec_spec spec = {.argv = (char *const *)argv};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_false(o.ok);
    assert_string_equal(o.error, "cannot run 'tickflow-no-such-program-x9': No such file or directory");
    outcome_free(&o);
}

static void exec__cmd_bad_cwd(void **state)
{
    (void)state;
    const char *argv[] = {"true", NULL};
    tf_exec_spec spec = {.argv = (char *const *)argv, .cwd = "/nonexistent/tf-folder"};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_false(o.ok);
    assert_string_equal(o.error, "cannot change to folder '/nonexistent/tf-folder': No such file or directory");
    outcome_free(&o);
}

static void exec__cmd_cwd_and_env(void **state)
{
    (void)state;
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    setenv("TF_EXEC_FOO", "inherited", 1);
    setenv("TF_EXEC_KEEP", "kept", 1);
    const char *argv[] = {"sh", "-c", "echo \"$(env | grep -c ^TF_EXEC_FOO=)/$TF_EXEC_FOO/$TF_EXEC_KEEP/$TF_EXEC_NEW/$(pwd)\"", NULL};
    const char *env[] = {"TF_EXEC_FOO=first", "TF_EXEC_NEW=new", "TF_EXEC_FOO=bar", NULL};
    tf_exec_spec spec = {.argv = (char *const *)argv, .env = (char *const *)env, .cwd = dir};
    outcome o;
    run_to_end(&spec, &o, 5);
    unsetenv("TF_EXEC_FOO");
    unsetenv("TF_EXEC_KEEP");
    assert_true(o.ok);
    char want[256];
    snprintf(want, sizeof want, "\"1/bar/kept/new/%s\"", dir);
    assert_string_equal(o.json, want);
    outcome_free(&o);
    rm_tmpdir(dir);
}

static void exec__cmd_env_replaces_not_duplicates(void **state)
{
    (void)state;
    /* env(1) prints its environment verbatim: each name must appear once */
    setenv("TF_EXEC_DUP", "inherited", 1);
    const char *argv[] = {"sh", "-c", "echo; env", NULL};
    const char *env[] = {"TF_EXEC_DUP=mine", "TF_EXEC_OTHER=x", NULL};
    tf_exec_spec spec = {.argv = (char *const *)argv, .env = (char *const *)env,
                         .output_cap = 1 << 20};
    outcome o;
    run_to_end(&spec, &o, 5);
    unsetenv("TF_EXEC_DUP");
    assert_true(o.ok);
    const char *text = o.output;
    int n = 0;
    for (const char *p = text; (p = strstr(p, "\nTF_EXEC_DUP=")); p++)
        n++;
    assert_int_equal(n, 1);
    assert_non_null(strstr(text, "\nTF_EXEC_DUP=mine\n"));
    assert_non_null(strstr(text, "\nTF_EXEC_OTHER=x\n"));
    outcome_free(&o);
}

static long max_rss_kb(void)
{
    struct rusage ru;
    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_maxrss;
}

static void exec__cmd_huge_output_constant_memory(void **state)
{
    (void)state;
    /* one 50 MB line (longer than the 1 MiB cap, but not the last), then the result */
    const char *argv[] = {"sh", "-c",
                    "head -c 50000000 /dev/zero | tr '\\000' x; echo; echo '\"done\"'", NULL};
    tf_exec_spec spec = {.argv = (char *const *)argv, .output_cap = 65536};
    long rss0 = max_rss_kb();
    outcome o;
    run_to_end(&spec, &o, 20);
    long rss1 = max_rss_kb();
    assert_true(o.ok);
    assert_string_equal(o.json, "\"done\"");
    /* the whole output is counted; only its tail is kept */
    assert_int_equal(o.output_total, 50000000 + 1 + 7);
    assert_true(o.output_truncated);
    assert_int_equal(strlen(o.output), 65536);
    assert_string_equal(o.output + 65536 - 10, "xx\n\"done\"\n");
    if (getenv("TF_EXEC_VERBOSE"))
        fprintf(stderr, "huge output: %.2f s, max rss %ld -> %ld KiB\n", o.wall, rss0, rss1);
    assert_true(rss1 - rss0 < 16 * 1024); /* growth under 16 MiB for 50 MB of output */
    outcome_free(&o);
}

static void exec__cmd_last_line_too_long(void **state)
{
    (void)state;
    const char *argv[] = {"sh", "-c", "echo 1; head -c 2000000 /dev/zero | tr '\\000' x", NULL};
    tf_exec_spec spec = {.argv = (char *const *)argv};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_false(o.ok);
    assert_string_equal(o.error, "last output line exceeds 1 MiB");
    outcome_free(&o);
}

static void exec__cmd_timeout_kills_group(void **state)
{
    (void)state;
    const char *argv[] = {"sh", "-c", "sleep 100 & sleep 100", NULL};
    tf_exec_spec spec = {.argv = (char *const *)argv, .timeout = 0.3};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_false(o.ok);
    assert_string_equal(o.error, "timed out after 0.3 s");
    assert_true(o.wall < 3.0);
    assert_true(group_gone(o.pid));
    outcome_free(&o);
}

static void exec__cmd_background_grandchild_does_not_block(void **state)
{
    (void)state;
    /* the background sleep keeps stdout open; the execution must end with sh */
    const char *argv[] = {"sh", "-c", "sleep 100 & echo 7", NULL};
    tf_exec_spec spec = {.argv = (char *const *)argv};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_true(o.ok);
    assert_string_equal(o.json, "7");
    assert_true(o.wall < 2.0);
    assert_true(group_gone(o.pid));
    outcome_free(&o);
}

static void exec__cmd_terminate_escalates_to_kill(void **state)
{
    (void)state;
    /* SIGTERM is ignored by the whole group, so only the SIGKILL after the
     * grace ends it; the app clock is driven by hand, no real waiting */
    const char *argv[] = {"sh", "-c", "trap '' TERM; echo ready; sleep 100", NULL};
    tf_exec_spec spec = {.argv = (char *const *)argv, .now = 1000.0};
    tf_exec *e = NULL;
    char err[256];
    assert_int_equal(tf_exec_start(&spec, &e, err, sizeof err), TF_OK);
    /* give sh time to set the trap, stepping as a loop would */
    for (int i = 0; i < 20; i++) {
        struct pollfd fds[4];
        int n = tf_exec_pollfds(e, fds, 4);
        assert_true(n >= 1); /* stdout, and the pidfd where the kernel has them */
        (void)poll(fds, (nfds_t)n, 10);
        assert_int_equal(tf_exec_step(e, 1000.0), 0);
    }
    /* no timeout: no deadline (or only the short poll interval used where
     * pidfds are unavailable, e.g. under valgrind) */
    double d = tf_exec_deadline(e);
    assert_true(d == 0 || (d > 1000.0 && d < 1000.5));
    tf_exec_terminate(e, 1001.0);
    d = tf_exec_deadline(e);
    assert_true(d > 1000.0 && d <= 1003.0 + 1e-9); /* the SIGKILL is due at 1003 */
    usleep(100000);
    assert_int_equal(tf_exec_step(e, 1002.0), 0); /* ignored SIGTERM: still running */
    int ended = 0;
    for (int i = 0; i < 200 && !ended; i++) {
        ended = tf_exec_step(e, 1003.5);
        if (!ended)
            usleep(10000);
    }
    assert_true(ended);
    const tf_exec_result *r = tf_exec_result_of(e);
    assert_false(r->ok);
    assert_string_equal(r->error, "killed by signal 9 (Killed)");
    assert_int_equal(r->term_signal, SIGKILL);
    pid_t pid = tf_exec_pid(e);
    tf_exec_free(e);
    assert_true(group_gone(pid));
}

static void exec__free_kills_running(void **state)
{
    (void)state;
    const char *argv[] = {"sleep", "100", NULL};
    tf_exec_spec spec = {.argv = (char *const *)argv, .now = now_s()};
    tf_exec *e = NULL;
    char err[256];
    assert_int_equal(tf_exec_start(&spec, &e, err, sizeof err), TF_OK);
    pid_t pid = tf_exec_pid(e);
    assert_int_equal(tf_exec_step(e, now_s()), 0);
    tf_exec_free(e); /* kills and reaps */
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    tf_exec_free(NULL);
}

/*
 * The output tail: no file is written (a planted file or symlink is never
 * touched), a silent command keeps nothing, a long output keeps its latest
 * output_cap bytes (a UTF-8 sequence cut at the front is dropped), invalid
 * UTF-8 and NUL become U+FFFD, and two executions never share an output.
 */
static void exec__output_tail_kept_in_memory(void **state)
{
    (void)state;
    outcome o;
    const char *quiet[] = {"true", NULL};
    tf_exec_spec s0 = {.argv = (char *const *)quiet, .output_cap = 100};
    run_to_end(&s0, &o, 5);
    assert_true(o.ok);
    assert_null(o.output);
    assert_int_equal(o.output_total, 0);
    assert_false(o.output_truncated);
    outcome_free(&o);

    /* 150 lines of "NNN\u00e9\n" (6 bytes each): the last 100 bytes cut inside a line */
    const char *many[] = {"sh", "-c", "i=100; while [ $i -lt 250 ]; do printf '%d\\303\\251\\n' $i;"
                          " i=$((i + 1)); done", NULL};
    tf_exec_spec s1 = {.argv = (char *const *)many, .output_cap = 100};
    run_to_end(&s1, &o, 5);
    assert_true(o.ok);
    assert_int_equal(o.output_total, 150 * 6);
    assert_true(o.output_truncated);
    /* 100 bytes = 16 lines (96) + the last 4 bytes of line 233: "3\xc3\xa9\n" */
    assert_memory_equal(o.output, "3\xc3\xa9\n234\xc3\xa9\n", 10);
    assert_int_equal(strlen(o.output), 100);
    assert_string_equal(o.output + 100 - 6, "249\xc3\xa9\n");
    outcome_free(&o);

    /* a tail starting inside a sequence drops the continuation bytes */
    const char *cut[] = {"printf", "\xc3\xa9" "abc", NULL};
    tf_exec_spec s2 = {.argv = (char *const *)cut, .output_cap = 4};
    run_to_end(&s2, &o, 5);
    assert_string_equal(o.output, "abc");
    assert_true(o.output_truncated);
    outcome_free(&o);

    const char *bin[] = {"printf", "a\\000b\\377c", NULL};
    tf_exec_spec s3 = {.argv = (char *const *)bin, .output_cap = 100};
    run_to_end(&s3, &o, 5);
    assert_string_equal(o.output, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c");
    assert_int_equal(o.output_total, 5);
    outcome_free(&o);

    /* no cap: the output is counted, not kept */
    const char *echo[] = {"echo", "one", NULL};
    tf_exec_spec s4 = {.argv = (char *const *)echo};
    run_to_end(&s4, &o, 5);
    assert_null(o.output);
    assert_int_equal(o.output_total, 4);
    assert_true(o.output_truncated);
    assert_string_equal(o.json, "\"one\"");
    outcome_free(&o);
}

static void exec__no_fd_leak(void **state)
{
    (void)state;
    int before = count_fds();
    const char *argv[] = {"sh", "-c", "ls /proc/self/fd | wc -l", NULL};
    tf_exec_spec spec = {.argv = (char *const *)argv};
    outcome o;
    run_to_end(&spec, &o, 5);
    assert_true(o.ok);
    /* ls sees 0, 1, 2, the folder it reads and whatever the test runner
     * itself passed down without close-on-exec: nothing of ours */
    char want[32];
    snprintf(want, sizeof want, "%d", 4 + count_inheritable());
    assert_string_equal(o.json, want);
    outcome_free(&o);
    tf_exec_spec w = {.fn = work_null};
    run_to_end(&w, &o, 5);
    outcome_free(&o);
    assert_int_equal(count_fds(), before);
}

static void exec__parent_death_kills_child(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t mid = fork();
    assert_true(mid >= 0);
    if (mid == 0) {
        close(p[0]);
        const char *argv[] = {"sleep", "100", NULL};
        tf_exec_spec spec = {.argv = (char *const *)argv, .now = now_s()};
        tf_exec *e = NULL;
        char err[256];
        if (tf_exec_start(&spec, &e, err, sizeof err) != TF_OK)
            _exit(1);
        pid_t pid = tf_exec_pid(e);
        if (write(p[1], &pid, sizeof pid) != (ssize_t)sizeof pid)
            _exit(1);
        for (;;)
            pause();
    }
    close(p[1]);
    pid_t pid = 0;
    assert_int_equal(read(p[0], &pid, sizeof pid), (ssize_t)sizeof pid);
    close(p[0]);
    assert_true(pid > 0);
    usleep(50000); /* let the child reach exec */
    assert_int_equal(kill(pid, 0), 0);
    assert_int_equal(kill(mid, SIGKILL), 0);
    assert_int_equal(waitpid(mid, NULL, 0), mid);
    /* orphaned, the sleep is handed to us (subreaper): wait for its death */
    int st = 0, got = 0;
    for (int i = 0; i < 200 && !got; i++) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            got = 1;
        else
            usleep(10000);
    }
    if (!got)
        kill(pid, SIGKILL);
    assert_true(got);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
}

int main(void)
{
    /* orphans come back to us so tests can reap them and ask "gone?" */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exec__work_object_result),
        cmocka_unit_test(exec__work_null_result),
        cmocka_unit_test(exec__work_large_result),
        cmocka_unit_test(exec__work_error_message),
        cmocka_unit_test(exec__work_error_without_message),
        cmocka_unit_test(exec__work_segfault),
        cmocka_unit_test(exec__work_abort),
        cmocka_unit_test(exec__work_timeout),
        cmocka_unit_test(exec__work_exit_without_result),
        cmocka_unit_test(exec__work_nan_result_is_invalid),
        cmocka_unit_test(exec__work_invalid_utf8_result_is_invalid),
        cmocka_unit_test(exec__work_garbage_message),
        cmocka_unit_test(exec__work_stdio_not_duplicated),
        cmocka_unit_test(exec__cmd_json_line_canonicalized),
        cmocka_unit_test(exec__cmd_text_line_is_string),
        cmocka_unit_test(exec__cmd_last_line_without_newline),
        cmocka_unit_test(exec__cmd_invalid_utf8_replaced),
        cmocka_unit_test(exec__cmd_no_output_is_null),
        cmocka_unit_test(exec__cmd_nonzero_exit_fails),
        cmocka_unit_test(exec__cmd_not_found),
        cmocka_unit_test(exec__cmd_bad_cwd),
        cmocka_unit_test(exec__cmd_cwd_and_env),
        cmocka_unit_test(exec__cmd_env_replaces_not_duplicates),
        cmocka_unit_test(exec__cmd_huge_output_constant_memory),
        cmocka_unit_test(exec__cmd_last_line_too_long),
        cmocka_unit_test(exec__cmd_timeout_kills_group),
        cmocka_unit_test(exec__cmd_background_grandchild_does_not_block),
        cmocka_unit_test(exec__cmd_terminate_escalates_to_kill),
        cmocka_unit_test(exec__free_kills_running),
        cmocka_unit_test(exec__output_tail_kept_in_memory),
        cmocka_unit_test(exec__no_fd_leak),
        cmocka_unit_test(exec__parent_death_kills_child),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
