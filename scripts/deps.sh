#!/bin/sh
# Installs ledgerkv's Debian build and test dependencies. Idempotent; run as root on Debian 12.
set -eu

BUILD_PKGS="build-essential cmake pkg-config libuv1-dev libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler
libprotobuf-dev liblmdb-dev libsodium-dev libssl-dev libcrypt-dev libcmocka-dev libyaml-dev libhttp-parser-dev libjson-c-dev
golang-etcd-server-dev golang-github-gogo-protobuf-dev golang-github-grpc-ecosystem-grpc-gateway-dev
golang-google-grpc-dev"
TEST_PKGS="etcd-server etcd-client python3 python3-etcd3 python3-pytest python3-h2 python3-nacl golang-go nghttp2-client curl prometheus jsonnet openssl chromium patroni postgresql-15"
# bench/compare: Debian's etcd to compare with, gnuplot for the latency plot, h2load for the cross-check.
BENCH_PKGS="etcd-server etcd-client python3 gnuplot-nox nghttp2-client"

want="$BUILD_PKGS"
[ "${1:-}" = "--test" ] && want="$want $TEST_PKGS"
[ "${1:-}" = "--bench" ] && want="$want $BENCH_PKGS"

missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing packages:$missing; run this script as root to install them" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
