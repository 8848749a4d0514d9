#!/bin/sh
# cache_keys.sh - a call is (work, version, key) and every command that
# takes a key can name one (issue 12 point 7): works a and b called with
# the same arguments ({}) share a key, so the key alone - even all 64
# digits - is refused as ambiguous (candidates listed in the printed form);
# --work / --version narrow it (AND), and the form WORK[@VERSION]/PREFIX
# that ls, status and run print is taken back by show, logs, clear --key
# and retry --key. A form that contradicts --work is a usage error.
# timeout: 60
set -u
T=${TF_BIN:?TF_BIN not set}
d=$(mktemp -d) || exit 1
trap 'rm -rf "$d"' EXIT
trap 'exit 1' INT TERM
unset TICKFLOW_DB
cd "$d" || exit 1
db=$d/t.db

fail() { echo "FAIL: $*" >&2; exit 1; }
# expect CODE CMD...: stdout in out, stderr in err; check the exit code.
expect() {
    _want=$1; shift
    "$@" >out 2>err
    _got=$?
    [ "$_got" = "$_want" ] || { cat out err >&2; fail "exit $_got, want $_want: $*"; }
}
has_out() { grep -q -- "$1" out || { cat out >&2; fail "stdout lacks '$1'"; }; }
has_err() { grep -q -- "$1" err || { cat err >&2; fail "stderr lacks '$1'"; }; }
q() { sqlite3 "$db" "$1"; }

# a and b succeed with {}; c fails with {} at version 2 (a later version 3 also runs)
cat > p.json <<'P'
{"name": "p", "works": [
  {"name": "a", "command": ["sh", "-c", "echo out-a"]},
  {"name": "b", "command": ["sh", "-c", "echo out-b"]},
  {"name": "c", "version": "2", "command": ["sh", "-c", "echo out-c; exit 3"]}
]}
P
"$T" run --once --db "$db" p.json > run.out 2>&1
[ "$(q 'select count(*) from calls')" = 3 ] || { cat run.out; fail "want 3 calls"; }
key=$(q "select args_sha256 from calls where work = 'a'")
[ "$(q "select count(distinct args_sha256) from calls")" = 1 ] || fail "the three calls should share a key"
k12=$(echo "$key" | cut -c1-12)
# the run's lines name the call in the form (12:00:00 a/abcdef012345 ran 0.01s)
grep -q "^[0-9:]* a/$k12 *ran " run.out || { cat run.out; fail "run line lacks a/$k12"; }
grep -q "^[0-9:]* c@2/$k12 *failed " run.out || { cat run.out; fail "run line lacks c@2/$k12"; }

# ---- the key alone is ambiguous, even in full ------------------------------
expect 1 "$T" show --db "$db" "$key"
has_err "matches several calls: "
for r in "a/$k12" "b/$k12" "c@2/$k12"; do has_err " $r"; done
expect 1 "$T" logs --db "$db" "$key";                    has_err "matches several calls"
expect 1 "$T" clear --db "$db" --key "$key" --yes;       has_err "matches several calls"
[ "$(q 'select count(*) from calls')" = 3 ] || fail "an ambiguous clear deleted something"

# ---- --work / --version narrow the key (AND) ---------------------------------
expect 0 "$T" show --db "$db" --work a "$key";           has_out "^work      a$"
expect 0 "$T" show --db "$db" --work b "$k12";           has_out "^work      b$"
expect 0 "$T" show --db "$db" --version 2 "$k12";        has_out "^work      c$"
expect 0 "$T" show --db "$db" --work c --version 2 "$k12"
expect 1 "$T" show --db "$db" --work c --version '' "$k12"
has_err "no call of work 'c' with no version has a key starting with '$k12'"
expect 1 "$T" show --db "$db" --work zz "$k12";          has_err "no call of work 'zz'"
expect 0 "$T" logs --db "$db" --work b "$k12";           has_out "^out-b$"

# ---- the printed form, taken back ----------------------------------------------
expect 0 "$T" show --db "$db" "a/$k12";                  has_out "^work      a$"
has_out "tickflow logs a/$k12)"                          # show's hint, in the form
expect 0 "$T" show --db "$db" "c@2/$(echo "$key" | cut -c1-6)"; has_out "^version   2$"
expect 0 "$T" logs --db "$db" "b/$k12";                  has_out "^out-b$"
expect 0 "$T" logs --db "$db" "c@2/$key";                has_out "^out-c$"
expect 1 "$T" logs --db "$db" --attempt 2 "a/$k12";      has_err "call a/$k12 has no attempt 2"
expect 1 "$T" show --db "$db" "c/$k12"                   # c has no call of no version
has_err "no call of work 'c' with no version"
expect 1 "$T" show --db "$db" "c@3/$k12";                has_err "no call of work 'c' with version '3'"

# ls prints the form (one column, aligned); each one round-trips through show and logs
expect 0 "$T" ls --db "$db"
head -n 1 out | grep -q '^KEY  *STATUS  *ATTEMPTS  *CREATED  *DURATION  *ARGS$' || { cat out; fail "ls header"; }
has_out "^a/$k12    succeeded "
has_out "^c@2/$k12  failed "
for r in $(sed -n '2,$s/ .*//p' out); do
    "$T" show --db "$db" "$r" > one 2>&1 || { cat one; fail "show $r (as ls printed it)"; }
    w=${r%%[@/]*}
    grep -q "^work      $w$" one || { cat one; fail "show $r showed another call"; }
    "$T" logs --db "$db" "$r" | grep -q "^out-$w$" || fail "logs $r"
done
expect 0 "$T" ls --db "$db" --json
node -e "const j = JSON.parse(require('fs').readFileSync('out', 'utf8'));
  const want = {a: 'a/$k12', b: 'b/$k12', c: 'c@2/$k12'};
  for (const r of j) if (r.ref !== want[r.work] || r.key !== '$key') process.exit(1);" \
    || { cat out; fail "ls --json: ref / key fields"; }
expect 0 "$T" show --db "$db" --json "b/$k12"
node -e "const j = JSON.parse(require('fs').readFileSync('out', 'utf8')); process.exit(j.ref === 'b/$k12' ? 0 : 1)" \
    || fail "show --json: ref"

# ---- misuse: exit 2, one line ------------------------------------------------------
expect 2 "$T" show --db "$db" --work a "b/$k12"
has_err "show: --work a contradicts key 'b/$k12' (work b)"
expect 2 "$T" clear --db "$db" --work a --key "b/$k12" --yes
has_err "clear: --work a contradicts --key 'b/$k12' (work b)"
expect 2 "$T" show --db "$db" --version 3 "c@2/$k12";    has_err "contradicts key 'c@2/$k12' (version '2')"
expect 2 "$T" logs --db "$db" "a/b/$k12";                has_err "'a/b' is not a work name"
expect 2 "$T" show --db "$db" "a/xyz";                   has_err "the key prefix 'xyz' must be 4 to 64 hexadecimal digits"
expect 2 "$T" retry --db "$db" --key "a/"
[ "$(q 'select count(*) from calls')" = 3 ] || fail "a refused command changed the database"

# ---- retry --key with the form: only c@2's failed call ----------------------------
[ "$(q "select failures from calls where work = 'c'")" = 1 ] || fail "c should have failed once"
expect 0 "$T" retry --db "$db" --key "c@2/$k12" --json;  has_out '"count":1'
[ "$(q "select failures from calls where work = 'c'")" = 0 ] || fail "retry --key c@2/... did not reset c"

# ---- clear --key K --work W: only W's call goes --------------------------------------
expect 0 "$T" clear --db "$db" --key "$key" --work a --dry-run
has_out "^a/$k12 "; has_out "would clear 1 call"
expect 0 "$T" clear --db "$db" --key "$key" --work a --yes; has_out "cleared 1 call$"
[ "$(q "select group_concat(work, ',') from (select work from calls order by work)")" = "b,c" ] \
    || fail "clear --key K --work a: want b and c left, have $(q 'select group_concat(work) from calls')"
expect 0 "$T" clear --db "$db" --key "b/$k12" --yes;     has_out "cleared 1 call$"
[ "$(q "select group_concat(work) from calls")" = c ] || fail "clear --key b/...: want c left"
q "select selector from clears order by id" > sel
grep -qx -- "--key $key --work a" sel && grep -qx -- "--key b/$k12" sel || { cat sel; fail "audit selectors"; }

# ---- status prints the form of a running call; show takes it back ----------------
cat > slow.json <<'P'
{"name": "s", "works": [{"name": "slow", "version": "v/1", "command": ["sh", "-c", "touch started; sleep 30"]}]}
P
sdb=$d/s.db
"$T" run --once --db "$sdb" slow.json > slow.out 2>&1 &
pid=$!
i=0
while [ ! -e started ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -e started ] || { kill $pid; fail "the slow command did not start"; }
sleep 0.3 # the start is committed
expect 0 "$T" status --db "$sdb"
head -n 1 out | grep -q '^KEY  *ATTEMPT  *RUNNER  *STARTED  *ELAPSED$' || { cat out; fail "status header"; }
r=$(sed -n '2s/ .*//p' out)
case $r in slow@v/1/[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]) ;;
    *) cat out; fail "status: '$r' is not the form slow@v/1/KEY" ;; esac
expect 0 "$T" show --db "$sdb" "$r"                      # a version holding '/': read to the last '/'
has_out "^version   v/1$"; has_out "^status    running$"
kill -TERM $pid; wait $pid
grep -q "stopped by SIGTERM: 1 execution interrupted .*: $r$" slow.out || { cat slow.out; fail "the stop line lacks $r"; }
echo ok
