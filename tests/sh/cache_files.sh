#!/bin/sh
# cache_files: keys by file content. A foreach over {{files:data/*.csv}}
# runs one call per file; editing one of three files runs exactly that one
# call, `touch` alone runs none; {{file:PATH}} gives {"path","sha256","size"}
# and a missing one makes the work wait (with the reason under --verbose);
# symbolic links are never followed; {{item.path}} works in the command.
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
mkdir data
printf 'a\n' > data/a.csv
printf 'b\nb\n' > data/b.csv
printf 'c\nc\nc\n' > data/c.csv
cat > p.json <<'P'
{"name": "files", "db": "f.db", "works": [
  {"name": "lines", "foreach": "{{files:data/*.csv}}",
   "command": ["sh", "-c", "echo \"$1\" >> ran.txt; wc -l < \"$1\"", "sh", "{{item.path}}"]}
]}
P
"$TF_BIN" run --once p.json > out1 2>&1 || { cat out1; fail "first run"; }
[ "$(cat ran.txt)" = "data/a.csv
data/b.csv
data/c.csv" ] || { cat ran.txt; fail "first run: want a, b, c once each"; }
tail -1 out1 | grep -qx '3 ran, 0 cached, 0 failed' || { cat out1; fail "first summary"; }

# The key holds the content: path, sha256 and size.
sum=$(sha256sum data/b.csv | cut -c1-64)
"$TF_BIN" ls --json --db f.db > ls.json || fail "ls"
grep -q "{\"item\":{\"path\":\"data/b.csv\",\"sha256\":\"$sum\",\"size\":4}}" ls.json \
    || { cat ls.json; fail "args do not hold path, sha256 and size"; }

# touch alone: same bytes, same keys, nothing runs.
sleep 0.01
touch data/a.csv data/b.csv data/c.csv
"$TF_BIN" run --once p.json > out2 2>&1 || { cat out2; fail "after touch"; }
tail -1 out2 | grep -qx '0 ran, 3 cached, 0 failed' || { cat out2; fail "touch ran something"; }

# Edit one file: exactly that call runs.
printf 'b\nb\nb\nb\n' > data/b.csv
"$TF_BIN" run --once p.json > out3 2>&1 || { cat out3; fail "after edit"; }
tail -1 out3 | grep -qx '1 ran, 2 cached, 0 failed' || { cat out3; fail "edit: want exactly one run"; }
[ "$(tail -1 ran.txt)" = data/b.csv ] || { cat ran.txt; fail "the edited file did not run"; }
[ "$(wc -l < ran.txt)" = 4 ] || { cat ran.txt; fail "want 4 executions in all"; }

# Symbolic links are not followed: a link in the folder is left out.
printf 'secret\n' > outside.csv
ln -s ../outside.csv data/link.csv
"$TF_BIN" run --once p.json > out4 2>&1 || { cat out4; fail "with a link"; }
tail -1 out4 | grep -qx '0 ran, 3 cached, 0 failed' || { cat out4; fail "the link was followed"; }
grep -q outside ran.txt && fail "the link's target ran"

# {{file:PATH}}: waits while the file is missing, then runs; links refused.
cat > one.json <<'P'
{"name": "one", "db": "o.db", "works": [
  {"name": "conf", "args": {"cfg": "{{file:conf/app.json}}"},
   "command": ["sh", "-c", "echo \"$TICKFLOW_ARGS\" >> conf.txt; echo done"]},
  {"name": "after", "args": {"c": "{{conf.result}}"}, "command": ["true"]}
]}
P
"$TF_BIN" run --once --verbose one.json > out5 2>&1 || { cat out5; fail "missing file: exit $?"; }
grep -q "conf .* waiting ({{file:conf/app.json}}: file 'conf/app.json' does not exist)" out5 \
    || { cat out5; fail "no waiting line with the reason"; }
grep -q "after .* waiting (needs conf.result)" out5 || { cat out5; fail "dependant did not wait"; }
tail -1 out5 | grep -qx '0 ran, 0 cached, 0 failed, 2 waiting' || { cat out5; fail "missing summary"; }
[ -f conf.txt ] && fail "ran without its file"
mkdir conf
printf '{"a":1}\n' > conf/app.json
"$TF_BIN" run --once one.json > out6 2>&1 || { cat out6; fail "file present"; }
sum=$(sha256sum conf/app.json | cut -c1-64)
grep -qx "{\"cfg\":{\"path\":\"conf/app.json\",\"sha256\":\"$sum\",\"size\":8}}" conf.txt \
    || { cat conf.txt; fail "file value"; }
rm conf/app.json
ln -s ../outside.csv conf/app.json
"$TF_BIN" run --once one.json > out7 2>&1 && { cat out7; fail "a symbolic link was accepted"; }
grep -q "symbolic link" out7 || { cat out7; fail "no link message"; }

# Paths outside the pipeline's folder are refused at load.
cat > bad.json <<'P'
{"name": "b", "works": [{"name": "w", "args": {"f": "{{file:../x}}"}, "command": ["true"]}]}
P
"$TF_BIN" run --once bad.json > bad.out 2>&1 && fail "../ accepted"
grep -q "bad.json:1:.*relative to the pipeline's folder" bad.out || { cat bad.out; fail "../ message"; }
echo ok
