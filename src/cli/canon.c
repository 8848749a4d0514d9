/*
 * canon.c - `tickflow canon [FILE]` (the RFC 8785 canonical bytes of a JSON
 * document, no trailing newline) and `tickflow hash [FILE]` (its SHA-256
 * key as 64 lowercase hex digits and a newline). FILE defaults to stdin.
 * Bad JSON: nothing on stdout, "tickflow: CMD: FILE:LINE:COL: reason" on
 * stderr, exit 3.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickflow.h"
#include "cli.h"

static void usage(FILE *to, const char *cmd)
{
    if (!strcmp(cmd, "canon"))
        fputs("usage: tickflow canon [--ignore NAME]... [FILE]\n\n"
              "Print the RFC 8785 canonical form of the JSON document in FILE (or\n"
              "standard input when FILE is absent or '-'), without a trailing newline.\n"
              "The input must be strict JSON: UTF-8, no duplicate member names, no\n"
              "NaN/Infinity, integers beyond 2^53 only in their exact ECMAScript form.\n\n"
              "options:\n"
              "  --ignore NAME  leave the top-level member NAME out (repeatable): the\n"
              "                 argument set a work with \"ignore\": [NAME] stores\n"
              "  -h, --help     show this help\n\n"
              "exit codes: 0 ok; 2 usage; 3 bad JSON (FILE:LINE:COL on stderr); 5 I/O error\n",
              to);
    else
        fputs("usage: tickflow hash [--ignore NAME]... [FILE]\n\n"
              "Print the SHA-256 key of the JSON document in FILE (or standard input\n"
              "when FILE is absent or '-'): 64 lowercase hex digits of the hash of its\n"
              "RFC 8785 canonical form (what 'tickflow canon FILE | sha256sum' gives).\n\n"
              "options:\n"
              "  --ignore NAME  leave the top-level member NAME out of the key (repeatable):\n"
              "                 the key of a work with \"ignore\": [NAME], as ls shows it\n"
              "  -h, --help     show this help\n\n"
              "exit codes: 0 ok; 2 usage; 3 bad JSON (FILE:LINE:COL on stderr); 5 I/O error\n",
              to);
}

/* Write n bytes to stdout and flush; 0, or -1 with the error printed. */
static int write_out(const char *cmd, const void *p, size_t n)
{
    if ((n && fwrite(p, 1, n, stdout) != n) || fflush(stdout) != 0 || ferror(stdout)) {
        tf_cli_err("%s: cannot write standard output", cmd);
        return -1;
    }
    return 0;
}

/* Shared body of canon and hash: hash != 0 prints the key instead. */
static int run(int argc, char **argv, int hash)
{
    const char *cmd = hash ? "hash" : "canon";
    static const struct option opts[] = {
        {"ignore", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *ignore[33] = {NULL};
    size_t nignore = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout, cmd);
            return TF_EXIT_OK;
        case 'i':
            if (!*optarg || nignore == 32) {
                tf_cli_err("%s: --ignore wants a member name (at most 32 of them)", cmd);
                usage(stderr, cmd);
                return TF_EXIT_USAGE;
            }
            ignore[nignore++] = optarg;
            break;
        default:
            if (optopt)
                tf_cli_err("%s: unknown option '-%c'", cmd, optopt);
            else
                tf_cli_err("%s: unknown option '%s'", cmd, argv[optind - 1]);
            usage(stderr, cmd);
            return TF_EXIT_USAGE;
        }
    }
    if (argc - optind > 1) {
        tf_cli_err("%s: too many arguments", cmd);
        usage(stderr, cmd);
        return TF_EXIT_USAGE;
    }
    const char *path = optind < argc ? argv[optind] : "-";
    const char *name = strcmp(path, "-") ? path : "<stdin>";
    char *text;
    size_t len;
    if (tf_cli_read_file(path, &text, &len) != 0)
        return TF_EXIT_IO;

    tf_error err;
    int rc, status = TF_EXIT_OK;
    if (nignore) {
        /* the tree path: canonical bytes without the ignored members */
        cJSON *tree = NULL;
        rc = tf_parse_text(text, len, &tree, &err);
        char hex[65];
        char *out = NULL;
        size_t n = 0;
        if (rc == TF_OK && hash)
            rc = tf_hash_tree_ignoring(tree, ignore, hex, &err);
        else if (rc == TF_OK)
            rc = tf_canon_tree_ignoring(tree, ignore, &out, &n, &err);
        if (rc == TF_OK) {
            hex[64] = '\n';
            if (hash ? write_out(cmd, hex, 65) != 0 : write_out(cmd, out, n) != 0)
                status = TF_EXIT_IO;
        }
        free(out);
        cJSON_Delete(tree);
    } else if (hash) {
        char hex[65];
        rc = tf_hash_text(text, len, hex, &err);
        if (rc == TF_OK) {
            hex[64] = '\n';
            if (write_out(cmd, hex, 65) != 0)
                status = TF_EXIT_IO;
        }
    } else {
        char *out;
        size_t n;
        rc = tf_canon_text(text, len, &out, &n, &err);
        if (rc == TF_OK) {
            if (write_out(cmd, out, n) != 0)
                status = TF_EXIT_IO;
            free(out);
        }
    }
    free(text);
    if (rc != TF_OK) {
        if (rc == TF_EINPUT)
            tf_cli_err("%s: %s:%s", cmd, name, err.msg);
        else
            tf_cli_err("%s: %s: %s", cmd, name, err.msg[0] ? err.msg : tf_strerror(rc));
        return tf_cli_exit_for(rc);
    }
    return status;
}

int cmd_canon(int argc, char **argv)
{
    return run(argc, argv, 0);
}

int cmd_hash(int argc, char **argv)
{
    return run(argc, argv, 1);
}
