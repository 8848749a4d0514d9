/*
 * cli.h - the tickflow command: the subcommand table (main.c) and shared
 * helpers (util.c). Only the CLI prints and exits; it uses the library
 * through include/tickflow.h and the internal store API for inspection.
 *
 * Exit codes (documented in --help and tickflow(1)):
 *   0 success; 1 a call failed / nothing matched; 2 usage error;
 *   3 bad input (JSON, pipeline file); 4 database error; 5 I/O error;
 *   130/143 stopped by SIGINT/SIGTERM.
 */
#ifndef TF_CLI_H
#define TF_CLI_H

#include <stdarg.h>
#include <stdio.h>

enum {
    TF_EXIT_OK = 0, TF_EXIT_FAILED = 1, TF_EXIT_USAGE = 2, TF_EXIT_INPUT = 3,
    TF_EXIT_DB = 4, TF_EXIT_IO = 5
};

/* A subcommand: argv[0] is its name. Returns the process exit code. */
typedef int (*tf_cmd_fn)(int argc, char **argv);

typedef struct tf_cmd {
    const char *name;       /* subcommand word */
    tf_cmd_fn fn;           /* implementation */
    const char *summary;    /* one line for tickflow --help */
} tf_cmd;

/* Subcommands, one file per group. */
int cmd_canon(int argc, char **argv);   /* canon.c */
int cmd_hash(int argc, char **argv);    /* canon.c */
int cmd_run(int argc, char **argv);     /* run.c */
int cmd_ls(int argc, char **argv);      /* cache.c */
int cmd_show(int argc, char **argv);    /* cache.c */
int cmd_logs(int argc, char **argv);    /* cache.c */
int cmd_clear(int argc, char **argv);   /* cache.c */
int cmd_retry(int argc, char **argv);   /* cache.c */
int cmd_gc(int argc, char **argv);      /* cache.c */
int cmd_status(int argc, char **argv);  /* cache.c */

/* Print "tickflow: " + message + newline to stderr (printf-style). */
void tf_cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* tf_cli_err with a va_list, for helpers that print more after the message. */
void tf_cli_verr(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Map a library result code to an exit code. */
int tf_cli_exit_for(int rc);

/*
 * Read a whole file ("-" or NULL = stdin) into a malloc'd buffer (NUL
 * appended, *len without it). Returns 0, or -1 with the error printed.
 */
int tf_cli_read_file(const char *path, char **data, size_t *len);

/*
 * The database path: --db value, else $TICKFLOW_DB, else fallback (the
 * pipeline's db, already resolved), else "./tickflow.db". Never NULL.
 */
const char *tf_cli_db_path(const char *opt_db, const char *fallback);

#endif
