#!/bin/sh
# run_parallel_slots.sh - --max-parallel counts only parallel executions
# (issue 14): a sequential call that ends while a parallel one runs gives
# back no slot it never took. Before, its end freed a slot, so
# `--max-parallel 1` let two parallel executions overlap.
# Each parallel execution holds a lock folder for 0.6 s; an execution that
# finds it taken writes "overlap".
set -u
T=${TF_BIN:?TF_BIN not set}
d=$(mktemp -d) || exit 1
trap 'rm -rf "$d"' EXIT
trap 'exit 1' INT TERM
unset TICKFLOW_DB
cd "$d" || exit 1
fail() { echo "FAIL: $*" >&2; exit 1; }

hold='mkdir lock 2>/dev/null || echo overlap >> overlaps; sleep 0.6; rmdir lock 2>/dev/null; echo $0 >> ran'
cat > p.json <<EOF2
{"name": "slots", "works": [
  {"name": "p1", "parallel": true, "args": {"k": "a"}, "command": ["sh", "-c", "$hold", "a"]},
  {"name": "s", "args": {"k": "s"}, "command": ["true"]},
  {"name": "p2", "parallel": true, "args": {"k": "{{item}}"}, "command": ["sh", "-c", "$hold", "{{item}}"],
   "foreach": ["b", "c"]}
]}
EOF2
"$T" run --once --max-parallel 1 --db p.db p.json > out 2>&1 || { cat out; fail "run exit $?"; }
tail -n 1 out | grep -qx '4 ran, 0 cached, 0 failed' || { cat out; fail "summary"; }
[ "$(wc -l < ran)" = 3 ] || fail "parallel executions: $(wc -l < ran), want 3"
[ ! -e overlaps ] || fail "--max-parallel 1: $(wc -l < overlaps) parallel executions overlapped"

# The limit also holds with several slots: at most 2 of 6 at once.
hold2='n=$(ls -d lk.* 2>/dev/null | wc -l); [ $n -lt 2 ] || echo $n >> over2; mkdir lk.$0; sleep 0.4; rmdir lk.$0'
cat > q.json <<EOF2
{"name": "slots2", "works": [
  {"name": "p1", "parallel": true, "args": {"k": "{{item}}"}, "command": ["sh", "-c", "$hold2", "{{item}}"],
   "foreach": ["a", "b"]},
  {"name": "s", "args": {"k": "s"}, "command": ["true"]},
  {"name": "p2", "parallel": true, "args": {"k": "{{item}}"}, "command": ["sh", "-c", "$hold2", "{{item}}"],
   "foreach": ["c", "d", "e", "f"]}
]}
EOF2
"$T" run --once --max-parallel 2 --db q.db q.json > out 2>&1 || { cat out; fail "run 2 exit $?"; }
tail -n 1 out | grep -qx '7 ran, 0 cached, 0 failed' || { cat out; fail "summary 2"; }
[ ! -e over2 ] || fail "--max-parallel 2: saw $(sort -n over2 | tail -n 1) others running at a start"
echo "ok: --max-parallel counts parallel executions only"
