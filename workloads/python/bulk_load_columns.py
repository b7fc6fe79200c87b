"""bulk-load-columns in Python: the twin of workloads/src/bulk_load_columns.rs.

bulk-load-dicts' rows as four columns: ``array("d")`` for id, price and
qty, a list of strs for the name. Phases ``build`` and ``teardown`` (every
row read back across the columns, then the columns dropped).
"""

from array import array

import heaplab_measure as measure

WORKLOADS = ("bulk-load-columns",)


def main():
    args = measure.parse_args(__doc__, WORKLOADS)
    checksum = measure.checksum_for(args)
    n_rows = args.size

    recorder = measure.Recorder(args)

    recorder.phase("build")
    ids = array("d", [0.0]) * n_rows
    prices = array("d", [0.0]) * n_rows
    qtys = array("d", [0.0]) * n_rows
    names = []
    for i in range(n_rows):
        ids[i] = i
        names.append("item%d" % (i % 1000))
        prices[i] = i * 0.5
        qtys[i] = i % 7

    recorder.phase("teardown")
    recorder.sizeof("list", names, len(names), growth="append")
    checksum.word(n_rows)
    for i in range(n_rows):
        checksum.float(ids[i])
        checksum.bytes(names[i].encode("ascii"))
        checksum.float(prices[i])
        checksum.float(qtys[i])
    ids = prices = qtys = names = None

    recorder.finish(checksum, ops=n_rows)


if __name__ == "__main__":
    main()
