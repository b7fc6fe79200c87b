//! `gc-traverse`: full collections of a large heap in which nothing is garbage.
//!
//! What it models: the cost of one full collection as a function of the
//! number of live containers — what every `gc.collect()` pays, and what a
//! program pays whenever the long-lived rule lets a full collection through.
//! It follows pyperformance's `gc_traversal` benchmark (which times
//! `gc.collect()` over nested lists that are all reachable), with a simpler
//! and scalable heap: N one-element lists held in one list. In Python:
//!
//! ```python
//! lists = [[i] for i in range(n)]     # build
//! for _ in range(5):                  # collect
//!     assert gc.collect() == 0
//! ```
//!
//! `size` is the number of one-element lists. Each costs a list (40 bytes,
//! plus 16 for the GC header under `cycle`), its one-item buffer (8 bytes)
//! and an int (28), and 8 bytes of the outer list's buffer: about 100 bytes
//! requested under `cycle`, 120 in pymalloc's blocks (64 + 16 + 32 + 8), so
//! that a million lists fill 109 arenas of 1 MiB, in CPython as in the model.
//!
//! What it stresses: the collector's traversal of live containers — under
//! `cycle`, `update_refs`, `subtract_refs` and `move_unreachable` over every
//! tracked object; under `marksweep`, marking from the roots. Pure refcount
//! does nothing in `collect`. Each full collection's cost is the `collect`
//! phase's duration divided by 5: nothing else runs in that phase.
//!
//! Phases: `build` (the lists made; automatic collections run as usual),
//! `collect` (exactly five full collections, which free nothing),
//! `teardown` (every list read back, then all dropped).
//!
//! Checksum: the number of lists, then each list's length and its int,
//! read back. `ops` is the number of lists.

use heaplab_core::{Checksum, Heap, Obj, Outcome, Params};

use crate::{Body, Family, Workload};

/// The registry entry.
pub const WORKLOAD: Workload = Workload {
    name: "gc-traverse",
    family: Family::Object,
    summary: "N one-element lists kept alive, then 5 full collections that find no garbage (pyperformance's gc_traversal)",
    size_meaning: "one-element lists kept alive",
    quick_sizes: &[20_000, 200_000],
    default_sizes: &[1_000_000, 2_000_000, 4_000_000, 8_000_000, 16_000_000],
    threaded: false,
    body: Body::Heap(run),
};

/// Full collections forced in the `collect` phase.
pub const FULL_COLLECTIONS: u64 = 5;

/// Runs the workload; see the module documentation.
pub fn run(heap: &mut dyn Heap, params: &Params) -> Outcome {
    let n_lists = params.size;
    let mut checksum = Checksum::new();

    heap.phase("build");
    let lists = heap.list(0);
    for index in 0..n_lists {
        let one_element = make_one_element_list(heap, index);
        heap.append(lists, one_element);
        heap.release(one_element);
    }

    heap.phase("collect");
    for _ in 0..FULL_COLLECTIONS {
        heap.collect();
    }

    heap.phase("teardown");
    digest_lists(heap, lists, &mut checksum);
    heap.release(lists);

    Outcome { checksum: checksum.finish(), ops: n_lists }
}

/// `[index]`: the int first (as the range iterator makes it), then a list
/// of exactly one slot holding it; an owned reference to the list.
fn make_one_element_list(heap: &mut dyn Heap, index: u64) -> Obj {
    let int = heap.int(index as i64);
    let list = heap.list(1);
    heap.append(list, int);
    heap.release(int);
    list
}

/// Mixes in the number of lists, then each list's length and its int.
fn digest_lists(heap: &dyn Heap, lists: Obj, checksum: &mut Checksum) {
    let n_lists = heap.len(lists);
    checksum.word(n_lists as u64);
    for index in 0..n_lists {
        let one_element = heap.get(lists, index).expect("a hole in the lists");
        let len = heap.len(one_element);
        checksum.word(len as u64);
        for item_index in 0..len {
            let item = heap.get(one_element, item_index).expect("a hole in a one-element list");
            checksum.word(heap.int_value(item) as u64);
        }
    }
}
