//! `boxed-sum`: a list of N boxed floats built, mapped into a new list of
//! new floats, and summed — large-data crunching in pure Python.
//!
//! What it models: number crunching on Python lists, every element a
//! separate float object. In Python:
//!
//! ```python
//! xs = [random() for _ in range(n)]        # build
//! ys = [x * 2 + 1 for x in xs]             # map: a new float per element
//! total = sum(ys)                          # reduce
//! del xs, ys                               # teardown
//! ```
//!
//! It is the boxed half of the question "what do boxed floats cost against a
//! contiguous array?"; `array-sum` is the other half and computes the same
//! sum bit for bit, so the two have the same checksum. Both lists grow by
//! appends, as list comprehensions grow them, so their buffers carry
//! CPython's over-allocation (up to an eighth more references than items).
//! CPython's `x * 2 + 1` makes an intermediate float for `x * 2` that dies
//! at once (and comes from CPython's float free list); the model allocates
//! only the result.
//!
//! The sum follows [`crate::kernels`]' blocked order (eight lanes, blocks of
//! 64 Ki elements), not `sum`'s left to right, so that it equals the
//! contiguous computation; the floats are read back one by one through the
//! list, which is what the reduce phase costs.
//!
//! `size` is N, the number of floats in each list. Each list holds N
//! references (8 bytes each, plus the spare capacity) and N floats of 24
//! bytes: about 32 bytes an element, 64 to 65 with both lists alive, so 20
//! million elements take about 1.3 GB of live bytes (1.28 GB measured;
//! more in RSS, 1.6 GB: pymalloc rounds a float up to a 32-byte block).
//!
//! What it stresses: allocating, reading and freeing millions of small
//! objects; peak live bytes against `array-sum`'s (about four times as
//! many: 4.06 at a million elements, where the lists' spare capacity adds a little).
//!
//! Phases: `build`, `map`, `reduce`, `teardown`.
//!
//! Checksum: N and the bits of the sum of the mapped floats, read back.
//! `ops` is N, the elements each built, mapped and summed once.

use heaplab_core::{Heap, Outcome, Params};

use crate::kernels::{BlockedSum, SUM_INPUT_STREAM, element_value, map_value, sum_outcome};
use crate::{Body, Family, Workload};

/// The registry entry.
pub const WORKLOAD: Workload = Workload {
    name: "boxed-sum",
    family: Family::Numeric,
    summary: "a list of N boxed floats built, mapped x * 2 + 1 into a new list of new floats, and summed",
    size_meaning: "floats in each list",
    quick_sizes: &[100_000, 400_000],
    default_sizes: &[1_250_000, 2_500_000, 5_000_000, 10_000_000, 20_000_000],
    threaded: false,
    body: Body::Heap(run),
};

/// Runs the workload; see the module documentation.
pub fn run(heap: &mut dyn Heap, params: &Params) -> Outcome {
    let n_elements = params.size as usize;

    heap.phase("build");
    let inputs = heap.list(0);
    for index in 0..n_elements {
        let value = heap.float(element_value(params.seed, SUM_INPUT_STREAM, index as u64));
        heap.append(inputs, value);
        heap.release(value);
    }

    heap.phase("map");
    let mapped = heap.list(0);
    for index in 0..n_elements {
        let input = heap.get(inputs, index).expect("a hole in the input list");
        let value = heap.float(map_value(heap.float_value(input)));
        heap.append(mapped, value);
        heap.release(value);
    }

    heap.phase("reduce");
    let mut sum = BlockedSum::new();
    for index in 0..n_elements {
        let item = heap.get(mapped, index).expect("a hole in the mapped list");
        sum.push(heap.float_value(item));
    }
    let total = sum.finish();

    heap.phase("teardown");
    heap.release(inputs);
    heap.release(mapped);

    sum_outcome(params.size, total)
}
