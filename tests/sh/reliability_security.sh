#!/bin/sh
# reliability_security.sh - argument values reach a command as exactly one
# argv element each, byte for byte, with no shell in between (spaces,
# quotes, ';', '$(...)', backquotes, newlines, '{other}', globs, a leading
# '-'); database and WAL are 0600 even under umask 000, and no log file or
# folder is written; a key prefix shared by two calls is refused by `tickflow show`
# and `tickflow clear --key` (nothing deleted).
set -u
T=${TF_BIN:?TF_BIN not set}
d=$(mktemp -d) || exit 1
trap 'rm -rf "$d"' EXIT
trap 'exit 1' INT TERM
unset TICKFLOW_DB
cd "$d" || exit 1
fail() { echo "FAIL: $*" >&2; exit 1; }

# ---- argv: one element per placeholder, unchanged, no shell -------------------
# argv.sh writes its argument count, then each argument followed by a NUL.
cat > argv.sh <<'EOF'
#!/bin/sh
out=$1; shift
{ printf '%s\n' "$#"; for a in "$@"; do printf '%s\0' "$a"; done; } > "$out"
echo '"seen"'
EOF
chmod +x argv.sh
nasty='a b  "dq" '"'sq'"' ; touch pwned-semi $(touch pwned-subst) `touch pwned-bq` && x || y | z > pwned-redir
line2 {other} {v} * ?.sh $HOME ~ \ end'
cat > p.json <<'EOF'
{"name": "sec", "works": [
 {"name": "whole", "command": ["./argv.sh", "whole.out", "{v}", "{other}", "-{v}-"],
  "args": {"v": "VALUE", "other": "OTHER"}},
 {"name": "direct", "command": ["./argv.sh", "direct.out", "{v}"], "args": {"v": "VALUE"}}]}
EOF
# Put the nasty value in with node-free JSON escaping (python3 is a test dependency).
python3 - "$nasty" <<'EOF' || fail "python3"
import json, sys
p = json.load(open("p.json"))
for w in p["works"]:
    w["args"]["v"] = sys.argv[1]
json.dump(p, open("p.json", "w"))
EOF
"$T" run --once --db sec.db p.json > run.out 2>&1 || { cat run.out >&2; fail "run exit $?"; }
# whole.out: count 3, then the value, the other value, and "-value-"
exp=$(printf '3\n%s\0OTHER\0-%s-\0' "$nasty" "$nasty" | od -An -c)
got=$(od -An -c < whole.out)
[ "$exp" = "$got" ] || { echo "expected: $exp" >&2; echo "got: $got" >&2; fail "argv differs"; }
exp=$(printf '1\n%s\0' "$nasty" | od -An -c)
[ "$exp" = "$(od -An -c < direct.out)" ] || fail "direct argv differs"
ls pwned* 2>/dev/null && fail "a shell interpreted the value"
# The value in TICKFLOW_ARGS is canonical JSON of the same string.
cat > env.json <<'EOF'
{"name": "env", "works": [{"name": "e", "command": ["sh", "-c", "printf '%s' \"$TICKFLOW_ARGS\" > env.out; echo 1"], "args": {"v": "x"}}]}
EOF
python3 - "$nasty" <<'EOF' || fail "python3"
import json, sys
p = json.load(open("env.json")); p["works"][0]["args"]["v"] = sys.argv[1]; json.dump(p, open("env.json", "w"))
EOF
"$T" run --once --db sec.db env.json > run.out 2>&1 || { cat run.out >&2; fail "env run"; }
python3 - "$nasty" <<'EOF' || fail "TICKFLOW_ARGS is not the canonical argument set"
import json, sys
got = open("env.out", encoding="utf-8").read()
assert json.loads(got) == {"v": sys.argv[1]}, got
EOF
# A placeholder naming no argument is refused before anything runs.
cat > bad.json <<'EOF'
{"name": "bad", "works": [{"name": "b", "command": ["./argv.sh", "bad.out", "{missing}"], "args": {"v": 1}}]}
EOF
"$T" run --once --db sec.db bad.json > run.out 2>&1 && fail "unknown placeholder accepted"
[ -e bad.out ] && fail "command ran despite an unknown placeholder"

# ---- file modes under umask 000 ----------------------------------------------------
cat > m.json <<'EOF'
{"name": "m", "works": [{"name": "w", "command": ["sh", "-c", "echo out; echo err >&2; echo 1"], "args": {"k": 1}}]}
EOF
(umask 000 && "$T" run --once --db modes.db m.json > run.out 2>&1) || { cat run.out >&2; fail "modes run"; }
[ "$(stat -c %a modes.db)" = 600 ] || fail "database mode $(stat -c %a modes.db)"
# WAL and shared memory while a connection is open (a sqlite3 shell holds it)
(umask 000 && (echo 'SELECT count(*) FROM calls;'; sleep 1) | sqlite3 modes.db > /dev/null) &
h=$!
sleep 0.3
(umask 000 && "$T" run --once --db modes.db m.json > run.out 2>&1) || fail "second run"
for f in modes.db-wal modes.db-shm; do
    [ -e "$f" ] && { [ "$(stat -c %a "$f")" = 600 ] || fail "$f mode $(stat -c %a "$f")"; }
done
wait "$h"
# output is stored with the attempt: no log folder, no log file, whatever the umask
[ ! -e modes.db.logs ] || fail "a log folder was created"
[ "$(sqlite3 modes.db 'SELECT output FROM history' | grep -v '^$' | sort | tr '\n' ' ')" = "1 err out " ] \
    || fail "output not stored with the attempt"

# ---- an ambiguous key prefix is refused ----------------------------------------------
# {"i":784} and {"i":1012} hash to keys both starting with c3b33.
cat > k.json <<'EOF'
{"name": "k", "works": [{"name": "k", "command": ["sh", "-c", "echo 1"], "args": {"i": "{{item}}"}, "foreach": [784, 1012]}]}
EOF
"$T" run --once --db keys.db k.json > run.out 2>&1 || { cat run.out >&2; fail "keys run"; }
[ "$(sqlite3 keys.db "SELECT count(*) FROM calls WHERE args_sha256 LIKE 'c3b33%'")" = 2 ] \
    || fail "premise: two keys starting with c3b33"
"$T" show --db keys.db c3b33 > out 2> err; rc=$?
[ "$rc" != 0 ] || fail "show accepted an ambiguous prefix"
grep -qi 'ambiguous\|several\|matches' err || { cat err >&2; fail "show: no ambiguity message"; }
"$T" show --db keys.db c3b33a > out 2> err || "$T" show --db keys.db c3b33b > out 2> err \
    || "$T" show --db keys.db "$(sqlite3 keys.db "SELECT substr(args_sha256, 1, 8) FROM calls LIMIT 1")" > out 2> err \
    || fail "show: an unambiguous prefix failed"
"$T" clear --db keys.db --key c3b33 --yes > out 2> err < /dev/null; rc=$?
[ "$rc" != 0 ] || fail "clear --key accepted an ambiguous prefix"
grep -qi 'ambiguous\|several\|matches' err || { cat err >&2; fail "clear: no ambiguity message"; }
[ "$(sqlite3 keys.db "SELECT count(*) FROM calls")" = 2 ] || fail "clear deleted calls on an ambiguous prefix"
[ "$(sqlite3 keys.db "SELECT count(*) FROM clears")" = 0 ] || fail "clear recorded an audit row for a refusal"
exit 0
