#!/bin/sh
# ops_hooks: "on_failure" / "on_success" in pipeline files (issue 15, point 3).
# on_failure runs once when a call fails for good (not while a retry is
# due, not again for the stored failure) with the call's key, error and log
# in its environment, after the failure is committed; on_success runs per
# execution (never for a cached call); a work's hook replaces the
# pipeline's; a hook that fails, hangs or cannot start is reported on
# stderr and changes neither the call nor the exit code; malformed hooks
# are refused at load with FILE:LINE:COL.
# timeout: 120
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
export TF_BIN

# The failure hook writes its environment and what the database says at that moment.
cat > notify.sh <<'S'
#!/bin/sh
{
  echo "key=$TICKFLOW_KEY"
  echo "work=$TICKFLOW_WORK"
  echo "pipeline=$TICKFLOW_PIPELINE"
  echo "status=$TICKFLOW_STATUS"
  echo "error=$TICKFLOW_ERROR"
  echo "attempt=$TICKFLOW_ATTEMPT"
  echo "log=$TICKFLOW_LOG"
  [ -n "$TICKFLOW_LOG" ] && echo "logtext=$(tr '\n' ' ' < "$TICKFLOW_LOG")" && echo "logmode=$(stat -c %a "$TICKFLOW_LOG")"
  echo "output=$(sqlite3 "$PWD/t.db" "SELECT h.output FROM history h JOIN calls c ON c.id = h.call_id WHERE c.work = '$TICKFLOW_WORK' AND c.args_sha256 = '$TICKFLOW_KEY' ORDER BY h.attempt DESC LIMIT 1" | tr '\n' ' ')"
  echo "greeting=${GREETING:-}"
  echo "db=$("$TF_BIN" ls --db "$PWD/t.db" --work "$TICKFLOW_WORK" --status failed --json | tr -d '\n')"
} >> "$1"
S
chmod +x notify.sh

cat > p.json <<'P'
{"name": "nightly",
 "on_failure": ["./notify.sh", "fail.log"],
 "on_success": ["sh", "-c", "echo \"$TICKFLOW_WORK $TICKFLOW_STATUS $TICKFLOW_KEY\" >> ok.log"],
 "works": [
  {"name": "fetch", "command": ["sh", "-c", "echo '{\"rows\": 3}'"]},
  {"name": "train", "command": ["sh", "-c", "echo bad data >&2; exit 3"], "env": {"GREETING": "hi"},
   "retries": 1, "retry_backoff": 0},
  {"name": "own", "command": ["true"], "on_success": ["sh", "-c", "echo own >> own.log"]},
  {"name": "later", "args": {"x": "{{train.result}}"}, "command": ["true"]}
 ]}
P
"$TF_BIN" run --once --db t.db p.json > out 2> err
rc=$?
[ "$rc" = 1 ] || { cat out err; fail "a failed call: exit $rc, want 1"; }
[ -f fail.log ] || { cat out err; fail "on_failure did not run"; }
[ "$(grep -c '^key=' fail.log)" = 1 ] || { cat fail.log; fail "on_failure ran more than once (a retry was still due the first time)"; }
key=$("$TF_BIN" ls --db t.db --work train --json | sed -n 's/.*"key":"\([0-9a-f]*\)".*/\1/p')
[ -n "$key" ] || fail "no key for train"
grep -qx "key=$key" fail.log || { cat fail.log; fail "on_failure did not get the failing call's key $key"; }
grep -qx "error=exited with status 3" fail.log || { cat fail.log; fail "on_failure did not get the error"; }
grep -qx "work=train" fail.log && grep -qx "pipeline=nightly" fail.log && grep -qx "status=failed" fail.log \
    && grep -qx "attempt=2" fail.log || { cat fail.log; fail "on_failure environment"; }
grep -qx "greeting=hi" fail.log || { cat fail.log; fail "the work's env is not in the hook's environment"; }
# the output is stored with the attempt before the hook starts, and TICKFLOW_LOG is a
# private copy of it that goes when the hook ends
grep -qx "output=bad data  *" fail.log || { cat fail.log; fail "the failing execution's output is not stored when the hook runs"; }
grep -qx "logtext=bad data  *" fail.log || { cat fail.log; fail "TICKFLOW_LOG does not hold the failing execution's output"; }
grep -qx "logmode=600" fail.log || { cat fail.log; fail "TICKFLOW_LOG is not mode 0600"; }
log=$(sed -n 's/^log=//p' fail.log)
[ -n "$log" ] && [ ! -e "$log" ] || fail "TICKFLOW_LOG '$log' was left behind"
grep -q "^db=.*\"status\":\"failed\"" fail.log || { cat fail.log; fail "the hook ran before the failure was committed"; }
# on_success: once per execution, the work's own hook replaces the pipeline's
grep -qx "fetch succeeded [0-9a-f]\{64\}" ok.log || { cat ok.log; fail "on_success for fetch"; }
grep -q "^own " ok.log && fail "the pipeline's on_success ran for a work with its own"
[ "$(cat own.log)" = own ] || fail "the work's own on_success did not run"
grep -q "^train\|^later" ok.log && fail "on_success ran for a call that did not succeed"
# A second run: the stored failure and the cached success run no hook.
"$TF_BIN" run --once --db t.db p.json > out 2> err
[ "$(grep -c '^key=' fail.log)" = 1 ] || fail "on_failure ran again for a stored failure"
[ "$(wc -l < ok.log)" = 1 ] || { cat ok.log; fail "on_success ran for a cached call"; }

# A failing, a hanging and a missing hook: reported, the calls and the exit code untouched.
cat > h.json <<'P'
{"name": "hooks", "hook_timeout": 1,
 "works": [
  {"name": "a", "command": ["true"], "on_success": ["sh", "-c", "exit 7"]},
  {"name": "b", "command": ["true"], "on_success": ["sleep", "30"]},
  {"name": "c", "command": ["true"], "on_success": ["no-such-hook-program-tickflow"]},
  {"name": "d", "command": ["false"], "on_failure": ["sh", "-c", "exit 9"]}
 ]}
P
start=$(date +%s)
"$TF_BIN" run --once --db h.db h.json > out 2> err
rc=$?
took=$(( $(date +%s) - start ))
[ "$rc" = 1 ] || { cat out err; fail "hooks changed the exit code: $rc, want 1 (d failed)"; }
[ "$took" -lt 6 ] || fail "a hanging hook held the run for ${took}s (hook_timeout 1)"
grep -q "^tickflow: a/[0-9a-f]\{12\}: on_success hook 'sh': exited with status 7$" err || { cat err; fail "failing hook not reported"; }
grep -q "^tickflow: b/[0-9a-f]\{12\}: on_success hook 'sleep': timed out after 1 s$" err || { cat err; fail "hanging hook not reported"; }
grep -q "^tickflow: c/[0-9a-f]\{12\}: on_success hook 'no-such-hook-program-tickflow': cannot run" err || { cat err; fail "missing hook not reported"; }
grep -q "^tickflow: d/[0-9a-f]\{12\}: on_failure hook 'sh': exited with status 9$" err || { cat err; fail "failing on_failure not reported"; }
tail -1 out | grep -qx '3 ran, 0 cached, 1 failed' || { cat out; fail "summary changed by hooks"; }
[ "$(sqlite3 h.db "select group_concat(work || '=' || status, ' ') from (select * from calls order by work)")" \
  = "a=succeeded b=succeeded c=succeeded d=failed" ] || fail "a hook changed a call's status"
cat > g.json <<'P'
{"name": "good", "works": [{"name": "a", "command": ["true"], "on_success": ["sh", "-c", "exit 7"]}]}
P
"$TF_BIN" run --once --db g.db g.json > out 2> err || { cat out err; fail "a failing hook made a good run exit $?"; }

# Malformed hooks: exit 3 with FILE:LINE:COL, nothing runs.
bad() { # FILE-TEXT POS REASON
    printf '%s\n' "$1" > bad.json
    "$TF_BIN" run --once --db bad.db bad.json > out 2> err
    rc=$?
    [ "$rc" = 3 ] || { cat err; fail "bad hook '$1': exit $rc, want 3"; }
    grep -qF "bad.json:$2: $3" err || { cat err; fail "bad hook '$1': want 'bad.json:$2: $3'"; }
}
bad '{"name": "x", "on_failure": "mail", "works": [{"name": "a", "command": ["true"]}]}' \
    1:29 "'on_failure' must be an array, not a string"
bad '{"name": "x", "works": [{"name": "a", "command": ["true"], "on_success": []}]}' \
    1:74 "'on_success' must not be empty"
bad '{"name": "x", "works": [{"name": "a", "command": ["true"], "on_failure": ["mail", 3]}]}' \
    1:83 "'on_failure' elements must be strings, not a number"
bad '{"name": "x", "works": [{"name": "a", "command": ["true"], "on_failure": [""]}]}' \
    1:75 "the program name (on_failure[0]) must not be empty"
bad '{"name": "x", "hook_timeout": 0, "works": [{"name": "a", "command": ["true"]}]}' \
    1:31 "'hook_timeout' must be a number of seconds > 0 and at most 20"
bad '{"name": "x", "works": [{"name": "a", "command": ["true"], "hook_timeout": 60}]}' \
    1:76 "'hook_timeout' must be a number of seconds > 0 and at most 20"
bad '{"name": "x", "works": [{"name": "a", "command": ["true"], "on_failur": ["x"]}]}' \
    1:60 "unknown key 'on_failur' in a work"
[ ! -e bad.db ] || fail "a malformed hook opened the database"

# on_success runs at its execution's end, before the next call is claimed:
# a hook that blocks never holds a later call claimed with its lease aging
# (another runner would take that call over and run it a second time)
cat > order.json <<'P'
{"name": "order", "works": [
  {"name": "a", "command": ["true"],
   "on_success": ["sh", "-c", "sqlite3 order.db \"SELECT count(*) FROM calls WHERE work = 'b'\" > b-at-hook"]},
  {"name": "b", "command": ["true"]}
]}
P
"$TF_BIN" run --once --db order.db order.json > out 2>&1 || { cat out; fail "order run"; }
[ "$(cat b-at-hook)" = 0 ] || fail "b was claimed before a's on_success hook ran ($(cat b-at-hook))"
echo "ok"
