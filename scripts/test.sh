#!/bin/sh
# Builds ledgerkv twice (release and ASan/UBSan) and runs every test against both builds.
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
sh "$root/scripts/deps.sh" --test
jobs="$(nproc)"

cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j"$jobs"
# Unit, simulation and fuzz entries share nothing and run in parallel. Integration tests start servers on
# ports of their own and mostly wait, so two run at a time; those that measure speed run alone
# (RUN_SERIAL in tests/CMakeLists.txt).
run_ctest() {
  ctest --output-on-failure --timeout 900 -j"$jobs" -LE integration
  ctest --output-on-failure --timeout 900 -j2 -L integration
}
(cd "$root/build" && run_ctest)

cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DLKV_SANITIZE=ON >/dev/null
cmake --build "$root/build-asan" -j"$jobs"
(cd "$root/build-asan" && export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 &&
   run_ctest)
