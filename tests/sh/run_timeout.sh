#!/bin/sh
# run_timeout: a command over its timeout fails its call and its whole
# process group is killed (a grandchild sleeping in the background too).
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# Alive and not a zombie (an orphan's zombie waits for an init that may not reap).
alive() { [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -c1)" != Z ]; }
cd "$T" || exit 1
cat > p.json <<'P'
{"name": "slow", "db": "s.db", "works": [
  {"name": "slow", "timeout": 0.5,
   "command": ["sh", "-c", "sleep 60 & echo $! > grandchild.pid; wait"]}
]}
P
start=$(date +%s)
"$TF_BIN" run --once p.json > out 2>&1
rc=$?
[ "$rc" = 1 ] || { cat out; fail "exit $rc, want 1"; }
[ $(( $(date +%s) - start )) -lt 20 ] || fail "the timeout did not stop the command"
grep -q 'slow/.* failed .*tim' out || { cat out; fail "no timeout failure line"; }
sleep 0.2
pid=$(cat grandchild.pid)
if alive "$pid"; then
    kill -9 "$pid"; fail "grandchild $pid survived the timeout"
fi
echo ok
