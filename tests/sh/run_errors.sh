#!/bin/sh
# run_errors: exit codes of tickflow run. A failing command and a command
# that does not exist fail their call (exit 1, clear message); every
# malformed pipeline fixture exits 3 with FILE:LINE:COL and runs nothing;
# usage errors exit 2; --help exits 0.
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1

cat > ok.json <<'P'
{"name": "ok", "works": [{"name": "hello", "command": ["sh", "-c", "echo '{\"hi\":1}'"]}]}
P
"$TF_BIN" run --once --db ok.db ok.json > out 2>&1 || { cat out; fail "ok pipeline exit $?"; }

cat > bad.json <<'P'
{"name": "bad", "works": [
  {"name": "boom", "command": ["sh", "-c", "echo oops >&2; exit 3"]},
  {"name": "missing", "command": ["no-such-program-tickflow-test", "x"]}
]}
P
"$TF_BIN" run --once --db bad.db bad.json > out 2>&1
rc=$?
[ "$rc" = 1 ] || { cat out; fail "failing command: exit $rc, want 1"; }
grep -q ' boom/[0-9a-f]\{12\}  *failed .*exited with status 3' out || { cat out; fail "no failure line for boom"; }
grep -q " missing/.* failed .*cannot run 'no-such-program-tickflow-test': No such file or directory" out ||
    { cat out; fail "no clear message for a missing program"; }
tail -1 out | grep -qx '0 ran, 0 cached, 2 failed' || { cat out; fail "summary"; }
# Failed calls stay failed: a second run still exits 1, and says so once.
"$TF_BIN" run --once --db bad.db bad.json > out 2>&1
[ $? = 1 ] || fail "second run of failed calls should exit 1"
[ "$(grep -c ' boom/.* failed earlier' out)" = 1 ] || { cat out; fail "stored failure not shown once"; }

# Malformed pipelines: exit 3, FILE:LINE:COL: reason, nothing runs.
B="$TF_ROOT/tests/fixtures/pipelines/bad"
n=0
while read -r file pos reason; do
    "$TF_BIN" run --once --db m.db "$B/$file" > out 2> err
    rc=$?
    [ "$rc" = 3 ] || { cat err; fail "$file: exit $rc, want 3"; }
    grep -qF "$B/$file:$pos: $reason" err || { cat err; fail "$file: want '$file:$pos: $reason'"; }
    [ ! -s out ] || { cat out; fail "$file: something was printed on stdout"; }
    n=$((n + 1))
done < "$B/EXPECTED"
[ "$n" -ge 20 ] || fail "only $n malformed cases"
[ ! -e m.db ] || fail "a malformed pipeline opened the database"

# Same work name in two files: exit 3 naming both.
cp ok.json ok2.json
"$TF_BIN" run --once --db ok.db ok.json ok2.json > out 2> err
[ $? = 3 ] || fail "duplicate work across files should exit 3"
grep -q "ok2.json:1:35: work 'hello' is also defined in ok.json:1:35" err || { cat err; fail "clash message"; }

# Usage.
"$TF_BIN" run > out 2> err; [ $? = 2 ] || fail "no pipeline: want exit 2"
grep -q '^usage: tickflow run' err || fail "usage not on stderr"
"$TF_BIN" run --bogus ok.json > out 2> err; [ $? = 2 ] || fail "unknown option: want exit 2"
"$TF_BIN" run --now 2026-13-01 ok.json > out 2> err; [ $? = 2 ] || fail "bad --now: want exit 2"
"$TF_BIN" run --backfill 2026-11-05..2026-11-01 ok.json > out 2> err; [ $? = 2 ] || fail "bad --backfill: want 2"
"$TF_BIN" run --help > out 2> err; [ $? = 0 ] || fail "--help exit"
grep -q '^usage: tickflow run' out || fail "--help not on stdout"
"$TF_BIN" run --once --db ok.db nowhere.json > out 2> err; [ $? = 5 ] || fail "missing file: want exit 5"
echo ok
