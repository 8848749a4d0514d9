#!/bin/sh
# logs_storage.sh - an execution's output is stored with its attempt in the
# database (issue 14 point 2, issue 12 points 1, 3 and 6):
#   silent: executions that print nothing leave no file at all;
#   12.1:   a symlink planted at the predictable log name (and a symlinked
#           logs folder) is never written through, and gc deletes no file it
#           did not create;
#   12.3:   gc while an execution runs does not lose its output;
#   12.6:   a recreated database (history ids restarting at 1) never mixes
#           the output of two executions.
set -u
T=${TF_BIN:?TF_BIN not set}
d=$(mktemp -d) || exit 1
trap 'rm -rf "$d"' EXIT
trap 'exit 1' INT TERM
unset TICKFLOW_DB
cd "$d" || exit 1
fail() { echo "FAIL: $*" >&2; exit 1; }
key_of() { sqlite3 "$1" "SELECT substr(args_sha256, 1, 16) FROM calls WHERE work = '$2'"; }
files_under() { if [ -e "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }

# ---- silent executions leave nothing -------------------------------------------------
printf '{"name": "q", "works": [{"name": "t", "parallel": true, "args": {"i": "{{item}}"}, "command": ["true"], "foreach": [%s]}]}\n' \
    "$(seq -s, 1 200)" > q.json
"$T" run --once --max-parallel 2 --db q.db q.json > out 2>&1 || { cat out; fail "silent run"; }
tail -n 1 out | grep -qx '200 ran, 0 cached, 0 failed' || { cat out; fail "silent run summary"; }
[ "$(files_under q.db.logs)" = 0 ] || fail "200 silent executions left $(files_under q.db.logs) files"
[ "$(ls -A | grep -cv '^q\.\|^out$')" = 0 ] || { ls -la; fail "files appeared beside the database"; }
[ "$(sqlite3 q.db "SELECT count(*) FROM history WHERE output IS NULL AND output_bytes = 0")" = 200 ] \
    || fail "silent executions: output not recorded as empty"

# ---- 12.1: a planted symlink is never written through ----------------------------------
cat > p.json <<'EOF'
{"name": "p", "works": [{"name": "w", "args": {"k": 1}, "command": ["sh", "-c", "echo secret-output"]}]}
EOF
k=$(printf '{"k":1}' | "$T" hash | cut -c1-16)
mkdir -p -m 700 p.db.logs/w
: > victim
ln -s "$d/victim" "p.db.logs/w/$k-1.log"
"$T" run --once --db p.db p.json > out 2>&1 || { cat out; fail "run with a planted symlink"; }
[ -s victim ] && fail "12.1: output written through a planted symlink: $(cat victim)"
[ -L "p.db.logs/w/$k-1.log" ] || fail "12.1: the planted symlink was replaced"
"$T" logs --db p.db "$k" > out 2>&1 || { cat out; fail "12.1: logs"; }
[ "$(cat out)" = secret-output ] || { cat out; fail "12.1: output not in the database"; }
# a symlinked logs folder with someone's files in it: gc deletes none of them
mkdir -p elsewhere/w && echo keep > elsewhere/w/old.log && touch -d '40 days ago' elsewhere/w/old.log
rm -rf p.db.logs && ln -s "$d/elsewhere" p.db.logs
sqlite3 p.db "UPDATE calls SET finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-40 days')"
"$T" gc --db p.db --older-than 30d --yes > out 2>&1 || { cat out; fail "12.1: gc"; }
grep -q '^deleted 1 call ' out || { cat out; fail "12.1: gc did not delete the old call"; }
[ "$(cat elsewhere/w/old.log 2>/dev/null)" = keep ] || fail "12.1: gc deleted a file through a symlinked logs folder"

# ---- 12.3: gc while an execution runs ------------------------------------------------------
cat > r.json <<'EOF'
{"name": "r", "works": [{"name": "slow", "args": {"k": 2}, "command": ["sh", "-c", "echo first-half; sleep 2; echo second-half"]}]}
EOF
"$T" run --once --db r.db r.json > run.out 2>&1 &
pid=$!
i=0
while [ "$(sqlite3 r.db "SELECT count(*) FROM calls WHERE status = 'running'" 2>/dev/null)" != 1 ]; do
    i=$((i + 1)); [ "$i" -lt 100 ] || fail "12.3: the call never started"; sleep 0.05
done
sleep 0.3
# whatever a log file of this execution would be, it is old now
[ -d r.db.logs ] && find r.db.logs -type f -exec touch -d '40 days ago' {} +
"$T" gc --db r.db --older-than 1d --yes > out 2>&1 || { cat out; fail "12.3: gc"; }
wait "$pid" || { cat run.out; fail "12.3: the run failed"; }
"$T" logs --db r.db "$(key_of r.db slow)" > out 2>&1 || { cat out; fail "12.3: logs after gc (the running call's output was lost)"; }
[ "$(cat out)" = "first-half
second-half" ] || { cat out; fail "12.3: output of the running call"; }

# ---- 12.6: a recreated database never appends to an older execution's output ----------------
cat > n.json <<'EOF'
{"name": "n", "works": [{"name": "w", "args": {"k": 3}, "command": ["sh", "-c", "echo run-$(cat n.txt)"]}]}
EOF
echo 1 > n.txt
"$T" run --once --db n.db n.json > out 2>&1 || { cat out; fail "12.6: first run"; }
rm -f n.db n.db-wal n.db-shm        # recreated: history ids start again at 1
echo 2 > n.txt
"$T" run --once --db n.db n.json > out 2>&1 || { cat out; fail "12.6: second run"; }
"$T" logs --db n.db "$(key_of n.db w)" > out 2>&1 || { cat out; fail "12.6: logs"; }
[ "$(cat out)" = run-2 ] || { cat out; fail "12.6: the log mixes two executions"; }
echo ok
