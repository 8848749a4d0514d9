#!/bin/sh
# run_times: one grammar of dates and times for run --now, run --backfill,
# ls --since and clear --before (README "Dates and times"): local time
# unless a zone is given, the year exactly four digits, any valid time
# honoured (1970-01-01 is not "unset").
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
cat > d.json <<'P'
{"name": "d", "works": [{"name": "day", "command": ["echo", "{d}"], "args": {"d": "{{today}}"}}]}
P
day_of() { sqlite3 "$1" "SELECT group_concat(json_extract(result_json, '\$'), ' ') FROM (SELECT result_json FROM calls ORDER BY id)"; }

# --now 1970-01-01 is honoured (was: 0 = unset, so today's real date ran)
TZ=UTC "$TF_BIN" run --once --db a.db --now 1970-01-01 d.json > out 2>&1 || { cat out; fail "--now 1970-01-01: exit $?"; }
[ "$(day_of a.db)" = 1970-01-01 ] || fail "--now 1970-01-01 ran day '$(day_of a.db)'"
# before the epoch too
TZ=UTC "$TF_BIN" run --once --db b.db --now 1969-12-31T23:59:59 d.json > out 2>&1 || { cat out; fail "--now 1969: exit $?"; }
[ "$(day_of b.db)" = 1969-12-31 ] || fail "--now 1969-12-31T23:59:59 ran day '$(day_of b.db)'"
# local unless a zone is given; a zone is honoured
TZ=Asia/Tokyo "$TF_BIN" run --once --db c.db --now 2026-11-24T07:00 d.json > out 2>&1 || { cat out; fail "exit $?"; }
[ "$(day_of c.db)" = 2026-11-24 ] || fail "local --now 07:00 in Tokyo ran day '$(day_of c.db)'"
TZ=Asia/Tokyo "$TF_BIN" run --once --db e.db --now 2026-11-24T20:00Z d.json > out 2>&1 || { cat out; fail "exit $?"; }
[ "$(day_of e.db)" = 2026-11-25 ] || fail "--now 20:00Z (05:00 next day in Tokyo) ran day '$(day_of e.db)'"
TZ=UTC "$TF_BIN" run --once --db f.db --now 2026-11-24T23:30-05:00 d.json > out 2>&1 || { cat out; fail "exit $?"; }
[ "$(day_of f.db)" = 2026-11-25 ] || fail "--now 23:30-05:00 in UTC ran day '$(day_of f.db)'"
# --backfill reads its days with the same grammar, across the epoch
TZ=UTC "$TF_BIN" run --db g.db --backfill 1969-12-31..1970-01-01 d.json > out 2>&1 || { cat out; fail "backfill: exit $?"; }
[ "$(day_of g.db)" = "1969-12-31 1970-01-01" ] || fail "--backfill 1969-12-31..1970-01-01 ran '$(day_of g.db)'"

# what is not the grammar is refused, exit 2, by every option
for bad in +026-11-24 2026-11-24T7:00 2026-02-30 26-11-24 2026-11-24T07:00+5 '2026-11-24 junk'; do
    "$TF_BIN" run --once --db x.db --now "$bad" d.json > out 2>&1
    [ $? = 2 ] || { cat out; fail "run --now '$bad' accepted"; }
    "$TF_BIN" ls --db a.db --since "$bad" > out 2>&1
    [ $? = 2 ] || { cat out; fail "ls --since '$bad' accepted"; }
    "$TF_BIN" clear --db a.db --before "$bad" --dry-run > out 2>&1
    [ $? = 2 ] || { cat out; fail "clear --before '$bad' accepted"; }
done
"$TF_BIN" run --db x.db --backfill 2026-11-01T07:00..2026-11-02 d.json > out 2>&1
[ $? = 2 ] || fail "--backfill with a time of day accepted"
[ ! -e x.db ] || fail "a refused option opened the database"

# ls --since and clear --before: local time unless a zone is given
created=$(sqlite3 c.db "SELECT created_at FROM calls")
epoch=$(date -u -d "$created" +%s) || fail "cannot read created_at '$created'"
before=$(TZ=Asia/Tokyo date -d "@$((epoch - 60))" +%Y-%m-%dT%H:%M)
after=$(TZ=Asia/Tokyo date -d "@$((epoch + 60))" +%Y-%m-%dT%H:%M)
[ "$(TZ=Asia/Tokyo "$TF_BIN" ls --db c.db --since "$before" --json | grep -c '"work":"day"')" = 1 ] \
    || fail "ls --since $before (Tokyo) misses a call created at $created"
[ "$(TZ=Asia/Tokyo "$TF_BIN" ls --db c.db --since "$after" --json | grep -c '"work":"day"')" = 0 ] \
    || fail "ls --since $after (Tokyo) shows a call created at $created"
zbefore=$(date -u -d "@$((epoch - 60))" +%Y-%m-%dT%H:%MZ)
[ "$(TZ=Asia/Tokyo "$TF_BIN" ls --db c.db --since "$zbefore" --json | grep -c '"work":"day"')" = 1 ] \
    || fail "ls --since $zbefore misses a call created at $created"
TZ=Asia/Tokyo "$TF_BIN" clear --db c.db --before "$before" --yes > out 2>&1
[ "$(sqlite3 c.db 'SELECT count(*) FROM calls')" = 1 ] || fail "clear --before $before (Tokyo) deleted a later call"
TZ=Asia/Tokyo "$TF_BIN" clear --db c.db --before "$after" --yes > out 2>&1 || { cat out; fail "clear --before: exit $?"; }
[ "$(sqlite3 c.db 'SELECT count(*) FROM calls')" = 0 ] || fail "clear --before $after (Tokyo) kept an earlier call"
echo ok
