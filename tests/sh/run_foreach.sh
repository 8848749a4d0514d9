#!/bin/sh
# run_foreach: foreach over {{glob:in/*.csv}} processes each file once; a
# new file makes only that file's call run. A {{WORK.result}} dependency on
# a parallel work waits, then runs in the same --once.
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
mkdir in
echo a > in/a.csv
echo b > in/b.csv
cat > p.json <<'P'
{"name": "files", "db": "f.db", "works": [
  {"name": "ingest", "foreach": "{{glob:in/*.csv}}", "args": {"file": "{{item}}"},
   "command": ["sh", "-c", "echo \"$1\" >> ran.txt; wc -l < \"$1\"", "sh", "{file}"]},
  {"name": "count", "args": {"lines": "{{ingest.result}}"},
   "command": ["sh", "-c", "echo \"$TICKFLOW_ARGS\" >> count.txt; echo done"]}
]}
P
"$TF_BIN" run --once p.json > out 2>&1 || { cat out; fail "first run"; }
[ "$(cat ran.txt)" = "in/a.csv
in/b.csv" ] || { cat ran.txt; fail "first run did not ingest a and b once each"; }
[ "$(cat count.txt)" = '{"lines":[1,1]}' ] || { cat count.txt; fail "count got $(cat count.txt)"; }
printf 'c\nc\n' > in/c.csv
"$TF_BIN" run --once p.json > out 2>&1 || { cat out; fail "second run"; }
[ "$(cat ran.txt)" = "in/a.csv
in/b.csv
in/c.csv" ] || { cat ran.txt; fail "second run: want only in/c.csv to run"; }
tail -1 out | grep -qx '2 ran, 2 cached, 0 failed' || { cat out; fail "second run summary"; }
[ "$(tail -1 count.txt)" = '{"lines":[1,1,2]}' ] || { cat count.txt; fail "count after c"; }

# A parallel producer: the consumer waits in the same --once, then runs.
cat > d.json <<'P'
{"name": "deps", "db": "d.db", "works": [
  {"name": "consume", "args": {"v": "{{produce.result.v}}"},
   "command": ["sh", "-c", "echo consumed {v} >> log.txt; echo '{\"ok\":true}'"]},
  {"name": "produce", "parallel": true, "args": {},
   "command": ["sh", "-c", "sleep 0.3; echo produced >> log.txt; echo '{\"v\":42}'"]}
]}
P
"$TF_BIN" run --once --verbose d.json > out 2>&1 || { cat out; fail "deps run"; }
[ "$(cat log.txt)" = "produced
consumed 42" ] || { cat log.txt; cat out; fail "dependency order"; }
grep -q 'consume .* waiting (needs produce.result)' out || { cat out; fail "no waiting line"; }
tail -1 out | grep -qx '2 ran, 0 cached, 0 failed' || { cat out; fail "deps summary"; }
echo ok
