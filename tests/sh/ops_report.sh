#!/bin/sh
# ops_report: tickflow report (issue 15, point 4). A 3-day history made by
# --now-driven runs (under faketime, 1000x faster, so executions take their
# minutes on the right days) gives one self-contained HTML file: no script,
# nothing to fetch; in headless Chromium its DOM has one SVG bar per
# execution of those days (failed ones red, with the error in the tooltip),
# a failures table and the works' hits; a screenshot is saved as
# $TF_BUILD/report.png for a person to look at.
# timeout: 180
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
export TZ=UTC
if ! command -v faketime >/dev/null 2>&1; then
    echo "skipped: the report of a 3-day history (faketime not installed; Debian package faketime)"
    exit 0
fi
cat > nightly.json <<'P'
{"name": "nightly",
 "works": [
  {"name": "config", "args": {"env": "prod", "note": "<i>A&B</i>"}, "command": ["sh", "-c", "sleep 30; echo '{\"ok\": true}'"]},
  {"name": "fetch", "args": {"day": "{{today}}"}, "command": ["sh", "-c", "sleep 240; echo '\"{day}\"'"]},
  {"name": "clean", "args": {"raw": "{{fetch.result}}"}, "command": ["sh", "-c", "sleep 600; echo 1"]},
  {"name": "shard", "foreach": [1, 2, 3], "args": {"day": "{{today}}", "n": "{{item}}"},
   "command": ["sh", "-c", "sleep $((150 + {n} * 60)); echo {n}"]},
  {"name": "train", "args": {"day": "{{today}}", "data": "{{clean.result}}"}, "retries": 1, "retry_backoff": 120,
   "command": ["sh", "-c", "sleep 1500; [ {day} != 2026-11-29 ] || { echo 'loss is NaN at step 812' >&2; echo '<b>nan</b> & co' >&2; exit 3; }; echo 0.93"]},
  {"name": "publish", "args": {"model": "{{train.result}}"}, "command": ["sh", "-c", "sleep 90; echo done"]},
  {"name": "sync", "cache_calls": false, "command": ["sh", "-c", "sleep 45"]}
 ]}
P
# libfaketime itself rather than the faketime wrapper, whose named semaphore
# can collide with another test's ("sem_open: File exists")
lib=
for f in /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1 \
         /usr/lib64/faketime/libfaketime.so.1; do [ -f "$f" ] && { lib=$f; break; }; done
at() { # "DAY HH:MM:SS" COMMAND...: run COMMAND with the clock starting there, 1000 times faster
    when=$1; shift
    # under make asan, libfaketime is preloaded before the ASan runtime: allowed explicitly
    if [ -n "$lib" ]; then
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
            FAKETIME="@$when x1000" LD_PRELOAD="$lib" "$@"
    else
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" faketime -f "@$when x1000" "$@"
    fi
}
for d in 2026-11-28 2026-11-29 2026-11-30; do
    at "$d 02:00:00" "$TF_BIN" run --once --db t.db --now "${d}T02:00" nightly.json > out 2>&1 ||
        [ "$d" = 2026-11-29 ] || { tail -5 out; fail "the run of $d 02:00 failed"; }
    at "$d 05:30:00" "$TF_BIN" run --once --db t.db --now "${d}T05:30" nightly.json > out 2>&1 ||
        [ "$d" = 2026-11-29 ] || { tail -5 out; fail "the run of $d 05:30 failed"; }
done
days=$(sqlite3 t.db "select count(distinct substr(started_at, 1, 10)) from history")
[ "$days" = 3 ] || fail "the history spans $days days, want 3 (faketime had no effect?)"
n=$(sqlite3 t.db "select count(*) from history")
nfail=$(sqlite3 t.db "select count(*) from history where status = 'failed'")
[ "$nfail" = 2 ] || fail "want 2 failed executions of train on 2026-11-29, got $nfail"

"$TF_BIN" report --db t.db --days 3 --now 2026-11-30T23:00 -o report.html || fail "report exit $?"
[ "$(stat -c %a report.html)" = 644 ] || fail "report mode $(stat -c %a report.html)"
# self-contained: no script, no link, no src, no url(), no import
grep -Eiq '<script|<link|src=|href=|url\(|@import' report.html && fail "the report refers to something outside itself"
[ "$(grep -c '<rect class="bar ' report.html)" = "$n" ] || fail "the HTML has not one bar per execution ($n)"
grep -q '&lt;i&gt;A&amp;B&lt;/i&gt;' report.html || fail "arguments are not in the tooltip, escaped"
grep -q '<i>A&B</i>' report.html && fail "text from the database reached the page unescaped"
grep -q 'loss is NaN at step 812' report.html || fail "the failures table does not show the failing output"
grep -q '&lt;b&gt;nan&lt;/b&gt; &amp; co' report.html || fail "the output is not escaped"
grep -q '<b>nan</b>' report.html && fail "output reached the page unescaped"
# a day outside --days is not shown; the days before --now only
"$TF_BIN" report --db t.db --days 1 --now 2026-11-29T23:00 -o one.html || fail "report --days 1"
[ "$(grep -c '<rect class="bar ' one.html)" = "$(sqlite3 t.db "select count(*) from history where started_at like '2026-11-29%'")" ] \
    || fail "--days 1 --now 2026-11-29: not the bars of that day"
# usage
"$TF_BIN" report --db t.db --days 0 > out 2> err; [ $? = 2 ] || fail "--days 0: want exit 2"
"$TF_BIN" report --db nowhere.db > out 2> err; [ $? = 4 ] || fail "missing database: want exit 4"
"$TF_BIN" report --db t.db -o nodir/x.html > out 2> err; [ $? = 5 ] || { cat err; fail "unwritable output: want exit 5"; }

# Headless Chromium: the DOM and a screenshot.
chrome=
for c in chromium chromium-browser google-chrome; do command -v "$c" >/dev/null 2>&1 && { chrome=$c; break; }; done
if [ -z "$chrome" ]; then
    echo "skipped: rendering the report in headless Chromium (chromium not installed)"
    exit 0
fi
flags="--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync"
mkdir prof1 prof2
# shellcheck disable=SC2086
timeout 60 "$chrome" $flags --user-data-dir="$T/prof1" --dump-dom "file://$T/report.html" > dom.html 2> chrome.err \
    || { tail -5 chrome.err; fail "chromium --dump-dom failed"; }
bars=$(grep -o '<rect class="bar [a-z]*"' dom.html | wc -l)
[ "$bars" = "$n" ] || fail "the DOM has $bars bars, want one per execution ($n)"
[ "$(grep -o '<rect class="bar fail"' dom.html | wc -l)" = "$nfail" ] || fail "failed executions are not red bars"
grep -q '<title>train [0-9a-f]\{12\}, attempt 2: failed' dom.html || fail "no tooltip on the failed bar"
grep -q 'error exited with status 3' dom.html || fail "the tooltip does not show the error"
grep -q '"day":"2026-11-29"' dom.html || fail "the tooltip does not show the arguments"
[ "$(grep -o '<svg class="timeline"' dom.html | wc -l)" = 3 ] || fail "want one timeline per day"
grep -q '<table class="failures">' dom.html || fail "no failures table"
grep -q '<td>config</td><td class="n">1</td><td class="n">1</td>' dom.html || fail "config: 1 call, 1 execution"
out="$TF_BUILD/report.png"
# shellcheck disable=SC2086
timeout 60 "$chrome" $flags --user-data-dir="$T/prof2" --window-size=1240,1840 --screenshot="$out" \
    "file://$T/report.html" > /dev/null 2> chrome.err || { tail -5 chrome.err; fail "chromium --screenshot failed"; }
[ -s "$out" ] || fail "no screenshot"
cp report.html "$TF_BUILD/report.html"
echo "report screenshot: $out"
echo ok
