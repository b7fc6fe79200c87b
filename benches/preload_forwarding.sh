#!/usr/bin/env bash
# What the preload library's forwarding costs against the allocator linked directly, on the
# replay of a trace: `heaplab run --strategy system` under
# LD_PRELOAD=libheaplab_preload.so HEAPLAB_PRELOAD_ALLOC=A (libc's malloc, free and realloc
# land in the library, which forwards them to A) against `heaplab run --strategy A` (A's own
# functions called straight from heaplab-alloc), for A = jemalloc and mimalloc.
#
# Pairs run in turn (preloaded, direct, preloaded, direct, ...), each in a fresh process, and
# the figure is the trace-replay workload's `replay` phase (the program's calls, nothing else),
# so process start-up and reading the trace are left out. Prints, per allocator, the median and
# quartiles of each side's ns per call and of the ratio preloaded / direct, pair by pair.
#
#   benches/preload_forwarding.sh TRACE [PAIRS]     (default PAIRS: 20)
#
# Needs a release build of heaplab and of the preload library (cargo build --release -p
# heaplab -p heaplab-preload) and python3 for the statistics.
set -euo pipefail
trace=${1:?usage: $0 TRACE [PAIRS]}
pairs=${2:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
heaplab="${CARGO_TARGET_DIR:-$root/target}/release/heaplab"
library="${CARGO_TARGET_DIR:-$root/target}/release/libheaplab_preload.so"
for file in "$heaplab" "$library" "$trace"; do
    [ -e "$file" ] || { echo "$file is missing (cargo build --release -p heaplab -p heaplab-preload)" >&2; exit 2; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() { "$heaplab" run --workload trace-replay --trace "$trace" --size 1 "$@"; }
for alloc in jemalloc mimalloc; do
    for _ in $(seq "$pairs"); do
        LD_PRELOAD="$library" HEAPLAB_PRELOAD_ALLOC="$alloc" run --strategy system >>"$out/$alloc.preloaded"
        run --strategy "$alloc" >>"$out/$alloc.direct"
    done
done
python3 - "$out" "$pairs" <<'EOF'
import json, pathlib, statistics, sys
out, pairs = pathlib.Path(sys.argv[1]), int(sys.argv[2])
def per_call(path):
    values = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        replay = next(p for p in record["phases"] if p["name"] == "replay")
        values.append(replay["duration_ns"] / record["ops"])
    return values
def q(values):
    values = sorted(values)
    at = lambda f: values[round((len(values) - 1) * f)]
    return f"{at(0.5):.2f} [{at(0.25):.2f}, {at(0.75):.2f}]"
for alloc in ["jemalloc", "mimalloc"]:
    pre, direct = per_call(out / f"{alloc}.preloaded"), per_call(out / f"{alloc}.direct")
    ratios = [a / b for a, b in zip(pre, direct)]
    print(f"{alloc}: {pairs} pairs, ns per call: preloaded {q(pre)}, direct {q(direct)}; "
          f"preloaded / direct {q(ratios)} (median [quartiles])")
EOF
