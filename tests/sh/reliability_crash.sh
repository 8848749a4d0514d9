#!/bin/sh
# reliability_crash.sh - the crash campaign at quick size: 15 SIGKILLs of
# `tickflow run --once` at random moments (a new seed each run, printed),
# then its checks (scripts/campaign-crash: integrity, no stray process, no
# second execution of a recorded success, interruptions in history). Then
# the campaign's own self-test: a success deleted behind tickflow's back
# must be reported as a duplicate execution (the checks can fail).
set -u
R=${TF_ROOT:?TF_ROOT not set}
export TF_BIN=${TF_BIN:?TF_BIN not set}
seed=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
sh "$R/scripts/campaign-crash" 15 "$seed" || { echo "FAIL: crash campaign (seed $seed)" >&2; exit 1; }
out=$(CAMPAIGN_INJECT=dup sh "$R/scripts/campaign-crash" 6 7 2>&1)
rc=$?
[ "$rc" = 1 ] || { echo "$out" >&2; echo "FAIL: self-test: an injected duplicate went unnoticed (exit $rc)" >&2; exit 1; }
echo "$out" | grep -q 'duplicate executions of succeeded calls  [1-9]' \
    || { echo "$out" >&2; echo "FAIL: self-test: duplicate not counted" >&2; exit 1; }
echo "self-test: an injected duplicate is reported"
