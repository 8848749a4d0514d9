# tests/sh/lib/pg.sh - helpers of the PostgreSQL shell tests (sourced).
# make test runs them beside a throwaway cluster (scripts/pg-cluster):
# TF_PG_ADMIN is a superuser URI with a password. Without it a suite prints
# "skipped: <reason>" and exits 77.

# pg_need WHAT: skip the suite unless a server is there.
pg_need() {
    if [ -z "${TF_PG_ADMIN:-}" ]; then
        echo "skipped: $1: ${TF_PG_SKIP:-no PostgreSQL server (make test starts one)}"
        exit 77
    fi
    command -v psql >/dev/null 2>&1 || { echo "skipped: $1: no psql"; exit 77; }
}

# pg_q URI SQL: one query, unaligned, no headers.
pg_q() {
    psql "$1" -X -qAt -v ON_ERROR_STOP=1 -c "$2"
}

# pg_uri_of NAME: the admin URI pointing at database NAME.
pg_uri_of() {
    printf '%s\n' "$TF_PG_ADMIN" | sed "s|/[^/?]*\(?.*\)\{0,1\}\$|/$1\1|"
}

# pg_newdb NAME: create a fresh database, print its URI.
pg_newdb() {
    pg_q "$TF_PG_ADMIN" "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1
    pg_q "$TF_PG_ADMIN" "CREATE DATABASE $1" >/dev/null || return 1
    pg_uri_of "$1"
}

# pg_dropdb NAME
pg_dropdb() {
    pg_q "$TF_PG_ADMIN" "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1
}

# pg_password: the password in TF_PG_ADMIN (outputs must never show it).
pg_password() {
    printf '%s\n' "$TF_PG_ADMIN" | sed -n 's|^[a-z]*://[^:/@]*:\([^@]*\)@.*|\1|p'
}

# as_host NAME CMD...: run CMD as if on another machine: its own host name
# (UTS namespace), PID namespace (pids collide with other "hosts"), boot
# id (a file bound over /proc/sys/kernel/random/boot_id in its own mount
# namespace, derived from NAME) and /dev/shm, talking to the server over TCP. A runner
# of another boot is judged by its lease on the server's clock, as on a
# real second machine. Prints "skipped" and returns 77 when namespaces are
# not available here.
as_host() {
    h=$1
    shift
    unshare --uts --pid --fork --mount-proc sh -c '
        hostname "$1" || exit 1
        f=$(mktemp) || exit 1
        printf "0b0b0b0b-0000-4000-8000-%s\n" "$(printf %s "$1" | md5sum | cut -c1-12)" > "$f"
        mount --bind "$f" /proc/sys/kernel/random/boot_id || exit 1
        rm -f "$f"
        # its own /dev/shm: faketime names its semaphore by pid, and pids collide across "hosts"
        mount -t tmpfs -o size=4m,mode=1777 tmpfs /dev/shm || exit 1
        shift
        exec "$@"' as_host "$h" "$@"
}

# hosts_ok: 0 if as_host works here.
hosts_ok() {
    as_host tf-probe true >/dev/null 2>&1
}
