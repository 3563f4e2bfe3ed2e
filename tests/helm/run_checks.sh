#!/usr/bin/env bash
# Checks the Helm chart with the real helm (helm template and helm lint --strict, fetched by
# scripts/install_helm.sh into the build dir) and tests/helm/check (Go, Debian's yaml package).
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
build_root="${2:-$src/build}"
mkdir -p "$build_root/helm-check"
build="$(cd "$build_root/helm-check" && pwd)"

if ! command -v go >/dev/null; then
  echo "run_checks.sh: go not found; install golang-go golang-gopkg-yaml.v3-dev" >&2
  exit 1
fi
# Debian's Go packages, in GOPATH mode (no module proxy here); the cache stays in the build dir.
export GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$build/go-cache" GOFLAGS= GOTOOLCHAIN=local
(cd "$src/tests/helm/check" && go build -o "$build/check" .)

cd "$src"
if [ "$list_metrics" = 1 ]; then
  exec "$build/check" -list-metrics -chart helm/jobd
fi
helm="$("$src/scripts/install_helm.sh" "$build_root")"
# helm's own caches and config stay in the build dir too.
export HELM_CACHE_HOME="$build/helm-home/cache" HELM_CONFIG_HOME="$build/helm-home/config" HELM_DATA_HOME="$build/helm-home/data"
binaries=()
if [ $# -ge 5 ]; then binaries=(-jobd "$3" -jobctl "$4" -worker "$5"); fi
exec "$build/check" -helm "$helm" -chart helm/jobd -testdata tests/helm/testdata \
  -rules deploy/prometheus/jobd-rules.yml -metrics-file tests/helm/dashboard_metrics.txt "${binaries[@]}"
