#!/bin/sh
# cache_expiry: a work with "max_age": "1h" is answered from the cache
# within the hour and runs again once --now moves past it; when that
# refresh fails, the last good result is served as stale: the downstream
# work still runs with it, the failure shows (exit 1, "failed ... stale"),
# and ls shows the call as stale; the next successful refresh ends that.
# "keep_stale": false turns the stale answer off. Expiry deletes nothing.
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
cat > p.json <<'P'
{"name": "exp", "db": "t.db", "works": [
  {"name": "rates", "max_age": "1h", "args": {"cur": "EUR"},
   "command": ["sh", "-c", "echo x >> ran.txt; [ -f fail ] && exit 3; echo \"{\\\"n\\\":$(wc -l < ran.txt)}\""]},
  {"name": "report", "cache_calls": false, "args": {"r": "{{rates.result}}"},
   "command": ["sh", "-c", "echo \"$TICKFLOW_ARGS\" >> report.txt"]}
]}
P
runs() { wc -l < ran.txt; }
"$TF_BIN" run --once --now 2026-11-24T07:00 p.json > out1 2>&1 || { cat out1; fail "first run"; }
[ "$(runs)" = 1 ] || fail "first run: rates ran $(runs) times"
"$TF_BIN" run --once --now 2026-11-24T07:59 p.json > out2 2>&1 || { cat out2; fail "within the hour"; }
[ "$(runs)" = 1 ] || { cat out2; fail "rates ran again within max_age"; }
"$TF_BIN" run --once --now 2026-11-24T08:01 p.json > out3 2>&1 || { cat out3; fail "past the hour"; }
[ "$(runs)" = 2 ] || { cat out3; fail "rates did not run again past max_age"; }
grep -q 'rates/.* started (a refresh' out3 || { cat out3; fail "the refresh is not announced"; }
[ "$(tail -1 report.txt)" = '{"r":{"n":2}}' ] || { cat report.txt; fail "report did not get the fresh result"; }

# The refresh fails: downstream goes on with the last good result, stale.
touch fail
"$TF_BIN" run --once --now 2026-11-24T09:30 p.json > out4 2>&1 && { cat out4; fail "a failed refresh exited 0"; }
[ "$(runs)" = 3 ] || { cat out4; fail "no refresh attempt"; }
grep -q 'rates/.* failed .*exited with status 3 - stale: the last good result is served' out4 \
    || { cat out4; fail "the failure is not shown with its stale answer"; }
[ "$(tail -1 report.txt)" = '{"r":{"n":2}}' ] || { cat report.txt; fail "downstream did not run with the old result"; }
[ "$(wc -l < report.txt)" = 4 ] || { cat report.txt; fail "downstream runs: $(wc -l < report.txt)"; }
"$TF_BIN" ls --db t.db --work rates > ls1 || fail "ls"
grep -q 'rates/[0-9a-f]\{12\}  *failed (stale)' ls1 || { cat ls1; fail "ls does not show stale"; }
"$TF_BIN" ls --db t.db --work rates --json > ls1.json || fail "ls --json"
grep -q '"status":"failed"' ls1.json && grep -q '"result":{"n":2}' ls1.json && grep -q '"stale":true' ls1.json \
    || { cat ls1.json; fail "ls --json: stale, result"; }
"$TF_BIN" run --once --json --now 2026-11-24T09:31 p.json > out5 2>&1
grep -q '"work":"rates".*"decision":"failed".*"stale":true' out5 || { cat out5; fail "--json has no stale flag"; }

# The next refresh that succeeds ends it.
rm fail
"$TF_BIN" retry --db t.db --work rates > /dev/null || fail "retry"
"$TF_BIN" run --once --now 2026-11-24T09:32 p.json > out6 2>&1 || { cat out6; fail "recovered run"; }
[ "$(tail -1 report.txt)" = '{"r":{"n":4}}' ] || { cat report.txt; cat out6; fail "no fresh result after recovery"; }
"$TF_BIN" ls --db t.db --work rates > ls2 || fail "ls"
grep -q 'rates/[0-9a-f]\{12\}  *succeeded ' ls2 || { cat ls2; fail "still stale after a good refresh"; }

# keep_stale: false: a failed refresh leaves downstream waiting for a result.
sed 's/"max_age": "1h",/"max_age": "1h", "keep_stale": false,/; s/t\.db/u.db/' p.json > q.json
rm -f ran.txt report.txt
"$TF_BIN" run --once --now 2026-11-24T07:00 q.json > out7 2>&1 || { cat out7; fail "q first run"; }
touch fail
"$TF_BIN" run --once --verbose --now 2026-11-24T08:30 q.json > out8 2>&1 && fail "q failed refresh exited 0"
grep -q 'report .* waiting (needs rates.result)' out8 || { cat out8; fail "keep_stale false still served"; }
[ "$(wc -l < report.txt)" = 1 ] || { cat report.txt; fail "downstream ran without a result"; }

# Expiry deletes nothing: every call and attempt is still there.
[ "$(sqlite3 t.db 'SELECT count(*) FROM history h JOIN calls c ON c.id = h.call_id WHERE c.work = "rates"')" = 4 ] \
    || fail "history rows of rates: $(sqlite3 t.db 'SELECT count(*) FROM history')"

# A bad max_age is refused with its position.
cat > bad.json <<'P'
{"name": "b", "works": [{"name": "w", "max_age": "2h1d", "command": ["true"]}]}
P
"$TF_BIN" run --once bad.json > bad.out 2>&1 && fail "bad max_age accepted"
grep -q "bad.json:1:.*'max_age': bad duration '2h1d'" bad.out || { cat bad.out; fail "bad max_age message"; }
echo ok
