#!/bin/sh
# cache_gc_bounds: gc --older-than refuses a duration whose seconds
# overflow (999999999999d once meant "every call") or whose cutoff would
# lie before 1970-01-01, with exit 2 and nothing deleted.
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
cat > p.json <<'P'
{"name": "p", "works": [{"name": "w", "command": ["echo", "{i}"], "foreach": [1, 2, 3], "args": {"i": "{{item}}"}}]}
P
"$TF_BIN" run --once --db t.db p.json > out 2>&1 || { cat out; fail "run: exit $?"; }
# one call that finished long ago (1950): only a cutoff before the epoch reaches it
sqlite3 t.db "UPDATE calls SET finished_at = '1950-01-01T00:00:00.000Z' WHERE id = 1" || fail sqlite3
n() { sqlite3 t.db "SELECT count(*) FROM calls"; }
for d in 999999999999d 99999999999999999999w 30000d 3000w; do
    "$TF_BIN" gc --db t.db --older-than "$d" --yes > out 2>&1
    rc=$?
    [ "$rc" = 2 ] || { cat out; fail "gc --older-than $d: exit $rc, want 2"; }
    head -n 1 out | grep -q "gc: --older-than.*\(too long\|before 1970-01-01\)" || { cat out; fail "gc --older-than $d: no reason"; }
    [ "$(n)" = 3 ] || fail "gc --older-than $d deleted calls"
done
"$TF_BIN" gc --db t.db --older-than 20000d --yes > out 2>&1 || { cat out; fail "gc 20000d: exit $?"; }
[ "$(n)" = 2 ] || fail "gc --older-than 20000d (cutoff 1971-1972) did not delete the 1950 call"
echo ok
