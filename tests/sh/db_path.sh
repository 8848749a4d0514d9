#!/bin/sh
# db_path: a database path that exists but is not a regular file (a
# device such as /dev/null, a FIFO, a folder, a symlink to a device) is
# refused by every command with one clear line and exit 4, and nothing is
# created beside it (SQLite used to create "/dev/null-journal", mode 0666).
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
cat > d.json <<'P'
{"name": "d", "works": [{"name": "a", "command": ["sh", "-c", "echo ran >> ran.txt"]}]}
P
mkfifo fifo; mkdir dir; ln -s /dev/null null
had_journal=0; [ -e /dev/null-journal ] && had_journal=1
for db in /dev/null null fifo dir; do
    case $db in /dev/null) kind="a character device" ;; null) kind="a character device" ;;
        fifo) kind="a FIFO" ;; dir) kind="a directory" ;; esac
    for cmd in "run --once" "run --once --dry-run" ls status "clear --all --yes" "gc --older-than 1d --yes"; do
        # shellcheck disable=SC2086
        timeout 20 "$TF_BIN" $cmd --db "$db" $(case $cmd in run*) echo d.json ;; esac) > out 2>&1
        rc=$?
        [ "$rc" = 4 ] || { cat out; fail "$cmd --db $db: exit $rc, want 4"; }
        grep -q "cannot open database '$db': it is $kind, not a regular file" out \
            || { cat out; fail "$cmd --db $db: unclear message"; }
        [ "$(wc -l < out)" = 1 ] || { cat out; fail "$cmd --db $db: more than one line"; }
    done
done
[ ! -e ran.txt ] || fail "a command ran although the database was refused"
extra=$(ls -A | grep -v '^\(d.json\|fifo\|dir\|null\|out\)$')
[ -z "$extra" ] || fail "created beside the refused paths: $extra"
[ -z "$(ls -A dir)" ] || fail "created inside the folder: $(ls -A dir)"
[ "$had_journal" = 1 ] || [ ! -e /dev/null-journal ] || fail "/dev/null-journal was created"
echo ok
