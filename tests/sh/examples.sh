#!/bin/sh
# The C examples behave exactly as the README says: cache_calls prints two
# lines on a fresh database and none in a second process; --no-cache prints
# six lines a tick; daily runs each step once per new day, none on a re-run.
set -eu
ex="$TF_BUILD/examples"
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cd "$d"
fail() { echo "FAIL: $*"; exit 1; }

"$ex/cache_calls" --ticks 3 --db cc.db > out1
printf 'I received the following props: {"value":1}\nI received the following props: {"value":10}\n' > want1
diff -u want1 out1 || fail "cache_calls --ticks 3 on a fresh database"
"$ex/cache_calls" --ticks 3 --db cc.db > out2
[ ! -s out2 ] || fail "second cache_calls process printed: $(cat out2)"
[ "$(stat -c %a cc.db)" = 600 ] || fail "database mode $(stat -c %a cc.db)"

"$ex/cache_calls" --no-cache --ticks 2 --db nc.db > out3
[ "$(wc -l < out3)" = 12 ] || fail "--no-cache --ticks 2 printed $(wc -l < out3) lines"
[ "$(grep -c '{"value":10}' out3)" = 2 ] || fail "--no-cache: value 10 not twice"

"$ex/daily" --day 2026-11-24 --db daily.db > day1
grep -q '^download: fetching data for 2026-11-24' day1 || fail "day 1 did not download"
grep -q '^train: training on daily-data/2026-11-24.csv' day1 || fail "day 1 did not train"
"$ex/daily" --day 2026-11-24 --db daily.db > day1again
if grep -q 'fetching\|training' day1again; then fail "re-run of day 1 executed: $(cat day1again)"; fi
[ "$(grep -c ' cached' day1again)" = 2 ] || fail "re-run of day 1 not all cached"
"$ex/daily" --day 2026-11-25 --db daily.db > day2
grep -q 'fetching data for 2026-11-25' day2 || fail "day 2 did not download"
grep -q 'training on daily-data/2026-11-25.csv' day2 || fail "day 2 did not train"
[ "$(sqlite3 daily.db "SELECT count(*) FROM calls WHERE status='succeeded'")" = 4 ] || fail "calls table"
[ "$(sqlite3 daily.db "SELECT count(*) FROM history")" = 4 ] || fail "history has extra executions"
"$ex/daily" --day 2026-13-01 --db daily.db 2>err && fail "bad --day accepted"
grep -q "YYYY-MM-DD" err || fail "bad --day message: $(cat err)"
echo "examples: ok"
