#!/bin/sh
# cache_confirm_count.sh - clear and gc asked on a terminal (script(1),
# its input on a FIFO) delete exactly the calls the question counted: a
# matching call created by another run while the question waits is left
# alone, a counted call that changed since (it ran again) is skipped and
# the closing line says so, and the audit row records what was deleted.
# timeout: 120
set -u
: "${TF_BIN:?TF_BIN not set}"
if ! script -qec true /dev/null >/dev/null 2>&1; then
    echo "skipped: the question on a terminal (script(1) from util-linux cannot make a pty here)"
    exit 0
fi
d=$(mktemp -d) || exit 1
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$d"' EXIT
trap 'exit 1' INT TERM
cd "$d" || exit 1
unset TICKFLOW_DB
fail() { echo "FAIL: $*" >&2; [ -f ask.out ] && cat ask.out >&2; exit 1; }
q() { sqlite3 t.db "$1"; }

# work w echoes its argument; work f fails until ok.flag exists
pipeline() {
    cat > "$1" <<P
{"name": "p", "works": [{"name": "w", "command": ["echo", "{i}"], "foreach": $2, "args": {"i": "{{item}}"}},
 {"name": "f", "command": ["sh", "-c", "test -e ok.flag", "{j}"], "foreach": $3, "args": {"j": "{{item}}"}}]}
P
}
pipeline p.json '[1, 2, 3]' '[1, 2]'
pipeline more.json '[4]' '[]'
pipeline later.json '[9]' '[]'
run() { "$TF_BIN" run --once --db t.db "$1" > run.out 2>&1; }
run p.json
[ "$(q "select group_concat(work || status, ' ') from calls")" = "wsucceeded wsucceeded wsucceeded ffailed ffailed" ] \
    || fail "seed: $(q 'select work, status from calls')"

# ask CMD: start CMD on a terminal that reads the FIFO 'in'; wait for its question
ask() {
    rm -f in ask.out
    mkfifo in || fail mkfifo
    script -qec "$1" /dev/null < in > ask.out 2>&1 &
    pid=$!
    exec 3> in
    i=0
    until grep -q '\[y/N\]' ask.out 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -le 200 ] || fail "no question from: $1"
        sleep 0.05
    done
}
# answer TEXT: type it, close the terminal's input, wait for the command; $rc its status
answer() {
    printf '%s\n' "$1" >&3
    exec 3>&-
    wait "$pid"
    rc=$?
    pid=
    tr -d '\r' < ask.out > ask.txt
}
key_of() { q "select substr(args_sha256, 1, 12) from calls where work = '$1' and args_json = '$2'"; }

# ---- clear: a call created while the question waits is not deleted ----------------------
ask "'$TF_BIN' clear --db t.db --work w"
grep -q 'delete 3 calls? \[y/N\]' ask.out || fail "clear asked for another count"
run more.json
[ "$(q "select count(*) from calls where work = 'w'")" = 4 ] || fail "the other run did not add a call"
answer y
[ "$rc" = 0 ] || fail "clear: exit $rc"
[ "$(tail -n 1 ask.txt)" = "cleared 3 calls" ] || fail "clear: closing line"
[ "$(q "select args_json from calls where work = 'w'")" = '{"i":4}' ] || fail "clear deleted the call created after the count"
[ "$(q 'select selector, count from clears')" = "--work w|3" ] || fail "clear: audit row $(q 'select * from clears')"

# ---- clear: a counted call that ran again since is skipped, and said so ------------------
ask "'$TF_BIN' clear --db t.db --status failed"
grep -q 'delete 2 calls? \[y/N\]' ask.out || fail "clear --status failed asked for another count"
: > ok.flag
"$TF_BIN" retry --db t.db --key "$(key_of f '{"j":1}')" > /dev/null || fail "retry"
run p.json
[ "$(q "select status from calls where work = 'f' and args_json = '{\"j\":1}'")" = succeeded ] || fail "f 1 did not run again"
rm ok.flag
answer y
[ "$rc" = 0 ] || fail "clear --status failed: exit $rc"
[ "$(tail -n 1 ask.txt)" = "cleared 1 of the 2 counted calls; 1 no longer matched (running or changed since the count)" ] \
    || fail "clear --status failed: closing line"
[ "$(q "select count(*) from calls where work = 'f'")" = 1 ] || fail "clear deleted the call that ran again"
[ "$(q "select count from clears where selector = '--status failed'")" = 1 ] || fail "audit row: not what was deleted"

# ---- gc: the same two cases (a runner with a slow clock finishes a call 'long ago') -----------
run p.json
age="strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-40 days')"
q "update calls set finished_at = $age"
old=$(q "select count(*) from calls")
[ "$old" = 6 ] || fail "gc seed: $old calls"
ask "'$TF_BIN' gc --db t.db --older-than 30d"
grep -q 'delete 6 calls? \[y/N\]' ask.out || fail "gc asked for another count"
run later.json
q "update calls set finished_at = $age where args_json = '{\"i\":9}'"
: > ok.flag
"$TF_BIN" retry --db t.db --key "$(key_of f '{"j":2}')" > /dev/null || fail "retry"
run p.json
answer y
[ "$rc" = 0 ] || fail "gc: exit $rc"
tail -n 1 ask.txt | grep -qx 'deleted 5 of the 6 counted calls finished before 20[0-9-]*T[0-9:.]*Z; 1 no longer matched (running or changed since the count)' \
    || fail "gc: closing line"
[ "$(q "select group_concat(c, ' ') from (select work || args_json as c from calls order by id)")" = 'f{"j":2} w{"i":9}' ] \
    || fail "gc deleted other calls than the counted ones still old: $(q 'select work, args_json from calls')"

# ---- declined: nothing deleted ------------------------------------------------------------------------
ask "'$TF_BIN' clear --db t.db --all"
answer n
[ "$rc" = 1 ] && [ "$(q 'select count(*) from calls')" = 2 ] || fail "declined clear deleted calls"
echo ok
