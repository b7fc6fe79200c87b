#!/usr/bin/env bash
# The published full sweep: the default matrix (`cargo xtask bench` with no selection: every
# collector on every allocator, each CPython release on pymalloc, the real interpreters' twins
# at each workload's first three default sizes) with pyperformance's traced programs, every cell
# repeated (interleaved) until the 95% CI of its median wall time is within ±5%: at least 6 runs,
# at most 10. About 11 hours on one 2-core machine; it may be stopped at any point (Ctrl-C or a
# lost session) and the same command goes on from there (--resume). Then the calibration against
# every interpreter found and the report.
# Usage: cargo xtask pyperf          # once: pyperformance's traces into target/pyperf/traces
#        results/sweep-full.sh OUT_DIR
#        cargo xtask publish OUT_DIR results/<machine>   (series thinned; the full ones stay in OUT_DIR)
# Sharded over machines instead: .github/workflows/sweep.yml, or `--shard I/N` by hand (README).
set -euo pipefail
out=${1:?usage: results/sweep-full.sh OUT_DIR}
mkdir -p "$out"
status=0
cargo xtask bench --resume --precision 5% --max-repeat 10 --traces target/pyperf/traces \
  --out "$out" --no-report || status=$?
# 1: some cell failed (its record says why) and the sweep went on; 130: interrupted.
if [ "$status" -eq 130 ]; then exit 130; fi
[ -e "$out/calibration.json" ] || cargo xtask calibrate --jobs 1 --out "$out"
cargo xtask report "$out"
