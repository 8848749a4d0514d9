#!/bin/sh
# run_daily: the example download-then-train pipeline across two days with
# the real binary and a real database: day 2 runs again and says which
# argument changed; re-running day 2 (a restart) is all cached; --dry-run
# executes nothing; the new database file is mode 0600.
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cp -r "$TF_ROOT/examples/pipeline/." "$T/" || exit 1
cd "$T" || exit 1
umask 022

"$TF_BIN" run --once --now 2026-11-24T07:00 pipeline.json > out1 2>&1 || { cat out1; fail "day 1 exit $?"; }
grep -q ' download/.* ran ' out1 || { cat out1; fail "day 1: download did not run"; }
grep -q ' train@1/.* ran ' out1 || { cat out1; fail "day 1: train did not run"; }
tail -1 out1 | grep -qx '2 ran, 0 cached, 0 failed' || { cat out1; fail "day 1 summary"; }
[ -f data/2026-11-24.csv ] && [ -f models/2026-11-24.model ] || fail "day 1 files missing"
[ "$(stat -c %a tickflow.db)" = 600 ] || fail "database mode $(stat -c %a tickflow.db), want 600"

"$TF_BIN" run --once --now 2026-11-25T07:00 pipeline.json > out2 2>&1 || { cat out2; fail "day 2 exit"; }
grep -q 'download/.* started  day: "2026-11-24" -> "2026-11-25"' out2 || { cat out2; fail "day 2: no changed-field line"; }
grep -q 'train@1/.* started  data: {"path":"data/2026-11-24.csv"' out2 || { cat out2; fail "day 2: train change not shown"; }
tail -1 out2 | grep -qx '2 ran, 0 cached, 0 failed' || { cat out2; fail "day 2 summary"; }

# A restart on day 2: everything is answered by the database.
"$TF_BIN" run --once --now 2026-11-25T07:00 pipeline.json > out3 2>&1 || { cat out3; fail "day 2 again exit"; }
[ "$(cat out3)" = "0 ran, 2 cached, 0 failed" ] || { cat out3; fail "day 2 again not all cached"; }
"$TF_BIN" run --once --verbose --now 2026-11-25T07:00 pipeline.json > out4 2>&1 || fail "verbose exit"
[ "$(grep -c ' cached$' out4)" = 2 ] || { cat out4; fail "--verbose does not list cached calls"; }

# --dry-run: says what would run, executes and records nothing.
before=$(sqlite3 tickflow.db 'SELECT count(*) FROM calls')
"$TF_BIN" run --once --dry-run --now 2026-11-26T07:00 pipeline.json > out5 2>&1 || { cat out5; fail "dry run exit"; }
grep -q 'download/.* would run' out5 || { cat out5; fail "dry run line"; }
[ ! -f data/2026-11-26.csv ] || fail "dry run executed download"
[ "$(sqlite3 tickflow.db 'SELECT count(*) FROM calls')" = "$before" ] || fail "dry run wrote calls"

# --json: one object per decision and a summary.
"$TF_BIN" run --once --json --now 2026-11-25T07:00 pipeline.json > out6 2>&1 || fail "json exit"
tail -1 out6 | grep -qx '{"summary":{"ran":0,"cached":2,"failed":0,"waiting":0,"would_run":0}}' || { cat out6; fail "json summary"; }

# --backfill: each day in order, day 24 and 25 cached, 23 runs.
"$TF_BIN" run --backfill 2026-11-23..2026-11-25 --now 2026-11-01T07:00 pipeline.json > out7 2>&1 || { cat out7; fail "backfill exit"; }
tail -1 out7 | grep -qx '2 ran, 4 cached, 0 failed' || { cat out7; fail "backfill summary"; }
[ -f data/2026-11-23.csv ] || fail "backfill did not download 2026-11-23"
[ "$(sqlite3 tickflow.db "SELECT count(*) FROM calls WHERE status = 'succeeded'")" = 6 ] || fail "backfill calls"
echo ok
