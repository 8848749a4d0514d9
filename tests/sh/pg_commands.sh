#!/bin/sh
# pg_commands: every command on a PostgreSQL database named by a libpq URI
# (--db, $TICKFLOW_DB, a pipeline's "db"): run (--once, --now, --backfill,
# --max-parallel, --dry-run, --verbose, --json), ls, show, logs, clear,
# retry, gc, status, stats, metrics, check, report; a key shared by two works
# addressed by work and version; the password of the URI never appears in any
# output or error; the README's inspection SQL runs in psql.
# timeout: 240
set -u
. "$TF_ROOT/tests/sh/lib/pg.sh"
pg_need "PostgreSQL command tests"
T=$(mktemp -d) || exit 1
DB=tf_cmds_$$
trap 'rm -rf "$T"; pg_dropdb "$DB"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
U=$(pg_newdb "$DB") || fail "cannot create a database"
PW=$(pg_password)
[ -n "$PW" ] || fail "the test server's URI has no password"
TF=$TF_BIN

cat > p.json <<P
{"name": "c", "db": "$U", "works": [
  {"name": "fetch", "foreach": [1, 2, 3], "args": {"n": "{{item}}", "day": "{{today}}"},
   "command": ["sh", "-c", "echo fetch {n} {day} >> runs.txt; echo out-{n}; echo {n}"]},
  {"name": "sum", "args": {"all": "{{fetch.result}}"},
   "command": ["sh", "-c", "echo sum >> runs.txt; echo 6"]},
  {"name": "bad", "args": {"x": 1}, "command": ["sh", "-c", "echo bad >> runs.txt; echo nope >&2; exit 3"]}
]}
P

# run: the pipeline's "db" is the URI
"$TF" run --once --now 2026-11-24 p.json > run1.out 2>&1; rc=$?
[ "$rc" = 1 ] || { cat run1.out; fail "run: exit $rc, want 1 (bad fails)"; }
[ "$(grep -c . runs.txt)" = 5 ] || { cat runs.txt; fail "run: 5 executions expected"; }
"$TF" run --once --now 2026-11-24 p.json > run2.out 2>&1
grep -q "0 ran, 4 cached, 1 failed" run2.out || { cat run2.out; fail "run again: all cached"; }
[ "$(grep -c . runs.txt)" = 5 ] || fail "run again executed something"
echo "ok - run --once --now on a URI from the pipeline's db"

# --db and $TICKFLOW_DB, --dry-run, --verbose, --json
"$TF" run --once --dry-run --now 2026-11-25 --db "$U" p.json > dry.out 2>&1
[ "$(grep -c . runs.txt)" = 5 ] || fail "--dry-run executed something"
[ "$(pg_q "$U" "SELECT count(*) FROM calls")" = 5 ] || fail "--dry-run wrote"
TICKFLOW_DB=$U "$TF" run --once --json --verbose --now 2026-11-24 p.json > json.out 2>&1
grep -q '"cached"' json.out || { cat json.out; fail "--json --verbose: no cached decision"; }
"$TF" run --backfill 2026-11-20..2026-11-21 --max-parallel 2 --db "$U" p.json > bf.out 2>&1
[ "$(grep -c '^fetch' runs.txt)" = 9 ] || { cat runs.txt bf.out; fail "--backfill: 3 fetches per new day"; }
# a dry run is read-only on the server: on a database with no schema it creates nothing
pg_dropdb "${DB}_dry"
U3=$(pg_newdb "${DB}_dry") || fail "cannot create a database"
"$TF" run --once --dry-run --db "$U3" p.json > dry2.out 2>&1; rc=$?
[ "$rc" = 4 ] || { cat dry2.out; fail "--dry-run on an empty database: exit $rc, want 4"; }
[ "$(pg_q "$U3" "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")" = 0 ] \
    || fail "--dry-run created tables"
pg_dropdb "${DB}_dry"
echo "ok - run --db, \$TICKFLOW_DB, --dry-run (read-only), --json --verbose, --backfill --max-parallel"

# ls, show, logs, status, stats
"$TF" ls --db "$U" > ls.out 2>&1 || { cat ls.out; fail "ls"; }
[ "$(grep -c succeeded ls.out)" = 10 ] || { cat ls.out; fail "ls: 10 succeeded calls"; }
"$TF" ls --db "$U" --json > ls.json || fail "ls --json"
key=$("$TF" ls --db "$U" --json --work fetch | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["key"])')
"$TF" show --db "$U" "$(echo "$key" | cut -c1-12)" > show.out 2>&1 || { cat show.out; fail "show"; }
grep -q "status *succeeded" show.out || { cat show.out; fail "show: status"; }
"$TF" logs --db "$U" "$(echo "$key" | cut -c1-12)" > logs.out 2>&1 || { cat logs.out; fail "logs"; }
grep -q '^out-' logs.out || { cat logs.out; fail "logs: the execution's output"; }
TICKFLOW_DB=$U "$TF" status > status.out 2>&1 || { cat status.out; fail "status"; }
grep -q "nothing running" status.out || { cat status.out; fail "status: nothing running"; }
"$TF" stats --db "$U" > stats.out 2>&1 || { cat stats.out; fail "stats"; }
grep -q fetch stats.out || { cat stats.out; fail "stats: fetch"; }
"$TF" metrics --db "$U" > metrics.out 2>&1 || { cat metrics.out; fail "metrics"; }
grep -q 'fetch' metrics.out || { cat metrics.out; fail "metrics: fetch"; }
"$TF" check --db "$U" --work fetch --max-age 1000d --now 2026-11-24 > check.out 2>&1 \
    || { cat check.out; fail "check: fetch is fresh"; }
"$TF" report --db "$U" -o report.html > report.out 2>&1 || { cat report.out; fail "report"; }
grep -q fetch report.html || fail "report: fetch"
echo "ok - ls, ls --json, show, logs, status, stats, metrics, check, report"

# retry, clear, gc
"$TF" retry --db "$U" --work bad > retry.out 2>&1 || { cat retry.out; fail "retry"; }
"$TF" run --once --now 2026-11-24 p.json > run3.out 2>&1
[ "$(grep -c '^bad' runs.txt)" = 2 ] || { cat runs.txt; fail "retry: bad runs again once"; }
"$TF" clear --db "$U" --work sum --yes > clear.out 2>&1 || { cat clear.out; fail "clear"; }
"$TF" run --once --now 2026-11-24 p.json > run4.out 2>&1
[ "$(grep -c '^sum' runs.txt)" = 2 ] || { cat runs.txt; fail "clear: sum runs again"; }
[ "$(pg_q "$U" "SELECT count FROM clears")" = 1 ] || fail "clear: audited with its count"
sleep 1.1
"$TF" gc --db "$U" --older-than 1s --yes > gc.out 2>&1 || { cat gc.out; fail "gc"; }
[ "$(pg_q "$U" "SELECT count(*) FROM calls")" = 0 ] || { cat gc.out; fail "gc: settled calls deleted"; }
echo "ok - retry, clear (audited), gc"

# the README's inspection SQL in psql
"$TF" run --once --now 2026-11-24 p.json > run5.out 2>&1
for v in ran_today failed_calls running_calls recent_history; do
    pg_q "$U" "SELECT count(*) FROM $v" > /dev/null || fail "view $v"
done
[ "$(pg_q "$U" "SELECT count(*) FROM failed_calls")" = 1 ] || fail "failed_calls"
pg_q "$U" 'SELECT at, "user", selector, count FROM clears ORDER BY id DESC LIMIT 10' > /dev/null || fail "clears"
echo "ok - inspection views in psql"

# a call is (work, version, key): ka and kb both called with {} share a key (issue 12 point 7)
cat > k.json <<'P'
{"name": "k", "works": [{"name": "ka", "command": ["sh", "-c", "echo out-ka"]},
                        {"name": "kb", "version": "2", "command": ["sh", "-c", "echo out-kb; exit 3"]}]}
P
"$TF" run --once --db "$U" k.json > k_run.out 2>&1
kk=$(pg_q "$U" "SELECT args_sha256 FROM calls WHERE work = 'ka'")
k12=$(echo "$kk" | cut -c1-12)
grep -q " kb@2/$k12 *failed" k_run.out || { cat k_run.out; fail "run: no kb@2/$k12 line"; }
"$TF" show --db "$U" "$kk" > k_amb.out 2>&1 && fail "show KEY: two calls share it"
grep -q "matches several calls: .*kb@2/$k12" k_amb.out && grep -q " ka/$k12" k_amb.out \
    || { cat k_amb.out; fail "show KEY: candidates"; }
"$TF" show --db "$U" "ka/$k12" > k_show.out 2>&1 && grep -q "^work  *ka$" k_show.out \
    || { cat k_show.out; fail "show ka/KEY"; }
"$TF" logs --db "$U" --work kb "$k12" > k_logs.out 2>&1 && grep -qx out-kb k_logs.out \
    || { cat k_logs.out; fail "logs --work kb KEY"; }
"$TF" ls --db "$U" --work kb > k_ls.out 2>&1 && grep -q "^kb@2/$k12  *failed " k_ls.out \
    || { cat k_ls.out; fail "ls: the form"; }
"$TF" retry --db "$U" --key "kb@2/$k12" > k_retry.out 2>&1 && grep -qx "retried 1 call" k_retry.out \
    || { cat k_retry.out; fail "retry --key kb@2/KEY"; }
"$TF" clear --db "$U" --key "$kk" --work ka --yes > k_clear.out 2>&1 || { cat k_clear.out; fail "clear --key K --work ka"; }
[ "$(pg_q "$U" "SELECT string_agg(work, ',') FROM calls WHERE args_sha256 = '$kk'")" = kb ] \
    || fail "clear --key K --work ka: want only kb's call left"
echo "ok - a key shared by two works: --work, --version and work[@version]/key on show, logs, ls, retry, clear"

# errors name the database without its password
bad=$(printf '%s\n' "$U" | sed "s|:$PW@|:wrong$PW@|")
"$TF" ls --db "$bad" > err1.out 2>&1 && fail "ls with a wrong password succeeded"
"$TF" run --once --db "$(printf '%s\n' "$U" | sed 's|@127.0.0.1:[0-9]*/|@127.0.0.1:1/|')" p.json > err2.out 2>&1 && fail "run on a closed port succeeded"
grep -q "cannot open database 'postgresql://tickflow@" err1.out || { cat err1.out; fail "wrong password: message"; }
for f in *.out ls.json; do
    if grep -q "$PW" "$f"; then cat "$f"; fail "the password appears in $f"; fi
done
echo "ok - no output or error shows the password"
