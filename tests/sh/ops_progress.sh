#!/bin/sh
# ops_progress: run's progress line (issue 15, point 5). On a terminal (a
# pty made by script(1)) a fan-out that lasts over a second shows
# "N/M calls done, K running, R/s, ETA T", and a wait on another runner
# "waiting Ns for another runner"; the line is erased before every
# decision line and the summary, so no output lands inside it. In a pipe,
# with --no-progress, with TERM=dumb, and for a run under a second: nothing.
# timeout: 90
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
if ! script -qec true /dev/null > /dev/null 2>&1; then
    echo "skipped: progress on a terminal (script(1) from util-linux cannot make a pty here)"
    exit 0
fi
export TF_BIN
cat > fan.json <<'P'
{"name": "fan", "works": [
 {"name": "shard", "parallel": true, "foreach": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16], "args": {"n": "{{item}}"},
  "command": ["sh", "-c", "sleep 0.4"]}]}
P
segments() { # the typescript split at every carriage return and newline
    tr '\r' '\n' < "$1"
}
TERM=xterm script -qec '"$TF_BIN" run --once --max-parallel 4 --db f.db fan.json' /dev/null > tty.out
segments tty.out | grep -aq '^.\[K[0-9]*/[0-9]* calls done, [0-9]* running, [0-9.]*/s, ETA [0-9]*[smh]' \
    || { cat -v tty.out; fail "no progress line on a terminal"; }
# never a decision line and the progress line in one segment
segments tty.out | grep -a 'calls done' | grep -av '^.\[K[0-9]*/[0-9]* calls done' && fail "output landed inside the progress line"
segments tty.out | grep -a 'ran 0\.' | grep -aq 'calls done' && fail "a decision line holds progress text"
segments tty.out | grep -aqx '16 ran, 0 cached, 0 failed' || { cat -v tty.out; fail "the summary is not on a line of its own"; }

# in a pipe, with --no-progress, with TERM=dumb, or a quick run: no progress
rm -f f.db
"$TF_BIN" run --once --max-parallel 4 --db f.db fan.json > pipe.out 2> pipe.err
grep -q 'calls done' pipe.out pipe.err && fail "progress in a pipe"
grep -q "$(printf '\033')" pipe.out pipe.err && fail "terminal escapes in a pipe"
rm -f f.db
TERM=xterm script -qec '"$TF_BIN" run --once --no-progress --max-parallel 4 --db f.db fan.json' /dev/null > np.out
grep -aq 'calls done' np.out && fail "progress despite --no-progress"
rm -f f.db
TERM=dumb script -qec '"$TF_BIN" run --once --max-parallel 4 --db f.db fan.json' /dev/null > dumb.out
grep -aq 'calls done' dumb.out && fail "progress on a dumb terminal"
cat > quick.json <<'P'
{"name": "quick", "works": [{"name": "q", "foreach": [1, 2, 3], "args": {"n": "{{item}}"}, "command": ["true"]}]}
P
TERM=xterm script -qec '"$TF_BIN" run --once --db q.db quick.json' /dev/null > quick.out
grep -aq 'calls done' quick.out && fail "progress for a run under a second"

# a long wait on another runner
cat > slow.json <<'P'
{"name": "slow", "works": [{"name": "long", "command": ["sh", "-c", "sleep 3"]}]}
P
"$TF_BIN" run --once --db s.db slow.json > a.out 2>&1 &
a=$!
i=0; while [ "$(sqlite3 s.db "select count(*) from calls where status = 'running'" 2>/dev/null)" != 1 ] && [ $i -lt 50 ]; do
    sleep 0.1; i=$((i + 1)); done
TERM=xterm script -qec '"$TF_BIN" run --once --db s.db slow.json' /dev/null > wait.out
wait $a
segments wait.out | grep -aq 'calls done, 0 running, waiting [0-9]*s for another runner (1)' \
    || { cat -v wait.out; fail "no progress while waiting for another runner"; }
echo ok
