"""bulk-load-dicts and its -gc-off and -frozen variants in Python: the twins of workloads/src/bulk_load_dicts.rs.

N rows as csv.DictReader builds them: ``dict(zip(header, values))`` with
header ``["id", "name", "price", "qty"]`` and values ``str(i)``,
``"item%d" % (i % 1000)``, ``"%.2f" % (i * 0.5)``, ``str(i % 7)``, appended
to a list; with automatic collection on, off during the load, or with
``gc.freeze()`` once half the rows are loaded. Phases ``build`` and
``teardown`` (every row read back, then the list dropped).
"""

import gc
import sys

import heaplab_measure as measure

WORKLOADS = ("bulk-load-dicts", "bulk-load-dicts-gc-off", "bulk-load-dicts-frozen")


def main():
    args = measure.parse_args(__doc__, WORKLOADS)
    checksum = measure.checksum_for(args)
    n_rows = args.size
    gc_off = args.workload == "bulk-load-dicts-gc-off"
    frozen = args.workload == "bulk-load-dicts-frozen"

    recorder = measure.Recorder(args)

    recorder.phase("build")
    header = ["id", "name", "price", "qty"]
    if gc_off:
        gc.disable()
    rows = []
    for i in range(n_rows):
        if frozen and i == n_rows // 2:
            gc.freeze()
        values = [str(i), "item%d" % (i % 1000), "%.2f" % (i * 0.5), str(i % 7)]
        rows.append(dict(zip(header, values)))
    values = None
    if gc_off:
        gc.enable()

    recorder.phase("teardown")
    last = rows[-1]
    recorder.extra("row_sizeof", sys.getsizeof(last))
    recorder.extra("row_tracked", gc.is_tracked(last))
    recorder.sizeof("list", rows, len(rows), growth="append")
    last = None
    checksum.word(len(rows))
    for index in range(len(rows)):
        for key, value in rows[index].items():
            checksum.bytes(key.encode("ascii"))
            checksum.bytes(value.encode("ascii"))
    rows = None

    recorder.finish(checksum, containers=True, ops=n_rows)


if __name__ == "__main__":
    main()
