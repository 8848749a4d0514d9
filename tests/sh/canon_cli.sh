#!/bin/sh
# canon_cli.sh - `tickflow canon` and `tickflow hash` on the real binary:
# canonical bytes of every node vector (cmp), canon | sha256sum == hash,
# no trailing newline, refusals (exit 3, empty stdout, FILE:LINE:COL on
# stderr), unreadable files (exit 5), --help and unknown options (exit 2).
set -u
BIN=${TF_BIN:-build/tickflow}
ROOT=${TF_ROOT:-.}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# every vector: exact bytes from a file and from stdin, and the hash
n=0
for f in "$ROOT"/tests/vectors/jcs/*.json; do
    want=${f%.json}.out
    "$BIN" canon "$f" > "$tmp/out" || bad "canon $f exited $?"
    cmp -s "$tmp/out" "$want" || bad "canon $f differs from $want"
    "$BIN" canon < "$f" > "$tmp/out2" || bad "canon < $f exited $?"
    cmp -s "$tmp/out2" "$want" || bad "canon < $f differs"
    h1=$("$BIN" canon - < "$f" | sha256sum | cut -d' ' -f1)
    h2=$("$BIN" hash < "$f") || bad "hash < $f exited $?"
    [ "$h1" = "$h2" ] || bad "hash $f: $h2 != sha256 of canon $h1"
    n=$((n + 1))
done
[ "$n" -ge 40 ] || bad "only $n vectors found in $ROOT/tests/vectors/jcs"

# output format: no newline after canon; 64 hex digits + newline from hash
printf '{ "b" : 2, "a" : [1.50, "x"] }\n' > "$tmp/doc.json"
printf '{"a":[1.5,"x"],"b":2}' > "$tmp/want"
"$BIN" canon "$tmp/doc.json" > "$tmp/out" || bad "canon doc exited $?"
cmp -s "$tmp/out" "$tmp/want" || bad "canon doc: got '$(cat "$tmp/out")'"
[ "$(tail -c 1 "$tmp/out")" = "}" ] || bad "canon output ends with a newline"
"$BIN" hash "$tmp/doc.json" > "$tmp/hash" || bad "hash doc exited $?"
printf '%s\n' "$(sha256sum < "$tmp/want" | cut -d' ' -f1)" > "$tmp/hash.want"
cmp -s "$tmp/hash" "$tmp/hash.want" || bad "hash doc: got '$(cat "$tmp/hash")'"
grep -Eqx '[0-9a-f]{64}' "$tmp/hash" || bad "hash is not 64 lowercase hex digits"
[ "$(wc -c < "$tmp/hash")" -eq 65 ] || bad "hash output is not 65 bytes"

# refusals: exit 3, nothing on stdout, one line with FILE:LINE:COL: reason
check_bad() { # name, content (printf format), expected stderr line
    printf "$2" > "$tmp/$1"
    for cmd in canon hash; do
        "$BIN" $cmd "$tmp/$1" > "$tmp/out" 2> "$tmp/err"
        rc=$?
        [ "$rc" -eq 3 ] || bad "$cmd $1: exit $rc, want 3"
        [ -s "$tmp/out" ] && bad "$cmd $1: stdout not empty"
        want="tickflow: $cmd: $tmp/$1:$3"
        [ "$(cat "$tmp/err")" = "$want" ] || bad "$cmd $1: stderr '$(cat "$tmp/err")', want '$want'"
        [ "$(wc -l < "$tmp/err")" -eq 1 ] || bad "$cmd $1: stderr is not one line"
    done
}
check_bad dup.json '{\n  "a": 1,\n  "a": 2\n}' '3:3: duplicate member name "a"'
check_bad trail.json '[1] x' '1:5: unexpected character '"'x'"', expected end of input after the value'
check_bad nan.json '[NaN]' '1:2: NaN is not valid JSON'
check_bad big.json '{"id": 9007199254740993}' \
    '1:8: integer 9007199254740993 cannot be represented exactly; quote it as a string'
check_bad utf8.json '["\355\240\200"]' '1:3: invalid utf-8 (encoded surrogate)'
check_bad empty.json '' '1:1: empty input: expected a JSON value'
check_bad bom.json '\357\273\277{}' '1:1: utf-8 byte order mark is not allowed'
check_bad nul.json '["\\u0000"]' '1:3: \u0000 is not allowed in strings'

# stdin is named <stdin>
printf '[1,]' | "$BIN" canon > "$tmp/out" 2> "$tmp/err"
[ $? -eq 3 ] || bad "canon of bad stdin: want exit 3"
[ "$(cat "$tmp/err")" = "tickflow: canon: <stdin>:1:4: unexpected character ']', expected a JSON value" ] \
    || bad "stdin error: '$(cat "$tmp/err")'"

# unreadable file: exit 5, nothing on stdout
"$BIN" canon "$tmp/missing.json" > "$tmp/out" 2> "$tmp/err"
[ $? -eq 5 ] || bad "missing file: want exit 5"
[ -s "$tmp/out" ] && bad "missing file: stdout not empty"
grep -q "missing.json" "$tmp/err" || bad "missing file: stderr does not name it"
"$BIN" hash "$tmp" > "$tmp/out" 2> /dev/null
[ $? -eq 5 ] || bad "hash of a directory: want exit 5"

# a full disk: exit 5 with a message
if [ -w /dev/full ]; then
    "$BIN" canon "$tmp/doc.json" > /dev/full 2> "$tmp/err"
    [ $? -eq 5 ] || bad "canon > /dev/full: want exit 5"
    grep -q "cannot write" "$tmp/err" || bad "canon > /dev/full: no message"
    "$BIN" hash "$tmp/doc.json" > /dev/full 2> /dev/null
    [ $? -eq 5 ] || bad "hash > /dev/full: want exit 5"
fi

# --help and misuse
for cmd in canon hash; do
    "$BIN" $cmd --help > "$tmp/out" 2> "$tmp/err" || bad "$cmd --help exited $?"
    grep -q "usage: tickflow $cmd" "$tmp/out" || bad "$cmd --help: no usage on stdout"
    [ -s "$tmp/err" ] && bad "$cmd --help wrote to stderr"
    "$BIN" $cmd --bogus < "$tmp/doc.json" > "$tmp/out" 2> "$tmp/err"
    [ $? -eq 2 ] || bad "$cmd --bogus: want exit 2"
    [ -s "$tmp/out" ] && bad "$cmd --bogus: stdout not empty"
    grep -q "usage: tickflow $cmd" "$tmp/err" || bad "$cmd --bogus: no usage on stderr"
    "$BIN" $cmd a b > /dev/null 2>&1
    [ $? -eq 2 ] || bad "$cmd with two files: want exit 2"
done

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "canon_cli: ok ($n vectors)"
