//! `array-sum`: `boxed-sum`'s computation on contiguous arrays, as NumPy
//! would do it.
//!
//! What it models: the same number crunching with the data in one buffer of
//! f64 instead of a float object per element. In Python with NumPy:
//!
//! ```python
//! xs = rng.random(n)                       # build
//! ys = xs * 2 + 1                          # map: one new array
//! total = ys.sum()                         # reduce
//! del xs, ys                               # teardown
//! ```
//!
//! `xs * 2 + 1` makes one new array: NumPy's temporary elision reuses the
//! buffer of `xs * 2` for `+ 1` on large arrays. The values, the map and the
//! summation order ([`crate::kernels`]: eight lanes, blocks of 64 Ki
//! elements) are those of `boxed-sum`, so the two give the same sum bit for
//! bit and the same checksum.
//!
//! `size` is N, the number of elements in each array. An array is a 64-byte
//! header and a buffer of 8N bytes: 16 bytes an element with both alive, so
//! 50 million elements take 800 MB — a quarter of what `boxed-sum` holds for
//! the same N.
//!
//! What it stresses: the allocator's large-block path (each buffer is one
//! allocation of 8N bytes, zero-filled when made), page faults, and memory
//! bandwidth; the reduce phase reads 8N bytes once, and its duration (in
//! the record's `phases`) compares directly with the `read` phase of
//! `bandwidth`.
//!
//! Phases: `build`, `map`, `reduce`, `teardown`.
//!
//! Checksum: N and the bits of the sum of the mapped array, read back.
//! `ops` is N, the elements each built, mapped and summed once.

use heaplab_core::{Heap, Outcome, Params};

use crate::kernels::{SUM_INPUT_STREAM, blocked_sum, element_value, map_value, sum_outcome};
use crate::{Body, Family, Workload};

/// The registry entry.
pub const WORKLOAD: Workload = Workload {
    name: "array-sum",
    family: Family::Numeric,
    summary: "boxed-sum's build, map and sum on two contiguous arrays of N f64",
    size_meaning: "elements in each array",
    quick_sizes: &[100_000, 1_000_000],
    default_sizes: &[1_000_000, 4_000_000, 10_000_000, 20_000_000, 50_000_000],
    threaded: false,
    body: Body::Heap(run),
};

/// Runs the workload; see the module documentation.
pub fn run(heap: &mut dyn Heap, params: &Params) -> Outcome {
    let n_elements = params.size as usize;

    heap.phase("build");
    let inputs = heap.array(n_elements);
    for (index, slot) in heap.floats_mut(inputs).iter_mut().enumerate() {
        *slot = element_value(params.seed, SUM_INPUT_STREAM, index as u64);
    }

    heap.phase("map");
    let mapped = heap.array(n_elements);
    let (sources, outputs) = heap.floats_zip(&[inputs], mapped);
    for (output, &input) in outputs.iter_mut().zip(sources[0]) {
        *output = map_value(input);
    }

    heap.phase("reduce");
    let total = blocked_sum(heap.floats(mapped));

    heap.phase("teardown");
    heap.release(inputs);
    heap.release(mapped);

    sum_outcome(params.size, total)
}
