#!/bin/sh
# cache_stats: `tickflow stats` matches the history. Three calls execute
# once (each sleeping a little), then two more --once runs answer all three
# from the cache: 3 executions, 6 hits (a --once run counts a call once,
# however many ticks it takes), hit rate 6/9, and time saved = 2 x the sum
# of the three durations the history recorded. The daemon counts per tick.
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
cat > p.json <<'P'
{"name": "st", "db": "s.db", "works": [
  {"name": "nap", "foreach": [1, 2, 3], "args": {"n": "{{item}}"},
   "command": ["sh", "-c", "sleep 0.0$1; echo $1", "sh", "{n}"]},
  {"name": "after", "args": {"r": "{{nap.result}}"}, "command": ["true"]}
]}
P
"$TF_BIN" stats --db s.db > none.out 2>&1; [ $? = 4 ] || { cat none.out; fail "stats on no database"; }
for i in 1 2 3; do
    "$TF_BIN" run --once p.json > "out$i" 2>&1 || { cat "out$i"; fail "run $i"; }
done
tail -1 out1 | grep -qx '4 ran, 0 cached, 0 failed' || { cat out1; fail "run 1"; }
tail -1 out3 | grep -qx '0 ran, 4 cached, 0 failed' || { cat out3; fail "run 3"; }

"$TF_BIN" stats --db s.db --json > st.json || { cat st.json; fail "stats --json"; }
"$TF_BIN" ls --db s.db --work nap --json > ls.json || fail "ls"
# sum of the durations of nap's executions, as the history (ls) recorded them
sum=$(tr '{' '\n' < ls.json | sed -n 's/.*"duration":\([0-9.e-]*\).*/\1/p' | awk '{s += $1} END {printf "%.6f", s}')
python3 - "$sum" st.json <<'PY' || fail "stats do not match the history"
import json, sys
want_sum = float(sys.argv[1])
rows = {r["work"]: r for r in json.load(open(sys.argv[2]))}
nap = rows["nap"]
for period in ("all", "day"):
    p = nap[period]
    assert p["executions"] == 3, p
    assert p["hits"] == 6, p
    assert p["calls"] == 9, p
    assert abs(p["hit_rate"] - 6 / 9) < 1e-6, p
    assert abs(p["saved"] - 2 * want_sum) < 1e-4, (p, want_sum)
    assert abs(p["exec_seconds"] - want_sum) < 1e-4, (p, want_sum)
assert rows["after"]["all"]["executions"] == 1 and rows["after"]["all"]["hits"] == 2, rows["after"]
PY
"$TF_BIN" stats --db s.db > st.txt || fail "stats"
grep -q '^nap  *9  *3  *6  *66.7%' st.txt || { cat st.txt; fail "stats table"; }
"$TF_BIN" stats --db s.db --work after --json > after.json || fail "stats --work"
grep -q '"work":"nap"' after.json && fail "--work shows other works"
"$TF_BIN" stats --db s.db --work nope > nope.out; [ $? = 1 ] || fail "unknown work: want exit 1"

# A daemon counts each tick's answers: 3 ticks of 4 cached calls.
"$TF_BIN" run --tick 0.05 p.json > daemon.out 2>&1 &
pid=$!
sleep 1
kill -TERM "$pid"; wait "$pid"
"$TF_BIN" stats --db s.db --work nap --json > d.json || fail "stats after daemon"
python3 - d.json <<'PY' || fail "daemon hits"
import json, sys
p = json.load(open(sys.argv[1]))[0]["all"]
assert p["executions"] == 3 and p["hits"] >= 6 + 3 * 3, p
PY
echo ok
