//! `fragmentation` and `fragmentation-contiguous`: free 99% of a million
//! floats, keep 1%, and see what memory stays.
//!
//! What it models: the question "why does my process keep 900 MB after I
//! freed 99% of my objects?". In Python:
//!
//! ```python
//! lst = [float(i) for i in range(n)]       # build
//! keep = lst[::100]                        # free: fragmentation
//! keep = lst[:n // 100]                    # free: fragmentation-contiguous
//! del lst
//! fresh = [f"s{i:07d}" for i in range(n // 10)]   # reuse
//! ```
//!
//! With every 100th float kept, each survivor sits in a different pool, so
//! that a pymalloc-like allocator can give back no arena at all; when the
//! survivors lie together, almost every arena empties and can go back to
//! the operating system. The new objects are 8-character strs (57 bytes,
//! the 64-byte class), which cannot reuse the 32-byte blocks the floats
//! left free.
//!
//! `size` is the number of floats built. A float is 24 bytes (a 32-byte
//! block in pymalloc) and 8 more in the list's buffer: 32 million floats
//! take about 1 GB; the reuse phase adds `size / 10` strs of 57 bytes.
//!
//! What it stresses: how much memory the allocator keeps after a mass free
//! (RSS against live bytes at the end of `free` and `reuse`), and whether it
//! can reuse free space for another size class.
//!
//! Phases: `build`, `free` (the survivors copied out, the list dropped),
//! `reuse` (the strs allocated and every object digested, with survivors
//! and strs still alive at its end), `teardown` (everything dropped).
//!
//! Checksum: the survivors' count and values, then the strs' count and
//! bytes, all read back. `ops` is the number of objects allocated (floats
//! and strs).

use heaplab_core::{Checksum, Heap, Kind, Obj, Outcome, Params};

use crate::{Body, Family, Workload};

/// The registry entry for scattered survivors.
pub const WORKLOAD: Workload = Workload {
    name: "fragmentation",
    family: Family::Object,
    summary: "N floats in a list, every 100th kept and the rest freed, then strs of another size class allocated",
    size_meaning: "floats built (1% survive, size / 10 strs allocated after)",
    quick_sizes: &[100_000, 400_000],
    default_sizes: &[2_000_000, 4_000_000, 8_000_000, 16_000_000, 32_000_000],
    threaded: false,
    body: Body::Heap(run_scattered),
};

/// The registry entry for contiguous survivors.
pub const CONTIGUOUS: Workload = Workload {
    name: "fragmentation-contiguous",
    family: Family::Object,
    summary: "N floats in a list, the first 1% kept and the rest freed, then strs of another size class allocated",
    size_meaning: "floats built (1% survive, size / 10 strs allocated after)",
    quick_sizes: WORKLOAD.quick_sizes,
    default_sizes: WORKLOAD.default_sizes,
    threaded: false,
    body: Body::Heap(run_contiguous),
};

/// One survivor for this many floats.
const KEEP_ONE_IN: u64 = 100;
/// One new str for this many floats.
const NEW_STR_ONE_IN: u64 = 10;

/// Which floats survive the `free` phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Survivors {
    /// Every 100th: `lst[::100]`.
    Scattered,
    /// The first 1%: `lst[:n // 100]`.
    Contiguous,
}

impl Survivors {
    /// The indices of the floats kept out of `n_floats`, in order.
    fn indices(self, n_floats: u64) -> impl Iterator<Item = u64> {
        let (step, end) = match self {
            Survivors::Scattered => (KEEP_ONE_IN, n_floats),
            Survivors::Contiguous => (1, n_floats / KEEP_ONE_IN),
        };
        (0..end).step_by(step as usize)
    }
}

/// Runs `fragmentation`: every 100th float survives.
pub fn run_scattered(heap: &mut dyn Heap, params: &Params) -> Outcome {
    run(heap, params, Survivors::Scattered)
}

/// Runs `fragmentation-contiguous`: the first 1% of the floats survive.
pub fn run_contiguous(heap: &mut dyn Heap, params: &Params) -> Outcome {
    run(heap, params, Survivors::Contiguous)
}

fn run(heap: &mut dyn Heap, params: &Params, survivors: Survivors) -> Outcome {
    let n_floats = params.size;
    let mut checksum = Checksum::new();

    heap.phase("build");
    let all_floats = heap.list(0);
    for index in 0..n_floats {
        let value = heap.float(float_value(index));
        heap.append(all_floats, value);
        heap.release(value);
    }

    heap.phase("free");
    let n_kept = survivors.indices(n_floats).count();
    let kept = heap.list(n_kept);
    for index in survivors.indices(n_floats) {
        let survivor = heap.get(all_floats, index as usize).expect("a hole in the list of floats");
        heap.append(kept, survivor);
    }
    heap.release(all_floats);

    heap.phase("reuse");
    let n_strs = n_floats / NEW_STR_ONE_IN;
    let fresh = heap.list(0);
    for index in 0..n_strs {
        let text = str_text(index);
        let new_str = heap.str(&text);
        heap.append(fresh, new_str);
        heap.release(new_str);
    }
    digest_list(heap, kept, &mut checksum);
    digest_list(heap, fresh, &mut checksum);

    heap.phase("teardown");
    heap.release(kept);
    heap.release(fresh);

    Outcome { checksum: checksum.finish(), ops: n_floats + n_strs }
}

/// The value of float `index`: `float(index)`, as the Python version builds them.
fn float_value(index: u64) -> f64 {
    index as f64
}

/// The 8 characters of str `index`: `s` and 7 digits.
fn str_text(index: u64) -> String {
    format!("s{:07}", index % 10_000_000)
}

/// Mixes in a list's length and each item's value: floats by their bits, strs by their bytes.
fn digest_list(heap: &dyn Heap, list: Obj, checksum: &mut Checksum) {
    let len = heap.len(list);
    checksum.word(len as u64);
    for index in 0..len {
        let item = heap.get(list, index).expect("a hole in a list");
        match heap.kind(item) {
            Kind::Float => checksum.float(heap.float_value(item)),
            Kind::Str => checksum.bytes(heap.str_bytes(item)),
            other => unreachable!("fragmentation makes no {}", other.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survivors_are_every_hundredth_or_the_first_percent() {
        let check = |survivors: Survivors, n_floats: u64, expected: &[u64]| {
            let indices: Vec<u64> = survivors.indices(n_floats).collect();
            assert_eq!(indices, expected, "{survivors:?} of {n_floats}");
        };
        check(Survivors::Scattered, 1, &[0]);
        check(Survivors::Scattered, 100, &[0]);
        check(Survivors::Scattered, 101, &[0, 100]);
        check(Survivors::Scattered, 450, &[0, 100, 200, 300, 400]);
        check(Survivors::Contiguous, 99, &[]);
        check(Survivors::Contiguous, 100, &[0]);
        check(Survivors::Contiguous, 450, &[0, 1, 2, 3]);
    }

    #[test]
    fn new_strs_are_eight_characters() {
        let check = |index: u64, expected: &str| assert_eq!(str_text(index), expected);
        check(0, "s0000000");
        check(42, "s0000042");
        check(9_999_999, "s9999999");
        check(10_000_000, "s0000000");
    }
}
