"""fragmentation and fragmentation-contiguous in Python: the twins of workloads/src/fragmentation.rs.

N floats in a list (phase ``build``); every 100th kept, or the first 1%,
and the list dropped (phase ``free``); N / 10 strs of 8 characters made and
every survivor and str read back (phase ``reuse``); everything dropped
(phase ``teardown``).
"""

import heaplab_measure as measure

WORKLOADS = ("fragmentation", "fragmentation-contiguous")
KEEP_ONE_IN = 100
NEW_STR_ONE_IN = 10


def digest_list(items, checksum):
    """Mixes in a list's length and each item's value: floats by their bits, strs by their bytes."""
    checksum.word(len(items))
    for index in range(len(items)):
        item = items[index]
        if type(item) is float:
            checksum.float(item)
        else:
            checksum.bytes(item.encode("ascii"))


def main():
    args = measure.parse_args(__doc__, WORKLOADS)
    checksum = measure.checksum_for(args)
    n_floats = args.size

    recorder = measure.Recorder(args)

    recorder.phase("build")
    all_floats = [float(i) for i in range(n_floats)]

    recorder.phase("free")
    if args.workload == "fragmentation":
        kept = all_floats[::KEEP_ONE_IN]
    else:
        kept = all_floats[: n_floats // KEEP_ONE_IN]
    all_floats = None

    recorder.phase("reuse")
    n_strs = n_floats // NEW_STR_ONE_IN
    fresh = [f"s{i % 10_000_000:07d}" for i in range(n_strs)]
    digest_list(kept, checksum)
    digest_list(fresh, checksum)

    recorder.phase("teardown")
    if kept:
        recorder.sizeof("float", kept[0], 0)
    recorder.sizeof("list", kept, len(kept), growth="exact")
    if fresh:
        recorder.sizeof("str", fresh[0], len(fresh[0]))
    recorder.sizeof("list", fresh, len(fresh), growth="append")
    kept = None
    fresh = None

    recorder.finish(checksum, ops=n_floats + n_strs)


if __name__ == "__main__":
    main()
