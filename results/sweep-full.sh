#!/usr/bin/env bash
# The published full sweep: the default matrix (`cargo xtask bench` with no selection: every
# collector on every allocator, each CPython release on pymalloc, the real interpreters' twins
# at each workload's first two default sizes) with pyperformance's traced programs, every cell
# repeated (interleaved) until the 95% CI of its median wall time is within ±5%: at least 6 runs,
# at most 10.
#
# It runs as 24 shards. A shard holds whole groups (every strategy of one workload at one size),
# so shards may run on different machines: the report compares strategies only within a group.
# Groups are dealt to shards as cards (the k-th to shard k mod N + 1), so shard I of 12 holds
# exactly shards I and I+12 of 24: the first shards ran as twelfths (about 2 h each alone on a
# 2-core machine, 3 h for shard 2, more than a session holds), the rest run as twenty-fourths,
# and the merge takes a twelfth wherever it stands for its two twenty-fourths.
# One machine runs a shard from start to end: `--resume` goes on after a stop (Ctrl-C, a lost
# session) on the same machine and refuses a shard begun on another (remove its directory and run
# it again). `cargo xtask bench --dry-run --precision 5% --max-repeat 10 --traces
# target/pyperf/traces --shard I/24 --estimate-from results/full-2core-shards/1-of-12,...`
# estimates one from the runs so far (a floor: cells with no earlier time count as nothing).
#
# Usage: cargo xtask pyperf                 # once per machine: the traces, target/pyperf/traces
#        results/sweep-full.sh I            # shard I of 24 (I/12 for a twelfth), then its data
#                                           #   (series thinned, runs.jsonl gzipped) into
#                                           #   results/full-2core-shards/I-of-24
#        results/sweep-full.sh report       # every shard there: calibration, and the merged
#                                           #   report published into results/full-2core
# Sharded over CI machines instead: .github/workflows/sweep.yml.
set -euo pipefail
shards=24
half=12
what=${1:?usage: results/sweep-full.sh I|I/12|report}
work=target/sweep-full
kept=results/full-2core-shards

if [ "$what" = report ]; then
  dirs=()
  missing=()
  for i in $(seq 1 "$shards"); do
    whole="$kept/$i-of-$shards"
    twelfth="$kept/$(( (i - 1) % half + 1 ))-of-$half"
    if [ -e "$whole/runs.csv" ] && [ -e "$twelfth/runs.csv" ]; then
      echo "sweep-full: $whole and $twelfth both hold shard $i of $shards; remove one" >&2
      exit 2
    elif [ -e "$whole/runs.csv" ]; then
      dirs+=("$whole")
    elif [ -e "$twelfth/runs.csv" ]; then
      # A twelfth stands for two twenty-fourths: take it once.
      [ "$i" -le "$half" ] && dirs+=("$twelfth")
    else
      missing+=("$i")
    fi
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "sweep-full: shards ${missing[*]} of $shards have not run yet (nor their twelfths)" >&2
    exit 2
  fi
  rm -rf "$work/merged"
  cargo xtask report "${dirs[@]}" --out "$work/merged"
  cargo xtask calibrate --jobs 1 --out "$work/merged"
  exec cargo xtask publish "$work/merged" results/full-2core
fi

case "$what" in
  */"$half") index=${what%/*}; count=$half ;;
  *) index=$what; count=$shards ;;
esac
case "$index" in
  '' | *[!0-9]*) echo "sweep-full: a shard is a number from 1 to $shards, I/$half, or 'report' (got $what)" >&2; exit 2 ;;
esac
if [ "$index" -lt 1 ] || [ "$index" -gt "$count" ]; then
  echo "sweep-full: shard $index is not one of 1 to $count" >&2
  exit 2
fi
out="$work/$index-of-$count"
mkdir -p "$out"
status=0
cargo xtask bench --resume --precision 5% --max-repeat 10 --traces target/pyperf/traces \
  --shard "$index/$count" --out "$out" --no-report || status=$?
# 1: some cell failed (its record says why) and the sweep went on; 130: interrupted.
if [ "$status" -eq 0 ] || [ "$status" -eq 1 ]; then
  cargo xtask publish --no-report "$out" "$kept/$index-of-$count"
fi
exit "$status"
