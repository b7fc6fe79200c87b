//! `groupby`: N records of (key, value) aggregated into a running sum per
//! key, as a data-frame group-by does in pure Python.
//!
//! What it models: the aggregation step of data crunching done on Python
//! objects. In Python:
//!
//! ```python
//! records = [(randrange(k), random()) for _ in range(n)]   # build
//! sums = [0.0] * k                                         # aggregate
//! for key, value in records:
//!     sums[key] = sums[key] + value                        # d[key] += value
//! del records, sums                                        # teardown
//! ```
//!
//! heaplab has no dict, so the dict of a real group-by is modelled as a
//! list of K slots indexed by the key — the same objects a dict keyed by
//! small ints holds, without the hash table: its cost (a table of 8 to 24
//! bytes a key, resized as it grows) is left out. Each update makes a new
//! float and frees the one it replaces, as `d[key] += value` does. Keys are
//! drawn from a seeded generator over K = ⌊√N⌋ groups (at least one), so
//! each group gets √N updates on average. Keys are new ints (CPython would
//! take those below 257 from its small-int cache).
//!
//! `size` is N, the number of records. A record is a 2-tuple (40 bytes, 56
//! under the cycle collector's GC header), an int (28 bytes) and a float
//! (24 bytes), and 8 bytes in the list: about 100 to 116 bytes a record,
//! 1.2 to 1.4 GB at 12 million. The sums add K floats.
//!
//! What it stresses: building a large, long-lived set of small containers
//! (which triggers CPython's generational collections while it grows), then
//! a stream of short-lived floats against that live set, then freeing it all.
//!
//! Phases: `build`, `aggregate`, `teardown`.
//!
//! Checksum: K and every group's sum, in key order, read back.
//! `ops` is N, the records aggregated.

use heaplab_core::{Checksum, Heap, Obj, Outcome, Params, Rng};

use crate::kernels::unit_float;
use crate::{Body, Family, Workload};

/// The registry entry.
pub const WORKLOAD: Workload = Workload {
    name: "groupby",
    family: Family::Numeric,
    summary: "N (key, value) tuples aggregated into a running float sum per key over sqrt(N) groups",
    size_meaning: "records (groups: the square root)",
    quick_sizes: &[50_000, 200_000],
    default_sizes: &[750_000, 1_500_000, 3_000_000, 6_000_000, 12_000_000],
    threaded: false,
    body: Body::Heap(run),
};

/// The number of groups for `n_records` records: ⌊√N⌋, at least one.
pub fn group_count(n_records: u64) -> u64 {
    n_records.isqrt().max(1)
}

/// The build phase: `params.size` records `(key, value)`, an int key of one of
/// [`group_count`] groups and a float value, in a list (also `groupby-dict`'s input).
pub(crate) fn build_records(heap: &mut dyn Heap, params: &Params) -> Obj {
    let n_groups = group_count(params.size);
    let mut rng = Rng::new(params.seed);
    heap.phase("build");
    let records = heap.list(0);
    for _ in 0..params.size {
        let key = heap.int(rng.below(n_groups) as i64);
        let value = heap.float(unit_float(rng.next_u64()));
        let record = heap.tuple(&[key, value]);
        heap.release(key);
        heap.release(value);
        heap.append(records, record);
        heap.release(record);
    }
    records
}

/// Runs the workload; see the module documentation.
pub fn run(heap: &mut dyn Heap, params: &Params) -> Outcome {
    let n_records = params.size as usize;
    let n_groups = group_count(params.size);
    let records = build_records(heap, params);

    heap.phase("aggregate");
    let sums = heap.list(0);
    let zero = heap.float(0.0);
    for _ in 0..n_groups {
        heap.append(sums, zero);
    }
    heap.release(zero);
    for index in 0..n_records {
        let record = heap.get(records, index).expect("a hole in the records");
        let key = heap.int_value(heap.get(record, 0).expect("a record's key")) as usize;
        let value = heap.float_value(heap.get(record, 1).expect("a record's value"));
        let old_sum = heap.float_value(heap.get(sums, key).expect("a group's sum"));
        let new_sum = heap.float(old_sum + value);
        heap.set(sums, key, Some(new_sum));
        heap.release(new_sum);
    }
    let mut checksum = Checksum::new();
    checksum.word(n_groups);
    for key in 0..n_groups as usize {
        checksum.float(heap.float_value(heap.get(sums, key).expect("a group's sum")));
    }

    heap.phase("teardown");
    heap.release(records);
    heap.release(sums);

    Outcome { checksum: checksum.finish(), ops: params.size }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_the_integer_square_root_and_at_least_one() {
        let check =
            |n_records: u64, expected: u64| assert_eq!(group_count(n_records), expected, "{n_records}");
        check(1, 1);
        check(3, 1);
        check(4, 2);
        check(99, 9);
        check(100, 10);
        check(12_000_000, 3_464);
    }
}
