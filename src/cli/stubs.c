/* stubs.c - placeholders for subcommands not written yet (removed as each lands). */
#include "cli.h"
#define STUB(n) int n(int argc, char **argv) { (void)argc; tf_cli_err("%s: not implemented yet", argv[0]); return TF_EXIT_USAGE; }
STUB(cmd_run)
STUB(cmd_ls)
STUB(cmd_show)
STUB(cmd_logs)
STUB(cmd_clear)
STUB(cmd_retry)
STUB(cmd_gc)
STUB(cmd_status)
