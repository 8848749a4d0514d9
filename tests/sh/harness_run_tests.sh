#!/bin/sh
# harness_run_tests: scripts/run-tests kills a hung suite at its budget
# (default TF_TEST_TIMEOUT, or a "# timeout: N" line in the suite) and says
# so, and prints every "skipped: <reason>" line with the suite's name and
# counts it; a suite exiting 77 is reported as skipped, not passed.
# timeout: 120
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
mkdir -p "$T/scripts" "$T/tests/sh" "$T/build/tests"
cp "$TF_ROOT/scripts/run-tests" "$T/scripts/run-tests"
cat > "$T/tests/sh/a_ok.sh" <<'S'
echo "skipped: the widget check (no widget on this machine)"
exit 0
S
cat > "$T/tests/sh/b_hang.sh" <<'S'
sleep 1000 &
echo $! > "${0%/*}/../../hang.pid"
wait
S
cat > "$T/tests/sh/c_whole.sh" <<'S'
echo "skipped: needs PostgreSQL (pg_ctl not found)"
exit 77
S
cat > "$T/tests/sh/d_own.sh" <<'S'
# timeout: 1
sleep 30
S
cat > "$T/tests/sh/e_fails.sh" <<'S'
echo "boom"; exit 1
S
start=$(date +%s)
# the outer timeout only bounds this test if run-tests has no timeouts of its own
TF_TEST_TIMEOUT=3 TF_TEST_TIMEOUT_SCALE=1 timeout 60 sh "$T/scripts/run-tests" build > "$T/out" 2>&1
rc=$?
took=$(( $(date +%s) - start ))
[ "$rc" = 124 ] && { cat "$T/out"; fail "run-tests hung (no per-test timeout)"; }
[ "$rc" = 1 ] || { cat "$T/out"; fail "run-tests exit $rc, want 1"; }
[ "$took" -lt 30 ] || fail "run-tests took $took s for budgets of 3 s and 1 s"
cat > "$T/want" <<'W'
ok   a_ok.sh
     skipped: the widget check (no widget on this machine)
FAIL b_hang.sh (timed out after 3 s)
skip c_whole.sh: needs PostgreSQL (pg_ctl not found)
FAIL d_own.sh (timed out after 1 s)
FAIL e_fails.sh (exit 1)
    boom
failed: b_hang.sh d_own.sh e_fails.sh
suites: 1 passed, 3 failed, 1 skipped; 1 checks skipped
W
diff -u "$T/want" "$T/out" || fail "run-tests output"
pid=$(cat "$T/hang.pid")
sleep 0.2
if [ -r "/proc/$pid/stat" ] && [ "$(sed 's/.*) //' "/proc/$pid/stat" | cut -c1)" != Z ]; then
    kill -9 "$pid"; fail "the hung suite's child $pid survived its timeout"
fi
echo ok
