/*
 * util.c - helpers shared by the subcommands: error printing, exit codes,
 * option errors, reading input files, choosing and opening the database,
 * writing standard output, and asking before deleting.
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tickflow.h"
#include "cli.h"

void tf_cli_verr(const char *fmt, va_list ap)
{
    fputs("tickflow: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void tf_cli_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tf_cli_verr(fmt, ap);
    va_end(ap);
}

int tf_cli_exit_for(int rc)
{
    switch (rc) {
    case TF_OK: return TF_EXIT_OK;
    case TF_EINPUT: return TF_EXIT_INPUT;
    case TF_EDB: case TF_EBUSY: case TF_ESCHEMA: return TF_EXIT_DB;
    case TF_EIO: case TF_ENOMEM: return TF_EXIT_IO;
    case TF_ESTOPPED: return 143;
    default: return TF_EXIT_FAILED;
    }
}

int tf_cli_read_file(const char *path, char **data, size_t *len)
{
    int use_stdin = !path || !strcmp(path, "-");
    FILE *f = use_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        tf_cli_err("cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            tf_cli_err("out of memory reading '%s'", use_stdin ? "-" : path);
            break;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                tf_cli_err("cannot read '%s': %s", use_stdin ? "-" : path, strerror(errno));
                free(buf);
                buf = NULL;
            }
            break;
        }
        if (cap - n - 1 == 0) {
            char *p = cap > ((size_t)-1) / 2 ? NULL : realloc(buf, cap * 2);
            if (!p)
                free(buf);
            buf = p;
            cap *= 2;
        }
    }
    if (!use_stdin)
        fclose(f);
    if (!buf)
        return -1;
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

const char *tf_cli_db_path(const char *opt_db, const char *fallback)
{
    if (opt_db && *opt_db)
        return opt_db;
    const char *env = getenv("TICKFLOW_DB");
    if (env && *env)
        return env;
    if (fallback && *fallback)
        return fallback;
    return "./tickflow.db";
}

int tf_cli_open_db(const char *cmd, const char *opt_db, tf_app **app)
{
    const char *path = tf_cli_db_path(opt_db, NULL);
    struct stat st;
    *app = NULL;
    /* a server database is checked by connecting; a file must exist already */
    if (!tf_db_is_server(path) && stat(path, &st) != 0) {
        if (errno == ENOENT) {
            tf_cli_err("no database at '%s'", path);
            return TF_EXIT_DB;
        }
        tf_cli_err("%s: cannot open database '%s': %s", cmd, path, strerror(errno));
        return TF_EXIT_DB;
    }
    int rc = tf_app_open(path, app);
    if (rc != TF_OK) {
        tf_cli_err("%s: %s", cmd, tf_errmsg(*app));
        tf_app_close(*app);
        *app = NULL;
        return tf_cli_exit_for(rc) == TF_EXIT_IO ? TF_EXIT_IO : TF_EXIT_DB;
    }
    return 0;
}

int tf_cli_lib_fail(const char *cmd, tf_app *app, int rc)
{
    tf_cli_err("%s: %s", cmd, tf_errmsg(app));
    return tf_cli_exit_for(rc);
}

int tf_cli_listed(const char *cmd, tf_app *app, int rc, int oom)
{
    if (oom) {
        tf_cli_err("%s: out of memory", cmd);
        return TF_EXIT_IO;
    }
    return rc == TF_OK ? 0 : tf_cli_lib_fail(cmd, app, rc);
}

int tf_cli_flush_out(const char *cmd)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        tf_cli_err("%s: cannot write standard output: %s", cmd, strerror(errno));
        return TF_EXIT_IO;
    }
    return TF_EXIT_OK;
}

int tf_cli_print_json(const char *cmd, cJSON *doc)
{
    char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (!text) {
        tf_cli_err("%s: out of memory building JSON", cmd);
        return TF_EXIT_IO;
    }
    fputs(text, stdout);
    fputc('\n', stdout);
    free(text);
    return tf_cli_flush_out(cmd);
}

int tf_cli_bad_option(const char *cmd, int c, char **argv, void (*usage)(FILE *))
{
    const char *text = argv[optind - 1];
    if (c == ':')
        tf_cli_err("%s: option '%s' needs a value", cmd, text);
    else if (optopt && optopt < 256 && !(text[0] == '-' && text[1] == '-'))
        tf_cli_err("%s: unknown option '-%c'", cmd, optopt);
    else
        tf_cli_err("%s: unknown option '%s'", cmd, text);
    usage(stderr);
    return TF_EXIT_USAGE;
}

int tf_cli_misuse(void (*usage)(FILE *), const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tf_cli_verr(fmt, ap);
    va_end(ap);
    usage(stderr);
    return TF_EXIT_USAGE;
}

int tf_cli_parse_count(const char *text, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end || errno || v < 1 || v > 1000000000L)
        return -1;
    *out = v;
    return 0;
}

int tf_cli_confirm(int64_t n, void *declined)
{
    fprintf(stderr, "delete %lld call%s? [y/N] ", (long long)n, n == 1 ? "" : "s");
    fflush(stderr);
    char line[64];
    int yes = 0;
    if (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        yes = !strcasecmp(line, "y") || !strcasecmp(line, "yes");
    }
    if (!yes && declined)
        *(int *)declined = 1;
    return yes;
}

void tf_cli_print_deleted(const char *verb, int64_t counted, int64_t deleted, const char *tail)
{
    if (counted <= deleted) {
        printf("%s %lld call%s%s\n", verb, (long long)deleted, deleted == 1 ? "" : "s", tail);
        return;
    }
    int64_t gone = counted - deleted;
    printf("%s %lld of the %lld counted call%s%s; %lld no longer matched (running or changed"
           " since the count)\n", verb, (long long)deleted, (long long)counted,
           counted == 1 ? "" : "s", tail, (long long)gone);
}

int tf_cli_cannot_ask(const char *cmd)
{
    if (isatty(STDIN_FILENO))
        return 0;
    tf_cli_err("%s: refusing without --yes (stdin is not a terminal)", cmd);
    return 1;
}

void tf_cli_user_name(char out[256])
{
    struct passwd *pw = getpwuid(geteuid());
    const char *env = getenv("USER");
    int n;
    if (pw && pw->pw_name && *pw->pw_name)
        n = snprintf(out, 256, "%s", pw->pw_name);
    else if (env && *env)
        n = snprintf(out, 256, "%s", env);
    else
        n = snprintf(out, 256, "uid %ld", (long)geteuid());
    if (n < 0 || (size_t)n >= 256)
        snprintf(out, 256, "uid %ld", (long)geteuid());
}
