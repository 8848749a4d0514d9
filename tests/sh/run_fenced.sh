#!/bin/sh
# run_fenced: an execution whose result the database refused (its fence was
# taken: another runner claimed the call and finished it meanwhile) is
# reported as "fenced out", never as "ran" (no line, no on_success hook),
# and not counted in "N ran"; the database keeps
# the other runner's result. The takeover is simulated on the real SQLite
# file while the real binary runs the command.
# timeout: 60
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
cat > p.json <<'P'
{"name": "p", "works": [{"name": "w", "command": ["sh", "-c", "touch started; sleep 2; echo mine"],
  "on_success": ["touch", "hooked"]}]}
P
"$TF_BIN" run --once --db t.db p.json > out 2>&1 &
pid=$!
i=0
while [ ! -e started ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -e started ] || { kill -9 $pid; fail "the command did not start"; }
# another runner takes the call over and finishes it: a new fence, its result
sqlite3 t.db "UPDATE calls SET fence = fence + 1, status = 'succeeded', result_json = '\"theirs\"',
              finished_at = '2026-12-01T00:00:00.000Z'" || fail sqlite3
wait $pid || { cat out; fail "exit $?"; }
grep -q '^[0-9:]* w/[0-9a-f]\{12\}  *fenced out (another runner took this call over' out || { cat out; fail "no 'fenced out' line"; }
tail -n 1 out | grep -qx '0 ran, 1 cached, 0 failed' || { cat out; fail "the fenced-out execution was counted as ran"; }
# "ran" is said only of a success the database recorded: no line, no on_success hook
! grep -q ' ran [0-9]' out || { cat out; fail "the fenced-out execution was printed as ran"; }
[ ! -e hooked ] || fail "on_success ran for a success the database refused"
[ "$(sqlite3 t.db 'SELECT result_json FROM calls')" = '"theirs"' ] || fail "the database lost the other runner's result"
echo ok
