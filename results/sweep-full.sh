#!/usr/bin/env bash
# The published full sweep: the default matrix (`cargo xtask bench` with no selection: every
# collector on every allocator, each CPython release on pymalloc, the real interpreters' twins
# at each workload's first two default sizes) with pyperformance's traced programs, every cell
# repeated (interleaved) until the 95% CI of its median wall time is within ±5%: at least 6 runs,
# at most 10.
#
# It runs as 12 shards. A shard holds whole groups (every strategy of one workload at one size),
# so shards may run on different machines: the report compares strategies only within a group.
# One machine runs a shard from start to end: `--resume` goes on after a stop (Ctrl-C, a lost
# session) on the same machine and refuses a shard begun on another (remove its directory and run
# it again). Shard 7 took 2 h 05 min alone on a 2-core machine (nearly every cell ran 10 times);
# `cargo xtask bench --dry-run --precision 5% --max-repeat 10 --traces target/pyperf/traces
# --shard I/12 --estimate-from results/medium-2core,results/full-2core-shards/7-of-12` estimates
# one from the runs so far (a floor: cells with no earlier time count as nothing).
#
# Usage: cargo xtask pyperf                 # once per machine: the traces, target/pyperf/traces
#        results/sweep-full.sh I            # shard I of 12, then its data (series thinned,
#                                           #   runs.jsonl gzipped) into results/full-2core-shards/I-of-12
#        results/sweep-full.sh report       # every shard there: calibration, and the merged
#                                           #   report published into results/full-2core
# Sharded over CI machines instead: .github/workflows/sweep.yml.
set -euo pipefail
shards=12
what=${1:?usage: results/sweep-full.sh I|report}
work=target/sweep-full
kept=results/full-2core-shards

if [ "$what" = report ]; then
  dirs=()
  for i in $(seq 1 "$shards"); do
    dir="$kept/$i-of-$shards"
    [ -e "$dir/runs.csv" ] || { echo "sweep-full: $dir has not run yet" >&2; exit 2; }
    dirs+=("$dir")
  done
  rm -rf "$work/merged"
  cargo xtask report "${dirs[@]}" --out "$work/merged"
  cargo xtask calibrate --jobs 1 --out "$work/merged"
  exec cargo xtask publish "$work/merged" results/full-2core
fi

case "$what" in
  '' | *[!0-9]*) echo "sweep-full: a shard is a number from 1 to $shards, or 'report' (got $what)" >&2; exit 2 ;;
esac
out="$work/$what-of-$shards"
mkdir -p "$out"
status=0
cargo xtask bench --resume --precision 5% --max-repeat 10 --traces target/pyperf/traces \
  --shard "$what/$shards" --out "$out" --no-report || status=$?
# 1: some cell failed (its record says why) and the sweep went on; 130: interrupted.
if [ "$status" -eq 0 ] || [ "$status" -eq 1 ]; then
  cargo xtask publish --no-report "$out" "$kept/$what-of-$shards"
fi
exit "$status"
