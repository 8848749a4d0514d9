#!/bin/sh
# run_wait_lines: a runner waiting on another runner's execution says so
# once when the wait begins and once when it ends, with how long
# ("waited 2.9s"), not at every look (about five a second); --verbose
# still prints every look.
# timeout: 120
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
cat > p.json <<'P'
{"name": "p", "works": [{"name": "slow", "command": ["sh", "-c", "touch started; sleep 3; echo done"]}]}
P
run_pair() { # $1: extra option of the waiting runner; its output in $2
    rm -f t.db* started
    "$TF_BIN" run --once --db t.db p.json > a.out 2>&1 &
    a=$!
    i=0
    while [ ! -e started ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    [ -e started ] || fail "the first runner did not start its command"
    "$TF_BIN" run --once $1 --db t.db p.json > "$2" 2>&1 || { cat "$2"; fail "waiting runner: exit $?"; }
    wait $a || { cat a.out; fail "first runner: exit $?"; }
}
run_pair "" b.out
[ "$(grep -c 'waiting (' b.out)" = 1 ] || { cat b.out; fail "want exactly one 'waiting' line"; }
[ "$(grep -c ' waited [0-9.]*s$' b.out)" = 1 ] || { cat b.out; fail "want one 'waited Ns' line"; }
secs=$(sed -n 's/.* waited \([0-9.]*\)s$/\1/p' b.out)
awk "BEGIN {exit !($secs >= 1.5 && $secs < 30)}" || fail "waited ${secs}s for a 3 s command"
tail -n 1 b.out | grep -qx '0 ran, 1 cached, 0 failed' || { cat b.out; fail "summary of the waiting runner"; }
run_pair --verbose v.out
[ "$(grep -c 'waiting (' v.out)" -ge 5 ] || { cat v.out; fail "--verbose should print every look"; }
[ "$(grep -c ' waited [0-9.]*s$' v.out)" = 1 ] || { cat v.out; fail "--verbose: want one 'waited Ns' line"; }
echo ok
