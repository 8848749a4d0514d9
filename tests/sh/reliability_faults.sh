#!/bin/sh
# reliability_faults.sh - the fault campaign at quick size (scripts/
# campaign-faults --quick): read-only database, a lock held 2 s, disk full
# (256 KiB tmpfs, root only), corrupt and truncated files, a newer schema,
# the log folder a file, commands not found or killed by signals, 200 MB of
# output, the template clock moving backwards, bad pipeline files. Each
# fails cleanly with one message, keeps the cached successes and never
# records a failure as a success.
set -u
R=${TF_ROOT:?TF_ROOT not set}
export TF_BIN=${TF_BIN:?TF_BIN not set}
sh "$R/scripts/campaign-faults" --quick
