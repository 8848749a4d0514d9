/*
 * main.c - the tickflow command's entry: global options and the subcommand
 * table. Each subcommand parses its own options (getopt_long) and prints
 * its own --help.
 */
#include <stdio.h>
#include <string.h>

#include "tickflow.h"
#include "cli.h"

static const tf_cmd commands[] = {
    {"run",    cmd_run,    "evaluate pipeline files: run each work once per new argument set"},
    {"ls",     cmd_ls,     "list cached calls"},
    {"show",   cmd_show,   "show one call: arguments, result, history, log path"},
    {"logs",   cmd_logs,   "print the log of a call's last execution"},
    {"clear",  cmd_clear,  "delete cached calls so they run again"},
    {"retry",  cmd_retry,  "make failed calls runnable again"},
    {"gc",     cmd_gc,     "delete calls and history older than a duration"},
    {"status", cmd_status, "list running executions"},
    {"stats",  cmd_stats,  "what the cache saved: calls, hits, hit rate, time saved per work"},
    {"metrics", cmd_metrics, "print Prometheus metrics of the database"},
    {"check",  cmd_check,  "health check: recent successes, no failed or stuck calls"},
    {"report", cmd_report, "write an HTML page of what ran: timeline, failures, hits"},
    {"canon",  cmd_canon,  "print the RFC 8785 canonical form of a JSON document"},
    {"hash",   cmd_hash,   "print the SHA-256 key of a JSON document"},
};

static void usage(FILE *to)
{
    fputs("usage: tickflow [--help] [--version] COMMAND [ARGS...]\n\n"
          "commands:\n", to);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(to, "  %-7s %s\n", commands[i].name, commands[i].summary);
    fputs("\nRun 'tickflow COMMAND --help' for a command's options.\n"
          "\nexit codes: 0 ok; 1 a call failed or nothing matched; 2 usage;\n"
          "  3 bad input (JSON, pipeline); 4 database error; 5 I/O error;\n"
          "  130 / 143 stopped by SIGINT / SIGTERM\n", to);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return TF_EXIT_USAGE;
    }
    const char *word = argv[1];
    if (!strcmp(word, "--help") || !strcmp(word, "-h") || !strcmp(word, "help")) {
        usage(stdout);
        return TF_EXIT_OK;
    }
    if (!strcmp(word, "--version")) {
        printf("tickflow %s\n", TF_VERSION);
        return TF_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(word, commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    if (word[0] == '-')
        tf_cli_err("unknown option '%s'", word);
    else
        tf_cli_err("unknown command '%s'", word);
    usage(stderr);
    return TF_EXIT_USAGE;
}
