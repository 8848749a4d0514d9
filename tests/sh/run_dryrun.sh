#!/bin/sh
# run_dryrun: `run --dry-run` writes nothing. On a database that does not
# exist it creates no file (no database, no -wal/-shm, no migration) and
# says what would run; on an existing one the database and its WAL are
# byte for byte unchanged, also when its -wal/-shm are gone (and they are
# not created); a database at an older schema is refused, not migrated.
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
cat > d.json <<'P'
{"name": "d", "works": [
  {"name": "a", "command": ["sh", "-c", "echo ran >> ran.txt"], "args": {"n": 1}},
  {"name": "b", "command": ["sh", "-c", "echo ran >> ran.txt"], "args": {"n": 2}}
]}
P
"$TF_BIN" run --once --dry-run --db new.db d.json > out 2>&1 || { cat out; fail "dry run on no database: exit $?"; }
tail -n 1 out | grep -qx '2 would run, 0 cached, 0 failed, 0 waiting' || { cat out; fail "dry run summary"; }
left=$(ls new.db* 2>/dev/null)
[ -z "$left" ] || fail "a dry run created: $left"
[ ! -e ran.txt ] || fail "a dry run executed a command"

"$TF_BIN" run --once --db new.db d.json > out 2>&1 || { cat out; fail "real run: exit $?"; }
rm -f ran.txt
sum() { md5sum new.db new.db-wal 2>/dev/null; }
before=$(sum)
"$TF_BIN" run --once --dry-run --db new.db d.json > out 2>&1 || { cat out; fail "dry run: exit $?"; }
tail -n 1 out | grep -qx '0 would run, 2 cached, 0 failed, 0 waiting' || { cat out; fail "dry run on a full cache"; }
[ "$(sum)" = "$before" ] || fail "a dry run changed the database or its WAL"
"$TF_BIN" clear --db new.db --work b --yes > /dev/null 2>&1 || fail "clear"
rm -f new.db-wal new.db-shm
before=$(md5sum new.db)
"$TF_BIN" run --once --dry-run --db new.db d.json > out 2>&1 || { cat out; fail "dry run without -wal/-shm: exit $?"; }
grep -q '^1 would run, 1 cached' out || { cat out; fail "dry run without -wal/-shm decided wrongly"; }
[ ! -e new.db-wal ] && [ ! -e new.db-shm ] || fail "a dry run created -wal/-shm"
[ "$(md5sum new.db)" = "$before" ] || fail "a dry run changed the database"
[ ! -e ran.txt ] || fail "a dry run executed a command"

# an older schema needs a migration: refused, the file untouched
sqlite3 new.db 'PRAGMA user_version = 1' || fail "sqlite3"
before=$(md5sum new.db)
"$TF_BIN" run --once --dry-run --db new.db d.json > out 2>&1
rc=$?
[ "$rc" = 4 ] || { cat out; fail "dry run on an old schema: exit $rc, want 4"; }
grep -q "needs migrating.*(a dry run) does not do" out || { cat out; fail "no reason given for the refusal"; }
[ "$(md5sum new.db)" = "$before" ] || fail "a dry run migrated an old database"
echo ok
