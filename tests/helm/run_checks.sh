#!/usr/bin/env bash
# Renders the Helm chart with tests/helm/render (Go: text/template + Debian's sprig and yaml;
# no Helm, no network) and checks it with tests/helm/check.
#
#   tests/helm/run_checks.sh [SOURCE_DIR [BUILD_DIR [JOBD JOBCTL WORKER]]]
#
# Given the three built binaries, it also starts jobd exactly as the chart configures it.
# Regenerate tests/helm/dashboard_metrics.txt after changing the dashboard with:
#   tests/helm/run_checks.sh --list-metrics > tests/helm/dashboard_metrics.txt
set -euo pipefail
list_metrics=0
if [ "${1:-}" = "--list-metrics" ]; then list_metrics=1; shift; fi
src="$(cd "${1:-$(dirname "$0")/../..}" && pwd)"
build="${2:-$src/build}"
mkdir -p "$build/helm-check"
build="$(cd "$build/helm-check" && pwd)"

if ! command -v go >/dev/null; then
  echo "run_checks.sh: go not found; install golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v2-dev golang-gopkg-yaml.v3-dev" >&2
  exit 1
fi
# Debian's Go packages, in GOPATH mode (no module proxy here); the cache stays in the build dir.
export GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$build/go-cache" GOFLAGS= GOTOOLCHAIN=local
(cd "$src/tests/helm/render" && go build -o "$build/render" .)
(cd "$src/tests/helm/check" && go build -o "$build/check" .)

cd "$src"
if [ "$list_metrics" = 1 ]; then
  exec "$build/check" -list-metrics -chart helm/jobd
fi
binaries=()
if [ $# -ge 5 ]; then binaries=(-jobd "$3" -jobctl "$4" -worker "$5"); fi
exec "$build/check" -render "$build/render" -chart helm/jobd -testdata tests/helm/testdata \
  -metrics-file tests/helm/dashboard_metrics.txt "${binaries[@]}"
