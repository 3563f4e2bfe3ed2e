#!/usr/bin/env bash
# Renders the Helm chart with tests/helm/chartcheck (Go, Debian's sprig and yaml.v3; no Helm,
# no network) and checks every document. Usage: run_checks.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src="${1:-$(cd "$(dirname "$0")/../.." && pwd)}"
build="${2:-$src/build}"
export GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$build/go-cache" GOFLAGS=
mkdir -p "$GOCACHE"
(cd "$src/tests/helm/chartcheck" && go build -o "$build/chartcheck" .)
cd "$src"
"$build/chartcheck" -chart helm/jobd
