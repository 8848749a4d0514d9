#!/bin/sh
# run_concurrent: two `tickflow run --once` started at the same moment on
# one database execute each (work, args) exactly once (the commands append
# to a file), and both exit 0: the one that did not execute a call waits
# for the other's result.
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
cat > p.json <<'P'
{"name": "c", "db": "c.db", "works": [
  {"name": "fetch", "foreach": [1, 2, 3, 4], "args": {"n": "{{item}}"},
   "command": ["sh", "-c", "echo fetch {n} >> runs.txt; sleep 0.3; echo {n}"]},
  {"name": "sum", "args": {"all": "{{fetch.result}}"},
   "command": ["sh", "-c", "echo sum >> runs.txt; echo 10"]}
]}
P
"$TF_BIN" run --once --now 2026-11-24 p.json > a.out 2>&1 &
a=$!
"$TF_BIN" run --once --now 2026-11-24 p.json > b.out 2>&1 &
b=$!
wait "$a"; ra=$?
wait "$b"; rb=$?
[ "$ra" = 0 ] && [ "$rb" = 0 ] || { cat a.out b.out; fail "exit codes $ra $rb, want 0 0"; }
[ "$(sort runs.txt)" = "fetch 1
fetch 2
fetch 3
fetch 4
sum" ] || { sort runs.txt; fail "each call should run exactly once"; }
[ "$(sqlite3 c.db "SELECT count(*) FROM history")" = 5 ] || fail "history rows"
echo ok
