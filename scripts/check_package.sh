#!/usr/bin/env bash
# Checks jobd as a user gets it, from nothing but what `cmake --install` and `cpack` produce:
#   1. installs the build into a fresh temp prefix and checks the layout (binaries, unit,
#      dashboard, public headers only, the CMake package, jobd.pc);
#   2. compiles every installed header on its own, with only `pkg-config --cflags jobd`;
#   3. builds examples/consumer (a copy, outside this tree) with find_package(jobd) against the
#      prefix alone, and the same client with `pkg-config --cflags --libs jobd` alone;
#   4. builds tests/package/subdir_parent, which add_subdirectory()s this tree;
#   5. starts the installed jobd (private run dir, metrics on port 0, the installed
#      jobd-testworker), runs the three clients against it and checks their answer; then
#      starts it with the consumer's own worker and checks that too; stops jobd by PID;
#   6. builds the .debs with cpack, checks their Depends and contents, checks that apt can
#      install them (--simulate), and, as root, installs them for real, runs jobd --version,
#      builds the consumer against /usr, runs it against /usr/bin/jobd, and removes them again.
# Exits non-zero on the first failure.
#
#   scripts/check_package.sh [--build-dir DIR] [--no-deb] [--keep]
# Env: JOBD_JOBS (parallel build jobs, default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC="$PWD"
BUILD_DIR=build
DEB=1
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD_DIR="$2"; shift 2 ;;
    --no-deb) DEB=0; shift ;;
    --keep) KEEP=1; shift ;;
    *) echo "check_package: unknown argument '$1' (allowed: --build-dir DIR, --no-deb, --keep)" >&2; exit 2 ;;
  esac
done
JOBS="${JOBD_JOBS:-$(nproc)}"

step() { echo; echo "== $*"; }
fail() { echo "check_package: FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# Tools this script needs beyond the build's own (scripts/setup.sh installs those).
need=()
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v file >/dev/null || need+=(file)  # cpack's strip and shlibdeps steps call it
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "check_package: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

TMP="$(mktemp -d /tmp/jobd-package.XXXXXX)"
PREFIX="$TMP/prefix"
AGENT_PID=""
DEBS_INSTALLED=0
cleanup() {
  if [ -n "$AGENT_PID" ]; then kill -KILL "$AGENT_PID" 2>/dev/null || true; wait "$AGENT_PID" 2>/dev/null || true; fi
  if [ "$DEBS_INSTALLED" = 1 ]; then dpkg -r jobd-dev jobd >/dev/null 2>&1 || true; fi
  if [ "$KEEP" = 1 ]; then echo "check_package: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
# Nothing below may talk to an agent the caller's shell points at.
unset JOBD_SOCKET JOBD_RUN_DIR

step "build and install into a fresh prefix ($PREFIX)"
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$TMP/build.log" 2>&1 || { cat "$TMP/build.log" >&2; fail "configuring $BUILD_DIR"; }
fi
# Only what the install rules install.
cmake --build "$BUILD_DIR" -j"$JOBS" --target jobd jobctl jobd-testworker jobd_client >>"$TMP/build.log" 2>&1 ||
  { tail -n 40 "$TMP/build.log" >&2; fail "building $BUILD_DIR"; }
cmake --install "$BUILD_DIR" --prefix "$PREFIX" >"$TMP/install.log"
for f in bin/jobd bin/jobctl bin/jobd-testworker lib/libjobd_client.a lib/libjobd_shm.a lib/libjobd_proto.a \
         lib/cmake/jobd/jobdConfig.cmake lib/cmake/jobd/jobdConfigVersion.cmake lib/cmake/jobd/jobdTargets.cmake \
         lib/pkgconfig/jobd.pc include/jobd/client/job_client.h include/jobd/client/worker.h \
         include/jobd/shm/arena.h share/jobd/systemd/jobd.service share/jobd/grafana/dashboard.json; do
  [ -e "$PREFIX/$f" ] || fail "$f is not installed"
done
ok "binaries, libraries, CMake package, jobd.pc, headers, unit and dashboard installed"
for f in include/jobd/client/internal include/jobd/client/peer_channel.h include/jobd/shm/channel_file.h \
         include/jobd/shm/internal include/jobd/proto; do
  [ ! -e "$PREFIX/$f" ] || fail "internal $f is installed"
done
ok "no internal headers installed ($(cd "$PREFIX/include" && find . -name '*.h' | wc -l) public headers)"
grep -qx "ExecStart=$PREFIX/bin/jobd .*" "$PREFIX/share/jobd/systemd/jobd.service" ||
  fail "the installed unit does not start $PREFIX/bin/jobd: $(grep ExecStart= "$PREFIX/share/jobd/systemd/jobd.service")"
ok "the installed unit starts $PREFIX/bin/jobd"
cmp -s "$PREFIX/share/jobd/grafana/dashboard.json" helm/jobd/files/dashboard.json || fail "dashboard differs from the chart's"
ok "the dashboard is the chart's"

step "pkg-config jobd (PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig)"
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
PC_FLAGS="$(pkg-config --cflags --libs jobd)" || fail "pkg-config jobd"
echo "$PC_FLAGS"
inc="$(pkg-config --cflags-only-I jobd | tr ' ' '\n' | grep -m1 '/include/jobd$' | sed 's/^-I//')"
[ -n "$inc" ] && [ "$(readlink -f "$inc")" = "$PREFIX/include/jobd" ] || fail "pkg-config's -I is not $PREFIX/include/jobd"
case " $PC_FLAGS " in *" -ljobd_client "*) ;; *) fail "pkg-config --libs has no -ljobd_client" ;; esac
ok "pkg-config points into the prefix"

step "every installed header compiles on its own (flags from pkg-config only)"
read -r -a CFLAGS_ARR <<<"$(pkg-config --cflags jobd)"
n=0
for h in $(cd "$PREFIX/include/jobd" && find . -name '*.h' | sed 's|^\./||' | sort); do
  echo "#include \"$h\"" | g++ -std=c++20 -fsyntax-only "${CFLAGS_ARR[@]}" -x c++ - 2>"$TMP/header.err" ||
    { cat "$TMP/header.err" >&2; fail "$h does not compile on its own from the install prefix"; }
  n=$((n + 1))
done
ok "$n headers"

step "examples/consumer, copied out of the tree, with find_package(jobd CONFIG) and CMAKE_PREFIX_PATH=$PREFIX"
cp -r examples/consumer "$TMP/consumer-src"
cmake -S "$TMP/consumer-src" -B "$TMP/consumer" -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >"$TMP/consumer.log" ||
  { cat "$TMP/consumer.log" >&2; fail "configuring the consumer"; }
cmake --build "$TMP/consumer" -j"$JOBS" >>"$TMP/consumer.log" 2>&1 || { cat "$TMP/consumer.log" >&2; fail "building the consumer"; }
found="$(sed -n 's/^jobd_DIR:PATH=//p' "$TMP/consumer/CMakeCache.txt")"
[ "$found" = "$PREFIX/lib/cmake/jobd" ] || fail "find_package found jobd at '$found', not in the prefix"
! grep -q "$SRC" "$TMP/consumer/compile_commands.json" || fail "the consumer's compile commands reach into $SRC"
ok "built against $found, nothing from $SRC"

step "the same client with pkg-config only"
# shellcheck disable=SC2086  # the flags are words
g++ -std=c++20 -O1 "$TMP/consumer-src/client.cc" -o "$TMP/pc_client" $PC_FLAGS || fail "building with pkg-config flags"
ok "built $TMP/pc_client"

step "tests/package/subdir_parent: add_subdirectory(jobd) from a parent project"
cmake -S tests/package/subdir_parent -B "$TMP/parent" -DJOBD_SOURCE_DIR="$SRC" -DCMAKE_BUILD_TYPE=Release \
      >"$TMP/parent.log" 2>&1 || { cat "$TMP/parent.log" >&2; fail "configuring the parent project"; }
cmake --build "$TMP/parent" -j"$JOBS" --target parent_client >>"$TMP/parent.log" 2>&1 ||
  { tail -n 40 "$TMP/parent.log" >&2; fail "building the parent project"; }
ok "built $TMP/parent/parent_client"

# start_agent RUN_DIR BIN_DIR [WORKER_CMD]: BIN_DIR's jobd, its own run dir, metrics on any
# free port, WORKER_CMD as workers (default: the jobd-testworker beside jobd).
start_agent() {
  mkdir -p "$1" && chmod 750 "$1"
  local worker=()
  [ -z "${3:-}" ] || worker=(--worker-cmd="$3")
  "$2/jobd" --run-dir="$1" --workers=2 "${worker[@]}" --metrics-address=127.0.0.1:0 2>"$1/jobd.log" &
  AGENT_PID=$!
  for _ in $(seq 1 100); do
    "$2/jobctl" --socket="$1/jobd.sock" health >/dev/null 2>&1 && return 0
    kill -0 "$AGENT_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$1/jobd.log" >&2
  fail "the installed jobd did not become healthy"
}
stop_agent() {
  kill -TERM "$AGENT_PID"
  local rc=0
  wait "$AGENT_PID" || rc=$?
  AGENT_PID=""
  [ "$rc" = 0 ] || fail "jobd exited $rc on SIGTERM"
}
# expect_output WANT CMD...: runs CMD and compares its stdout with WANT.
expect_output() {
  local want="$1"; shift
  local got
  got="$("$@")" || fail "$* exited $?"
  [ "$got" = "$want" ] || fail "$*: got '$got', want '$want'"
  ok "$(basename "$1"): $got"
}

step "the installed jobd with the installed jobd-testworker"
RUN="$TMP/run"
start_agent "$RUN" "$PREFIX/bin" "$PREFIX/bin/jobd-testworker"
port="$(sed -n 's|.*metrics on http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$RUN/jobd.log" | head -n1)"
[ -n "$port" ] && [ "$port" != 0 ] || fail "jobd did not log its metrics port: $(cat "$RUN/jobd.log")"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3
status_line="$(head -n1 <&3 | tr -d '\r')"
exec 3>&-
[ "$status_line" = "HTTP/1.1 200 OK" ] || fail "GET /healthz on port $port: '$status_line'"
ok "metrics on the port jobd picked and logged ($port): /healthz -> $status_line"
export JOBD_SOCKET="$RUN/jobd.sock"
want="echo(hello from an installed jobd) -> hello from an installed jobd"
expect_output "$want" "$TMP/consumer/consumer_client"
expect_output "$want" "$TMP/pc_client"
expect_output "$want" "$TMP/parent/parent_client"
stop_agent
ok "jobd stopped by PID, exit 0"

step "the installed jobd with the consumer's own worker"
RUN2="$TMP/run2"
start_agent "$RUN2" "$PREFIX/bin" "$TMP/consumer/consumer_worker"
export JOBD_SOCKET="$RUN2/jobd.sock"
expect_output "reverse(jobd) -> dboj" "$TMP/consumer/consumer_client" reverse jobd dboj
stop_agent
unset JOBD_SOCKET

if [ "$DEB" = 0 ]; then
  echo; echo "check_package: all checks passed (the .deb skipped: --no-deb)"
  exit 0
fi

step "cpack -G DEB"
(cd "$BUILD_DIR" && cpack -G DEB -B "$TMP/deb" >"$TMP/cpack.log" 2>&1) || { cat "$TMP/cpack.log" >&2; fail "cpack"; }
RUNTIME_DEB="$(ls "$TMP"/deb/jobd_*.deb)"
DEV_DEB="$(ls "$TMP"/deb/jobd-dev_*.deb)"
ls -l "$RUNTIME_DEB" "$DEV_DEB"
depends="$(dpkg-deb -f "$RUNTIME_DEB" Depends)"
echo "jobd Depends: $depends"
for lib in libgrpc++1.51 libprotobuf32 libc6; do
  case "$depends" in *"$lib"*) ;; *) fail "jobd's Depends lacks $lib" ;; esac
done
echo "jobd-dev Depends: $(dpkg-deb -f "$DEV_DEB" Depends)"
case "$(dpkg-deb -f "$DEV_DEB" Depends)" in "jobd (= "*) ;; *) fail "jobd-dev does not depend on jobd" ;; esac
# Listed to files first: grep -q would close the pipe early and pipefail would count that.
dpkg-deb -c "$RUNTIME_DEB" >"$TMP/runtime.list"
dpkg-deb -c "$DEV_DEB" >"$TMP/dev.list"
for f in ./usr/bin/jobd ./usr/bin/jobctl ./usr/bin/jobd-testworker ./usr/share/jobd/systemd/jobd.service \
         ./usr/share/jobd/grafana/dashboard.json; do
  grep -q " $f\$" "$TMP/runtime.list" || fail "the jobd package has no $f"
done
for f in ./usr/lib/cmake/jobd/jobdConfig.cmake ./usr/lib/pkgconfig/jobd.pc ./usr/lib/libjobd_client.a \
         ./usr/include/jobd/client/job_client.h; do
  grep -q " $f\$" "$TMP/dev.list" || fail "the jobd-dev package has no $f"
done
unit="$(dpkg-deb --fsys-tarfile "$RUNTIME_DEB" | tar -xO ./usr/share/jobd/systemd/jobd.service)"
grep -q '^ExecStart=/usr/bin/jobd ' <<<"$unit" || fail "the packaged unit does not start /usr/bin/jobd"
ok "Depends from the shared libraries, contents, and a unit that starts /usr/bin/jobd"
apt-get install --simulate "$RUNTIME_DEB" "$DEV_DEB" >"$TMP/apt-sim.log" 2>&1 ||
  { cat "$TMP/apt-sim.log" >&2; fail "apt cannot install the packages"; }
ok "apt-get install --simulate accepts both packages"

if [ "$(id -u)" -ne 0 ]; then
  echo; echo "check_package: all checks passed (not root: the .debs were not installed for real)"
  exit 0
fi
if dpkg-query -W jobd >/dev/null 2>&1 || dpkg-query -W jobd-dev >/dev/null 2>&1; then
  echo; echo "check_package: all checks passed (jobd is already installed here: left alone, not reinstalled)"
  exit 0
fi
step "install the .debs for real, use them, remove them"
DEBS_INSTALLED=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$RUNTIME_DEB" "$DEV_DEB" >"$TMP/apt.log" 2>&1 ||
  { cat "$TMP/apt.log" >&2; fail "apt-get install of the packages"; }
/usr/bin/jobd --version || fail "/usr/bin/jobd --version"
ok "/usr/bin/jobd runs"
cmake -S "$TMP/consumer-src" -B "$TMP/consumer-usr" -DCMAKE_BUILD_TYPE=Release >"$TMP/consumer-usr.log" 2>&1 &&
  cmake --build "$TMP/consumer-usr" -j"$JOBS" >>"$TMP/consumer-usr.log" 2>&1 ||
  { cat "$TMP/consumer-usr.log" >&2; fail "building the consumer against the installed jobd-dev"; }
found="$(sed -n 's/^jobd_DIR:PATH=//p' "$TMP/consumer-usr/CMakeCache.txt")"
[ "$found" = "/usr/lib/cmake/jobd" ] || fail "find_package found '$found', not /usr/lib/cmake/jobd"
unset PKG_CONFIG_PATH
pkg-config --exists jobd || fail "pkg-config jobd without PKG_CONFIG_PATH"
ok "the consumer builds against jobd-dev with no prefix given; pkg-config finds jobd"
start_agent "$TMP/run-usr" /usr/bin
JOBD_SOCKET="$TMP/run-usr/jobd.sock" expect_output "$want" "$TMP/consumer-usr/consumer_client"
stop_agent
ok "/usr/bin/jobd with its default worker (/usr/bin/jobd-testworker) answers the consumer"
dpkg -r jobd-dev jobd >/dev/null
DEBS_INSTALLED=0
[ ! -e /usr/bin/jobd ] || fail "/usr/bin/jobd is still there after dpkg -r"
ok "removed again"

echo; echo "check_package: all checks passed"
