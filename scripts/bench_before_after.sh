#!/usr/bin/env bash
# Runs job_bench from two builds alternately, N times each, on the same machine in the same
# script, and prints the median of every row for each build and their ratio (after / before).
#   scripts/bench_before_after.sh BEFORE_BIN_DIR AFTER_BIN_DIR [N] [job_bench flags...]
# Example: git worktree add /tmp/old <commit> && (cd /tmp/old && cmake -S . -B build && cmake
# --build build --target job_bench jobd jobd-testworker) && scripts/bench_before_after.sh
# /tmp/old/build/bin build/bin 5
set -euo pipefail
before=$1; after=$2; n=${3:-5}; shift $(( $# >= 3 ? 3 : $# ))
flags=("$@"); [ ${#flags[@]} -eq 0 ] && flags=(--jobs=3000 --seconds=2)
out=$(mktemp -d)
for i in $(seq 1 "$n"); do
  for side in before after; do
    dir=$before; [ $side = after ] && dir=$after
    "$dir/job_bench" "${flags[@]}" 2>/dev/null | grep '^| ' | grep -v '^| case\|^|---' > "$out/$side.$i" || true
    echo "run $i $side done" >&2
  done
done
median() { sort -g | awk '{a[NR]=$1} END{ if (NR==0) print "n/a"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
echo "| case (median of $n runs each, alternating) | before | after | after / before |"
echo "|---|---:|---:|---:|"
cut -d'|' -f2 "$out/before.1" | sed 's/^ *//; s/ *$//' | while read -r row; do
  [ -z "$row" ] && continue
  # A row one build does not print (the two may differ) is n/a there, not the end of the script.
  b=$(for f in "$out"/before.*; do grep -F "| $row |" "$f" | head -1 | cut -d'|' -f3 || true; done | median)
  a=$(for f in "$out"/after.*; do grep -F "| $row |" "$f" | head -1 | cut -d'|' -f3 || true; done | median)
  r=$(awk -v a="$a" -v b="$b" 'BEGIN{ if (b+0 == 0) print "n/a"; else printf "%.2f", a/b }')
  echo "| $row | $b | $a | $r |"
done
rm -rf "$out"
