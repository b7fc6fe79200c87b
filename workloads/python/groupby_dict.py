"""groupby-dict in Python: the twin of workloads/src/groupby_dict.rs.

N records ``(key, value)`` with keys drawn over isqrt(N) groups by
heaplab's seeded generator (phase ``build``), aggregated into a dict from
key to running sum, ``sums[key] = sums.get(key, 0.0) + value`` (phase
``aggregate``), then dropped (phase ``teardown``).
"""

import math

import heaplab_measure as measure

WORKLOADS = ("groupby-dict",)


def main():
    args = measure.parse_args(__doc__, WORKLOADS)
    checksum = measure.checksum_for(args)
    n_records = args.size
    n_groups = max(math.isqrt(n_records), 1)
    rng = measure.Rng(args.seed)
    scale = 1.0 / (1 << 53)

    recorder = measure.Recorder(args)

    recorder.phase("build")
    records = []
    for _ in range(n_records):
        key = rng.below(n_groups)
        records.append((key, (rng.next_u64() >> 11) * scale))

    recorder.phase("aggregate")
    sums = {}
    for key, value in records:
        sums[key] = sums.get(key, 0.0) + value
    checksum.word(len(sums))
    for key, total in sums.items():
        checksum.word(key)
        checksum.float(total)

    recorder.phase("teardown")
    records = sums = None

    recorder.finish(checksum, ops=n_records)


if __name__ == "__main__":
    main()
