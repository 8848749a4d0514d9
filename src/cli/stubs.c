/* stubs.c - placeholders for subcommands not written yet (removed as each lands). */
#include "cli.h"
#define STUB(n) int n(int argc, char **argv) { (void)argc; tf_cli_err("%s: not implemented yet", argv[0]); return TF_EXIT_USAGE; }
