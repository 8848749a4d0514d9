#!/bin/sh
# run_retry_wait.sh - `run --once` and retries: a retry due soon (within
# TF_ONCE_RETRY_WAIT, 10 minutes) is waited for in one sleep, with one
# "retry" line per wait; a retry due later is left to a later run: the run
# ends at once, exit 1, the call counted failed. Before, --once waited out
# any backoff (an hour for retry_backoff 3600) re-deciding the call several
# times a second, each time printing a "retry" line.
# timeout: 60
set -u
T=${TF_BIN:?TF_BIN not set}
d=$(mktemp -d) || exit 1
trap 'rm -rf "$d"' EXIT
trap 'exit 1' INT TERM
unset TICKFLOW_DB
cd "$d" || exit 1
fail() { echo "FAIL: $*" >&2; exit 1; }

# a retry an hour away: not this run's
echo '{"name": "r", "works": [{"name": "w", "retries": 2, "retry_backoff": 3600, "command": ["false"]}]}' > late.json
timeout 20 "$T" run --once --db late.db late.json > out 2>&1
rc=$?
[ "$rc" = 1 ] || { cat out; fail "a retry an hour away: exit $rc, want 1 (124: it waited)"; }
tail -n 1 out | grep -qx '0 ran, 0 cached, 1 failed' || { cat out; fail "late retry summary"; }
[ "$(grep -c ' retry' out)" -le 1 ] || { cat out; fail "late retry: $(grep -c ' retry' out) retry lines"; }

# retries a second and two away: waited for, every attempt made, one line a wait
echo '{"name": "r", "works": [{"name": "w", "retries": 2, "retry_backoff": 1, "command": ["false"]}]}' > soon.json
timeout 30 "$T" run --once --db soon.db soon.json > out 2>&1
rc=$?
[ "$rc" = 1 ] || { cat out; fail "soon retries: exit $rc, want 1"; }
[ "$(sqlite3 soon.db 'SELECT count(*) FROM history')" = 3 ] || { cat out; fail "soon retries: $(sqlite3 soon.db 'SELECT count(*) FROM history') attempts, want 3"; }
[ "$(grep -c ' retry' out)" -le 2 ] || { cat out; fail "soon retries: $(grep -c ' retry' out) retry lines, want one a wait"; }
echo "ok: --once waits for a retry due soon, in one sleep, and leaves a later one"
