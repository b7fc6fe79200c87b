//! `groupby-dict`: `groupby`'s aggregation with a real dict from key to
//! running sum, as Python code does it.
//!
//! What it models: the group-by of pure-Python data crunching. In Python:
//!
//! ```python
//! records = [(randrange(k), random()) for _ in range(n)]   # build
//! sums = {}                                                # aggregate
//! for key, value in records:
//!     sums[key] = sums.get(key, 0.0) + value
//! del records, sums                                        # teardown
//! ```
//!
//! Keys are drawn from a seeded generator over K = ⌊√N⌋ groups, as in
//! `groupby` (whose list of K slots stood in for this dict). The dict has
//! int keys, so its keys object is of the general kind (24-byte entries);
//! it grows by CPython's resizes (`GROWTH_RATE`, `used * 3`) as keys first
//! appear, to a table of 2^⌈log2(1.5 K)⌉ slots or so; each update makes a new
//! float and frees the one it replaces. The keys the dict holds are the
//! record ints that first brought them. It stays untracked: ints and floats
//! are atomic.
//!
//! `size` is N, the number of records: about 100 to 116 bytes a record, as
//! `groupby`, plus the dict (K entries of 24 bytes, an index of 1 to 4 bytes
//! a slot) and K floats.
//!
//! What it stresses: hash lookups and replacement against a large live set
//! of tuples, a stream of short-lived floats, and the dict's resizes.
//!
//! Phases: `build`, `aggregate`, `teardown`.
//!
//! Checksum: the number of groups in the dict, then each group's key and
//! sum, in the dict's order (the order keys first appeared). `ops` is N.

use heaplab_core::{Checksum, Heap, Outcome, Params};

use crate::groupby::build_records;
use crate::{Body, Family, Workload};

/// The registry entry.
pub const WORKLOAD: Workload = Workload {
    name: "groupby-dict",
    family: Family::Object,
    summary: "groupby with a dict from key to running sum (sums[k] = sums.get(k, 0.0) + v) over sqrt(N) groups",
    size_meaning: "records (groups: the square root)",
    quick_sizes: &[50_000, 200_000],
    default_sizes: &[750_000, 1_500_000, 3_000_000, 6_000_000, 12_000_000],
    threaded: false,
    body: Body::Heap(run),
};

/// Runs the workload; see the module documentation.
pub fn run(heap: &mut dyn Heap, params: &Params) -> Outcome {
    let n_records = params.size as usize;
    let records = build_records(heap, params);

    heap.phase("aggregate");
    let sums = heap.dict();
    for index in 0..n_records {
        let record = heap.get(records, index).expect("a hole in the records");
        let key = heap.get(record, 0).expect("a record's key");
        let value = heap.float_value(heap.get(record, 1).expect("a record's value"));
        let old_sum = heap.dict_get(sums, key).map_or(0.0, |sum| heap.float_value(sum));
        let new_sum = heap.float(old_sum + value);
        heap.dict_set(sums, key, new_sum);
        heap.release(new_sum);
    }
    let mut checksum = Checksum::new();
    checksum.word(heap.len(sums) as u64);
    for (key, sum) in heap.dict_items(sums) {
        checksum.word(heap.int_value(key) as u64);
        checksum.float(heap.float_value(sum));
    }

    heap.phase("teardown");
    heap.release(records);
    heap.release(sums);
    Outcome { checksum: checksum.finish(), ops: params.size }
}
