#!/bin/sh
# cache_inspect.sh - tickflow ls / show / logs / status on real databases
# filled by tests/tools/seed_calls (real executions through the library),
# checked against the sqlite3 shell; every misuse exit code; a missing
# database is refused (exit 4) and never created.
set -u
T=${TF_BIN:?TF_BIN not set}
S=${TF_BUILD:?TF_BUILD not set}/tools/seed_calls
d=$(mktemp -d) || exit 1
bg=""
cleanup() {
    [ -n "$bg" ] && kill "$bg" 2>/dev/null && wait "$bg" 2>/dev/null
    rm -rf "$d"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
db=$d/t.db
unset TICKFLOW_DB

fail() { echo "FAIL: $*" >&2; exit 1; }
# expect CODE CMD...: run CMD with stdout in $d/out, stderr in $d/err; check the exit code.
expect() {
    _want=$1; shift
    "$@" >"$d/out" 2>"$d/err"
    _got=$?
    [ "$_got" = "$_want" ] || { cat "$d/out" "$d/err" >&2; fail "exit $_got, want $_want: $*"; }
}
q() { sqlite3 "$db" "$1"; }
# js EXPR: evaluate EXPR with the JSON of $d/out as `j`; prints the result.
js() { node -e "const j = JSON.parse(require('fs').readFileSync('$d/out', 'utf8')); console.log($1)"; }
has_out() { grep -q -- "$1" "$d/out" || { cat "$d/out" >&2; fail "stdout lacks '$1'"; }; }
has_err() { grep -q -- "$1" "$d/err" || { cat "$d/err" >&2; fail "stderr lacks '$1'"; }; }

# ---- a database that does not exist: exit 4, nothing created ----------------
for cmd in "ls" "show abcd" "logs abcd" "clear --all --yes" "retry --all" \
           "gc --older-than 1d --yes" "status"; do
    # shellcheck disable=SC2086
    expect 4 "$T" $cmd --db "$d/none.db"
    has_err "tickflow: no database at '$d/none.db'"
    [ ! -e "$d/none.db" ] || fail "$cmd created the database"
done
TICKFLOW_DB=$d/env.db expect 4 "$T" ls
has_err "no database at '$d/env.db'"
[ ! -e "$d/env.db" ] || fail "ls created \$TICKFLOW_DB"
mkdir "$d/cwd"
(cd "$d/cwd" && "$T" ls >/dev/null 2>&1); [ $? = 4 ] || fail "ls without a database in the folder"
[ ! -e "$d/cwd/tickflow.db" ] || fail "ls created ./tickflow.db"

# a file that is not a tickflow database: exit 4, left as it was
echo garbage >"$d/junk.db"
expect 4 "$T" ls --db "$d/junk.db";   has_err "not a tickflow database"
[ "$(cat "$d/junk.db")" = garbage ] || fail "ls changed a foreign file"

# ---- seed: 400 succeeded, 5 failed, 2 command calls (with logs) ---------------
"$S" --db "$db" --ok 400 --fail 5 --cmd 2 >"$d/seed" || fail "seed_calls"
[ "$(grep -c '^exec ' "$d/seed")" = 407 ] || fail "seed executed $(grep -c '^exec ' "$d/seed") calls"
[ "$(q 'select count(*) from calls')" = 407 ] || fail "calls rows"

# ---- ls ---------------------------------------------------------------------------
expect 0 "$T" ls --db "$db"
[ "$(wc -l <"$d/out")" = 52 ] || fail "ls: default table is not header + 50 rows + hint"
head -n 1 "$d/out" | grep -q '^KEY  *STATUS  *ATTEMPTS  *CREATED  *DURATION  *ARGS$' || fail "ls header"
has_out '^\.\.\. 357 more'
newest=$(q "select work || '/' || substr(args_sha256, 1, 12) from calls order by id desc limit 1")
sed -n 2p "$d/out" | grep -q "^$newest " || fail "ls: newest call is not first"
TICKFLOW_DB=$db expect 0 "$T" ls --limit 3
[ "$(wc -l <"$d/out")" = 5 ] || fail "ls --limit 3"
has_out '^\.\.\. 404 more'

expect 0 "$T" ls --db "$db" --json
[ "$(js 'j.length')" = 407 ] || fail "ls --json: not every call"
[ "$(js 'j.every(c => /^[0-9a-f]{64}$/.test(c.key) && typeof c.args === "object")')" = true ] \
    || fail "ls --json: keys/args"
[ "$(js 'j[0].id')" = "$(q 'select id from calls order by id desc limit 1')" ] \
    || fail "ls --json order"
expect 0 "$T" ls --db "$db" --json --work boom
[ "$(js 'j.length + " " + j.every(c => c.work === "boom" && c.status === "failed" && /^boom b=/.test(c.error))')" = "5 true" ] \
    || fail "ls --work boom"
expect 0 "$T" ls --db "$db" --json --status failed
[ "$(js 'j.length')" = 5 ] || fail "ls --status failed"
expect 0 "$T" ls --db "$db" --json --status succeeded --work echo
[ "$(js 'j.length + " " + j.every(c => c.work === "echo" && c.log_path === null)')" = "2 true" ] \
    || fail "ls --status succeeded --work echo"
expect 0 "$T" ls --db "$db" --json --work square --status failed
[ "$(js 'j.length')" = 0 ] || fail "ls: AND of filters"
expect 0 "$T" ls --db "$db" --json --limit 7
[ "$(js 'j.length')" = 7 ] || fail "ls --json --limit"
# --since: a date, a full ISO time taken from the data, the future
expect 0 "$T" ls --db "$db" --json --since 2000-01-01
[ "$(js 'j.length')" = 407 ] || fail "ls --since 2000-01-01"
expect 0 "$T" ls --db "$db" --json --since 2999-01-01
[ "$(js 'j.length')" = 0 ] || fail "ls --since 2999-01-01"
mid=$(q "select created_at from calls order by created_at desc limit 1 offset 20")
want=$(q "select count(*) from calls where created_at >= '$mid'")
expect 0 "$T" ls --db "$db" --json --since "$mid"
[ "$(js 'j.length')" = "$want" ] || fail "ls --since $mid: $(js 'j.length') rows, want $want"
expect 0 "$T" ls --db "$db" --json --since "$(echo "$mid" | sed 's/Z$/+00:00/')"
[ "$(js 'j.length')" = "$want" ] || fail "ls --since with +00:00"
for bad in 2024-02-30 yesterday 2024-1-1 "2024-01-01T25:00" "2024-01-01T10:00:00X"; do
    expect 2 "$T" ls --db "$db" --since "$bad"
    has_err "'$bad' is not a date"
done
expect 2 "$T" ls --db "$db" --status bogus;  has_err "unknown status 'bogus'"
expect 2 "$T" ls --db "$db" --limit 0
expect 2 "$T" ls --db "$db" --limit abc
expect 2 "$T" ls --db "$db" --bogus;         has_err "unknown option '--bogus'"
expect 2 "$T" ls --db "$db" extra
expect 2 "$T" ls --db;                        has_err "needs a value"
expect 0 "$T" ls --help;                      has_out '^usage: tickflow ls'
[ ! -s "$d/err" ] || fail "ls --help wrote to stderr"

# ---- show -----------------------------------------------------------------------
key=$(q "select args_sha256 from calls where work = 'square' and args_json = '{\"n\":7}'")
[ ${#key} = 64 ] || fail "no key for square n=7"
p12=$(echo "$key" | cut -c1-12)
expect 0 "$T" show --db "$db" "$p12"
has_out "^work  *square$"
has_out "^key  *$key$"
has_out "^status  *succeeded$"
has_out '^args  *{"n":7}$'
has_out '^result  *49$'
has_out "^  *1  *succeeded  *20[0-9-]*T[0-9:.]*Z  *[0-9.]*s  *[^ ]*:[0-9][0-9]*  *0  "
expect 0 "$T" show "$p12" --json --db "$db"
[ "$(js 'j.key + " " + j.result + " " + j.args.n + " " + j.history.length + " " + j.history[0].status')" = \
  "$key 49 7 1 succeeded" ] || fail "show --json"
bkey=$(q "select args_sha256 from calls where work = 'boom' and args_json = '{\"b\":3}'")
expect 0 "$T" show --db "$db" "$(echo "$bkey" | tr a-f A-F)"
has_out '^status  *failed$'
has_out '^error  *boom b=3$'
has_out '  failed  .*boom b=3$'
# a 4-digit prefix shared by two calls (400 keys: some collide) is refused, never guessed
amb=$(q "select substr(args_sha256, 1, 4) as p from calls group by p having count(*) > 1 limit 1")
[ -n "$amb" ] || fail "no shared 4-digit prefix among the seeded keys"
expect 1 "$T" show --db "$db" "$amb"
has_err "key prefix '$amb' matches several calls"
for k in $(q "select substr(args_sha256, 1, 12) from calls where args_sha256 like '$amb%'"); do
    has_err "$k"
done
[ ! -s "$d/out" ] || fail "ambiguous show printed a call"
# a prefix nobody has
none=""
for c in 0000 1111 2222 3333 4444 5555 6666 7777 8888 9999 aaaa bbbb cccc dddd eeee ffff; do
    [ "$(q "select count(*) from calls where args_sha256 like '$c%'")" = 0 ] && { none=$c; break; }
done
[ -n "$none" ] || fail "every candidate prefix is taken"
expect 1 "$T" show --db "$db" "$none";  has_err "no call has a key starting with '$none'"
expect 2 "$T" show --db "$db" abc;      has_err "must be 4 to 64 hexadecimal digits"
expect 2 "$T" show --db "$db" xyz1
expect 2 "$T" show --db "$db"
expect 2 "$T" show --db "$db" "$p12" "$p12"
expect 0 "$T" show --help;              has_out '^usage: tickflow show'

# ---- logs -----------------------------------------------------------------------
# The output is read from the database: no file was written for any execution.
ekey=$(q "select args_sha256 from calls where work = 'echo' and args_json = '{\"e\":1}'")
e8=$(echo "$ekey" | cut -c1-8)
[ ! -e "$db.logs" ] || fail "executions wrote files under $db.logs"
[ "$(q "select count(*) from history where log_path is not null")" = 0 ] || fail "a log path was recorded"
expect 0 "$T" logs --db "$db" "$e8"
printf 'log line for e=1\nsecond line\n' | cmp -s - "$d/out" || { cat "$d/out"; fail "logs: not the output of e=1"; }
expect 0 "$T" logs --db "$db" --attempt 1 "$e8"
printf 'log line for e=1\nsecond line\n' | cmp -s - "$d/out" || fail "logs --attempt 1"
[ "$(q "select output_bytes || ' ' || output_truncated from history h join calls c on c.id = h.call_id where c.args_sha256 = '$ekey' and c.work = 'echo'")" = "29 0" ] \
    || fail "output_bytes/output_truncated of e=1"
expect 0 "$T" show --db "$db" "$e8";             has_out '^log       in the database: 29 bytes (tickflow logs '
expect 1 "$T" logs --db "$db" --attempt 2 "$e8"; has_err "has no attempt 2"
expect 1 "$T" logs --db "$db" "$p12";            has_err "has no output recorded (only command works keep it)"
expect 1 "$T" logs --db "$db" "$amb";            has_err "matches several calls"
expect 1 "$T" logs --db "$db" "$none"
expect 2 "$T" logs --db "$db" --attempt 0 "$p12"
expect 2 "$T" logs --db "$db"
expect 2 "$T" logs --db "$db" --bogus "$p12"
# an attempt recorded by an older tickflow names a log file: copied as it is, never through a symlink
log="$d/old.log"
printf 'from an old file\n' > "$log"
q "update history set log_path = '$log', output = NULL, output_bytes = NULL where call_id = (select id from calls where args_sha256 = '$ekey' and work = 'echo')"
expect 0 "$T" logs --db "$db" "$e8"
cmp -s "$d/out" "$log" || fail "logs: output differs from the old log file"
expect 0 "$T" show --db "$db" "$e8";             has_out "^log       $log\$"
mv "$log" "$d/target.log" && ln -s "$d/target.log" "$log"
expect 5 "$T" logs --db "$db" "$e8";             has_err "cannot open log file '$log'"
rm "$log"
expect 5 "$T" logs --db "$db" "$e8";             has_err "cannot open log file '$log'"
expect 0 "$T" logs --help;                       has_out '^usage: tickflow logs'

# ---- status -------------------------------------------------------------------------
expect 0 "$T" status --db "$db"
[ "$(cat "$d/out")" = "nothing running" ] || fail "status on an idle database"
expect 0 "$T" status --db "$db" --json
[ "$(js 'j.length')" = 0 ] || fail "status --json on an idle database"
"$S" --db "$db" --sleep 60 >"$d/slow.out" 2>&1 &
bg=$!
i=0
while [ "$(q "select count(*) from calls where work = 'slow' and status = 'running'" 2>/dev/null)" != 1 ]; do
    i=$((i + 1)); [ $i -lt 100 ] || fail "the slow call never ran"; sleep 0.1
done
sleep 1.1
skey=$(q "select substr(args_sha256, 1, 12) from calls where work = 'slow'")
expect 0 "$T" status --db "$db"
head -n 1 "$d/out" | grep -q '^KEY  *ATTEMPT  *RUNNER  *STARTED  *ELAPSED$' || fail "status header"
has_out "^slow/$skey  *1  *$(uname -n):$bg  *20[0-9-]*T[0-9:.]*Z  *[1-9][0-9]*s$"
[ "$(wc -l <"$d/out")" = 2 ] || fail "status lists more than the slow call"
expect 0 "$T" status --db "$db" --json
[ "$(js 'j.length + " " + j[0].work + " " + j[0].runner_pid + " " + (j[0].elapsed >= 1)')" = "1 slow $bg true" ] \
    || fail "status --json"
expect 0 "$T" show --db "$db" "$skey"
has_out "^runner  *$(uname -n):$bg$"
kill "$bg"; wait "$bg" 2>/dev/null; bg=""
expect 0 "$T" status --db "$db"
[ "$(cat "$d/out")" = "nothing running" ] || fail "status after the runner stopped"
expect 2 "$T" status --db "$db" extra
expect 2 "$T" status --db "$db" --bogus
expect 0 "$T" status --help;                     has_out '^usage: tickflow status'
exit 0
