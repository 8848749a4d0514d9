#!/bin/sh
# cache_clear.sh - tickflow clear / retry / gc on real databases filled by
# tests/tools/seed_calls: every selector as a dry run (nothing deleted) then
# for real, the audit rows in `clears`, the refusal without --yes on a
# non-terminal, the question on a terminal (script(1)), a cleared call
# executing again, failed calls retried, old calls collected, misuse codes.
set -u
T=${TF_BIN:?TF_BIN not set}
S=${TF_BUILD:?TF_BUILD not set}/tools/seed_calls
d=$(mktemp -d) || exit 1
trap 'rm -rf "$d"' EXIT
trap 'exit 1' INT TERM
db=$d/t.db
unset TICKFLOW_DB
me=$(id -un)

fail() { echo "FAIL: $*" >&2; exit 1; }
# expect CODE CMD...: run CMD with stdout in $d/out, stderr in $d/err; check the exit code.
expect() {
    _want=$1; shift
    "$@" >"$d/out" 2>"$d/err" </dev/null
    _got=$?
    [ "$_got" = "$_want" ] || { cat "$d/out" "$d/err" >&2; fail "exit $_got, want $_want: $*"; }
}
q() { sqlite3 "$db" "$1"; }
js() { node -e "const j = JSON.parse(require('fs').readFileSync('$d/out', 'utf8')); console.log($1)"; }
has_out() { grep -q -- "$1" "$d/out" || { cat "$d/out" >&2; fail "stdout lacks '$1'"; }; }
has_err() { grep -q -- "$1" "$d/err" || { cat "$d/err" >&2; fail "stderr lacks '$1'"; }; }
calls() { q "select count(*) from calls"; }
# no history row may outlive its call
no_orphans() { [ "$(q 'select count(*) from history where call_id not in (select id from calls)')" = 0 ] || fail "orphan history rows"; }
seed() { "$S" --db "$db" "$@" >"$d/seed" || fail "seed_calls $*"; }
execs() { grep -c '^exec ' "$d/seed"; }
key_of() { q "select args_sha256 from calls where work = '$1' and args_json = '$2'"; }

seed --ok 10 --fail 4 --cmd 2
[ "$(execs)" = 16 ] && [ "$(calls)" = 16 ] || fail "seed"

# ---- misuse: exit 2 (3 for bad JSON), nothing deleted, no audit row ------------------
expect 2 "$T" clear --db "$db" --yes;                       has_err "say what to clear"
expect 2 "$T" clear --db "$db" --status bogus --yes;        has_err "unknown status 'bogus'"
expect 2 "$T" clear --db "$db" --before 2024-13-01 --yes;   has_err "'2024-13-01' is not a date"
expect 2 "$T" clear --db "$db" --key xyz1 --yes;            has_err "must be 4 to 64 hexadecimal digits"
expect 2 "$T" clear --db "$db" --key abc --yes
expect 2 "$T" clear --db "$db" --bogus --yes;               has_err "unknown option '--bogus'"
expect 2 "$T" clear --db "$db" --work;                      has_err "needs a value"
expect 2 "$T" clear --db "$db" --all --yes extra
expect 3 "$T" clear --db "$db" --args '{"n": 1,}' --yes;    has_err "clear: --args: 1:9: "
expect 3 "$T" clear --db "$db" --args '{"a":1,"a":2}' --yes; has_err "clear: --args: 1:"
expect 2 "$T" clear --db "$db" --work boom
has_err "^tickflow: clear: refusing without --yes (stdin is not a terminal)$"
expect 0 "$T" clear --help;                                 has_out "^usage: tickflow clear"
[ "$(calls)" = 16 ] || fail "a refused clear deleted calls"
[ "$(q 'select count(*) from clears')" = 0 ] || fail "a refused clear left an audit row"

# ---- --status: dry run, then for real ----------------------------------------------------
expect 0 "$T" clear --db "$db" --status failed --dry-run
has_out "^would clear 4 calls$"
[ "$(grep -c '^boom/[0-9a-f]\{12\}  *failed ' "$d/out")" = 4 ] || fail "dry run does not list the 4 failed calls"
[ "$(calls)" = 16 ] || fail "dry run deleted calls"
[ "$(q 'select count(*) from clears')" = 0 ] || fail "dry run left an audit row"
expect 0 "$T" clear --db "$db" --status failed --yes
[ "$(cat "$d/out")" = "cleared 4 calls" ] || fail "clear --status output"
[ "$(q "select count(*) from calls where status = 'failed'")" = 0 ] && [ "$(calls)" = 12 ] || fail "clear --status"
no_orphans
[ "$(q 'select user, selector, count from clears')" = "$me|--status failed|4" ] || fail "audit row of --status"
[ -n "$(q "select at from clears where at glob '20[0-9][0-9]-*T*Z'")" ] || fail "audit time"

# ---- --work ----------------------------------------------------------------------------------
expect 0 "$T" clear --db "$db" --work echo --dry-run --json
[ "$(js 'j.dry_run + " " + j.count + " " + j.calls.length + " " + j.calls.every(c => c.work === "echo")')" = "true 2 2 true" ] \
    || fail "clear --work --dry-run --json"
[ "$(calls)" = 12 ] || fail "json dry run deleted calls"
expect 0 "$T" clear --db "$db" --work echo --yes --json
[ "$(js 'j.dry_run + " " + j.count')" = "false 2" ] || fail "clear --work --json"
[ "$(q "select count(*) from calls where work = 'echo'")" = 0 ] && [ "$(calls)" = 10 ] || fail "clear --work"
no_orphans

# ---- --key: one call; it executes again on the next run, nothing else does --------------------
k3=$(key_of square '{"n":3}')
p8=$(echo "$k3" | cut -c1-8)
expect 0 "$T" clear --db "$db" --key "$p8" --dry-run
has_out "^would clear 1 call$"
has_out "^square/$(echo "$k3" | cut -c1-12)  "
[ "$(calls)" = 10 ] || fail "dry run --key deleted"
expect 0 "$T" clear --db "$db" --key "$p8" --yes
[ "$(cat "$d/out")" = "cleared 1 call" ] || fail "clear --key output"
[ -z "$(key_of square '{"n":3}')" ] && [ "$(calls)" = 9 ] || fail "clear --key"
no_orphans
seed --ok 10
[ "$(execs)" = 1 ] || fail "re-run executed $(execs) calls, want only the cleared one"
grep -q "^exec square $(echo "$k3" | cut -c1-12) ran 1$" "$d/seed" || fail "the cleared call did not run again"
seed --ok 10
[ "$(execs)" = 0 ] || fail "a third run executed calls"
none=""
for c in 0000 1111 2222 3333 4444 5555 6666 7777 8888 9999 aaaa bbbb cccc dddd eeee ffff; do
    [ "$(q "select count(*) from calls where args_sha256 like '$c%'")" = 0 ] && { none=$c; break; }
done
expect 1 "$T" clear --db "$db" --key "$none" --yes;    has_err "no call has a key starting with '$none'"

# ---- --args (canonicalized: spacing and member order do not matter) ------------------------------
k5=$(key_of square '{"n":5}')
expect 0 "$T" clear --db "$db" --args '{ "n" : 5.0 }' --work echo --yes
[ "$(cat "$d/out")" = "cleared 0 calls" ] || fail "--args with another work matched"
expect 0 "$T" clear --db "$db" --args '{ "n" : 5.0 }' --work square --dry-run
has_out "^would clear 1 call$"
expect 0 "$T" clear --db "$db" --args '{ "n" : 5.0 }' --work square --yes
[ "$(cat "$d/out")" = "cleared 1 call" ] || fail "clear --args"
[ -z "$(key_of square '{"n":5}')" ] || fail "clear --args left the call"
[ "$(q "select count(*) from clears where selector = '--args ''{ \"n\" : 5.0 }'' --work square' and count = 1 and user = '$me'")" = 1 ] \
    || fail "audit row of --args: $(q 'select selector from clears')"
no_orphans

# ---- --before --------------------------------------------------------------------------------------
left=$(calls)
expect 0 "$T" clear --db "$db" --before 2000-01-01 --yes
[ "$(cat "$d/out")" = "cleared 0 calls" ] && [ "$(calls)" = "$left" ] || fail "--before 2000-01-01"
expect 0 "$T" clear --db "$db" --before 2999-01-01T00:00:00Z --work square --dry-run
has_out "^would clear $left calls$"
[ "$(calls)" = "$left" ] || fail "dry run --before deleted"
expect 0 "$T" clear --db "$db" --before 2999-01-01 --work square --yes
[ "$(cat "$d/out")" = "cleared $left calls" ] && [ "$(calls)" = 0 ] || fail "clear --before"

# ---- --all ---------------------------------------------------------------------------------------------
seed --ok 3 --fail 2
expect 0 "$T" clear --db "$db" --all --dry-run
has_out "^would clear 5 calls$"
[ "$(calls)" = 5 ] || fail "dry run --all deleted"
expect 0 "$T" clear --db "$db" --all --yes
[ "$(cat "$d/out")" = "cleared 5 calls" ] && [ "$(calls)" = 0 ] || fail "clear --all"
no_orphans
[ "$(q 'select count(*) from clears')" = 8 ] || fail "audit rows: $(q 'select count(*) from clears'), want 8"
[ "$(q 'select selector from clears order by id desc limit 1')" = "--all" ] || fail "audit of --all"
seed --ok 3 --fail 2
[ "$(execs)" = 5 ] || fail "cleared calls did not all execute again"

# ---- the question on a terminal ---------------------------------------------------------------------------
if command -v script >/dev/null 2>&1; then
    printf 'n\n' | script -qec "'$T' clear --db '$db' --work boom" /dev/null >"$d/out" 2>&1
    [ $? = 1 ] || fail "declined clear: exit code"
    has_out "delete 2 calls? \[y/N\]"
    [ "$(calls)" = 5 ] || fail "declined clear deleted calls"
    printf 'yes\n' | script -qec "'$T' clear --db '$db' --work boom" /dev/null >"$d/out" 2>&1
    [ $? = 0 ] || fail "confirmed clear: exit code"
    has_out "cleared 2 calls"
    [ "$(calls)" = 3 ] || fail "confirmed clear did not delete"
fi

# ---- clear --key with an ambiguous prefix (several hundred keys: some share 4 digits) ------------------------
big=$d/big.db
"$S" --db "$big" --ok 400 >/dev/null || fail "seed big"
amb=$(sqlite3 "$big" "select substr(args_sha256, 1, 4) as p from calls group by p having count(*) > 1 limit 1")
[ -n "$amb" ] || fail "no shared 4-digit prefix"
expect 1 "$T" clear --db "$big" --key "$amb" --yes;       has_err "key prefix '$amb' matches several calls"
expect 1 "$T" clear --db "$big" --key "$amb" --dry-run
[ "$(sqlite3 "$big" 'select count(*) from calls')" = 400 ] || fail "ambiguous --key deleted calls"
[ "$(sqlite3 "$big" 'select count(*) from clears')" = 0 ] || fail "ambiguous --key left an audit row"

# ---- retry ------------------------------------------------------------------------------------------------------------
rm -f "$db" "$db-wal" "$db-shm"
seed --ok 2 --fail 3
[ "$(execs)" = 5 ] || fail "retry seed"
seed --ok 2 --fail 3
[ "$(execs)" = 0 ] || fail "failed calls ran again without retry"
expect 2 "$T" retry --db "$db";                      has_err "say which calls"
expect 2 "$T" retry --db "$db" --key zz;             has_err "must be 4 to 64"
expect 2 "$T" retry --db "$db" --bogus
expect 0 "$T" retry --help;                          has_out "^usage: tickflow retry"
expect 0 "$T" retry --db "$db" --work square
[ "$(cat "$d/out")" = "retried 0 calls" ] || fail "retry of succeeded calls"
expect 0 "$T" retry --db "$db" --work boom
[ "$(cat "$d/out")" = "retried 3 calls" ] || fail "retry --work output"
seed --ok 2 --fail 3
[ "$(execs)" = 3 ] && [ "$(grep -c '^exec boom .* failed 2$' "$d/seed")" = 3 ] || fail "retried calls did not run again"
[ "$(q "select group_concat(attempts) from calls where work = 'boom'")" = "2,2,2" ] || fail "attempts after retry"
kb=$(key_of boom '{"b":1}')
expect 0 "$T" retry --db "$db" --key "$(echo "$kb" | cut -c1-10)" --json
[ "$(js 'j.count')" = 1 ] || fail "retry --key --json"
seed --ok 2 --fail 3
[ "$(execs)" = 1 ] && grep -q "^exec boom $(echo "$kb" | cut -c1-12) failed 3$" "$d/seed" || fail "retry --key"
expect 1 "$T" retry --db "$db" --key "$none"
expect 0 "$T" retry --db "$db" --all
[ "$(cat "$d/out")" = "retried 3 calls" ] || fail "retry --all"

# ---- gc -------------------------------------------------------------------------------------------------------------------
expect 2 "$T" gc --db "$db" --yes;                   has_err "older-than DURATION is required"
for bad in 10 1x 0d d -1d 1.5h 30dd; do
    expect 2 "$T" gc --db "$db" --older-than "$bad" --yes
    has_err "'$bad' is not a duration"
done
expect 2 "$T" gc --db "$db" --older-than 1d
has_err "^tickflow: gc: refusing without --yes (stdin is not a terminal)$"
expect 0 "$T" gc --help;                             has_out "^usage: tickflow gc"
[ "$(calls)" = 5 ] || fail "gc misuse deleted calls"
expect 0 "$T" gc --db "$db" --older-than 1d --yes
has_out "^deleted 0 calls finished before "
[ "$(calls)" = 5 ] || fail "gc deleted fresh calls"
# age the failed calls by 40 days (gc compares finished_at)
q "update calls set finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-40 days') where work = 'boom'"
mkdir -p "$db.logs/old" && : > "$db.logs/old/a.log" && : > "$db.logs/old/b.log" && touch -d '40 days ago' "$db.logs/old/a.log"
expect 0 "$T" gc --db "$db" --older-than 30d --dry-run
[ -f "$db.logs/old/a.log" ] || fail "gc --dry-run deleted a log file"
has_out "^would delete 3 calls finished before "
[ "$(calls)" = 5 ] || fail "gc --dry-run deleted"
expect 0 "$T" gc --db "$db" --older-than 4w --yes --json
[ "$(js 'j.dry_run + " " + j.count')" = "false 3" ] || fail "gc --json"
[ "$(q "select count(*) from calls where work = 'boom'")" = 0 ] && [ "$(calls)" = 2 ] || fail "gc"
# gc deletes rows (their output with them), never a file: these were not written by tickflow
[ -f "$db.logs/old/a.log" ] && [ -f "$db.logs/old/b.log" ] || fail "gc deleted a file it did not create"
no_orphans
expect 0 "$T" gc --db "$db" --older-than 720h --yes
has_out "^deleted 0 calls"
sleep 1.2
expect 0 "$T" gc --db "$db" --older-than 1s --yes
has_out "^deleted 2 calls"
[ "$(calls)" = 0 ] && [ "$(q 'select count(*) from history')" = 0 ] || fail "gc --older-than 1s"
exit 0
