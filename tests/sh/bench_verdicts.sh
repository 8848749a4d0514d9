#!/bin/sh
# bench_verdicts: benchmark verdicts can fail. bench-cli says "not met" (and
# exits 1) when a timed "cached" run executed calls; bench-scale's steady
# figure runs the whole table as its working set (the table size enters
# it), and a failed command gets no time: bench-scale says it failed and
# exits 1; bench-record says what its recording figure measures (the store
# protocol alone), and so does the README. Small sizes; real binaries.
# timeout: 400
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
S="$TF_ROOT/scripts"
for x in hotpath fill record; do
    [ -x "$TF_BUILD/bench/$x" ] || fail "$TF_BUILD/bench/$x not built (make test builds it)"
done
# A build folder whose tickflow is a wrapper around the real one.
mkb() { mkdir -p "$T/$1/bench"; ln -s "$TF_BUILD/bench/hotpath" "$TF_BUILD/bench/fill" "$TF_BUILD/bench/record" "$T/$1/bench/"; }
# a peer that answers at once: 10 s for the warm hits, so only executions can fail the target
printf '#!/bin/sh\ncat > /dev/null\necho 10.0\n' > "$T/py"; chmod +x "$T/py"

# 1. bench-cli: honest control, then a tickflow that clears the cache before every cached run.
mkb ok; ln -s "$TF_BIN" "$T/ok/tickflow"
BENCH_PYTHON="$T/py" BENCH_CLI_ITEMS=50 BENCH_RUNS=2 sh "$S/bench-cli" "$T/ok" > "$T/cli_ok" 2>&1 \
    || { cat "$T/cli_ok"; fail "bench-cli control run exited $?"; }
grep -q 'target <= 3%: met$' "$T/cli_ok" || { cat "$T/cli_ok"; fail "bench-cli control: no 'met'"; }
mkb sab
cat > "$T/sab/tickflow" <<W
#!/bin/sh
# run --db PATH ...: after the populating run, empty the cache first
if [ -f "$T/sab/seen" ]; then "$TF_BIN" clear --db "\$3" --all --yes > /dev/null 2>&1; fi
touch "$T/sab/seen"
exec "$TF_BIN" "\$@"
W
chmod +x "$T/sab/tickflow"
BENCH_PYTHON="$T/py" BENCH_CLI_ITEMS=50 BENCH_RUNS=2 sh "$S/bench-cli" "$T/sab" > "$T/cli_sab" 2>&1
rc=$?
grep -q ': met$' "$T/cli_sab" && { cat "$T/cli_sab"; fail "bench-cli says met although the cached runs executed calls"; }
grep -q 'not met (the timed runs executed 100 calls' "$T/cli_sab" || { cat "$T/cli_sab"; fail "bench-cli: no 'not met' for executed calls"; }
[ "$rc" = 1 ] || fail "bench-cli exit $rc with executed calls, want 1"

# 2. bench-scale: the steady working set is the whole table at every tier.
mkb sc
rm -f "$T/sc/bench/hotpath"   # a symlink to the real one: never write through it
cat > "$T/sc/bench/hotpath" <<W
#!/bin/sh
echo "\$*" >> "$T/sc/hot.log"
exec "$TF_BUILD/bench/hotpath" "\$@"
W
chmod +x "$T/sc/bench/hotpath"
ln -s "$TF_BIN" "$T/sc/tickflow"
BENCH_SCALE_TIERS="10000 20000" BENCH_RUNS=1 sh "$S/bench-scale" "$T/sc" > "$T/scale_ok" 2>&1 \
    || { cat "$T/scale_ok"; fail "bench-scale control run exited $?"; }
grep -q -- '--distinct 20000 --stride 1 --calls 20000' "$T/sc/hot.log" \
    || { cat "$T/sc/hot.log"; fail "bench-scale: no steady run over the 20,000-row table"; }
grep -q 'steady rate, whole table as working set, at 20000 rows >= half of the rate at 10000 rows: \(met\|not met\)$' \
    "$T/scale_ok" || { cat "$T/scale_ok"; fail "bench-scale: no steady verdict"; }

# 3. bench-scale: a clear that fails gets no time, and the script fails.
mkb cf
cat > "$T/cf/tickflow" <<W
#!/bin/sh
[ "\$1" = clear ] && { echo "tickflow: cannot clear (test)" >&2; exit 4; }
exec "$TF_BIN" "\$@"
W
chmod +x "$T/cf/tickflow"
BENCH_SCALE_TIERS="10000" BENCH_RUNS=1 sh "$S/bench-scale" "$T/cf" > "$T/scale_cf" 2>&1
rc=$?
[ "$rc" = 1 ] || { cat "$T/scale_cf"; fail "bench-scale exit $rc with a failing clear, want 1"; }
grep -q 'bench-scale: failed: .* clear .*(tickflow: cannot clear (test))' "$T/scale_cf" \
    || { cat "$T/scale_cf"; fail "bench-scale did not say the clear failed"; }
grep -q '^   10000 ' "$T/scale_cf" && { cat "$T/scale_cf"; fail "bench-scale printed figures for a failed clear"; }

# 4. bench-record and the README name the same thing: the store protocol alone.
BENCH_RECORD_CALLS=200 BENCH_RUNS=1 BENCH_COMMANDS=5 sh "$S/bench-record" "$TF_BUILD" > "$T/rec" 2>&1 \
    || { cat "$T/rec"; fail "bench-record exited $?"; }
grep -q 'store protocol alone: tf_store_claim + tf_store_finish_later' "$T/rec" || { cat "$T/rec"; fail "bench-record label"; }
grep -q 'no tf_run: no work, no fork, no log file' "$T/rec" || fail "bench-record does not say what it leaves out"
row=$(grep '(bench-record) |' "$TF_ROOT/README.md" | grep -i 'claim' | head -n 1)
case $row in
    *"store protocol alone"*"no \`tf_run\`, no work, no fork, no log"*) ;;
    *) fail "README's recording row claims more than bench-record measures: $row" ;;
esac
echo ok
