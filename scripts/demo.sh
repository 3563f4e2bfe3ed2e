#!/usr/bin/env bash
# Installs, builds, starts jobd with its defaults and the feed example's worker, runs the feed
# demo (rank 300 posts in 3 jobs of 100, then merge), shows the agent's stats, and stops jobd.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
BIN="${BUILD_DIR:-build}/bin"
RUN_DIR="$(mktemp -d /tmp/jobd-demo.XXXXXX)"
chmod 750 "$RUN_DIR"
export JOBD_RUN_DIR="$RUN_DIR"
# This demo's own agent, whatever the shell had: an inherited JOBD_SOCKET would point the
# clients at another agent, and a fixed metrics port may be taken (port 0 picks a free one).
export JOBD_SOCKET="$RUN_DIR/jobd.sock"
"$BIN/jobd" --run-dir="$RUN_DIR" --metrics-address=127.0.0.1:0 --worker_cmd="$PWD/$BIN/feed_worker" \
  2> "$RUN_DIR/jobd.log" &
JOBD_PID=$!
trap 'kill -TERM $JOBD_PID 2>/dev/null; wait $JOBD_PID 2>/dev/null; rm -rf "$RUN_DIR"' EXIT
for _ in $(seq 1 100); do "$BIN/jobctl" health >/dev/null 2>&1 && break; sleep 0.1; done
if ! "$BIN/jobctl" health >/dev/null 2>&1; then
  # Without this the feed client would quietly fall back to running locally.
  echo "demo: jobd did not become healthy; its log:" >&2
  cat "$RUN_DIR/jobd.log" >&2
  exit 1
fi
echo "== jobd log (first lines)"; head -n 30 "$RUN_DIR/jobd.log"; echo
echo "== feed demo"; "$BIN/feed_client"; echo
echo "== jobctl stats"; "$BIN/jobctl" stats; echo
echo "== jobctl slabs"; "$BIN/jobctl" slabs
