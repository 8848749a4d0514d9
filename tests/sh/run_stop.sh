#!/bin/sh
# run_stop: an execution interrupted by SIGTERM/SIGINT is printed as
# "interrupted", not "failed" (as the database records it), and a
# stopped run says that it stopped, why, and what it interrupted; exit
# 143 / 130. A daemon stopped between executions says nothing was running.
# timeout: 120
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
cat > p.json <<'P'
{"name": "p", "tick": 1, "works": [
  {"name": "slow", "parallel": true, "command": ["sh", "-c", "touch started; sleep 30"]},
  {"name": "block", "command": ["sh", "-c", "touch started2; sleep 30"]}
]}
P
stop_after() { # $1 signal, $2 marker file, then the run's options; output in out
    sig=$1 mark=$2; shift 2
    rm -f "$mark"
    "$TF_BIN" run "$@" > out 2>&1 &
    pid=$!
    i=0
    while [ ! -e "$mark" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    [ -e "$mark" ] || { kill -9 $pid; cat out; fail "the command did not start"; }
    sleep 0.3
    kill -"$sig" $pid
    wait $pid
}
stop_after TERM started2 --db t.db p.json
rc=$?
[ "$rc" = 143 ] || { cat out; fail "SIGTERM: exit $rc, want 143"; }
grep -q ' slow/[0-9a-f]\{12\}  *interrupted [0-9.]*s (the scheduler was stopped)$' out || { cat out; fail "no 'interrupted' line for slow"; }
grep -q ' block/[0-9a-f]\{12\}  *interrupted [0-9.]*s (the scheduler was stopped)$' out || { cat out; fail "no 'interrupted' line for block"; }
grep -q ' failed' out && { cat out; fail "an interrupted execution printed as failed"; }
tail -n 1 out | grep -q '^stopped by SIGTERM: 2 executions interrupted (recorded interrupted; they run again on the next start): \(slow\|block\)/[0-9a-f]\{12\}, \(slow\|block\)/[0-9a-f]\{12\}$' \
    || { cat out; fail "no stop line naming what was interrupted"; }
[ "$(sqlite3 t.db "SELECT count(*) FROM history WHERE status = 'interrupted'")" = 2 ] || fail "history does not say interrupted"

stop_after INT started --db t2.db --json p.json
rc=$?
[ "$rc" = 130 ] || { cat out; fail "SIGINT: exit $rc, want 130"; }
tail -n 1 out | grep -q '^{"interrupted":\[{"work":"\(slow\|block\)","key":"[0-9a-f]\{64\}","ref":"\(slow\|block\)/[0-9a-f]\{12\}"}.*\],"stopped":"SIGINT"}$' \
    || { cat out; fail "--json: no stop object"; }
grep -q '"decision":"interrupted"' out || { cat out; fail "--json: no interrupted decision"; }

# a daemon between ticks: nothing was running
cat > q.json <<'P'
{"name": "q", "tick": 60, "works": [{"name": "quick", "command": ["sh", "-c", "touch done"]}]}
P
stop_after TERM done --db t3.db q.json
[ $? = 143 ] || { cat out; fail "idle daemon: exit, want 143"; }
tail -n 1 out | grep -qx 'stopped by SIGTERM: nothing was running' || { cat out; fail "idle daemon: no stop line"; }
echo ok
