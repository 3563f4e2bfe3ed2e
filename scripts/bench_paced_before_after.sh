#!/usr/bin/env bash
# The paced cases of two builds, run alternately N times each on the same machine in the same
# script: bench_suite --systems=jobd,raw --cases=paced from BEFORE_BIN_DIR, then from
# AFTER_BIN_DIR. Prints, for every paced row, the median of jobd's value and of jobd / the raw
# echo's value of the same run (the ratio carries the machine's drift out), for each build, in
# both placements. CASES=sessions (or paced,sessions) compares the many-client-process rows
# instead (default: paced). BEFORE_FLAGS and AFTER_FLAGS add bench_suite flags to one side only,
# to compare two settings of one build (e.g. AFTER_FLAGS=--jobd_flags=--workers=8).
#   scripts/bench_paced_before_after.sh BEFORE_BIN_DIR AFTER_BIN_DIR [N] [bench_suite flags...]
# Example: git worktree add /tmp/old <commit> && (cd /tmp/old && cmake -S . -B build
# -DCMAKE_BUILD_TYPE=Release && cmake --build build --target bench_suite) &&
# scripts/bench_paced_before_after.sh /tmp/old/build/bin build/bin 5
set -euo pipefail
before=$1; after=$2; n=${3:-5}; shift $(( $# >= 3 ? 3 : $# ))
# bench_suite starts the jobd and workers of the build tree it was compiled in, not those beside
# it: a bin/ copied elsewhere would run the other build's agent. Each side must be a build tree.
for dir in "$before" "$after"; do
  if [ ! -f "$dir/../CMakeCache.txt" ]; then
    echo "$dir is not the bin/ of a build tree (no ../CMakeCache.txt): its bench_suite would run" \
         "the jobd of the tree it was built in; build the other side in a git worktree" >&2
    exit 2
  fi
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for i in $(seq 1 "$n"); do
  for side in before after; do
    dir=$before; [ $side = after ] && dir=$after
    flags=${BEFORE_FLAGS:-}; [ $side = after ] && flags=${AFTER_FLAGS:-}
    # shellcheck disable=SC2086  # the flags are words on purpose
    "$dir/bench_suite" --systems=jobd,raw --cases="${CASES:-paced}" --json="$out/$side.$i.json" "$@" $flags 2>/dev/null |
      grep -E '^\| (paced [0-9]+/s|[0-9]+ client processes): ' | grep -v "raw echo's" > "$out/$side.$i" || true
    echo "run $i $side done" >&2
  done
done
# Each row: "| name | jobd unpinned / jobd pinned | raw unpinned / raw pinned |".
echo "| row (median of $n runs each, alternating; unpinned, pinned) | jobd before | jobd after | jobd / raw before | jobd / raw after |"
echo "|---|---:|---:|---:|---:|"
cat "$out"/before.* "$out"/after.* | cut -d'|' -f2 | sed 's/^ *//; s/ *$//' | awk '!seen[$0]++' | while read -r row; do
  cells=()
  for side in before after; do
    cat "$out"/$side.* | grep -F "| $row |" | awk -F'|' '
      function med(a, n,   i, j, t) {
        if (n == 0) return "n/a"
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
      }
      {
        split($3, j, " / "); split($4, r, " / ")
        for (p = 1; p <= 2; p++) {
          if (j[p] + 0 > 0) { v[p, ++nv[p]] = j[p] + 0 }
          if (j[p] + 0 > 0 && r[p] + 0 > 0) { q[p, ++nq[p]] = (j[p] + 0) / (r[p] + 0) }
        }
      }
      END {
        for (p = 1; p <= 2; p++) {
          delete a; for (i = 1; i <= nv[p]; i++) a[i] = v[p, i]; mv[p] = med(a, nv[p])
          delete a; for (i = 1; i <= nq[p]; i++) a[i] = q[p, i]; mq[p] = med(a, nq[p])
          if (mq[p] != "n/a") mq[p] = sprintf("%.2f", mq[p])
        }
        printf "%s / %s|%s / %s\n", mv[1], mv[2], mq[1], mq[2]
      }' > "$out/cell.$side"
    cells+=("$(cat "$out/cell.$side")")
  done
  IFS='|' read -r vb qb <<< "${cells[0]}"
  IFS='|' read -r va qa <<< "${cells[1]}"
  echo "| $row | $vb | $va | $qb | $qa |"
done
