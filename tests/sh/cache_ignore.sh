#!/bin/sh
# cache_ignore: a work with "ignore": ["token"] and {{env:TOKEN}} in its
# args runs once; rotating TOKEN runs nothing again; the command still gets
# the token ({token} placeholder and TICKFLOW_ARGS), and the token is
# nowhere in the database (main file, -wal), the log folder or the --json
# output. `tickflow hash --ignore token` gives the key `ls` shows, and
# `tickflow clear --args ... --ignore token` selects that call.
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
mkdir seen
cat > p.json <<'P'
{"name": "ig", "db": "t.db", "works": [
  {"name": "fetch", "ignore": ["token"],
   "args": {"url": "https://example.invalid/a", "token": "{{env:TOKEN}}"},
   "command": ["sh", "-c", "printf '%s|%s\\n' \"$1\" \"$TICKFLOW_ARGS\" >> seen/got; echo ok", "sh", "{token}"]}
]}
P
TOKEN=tok-Alpha-123 "$TF_BIN" run --once --json p.json > out1 2>&1 || { cat out1; fail "first run"; }
[ "$(wc -l < seen/got)" = 1 ] || { cat seen/got; fail "want one execution"; }
grep -qx 'tok-Alpha-123|{"token":"tok-Alpha-123","url":"https://example.invalid/a"}' seen/got \
    || { cat seen/got; fail "the command did not receive the token"; }
TOKEN=tok-Bravo-456 "$TF_BIN" run --once --json p.json > out2 2>&1 || { cat out2; fail "second run"; }
[ "$(wc -l < seen/got)" = 1 ] || { cat seen/got; fail "a rotated token ran the work again"; }
grep -q '"cached":1' out2 || { cat out2; fail "second run not cached"; }

# The token is stored nowhere: database, its WAL, logs, run output.
ls t.db-wal > /dev/null 2>&1 || fail "no -wal file to search (persistent WAL expected)"
for tok in tok-Alpha-123 tok-Bravo-456; do
    if grep -rl "$tok" t.db t.db-wal t.db.logs out1 out2 2>/dev/null; then
        fail "token $tok found at rest"
    fi
done
"$TF_BIN" ls --json --db t.db > ls.json || fail "ls"
grep -q tok- ls.json && fail "ls shows the token"
grep -q '"args":{"url":"https://example.invalid/a"}' ls.json || { cat ls.json; fail "args_json"; }

# tickflow hash --ignore agrees with the stored key.
key=$(echo '{"url":"https://example.invalid/a","token":"anything"}' | "$TF_BIN" hash --ignore token) \
    || fail "hash --ignore"
grep -q "\"key\":\"$key\"" ls.json || { cat ls.json; echo "$key"; fail "hash --ignore differs from ls"; }
[ "$(echo '{"url":"https://example.invalid/a","token":"x"}' | "$TF_BIN" canon --ignore token)" = \
  '{"url":"https://example.invalid/a"}' ] || fail "canon --ignore"

# clear --args --ignore token selects the call by the same key, and its
# audit row in 'clears' holds the arguments without the token.
A='{"url":"https://example.invalid/a","token":"tok-Charlie-789"}'
"$TF_BIN" clear --db t.db --args "$A" --dry-run --json > c0.json || fail "clear without --ignore"
grep -q '"count":0' c0.json || { cat c0.json; fail "the token was part of clear's key"; }
"$TF_BIN" clear --db t.db --args "$A" --ignore token --yes --json > c1.json || fail "clear --ignore"
grep -q '"count":1' c1.json || { cat c1.json; fail "clear --args --ignore did not find the call"; }
sel=$(sqlite3 t.db 'SELECT selector FROM clears ORDER BY id DESC LIMIT 1')
[ "$sel" = "--args '{\"url\":\"https://example.invalid/a\"}' --ignore token" ] || fail "audit selector: $sel"
grep -l tok-Charlie t.db t.db-wal 2>/dev/null && fail "clear stored the token"
"$TF_BIN" clear --db t.db --ignore token --all --yes > /dev/null 2>&1 && fail "--ignore without --args accepted"

# A bad ignore list is refused with its position.
cat > bad.json <<'P'
{"name": "b", "works": [{"name": "w", "ignore": ["ok", 3], "command": ["true"]}]}
P
"$TF_BIN" run --once bad.json > bad.out 2>&1 && fail "bad ignore accepted"
grep -q "bad.json:1:.*'ignore' elements must be strings" bad.out || { cat bad.out; fail "bad ignore message"; }
echo ok
