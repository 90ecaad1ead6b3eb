#!/usr/bin/env bash
# The C extensions' tests under AddressSanitizer and UBSan (`make sanitize`): the PostgreSQL fast
# lane's and the MySQL literal-shape scan's.
#
# Builds gateway/postgres/_lane.c and gateway/mysql/_shape.c with -fsanitize=address,undefined
# into a temporary directory (the in-place builds `pip install -e .` made are not touched), makes
# the tests import those builds instead (a sitecustomize on PYTHONPATH puts a finder first on
# sys.meta_path), and runs their tests with libasan preloaded (the interpreter is not built with
# it, and ASan's runtime must come first). Python's own allocator is switched off
# (PYTHONMALLOC=malloc) so ASan sees every object's memory; leak detection is off (CPython frees
# little at exit). Any sanitizer report fails the run: UB aborts (-fno-sanitize-recover), ASan
# stops at its first error, and the reports written to the log directory are checked as well.
#
# Needs gcc with libasan and libubsan (Debian: apt-get install gcc libasan8 libubsan1) and the
# real PostgreSQL the tests use. Usage: tests/bench/sanitize.sh [pytest args...]
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
cc=${CC:-gcc}

if ! command -v "$cc" >/dev/null; then
    echo "sanitize: no C compiler ($cc); install gcc (apt-get install gcc)" >&2
    exit 2
fi
libasan=$("$cc" -print-file-name=libasan.so)
libubsan=$("$cc" -print-file-name=libubsan.so)
for lib in "$libasan" "$libubsan"; do
    if [[ "$lib" != /* || ! -e "$lib" ]]; then
        echo "sanitize: $cc has no $(basename "$lib"); install it (apt-get install libasan8 libubsan1)" >&2
        exit 2
    fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
include=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
suffix=$("$python" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
so="$work/_lane$suffix"
shape_so="$work/_shape$suffix"
for pair in "gateway/postgres/_lane.c:$so" "gateway/mysql/_shape.c:$shape_so"; do
    "$cc" -shared -fPIC -O1 -g -fno-omit-frame-pointer \
        -fsanitize=address,undefined -fno-sanitize-recover=all \
        -Wall -Wextra -Wno-unused-parameter -Werror \
        -I"$include" "$root/${pair%%:*}" -o "${pair#*:}"
done

cat >"$work/sitecustomize.py" <<EOF
"""Imports the C extensions from the sanitized builds (tests/bench/sanitize.sh)."""
import importlib.util
import sys


class _Sanitized:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "gateway.postgres._lane":
            return importlib.util.spec_from_file_location(name, "$so")
        if name == "gateway.mysql._shape":
            return importlib.util.spec_from_file_location(name, "$shape_so")
        return None


sys.meta_path.insert(0, _Sanitized())
EOF

mkdir "$work/logs"
export PYTHONPATH="$work${PYTHONPATH:+:$PYTHONPATH}"
export LD_PRELOAD="$libasan $libubsan"
export PYTHONMALLOC=malloc
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:log_path=$work/logs/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$work/logs/ubsan"

loaded=$(cd "$root" && "$python" -c '
from gateway.mysql import _shape
from gateway.postgres import _lane
print(_lane.__file__, _shape.__file__)')
if [[ "$loaded" != "$so $shape_so" ]]; then
    echo "sanitize: the tests would load $loaded, not the sanitized builds" >&2
    exit 1
fi

cd "$root"
status=0
"$python" -m pytest -q -p no:cacheprovider \
    tests/gateway/postgres/test_compiled_lane.py \
    tests/gateway/postgres/test_lane.py \
    tests/gateway/postgres/test_lane_bind.py \
    tests/gateway/mysql/test_shape_compiled.py "$@" || status=$?

if compgen -G "$work/logs/*" >/dev/null; then
    cat "$work"/logs/* >&2
    echo "sanitize: the sanitizers reported errors (above)" >&2
    exit 1
fi
if [[ $status -ne 0 ]]; then
    echo "sanitize: the extensions' tests failed under the sanitizers (exit $status)" >&2
    exit "$status"
fi
echo "sanitize: the extensions' tests pass under AddressSanitizer and UBSan, no reports"
