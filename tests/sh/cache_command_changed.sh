#!/bin/sh
# cache_command_changed.sh - the command is not in a call's key, but a
# failed call whose work's command changed runs again at once (no
# `tickflow retry`, whatever its retries and backoff), and the run says so
# on one line; a failed call under the same command keeps waiting; a
# success stays cached when the command changes. show prints each attempt's
# command digest (the SHA-256 of the canonical {"argv", "cwd", "env"}).
# On SQLite, and on PostgreSQL when a server is there.
# timeout: 120
set -u
: "${TF_BIN:?TF_BIN not set}"
d=$(mktemp -d) || exit 1
pgdb=
trap 'rm -rf "$d"; [ -n "$pgdb" ] && pg_dropdb "$pgdb"' EXIT
trap 'exit 1' INT TERM
cd "$d" || exit 1
unset TICKFLOW_DB
fail() { echo "FAIL: $*" >&2; [ -f out ] && cat out >&2; exit 1; }

# train and fit, no retries (a pending retry would keep run --once waiting for its backoff:
# test_store's store__changed_command_runs_a_failure_again covers the backoff)
pipeline() {
    cat > p.json <<P
{"name": "p", "works": [
  {"name": "train", "args": {"n": 1}, "command": $1},
  {"name": "fit", "args": {"n": 2}, "command": $1, "retries": 0}
]}
P
}
ktrain=$(printf '{"n":1}' | "$TF_BIN" hash | cut -c1-12)
kfit=$(printf '{"n":2}' | "$TF_BIN" hash | cut -c1-12)
# the run's lines without their time stamp, spaces squeezed
lines() { sed 's/^[0-9][0-9]:[0-9][0-9]:[0-9][0-9] //; s/  */ /g' out; }
# digest CMD-JSON: what tickflow records for that command run from this folder
digest() { printf '{"argv":%s,"cwd":"%s","env":null}' "$1" "$(pwd -P)" | "$TF_BIN" hash; }
js() { node -e "const j = JSON.parse(require('fs').readFileSync('show.json', 'utf8')); console.log($1)"; }

check() {
    db=$1 n=$2
    run() { "$TF_BIN" run --once --db "$db" p.json > out 2>&1; }
    pipeline '["false"]'
    run && fail "$n: a failing command succeeded"
    [ "$(lines | grep -c ' failed ')" = 2 ] || fail "$n: first run"
    run && fail "$n: second run"
    lines | grep -q 'started' && fail "$n: a failed call ran again under the same command"
    lines | grep -q "^train/$ktrain failed earlier" || fail "$n: train does not wait"
    lines | grep -q "^fit/$kfit failed earlier" || fail "$n: fit does not wait"

    pipeline '["true"]'
    run || fail "$n: the fixed command failed"
    lines | grep -qx "train/$ktrain command changed since its last failure; running again" \
        || fail "$n: no line for train's changed command"
    lines | grep -qx "fit/$kfit command changed since its last failure; running again" \
        || fail "$n: no line for fit's changed command"
    lines | grep -q "^2 ran, 0 cached, 0 failed" || fail "$n: the fixed calls did not both run"

    "$TF_BIN" show --db "$db" --json "$ktrain" > show.json || fail "$n: show --json"
    [ "$(js 'j.history.length')" = 2 ] || fail "$n: train has not two attempts"
    [ "$(js 'j.history[0].command_sha256')" = "$(digest '["false"]')" ] || fail "$n: digest of attempt 1"
    [ "$(js 'j.history[1].command_sha256')" = "$(digest '["true"]')" ] || fail "$n: digest of attempt 2"
    "$TF_BIN" show --db "$db" "$ktrain" > show.txt || fail "$n: show"
    grep -q "COMMAND" show.txt && grep -q "  $(digest '["true"]' | cut -c1-12)  " show.txt \
        || { cat show.txt; fail "$n: show does not print the short digest"; }

    # a success stays cached when the command changes (version invalidates successes)
    pipeline '["false", "again"]'
    run || fail "$n: a cached success ran again under a changed command"
    lines | grep -q 'command changed' && fail "$n: a success was said to run again"
    lines | grep -q "^0 ran, 2 cached, 0 failed" || fail "$n: successes not cached"
    echo "ok - $n"
}

check t.db SQLite
if [ -n "${TF_PG_ADMIN:-}" ] && command -v psql > /dev/null 2>&1; then
    . "$TF_ROOT/tests/sh/lib/pg.sh"
    pgdb=tf_cmdchg_$$
    uri=$(pg_newdb "$pgdb") || fail "cannot create a PostgreSQL database"
    check "$uri" PostgreSQL
else
    echo "skipped: the PostgreSQL variant (${TF_PG_SKIP:-no PostgreSQL server})"
fi
echo ok
