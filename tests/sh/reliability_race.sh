#!/bin/sh
# reliability_race.sh - the race campaign at quick size: 10 trials of 8
# `tickflow run --once` released together on one database (scripts/
# campaign-race: no duplicate execution, every exit 0, no "database is
# locked"). Then its self-test: two runners on databases of their own must
# be reported as duplicates (the checks can fail).
set -u
R=${TF_ROOT:?TF_ROOT not set}
export TF_BIN=${TF_BIN:?TF_BIN not set}
sh "$R/scripts/campaign-race" 10 8 || { echo "FAIL: race campaign" >&2; exit 1; }
out=$(CAMPAIGN_INJECT=split sh "$R/scripts/campaign-race" 1 4 2>&1)
rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q 'duplicate executions *[1-9]' \
    || { echo "$out" >&2; echo "FAIL: self-test: split databases not reported (exit $rc)" >&2; exit 1; }
echo "self-test: duplicates from split databases are reported"
