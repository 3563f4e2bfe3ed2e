#!/usr/bin/env bash
# Installs what is missing (Debian bookworm, as root) and builds jobd in ./build (Release).
# Idempotent: a second run installs nothing and rebuilds only what changed. Says what it does:
# a line per step, apt's own progress while installing.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  g++ cmake pkg-config ccache make
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev prometheus-cpp-dev libcivetweb-dev libsystemd-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  golang-go golang-gopkg-yaml.v3-dev unzip prometheus dpkg-dev file
  curl procps
)
if [ -n "${JOBD_EXTRA_PACKAGES:-}" ]; then PACKAGES+=(${JOBD_EXTRA_PACKAGES}); fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: ${#missing[@]} packages to install: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: apt-get update"
  $SUDO apt-get update
  echo "setup: apt-get install (a few minutes on a fresh machine)"
  # -q keeps one line per package (unpacking, setting up) without the progress bars.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  echo "setup: packages installed"
else
  echo "setup: all ${#PACKAGES[@]} packages already installed"
fi

BUILD_DIR="${BUILD_DIR:-build}"
BUILD_TYPE="${BUILD_TYPE:-Release}"
export CCACHE_DIR="${CCACHE_DIR:-$PWD/.cache/ccache}"
echo "setup: configuring $BUILD_DIR ($BUILD_TYPE)"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" ${CMAKE_ARGS:-} >/dev/null
echo "setup: building with $(nproc) jobs"
cmake --build "$BUILD_DIR" -j"$(nproc)"
echo "setup: built; binaries in $BUILD_DIR/bin"
