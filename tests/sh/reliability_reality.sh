#!/bin/sh
# timeout: 400
# reliability_reality.sh - exactly once when the deployment departs from the
# simple model (scripts/campaign-reality --quick): schedulers in separate PID
# namespaces with one host name, a SIGSTOPped scheduler past its lease, a
# wall clock shifted by hours (faketime), a dead execution's pid reused by a
# bystander, the watchdog killed mid-call, a long clear while schedulers
# renew leases. Scenarios that cannot run here print "skipped: ...". Then
# the campaign's self-test: runners on databases of their own must be
# reported as duplicates (the checks can fail).
set -u
R=${TF_ROOT:?TF_ROOT not set}
export TF_BIN=${TF_BIN:?TF_BIN not set}
out=$(sh "$R/scripts/campaign-reality" --quick 2>&1)
rc=$?
echo "$out"
[ "$rc" = 0 ] || { echo "FAIL: reality campaign (exit $rc)" >&2; exit 1; }
if unshare --pid --fork --mount-proc true 2>/dev/null; then
    out=$(CAMPAIGN_INJECT=split sh "$R/scripts/campaign-reality" --quick pidns 2>&1)
    rc=$?
    [ "$rc" = 1 ] && echo "$out" | grep -q 'duplicate executions *[1-9]' \
        || { echo "$out" >&2; echo "FAIL: self-test: split databases not reported (exit $rc)" >&2; exit 1; }
    echo "self-test: duplicates from split databases are reported"
else
    echo "skipped: reality self-test: unshare --pid is not available here"
fi
