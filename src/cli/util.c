/*
 * util.c - helpers shared by the subcommands: error printing, exit codes,
 * reading input files, choosing the database path.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
