#!/bin/sh
# run_kill: SIGKILL the scheduler while a command runs (sleep), then run
# again: the old command's process is gone, the call runs again, and the
# history shows the first attempt as interrupted. A graceful SIGTERM or
# SIGINT of a daemon exits 143 / 130 and records the running call as
# interrupted; a daemon re-reads a changed pipeline file.
set -u
T=$(mktemp -d) || exit 1
pids=""
trap 'for p in $pids; do kill -9 "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
alive() { [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -c1)" != Z ]; }
wait_for() { i=0; while [ ! -s "$1" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done; [ -s "$1" ]; }
cd "$T" || exit 1
cat > p.json <<'P'
{"name": "k", "db": "k.db", "works": [
  {"name": "long", "command": ["sh", "-c", "echo $$ >> pids.txt; [ -f go ] || sleep 60; echo '{\"done\":true}'"]}
]}
P
"$TF_BIN" run --once p.json > 1.out 2>&1 &
s=$!; pids="$pids $s"
wait_for pids.txt || fail "the command never started"
cmd=$(head -1 pids.txt)
pids="$pids $cmd"
kill -9 "$s"
wait "$s" 2>/dev/null
# (exec.c may end it at once through the parent-death signal; either way it must be gone below)
touch go
"$TF_BIN" run --once p.json > 2.out 2>&1 || { cat 2.out; fail "restart exit $?"; }
sleep 0.2
alive "$cmd" && fail "the old command $cmd is still running after the restart"
[ "$(wc -l < pids.txt)" = 2 ] || fail "the call did not run again"
[ "$(sqlite3 k.db 'SELECT status FROM history ORDER BY id' | tr '\n' ' ')" = "interrupted succeeded " ] ||
    { sqlite3 k.db 'SELECT * FROM history'; fail "history: $(sqlite3 k.db 'SELECT status FROM history ORDER BY id')"; }

# Daemon: SIGTERM during a long command -> 143, the call is interrupted.
cat > d.json <<'P'
{"name": "d", "db": "d.db", "tick": 0.2, "works": [
  {"name": "wait", "command": ["sh", "-c", "echo $$ > d.pid; sleep 60"]}
]}
P
"$TF_BIN" run d.json > d.out 2>&1 &
s=$!; pids="$pids $s"
wait_for d.pid || fail "daemon command never started"
kill -TERM "$s"
wait "$s"; rc=$?
[ "$rc" = 143 ] || { cat d.out; fail "SIGTERM exit $rc, want 143"; }
alive "$(cat d.pid)" && fail "SIGTERM left the command running"
[ "$(sqlite3 d.db 'SELECT status FROM calls')" = interrupted ] || fail "SIGTERM: call not interrupted"

# Daemon: reload a changed file, refuse a broken one, SIGINT -> 130.
cat > r.json <<'P'
{"name": "r", "db": "r.db", "works": [{"name": "a", "command": ["sh", "-c", "echo a >> r.txt"]}]}
P
"$TF_BIN" run --tick 0.2 r.json > r.out 2>&1 &
s=$!; pids="$pids $s"
wait_for r.txt || fail "daemon did not run a"
sleep 0.3
cat > r.json <<'P'
{"name": "r", "db": "r.db", "works": [{"name": "a", "command": ["sh", "-c", "echo a >> r.txt"]},
  {"name": "b", "command": ["sh", "-c", "echo b >> r.txt"]}]}
P
i=0; while ! grep -q b r.txt 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
grep -q "reloaded pipeline 'r'" r.out || { cat r.out; fail "no reload line"; }
echo '{"name": "r", "works": [' > r.json
i=0; while ! grep -q "not reloaded" r.out && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
grep -q "pipeline not reloaded, keeping the running definition: r.json:2:1:" r.out || { cat r.out; fail "broken file not reported"; }
kill -INT "$s"
wait "$s"; rc=$?
[ "$rc" = 130 ] || { cat r.out; fail "SIGINT exit $rc, want 130"; }
[ "$(sort r.txt | uniq -c | awk '{print $1}' | tr '\n' ' ')" = "1 1 " ] || { cat r.txt; fail "a and b should run once each"; }
echo ok
