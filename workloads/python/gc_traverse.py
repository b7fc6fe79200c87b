"""gc-traverse in Python: the twin of workloads/src/gc_traverse.rs.

N one-element lists ``[i]`` held in a list (phase ``build``), then exactly
five ``gc.collect()`` calls that find no garbage (phase ``collect``), each
timed on its own, as pyperformance's gc_traversal times ``gc.collect()``;
then every list read back and all dropped (phase ``teardown``). The output
adds ``collect_seconds`` (each collection's time) and ``collect_found``
(what each found unreachable: 0 when nothing is garbage).
"""

import gc
import time

import heaplab_measure as measure

WORKLOADS = ("gc-traverse",)
FULL_COLLECTIONS = 5


def main():
    args = measure.parse_args(__doc__, WORKLOADS)
    checksum = measure.checksum_for(args)
    n_lists = args.size

    recorder = measure.Recorder(args)

    recorder.phase("build")
    lists = [[i] for i in range(n_lists)]

    recorder.phase("collect")
    seconds = [0.0] * FULL_COLLECTIONS
    found = [0] * FULL_COLLECTIONS
    for index in range(FULL_COLLECTIONS):
        started = time.perf_counter()
        found[index] = gc.collect()
        seconds[index] = time.perf_counter() - started

    recorder.phase("teardown")
    last = lists[-1]
    recorder.sizeof("int", last[0], measure.int_digits(last[0]))
    recorder.sizeof("list", last, len(last), growth="exact")
    recorder.sizeof("list", lists, len(lists), growth="append")
    last = None
    checksum.word(len(lists))
    for index in range(len(lists)):
        one_element = lists[index]
        checksum.word(len(one_element))
        for item_index in range(len(one_element)):
            checksum.word(one_element[item_index])
    lists = None

    recorder.extra("collect_seconds", seconds)
    recorder.extra("collect_found", found)
    recorder.finish(checksum, ops=n_lists)


if __name__ == "__main__":
    main()
