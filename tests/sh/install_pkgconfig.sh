#!/bin/sh
# install_pkgconfig: `make install` into a DESTDIR, then the README's build
# line `cc app.c $(pkg-config --cflags --libs tickflow)` links the README's
# library example as it is, and the program runs against the installed
# libtickflow.so (soname libtickflow.so.MAJOR, only tf_* names exported).
# timeout: 300
set -u
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
command -v pkg-config > /dev/null || fail "pkg-config not installed (scripts/install-deps installs it)"
D="$T/dest"; P=/usr/local
# the test runs inside make test: a fresh make, not the caller's jobserver
# FLAGS_NOW: the build folder's own compile command, so nothing is rebuilt with other flags
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$TF_ROOT" B="$TF_BUILD" DESTDIR="$D" PREFIX="$P" \
    FLAGS_NOW="$(cat "$TF_BUILD/.flags")" "$@"; }
mk \
    install > "$T/install.out" 2>&1 || { cat "$T/install.out"; fail "make install DESTDIR=$D failed"; }
lib="$D$P/lib"
ver=$(sed -n 's/^#define TF_VERSION "\(.*\)"/\1/p' "$TF_ROOT/include/tickflow.h")
[ -f "$lib/libtickflow.so.$ver" ] || fail "no $lib/libtickflow.so.$ver: $(ls "$lib")"
[ -f "$lib/libtickflow.a" ] || fail "no static library beside the shared one"
[ "$(readlink "$lib/libtickflow.so")" = "libtickflow.so.${ver%%.*}" ] || fail "libtickflow.so -> $(readlink "$lib/libtickflow.so")"
soname=$(objdump -p "$lib/libtickflow.so.$ver" | awk '$1 == "SONAME" {print $2}')
[ "$soname" = "libtickflow.so.${ver%%.*}" ] || fail "soname '$soname'"
bad=$(nm -D --defined-only "$lib/libtickflow.so.$ver" | awk '$2 ~ /[TDBR]/ && $3 !~ /^tf_/ {print $3}' | head -n 5)
[ -z "$bad" ] || fail "exports names without the tf_ prefix: $bad"

# The README's example program, exactly as the README prints it.
awk '/^```c$/ {on = 1; n++; next} /^```$/ {on = 0} on && n == 1' "$TF_ROOT/README.md" > "$T/app.c"
grep -q 'tf_loop_run' "$T/app.c" || fail "README's C example not found"
export PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$D"
cd "$T" || exit 1
# shellcheck disable=SC2046
cc -o app app.c ${TF_EXTRA_LDFLAGS:-} $(pkg-config --cflags --libs tickflow) > cc.out 2>&1 \
    || { cat cc.out; fail "cc app.c \$(pkg-config --cflags --libs tickflow) did not link"; }
LD_LIBRARY_PATH="$lib" ./app > run.out 2>&1 || { cat run.out; fail "the linked example exited non-zero"; }
LD_LIBRARY_PATH="$lib" ldd ./app | grep -q "libtickflow.so.${ver%%.*} => $lib/" || fail "app does not use the installed libtickflow.so"
[ "$(sqlite3 daily.db "SELECT count(*) FROM calls WHERE status = 'succeeded'")" = 2 ] || fail "the example did not record its two calls"
mk \
    uninstall > /dev/null 2>&1 || fail "make uninstall failed"
left=$(find "$D" -type f -o -type l)
[ -z "$left" ] || fail "make uninstall left: $left"
echo ok
