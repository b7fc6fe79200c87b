#!/usr/bin/env bash
# The published sweep: every workload at its first default sizes, the collectors on
# pymalloc, the allocators under the cycle collector, three interleaved repetitions.
# Usage: results/sweep-medium.sh OUT_DIR   (about 30 minutes on 2 cores), then
#        cargo xtask publish OUT_DIR results/medium-2core   (series thinned; the full ones stay in OUT_DIR)
set -euo pipefail
out=${1:?usage: results/sweep-medium.sh OUT_DIR}
heap='refcount+pymalloc,cycle+pymalloc,marksweep+pymalloc,cycle+system,cycle+mimalloc,cycle+jemalloc,cycle+cpython,refcount+bump'
alloc='pymalloc,system,mimalloc,jemalloc,bump,cpython'
bench() { cargo xtask bench --repeat 3 --no-report --out "$out" "$@"; }

bench --strategy "$heap" --workload 'binary-trees' --sizes 14,16
bench --resume --strategy "$heap" --workload 'churn' --sizes 1000000
bench --resume --strategy "$heap" --workload 'matmul-*' --sizes 100,200
bench --resume --strategy "$heap" --workload 'cyclic-garbage,fragmentation*,bulk-load*,gc-traverse,boxed-sum,groupby' --sizes 1000000,4000000
bench --resume --strategy "$heap" --workload 'array-sum,chunked,temporaries*' --sizes 1000000,4000000,16000000
bench --resume --strategy "$alloc" --workload 'alloc-sizes' --sizes 10000,100000
bench --resume --strategy "$alloc" --workload 'bandwidth,par-map-reduce' --sizes 1000000,10000000,50000000
bench --resume --strategy "$alloc" --workload 'xmalloc,larson' --sizes 1000000,4000000
cargo xtask calibrate --out "$out"
cargo xtask report "$out"
