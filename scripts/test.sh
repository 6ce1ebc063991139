#!/bin/sh
# Runs the whole test suite: the release build (warnings as errors) and
# the debug build under AddressSanitizer and UBSan, each with ctest on
# every core, plus the formatting check. Installs what is missing first.
set -eu
cd "$(dirname "$0")/.."

./scripts/install-deps.sh

jobs=$(nproc)
status=0

if command -v clang-format >/dev/null; then
    # shellcheck disable=SC2046
    clang-format --dry-run -Werror $(git ls-files '*.c' '*.h') || status=1
fi

for preset in release debug; do
    cmake --preset "$preset" >/dev/null
    cmake --build --preset "$preset" -j "$jobs"
    ctest --preset "$preset" -j "$((jobs * 2))" || status=1
done
exit $status
