#!/bin/sh
# ops_check: tickflow check (issue 15, point 2). A work whose last success is
# older than --max-age (aged with --now-driven runs) exits 1 with the line
# "train: last success 2026-11-28T06:31Z, 3d 2h ago (max 26h)", and 0 once it
# ran again; a call failed for good is a problem until `tickflow retry`, one
# waiting for a due retry is not; a running call whose lease ended is a
# problem; a named work without calls is a problem; exit 2 on misuse, 4
# without a database.
# timeout: 60
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
export TZ=UTC
cat > p.json <<'P'
{"name": "nightly", "works": [
 {"name": "train", "args": {"day": "{{today}}"}, "command": ["sh", "-c", "echo {day}"]},
 {"name": "boom", "command": ["sh", "-c", "echo broken >&2; exit 3"]}]}
P
"$TF_BIN" run --once --db t.db --now 2026-11-28T06:31 p.json > out 2>&1; [ $? = 1 ] || { cat out; fail "first run"; }

# three days later: train is too old, boom failed for good
"$TF_BIN" check --db t.db --now 2026-12-01T08:40 --max-age 26h > out 2> err; rc=$?
[ "$rc" = 1 ] || { cat out err; fail "old success: exit $rc, want 1"; }
grep -qx 'train: last success 2026-11-28T06:31Z, 3d 2h ago (max 26h)' out || { cat out; fail "age line"; }
grep -qx 'boom: 1 call failed for good, e.g. boom/44136fa355b3: exited with status 3' out || { cat out; fail "failed line"; }
grep -qx 'boom: never succeeded (max 26h)' out || { cat out; fail "never succeeded line"; }
[ "$(wc -l < out)" = 3 ] || { cat out; fail "one line per problem"; }
[ ! -s err ] || { cat err; fail "stderr"; }
# only train, and within the age: healthy, silent
"$TF_BIN" check --db t.db --work train --now 2026-11-29T06:00 --max-age 26h > out 2>&1 || { cat out; fail "young success: want exit 0"; }
[ ! -s out ] || { cat out; fail "a healthy check printed something"; }
"$TF_BIN" check --db t.db --work train --now 2026-11-29T06:00 --max-age 26h --verbose > out 2>&1
grep -qx 'train: ok, last success 2026-11-28T06:31Z, 23h 28m ago' out || { cat out; fail "--verbose line"; }
# train runs on the new day: its age is fine again
"$TF_BIN" check --db t.db --work train --now 2026-12-01T08:40 --max-age 26h > out 2>&1; [ $? = 1 ] || fail "still old"
"$TF_BIN" run --once --db t.db --now 2026-12-01T08:35 p.json > out 2>&1
"$TF_BIN" check --db t.db --work train --now 2026-12-01T08:40 --max-age 26h > out 2>&1 || { cat out; fail "after the run: want exit 0"; }
# the failed call: a problem until retried; a failure waiting for a due retry is none
"$TF_BIN" check --db t.db --work boom > out 2>&1; [ $? = 1 ] || fail "failed for good: want exit 1"
sqlite3 t.db "update calls set next_retry_at = strftime('%s','now') + 3600 where work = 'boom'"
"$TF_BIN" check --db t.db --work boom > out 2>&1 || { cat out; fail "a call with a retry due is not failed for good"; }
sqlite3 t.db "update calls set next_retry_at = null where work = 'boom'"
"$TF_BIN" retry --db t.db --work boom > /dev/null || fail "retry"
"$TF_BIN" check --db t.db --work boom > out 2>&1 || { cat out; fail "after tickflow retry: want exit 0"; }
# a running call whose lease ended (a runner on another host that went away)
sqlite3 t.db "update calls set status = 'running', runner_host = 'elsewhere', runner_pid = 4242,
  lease_until = strftime('%s','now') - 60, started_at = '2026-12-01T08:00:00.000Z'
  where id = (select max(id) from calls where work = 'train')"
"$TF_BIN" check --db t.db --work train > out 2>&1; [ $? = 1 ] || { cat out; fail "ended lease: want exit 1"; }
grep -q '^train: 1 running call with an ended lease (runner dead or hung), e.g. train/[0-9a-f]\{12\}: runner elsewhere:4242, started 2026-12-01T08:00:00.000Z$' out \
    || { cat out; fail "lease line"; }
sqlite3 t.db "update calls set lease_until = strftime('%s','now') + 60 where work = 'train'"
"$TF_BIN" check --db t.db --work train > out 2>&1 || { cat out; fail "a live lease is fine: want exit 0"; }
# a work with no calls
"$TF_BIN" check --db t.db --work nosuch > out 2>&1; [ $? = 1 ] || fail "unknown work: want 1"
grep -qx 'nosuch: no calls in the database' out || { cat out; fail "unknown work line"; }

# misuse and database errors
for a in "--max-age 26" "--max-age 1x" "--now 2026-13-01" "--bogus" "extra"; do
    # shellcheck disable=SC2086
    "$TF_BIN" check --db t.db $a > out 2> err; rc=$?
    [ "$rc" = 2 ] || { cat err; fail "check $a: exit $rc, want 2"; }
done
grep -q "unexpected argument 'extra'" err || fail "operand message"
"$TF_BIN" check --db nowhere.db > out 2> err; [ $? = 4 ] || fail "missing database: want 4"
"$TF_BIN" check --help | grep -q '^usage: tickflow check' || fail "--help"
echo ok
