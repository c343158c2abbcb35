#!/bin/sh
# Builds ledgerkv twice (release and ASan/UBSan) and runs every test against both builds.
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
sh "$root/scripts/deps.sh" --test
jobs="$(nproc)"

cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j"$jobs"
(cd "$root/build" && ctest --output-on-failure --timeout 900)

cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DLKV_SANITIZE=ON >/dev/null
cmake --build "$root/build-asan" -j"$jobs"
(cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest --output-on-failure --timeout 900)
