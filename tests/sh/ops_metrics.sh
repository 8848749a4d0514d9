#!/bin/sh
# ops_metrics: `tickflow metrics` and `tickflow run --metrics-file` (issue 15,
# point 1). After a pipeline with a success, a failure and a cached call the
# output passes `promtool check metrics` and says what the database holds;
# the metrics file is replaced atomically (mode 0644, a planted symlink is
# replaced, never written through), after each --once run and each daemon
# tick, with the run's cache hits and the pipeline's last run and success;
# label values are escaped.
# timeout: 120
set -u
T=$(mktemp -d) || exit 1
trap 'kill $daemon 2>/dev/null; rm -rf "$T"' EXIT
daemon=
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
if command -v promtool >/dev/null 2>&1; then promtool=promtool; else
    promtool=; echo "skipped: promtool check metrics (promtool not installed; Debian package prometheus)"; fi
check() { # FILE: promtool must accept it (lint problems included)
    [ -z "$promtool" ] && return 0
    out=$($promtool check metrics < "$1" 2>&1) || { echo "$out"; fail "promtool check metrics refused $1"; }
    [ -z "$out" ] || { echo "$out"; fail "promtool check metrics complained about $1"; }
}
val() { # FILE SERIES: its value
    grep -F "$2 " "$1" | sed 's/.* //'
}

cat > p.json <<'P'
{"name": "night \"ly\" \\ x",
 "works": [
  {"name": "fetch", "command": ["sh", "-c", "echo '{\"n\": 1}'"]},
  {"name": "boom", "command": ["sh", "-c", "exit 2"]},
  {"name": "stamp", "args": {"day": "{{today}}"}, "command": ["sh", "-c", "sleep 0.2; echo {day}"]}
 ]}
P
"$TF_BIN" run --once --db t.db p.json > out 2>&1; [ $? = 1 ] || { cat out; fail "first run"; }
"$TF_BIN" run --once --db t.db --metrics-file m.prom p.json > out 2>&1; [ $? = 1 ] || { cat out; fail "second run"; }
"$TF_BIN" metrics --db t.db > db.prom || fail "tickflow metrics exit $?"
check db.prom
check m.prom
[ "$(val db.prom 'tickflow_calls{work="fetch",status="succeeded"}')" = 1 ] || { cat db.prom; fail "calls by status"; }
[ "$(val db.prom 'tickflow_calls{work="boom",status="failed"}')" = 1 ] || fail "failed calls"
[ "$(val db.prom 'tickflow_calls_failed_final{work="boom"}')" = 1 ] || fail "failed for good"
[ "$(val db.prom 'tickflow_executions_total{work="boom",outcome="failed"}')" = 1 ] || fail "executions by outcome"
[ "$(val db.prom 'tickflow_executions_total{work="fetch",outcome="succeeded"}')" = 1 ] || fail "executions (a cached call adds none)"
grep -q '^# TYPE tickflow_executions_total counter$' db.prom || fail "executions are not a counter"
ts=$(val db.prom 'tickflow_last_success_timestamp_seconds{work="fetch"}')
now=$(date +%s)
awk -v t="$ts" -v n="$now" 'BEGIN { exit !(t > n - 120 && t <= n + 1) }' || fail "last success time $ts (now $now)"
grep -q 'tickflow_last_success_timestamp_seconds{work="boom"}' db.prom && fail "a work that never succeeded has a last success"
d=$(val db.prom 'tickflow_last_execution_duration_seconds{work="stamp"}')
awk -v d="$d" 'BEGIN { exit !(d >= 0.2 && d < 5) }' || fail "last duration $d, want about 0.2 s"
# the run's own metrics: the second run answered fetch and stamp from the cache
[ "$(val m.prom 'tickflow_last_run_cache_hits{work="fetch"}')" = 1 ] || { cat m.prom; fail "cache hits in the last run"; }
[ "$(val m.prom 'tickflow_last_run_executions{work="fetch"}')" = 0 ] || fail "executions in the last run"
grep -qxF 'tickflow_pipeline_last_run_success{pipeline="night \"ly\" \\ x"} 0' m.prom || { cat m.prom; fail "pipeline success / escaped label"; }
grep -q '^tickflow_pipeline_last_run_timestamp_seconds{pipeline=.*} [0-9]' m.prom || fail "pipeline last run time"
[ "$(stat -c %a m.prom)" = 644 ] || fail "metrics file mode $(stat -c %a m.prom), want 644"
ls m.prom.tmp.* 2>/dev/null && fail "a temporary file was left behind"

# A planted symlink is replaced, never written through.
echo "precious" > target
ln -sf "$T/target" s.prom
"$TF_BIN" run --once --db t.db --metrics-file s.prom p.json > out 2>&1
[ "$(cat target)" = precious ] || fail "the metrics file was written through a symlink"
[ -f s.prom ] && [ ! -L s.prom ] || fail "the symlink was not replaced by the metrics file"
check s.prom
# A missing folder is refused before anything runs.
"$TF_BIN" run --once --db t.db --metrics-file nope/m.prom p.json > out 2> err; rc=$?
[ "$rc" = 2 ] || { cat err; fail "missing folder: exit $rc, want 2"; }
grep -q "no folder 'nope'" err || { cat err; fail "missing folder message"; }

# A daemon rewrites the file each tick; a good pipeline reports success.
cat > g.json <<'P'
{"name": "good", "works": [{"name": "tick", "cache_calls": false, "command": ["true"]}]}
P
"$TF_BIN" run --db g.db --tick 0.3 --metrics-file g.prom g.json > dout 2>&1 &
daemon=$!
i=0; while [ ! -s g.prom ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -s g.prom ] || fail "the daemon wrote no metrics file"
t1=$(val g.prom 'tickflow_pipeline_last_run_timestamp_seconds{pipeline="good"}')
sleep 1
t2=$(val g.prom 'tickflow_pipeline_last_run_timestamp_seconds{pipeline="good"}')
kill $daemon; wait $daemon 2>/dev/null; daemon=
awk -v a="$t1" -v b="$t2" 'BEGIN { exit !(b > a) }' || fail "the daemon did not rewrite the file each tick ($t1, $t2)"
[ "$(val g.prom 'tickflow_pipeline_last_run_success{pipeline="good"}')" = 1 ] || { cat g.prom; fail "a good tick is not a success"; }
[ "$(val g.prom 'tickflow_last_run_executions{work="tick"}')" = 1 ] || { cat g.prom; fail "executions in the last tick"; }
check g.prom

# Usage and database errors.
"$TF_BIN" metrics --db nowhere.db > out 2> err; [ $? = 4 ] || fail "missing database: want exit 4"
"$TF_BIN" metrics --bogus > out 2> err; [ $? = 2 ] || fail "unknown option: want exit 2"
"$TF_BIN" metrics --help | grep -q '^usage: tickflow metrics' || fail "--help"
echo ok
