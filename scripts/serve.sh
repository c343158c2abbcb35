#!/bin/sh
# Builds ledgerkv and runs a single-node server on 127.0.0.1:2379 with data in ./default.ledgerkv.
# Extra arguments are passed to the server (etcd's flag names, see `build/ledgerkv --help`).
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
sh "$root/scripts/deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j"$(nproc)" --target ledgerkv
exec "$root/build/ledgerkv" "$@"
