"""bulk-load, bulk-load-gc-off and bulk-load-frozen in Python: the twins of workloads/src/bulk_load.rs.

N records ``(i, float(i), str(i))`` appended to a list, as a CSV reader
builds them: with automatic collection on; with it off during the load
(``gc.disable()`` ... ``gc.enable()``); or with ``gc.freeze()`` once half
the records are loaded. Phases ``build`` and ``teardown`` (every record read
back, then the list dropped).
"""

import gc

import heaplab_measure as measure

WORKLOADS = ("bulk-load", "bulk-load-gc-off", "bulk-load-frozen")


def main():
    args = measure.parse_args(__doc__, WORKLOADS)
    checksum = measure.checksum_for(args)
    n_records = args.size
    gc_off = args.workload == "bulk-load-gc-off"
    frozen = args.workload == "bulk-load-frozen"

    recorder = measure.Recorder(args)

    recorder.phase("build")
    if gc_off:
        gc.disable()
    records = []
    if frozen:
        half = n_records // 2
        for i in range(half):
            records.append((i, float(i), str(i)))
        gc.freeze()
        for i in range(half, n_records):
            records.append((i, float(i), str(i)))
    else:
        for i in range(n_records):
            records.append((i, float(i), str(i)))
    if gc_off:
        gc.enable()

    recorder.phase("teardown")
    last = records[-1]
    recorder.sizeof("int", last[0], measure.int_digits(last[0]))
    recorder.sizeof("float", last[1], 0)
    recorder.sizeof("str", last[2], len(last[2]))
    recorder.sizeof("tuple", last, len(last))
    recorder.sizeof("list", records, len(records), growth="append")
    last = None
    checksum.word(len(records))
    for index in range(len(records)):
        # By index, not `number, real, text = record`: from 3.12 an unpacking not yet
        # specialised makes a tuple iterator, a container the collector counts (and the
        # first one after the gc-off load, past the threshold, collects), which the Rust
        # workload does not make.
        record = records[index]
        checksum.word(record[0])
        checksum.float(record[1])
        checksum.bytes(record[2].encode("ascii"))
    records = None

    recorder.finish(checksum, ops=n_records)


if __name__ == "__main__":
    main()
