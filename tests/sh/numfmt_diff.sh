#!/bin/sh
# numfmt_diff.sh - differential test of tf_numfmt against node's String(x):
# scripts/diff-numbers feeds random finite doubles (and every power of two
# with its neighbours) through build/tools/numfmt_driver. 20000 random
# values normally, 1000000 with TF_FULL=1 (make check-full). node is a
# declared test dependency: without it this test fails.
set -u
root=${TF_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${TF_BUILD:-$root/build}
driver=$build/tools/numfmt_driver

if ! command -v node >/dev/null 2>&1; then
    echo "numfmt_diff: node not found in PATH; node is required to run the tests" >&2
    exit 1
fi
if [ ! -x "$driver" ]; then
    echo "numfmt_diff: driver '$driver' not built (run make test)" >&2
    exit 1
fi
n=20000
[ "${TF_FULL:-0}" = 1 ] && n=1000000
node "$root/scripts/diff-numbers" "$n" --seed "${TF_SEED:-20240611}" --driver "$driver"
