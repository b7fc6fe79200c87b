//! `chunked`: `array-sum`'s computation over N elements, streamed in chunks
//! of 64 Ki elements, so that memory stays bounded by the chunk.
//!
//! What it models: processing data too large to hold at once, as one does
//! with `pandas.read_csv(chunksize=...)` or a loop over slices of a
//! memory-mapped file. In Python with NumPy:
//!
//! ```python
//! total = 0.0
//! for start in range(0, n, CHUNK):
//!     xs = values(start, min(CHUNK, n - start))   # build the chunk
//!     ys = xs * 2 + 1                             # map
//!     total += ys.sum()                           # reduce
//!     del xs, ys                                  # release
//! ```
//!
//! The chunk is [`crate::kernels::BLOCK`] elements, the block of the shared
//! summation order, and the chunks' sums are added left to right: the total
//! is `array-sum`'s bit for bit, and so is the checksum.
//!
//! `size` is N, the number of elements in all. Two arrays of one chunk are
//! alive at a time — 2 x (64 + 512 Ki) bytes, about 1 MiB — whatever N is;
//! `array-sum` holds 16N bytes for the same result (320 MB at 20 million).
//!
//! What it stresses: the allocator's reuse of large blocks freed and asked
//! for again at once (a malloc that unmaps them pays page faults every
//! chunk); it shows peak memory bounded by the chunk rather than by N.
//!
//! Phases: `stream` (every chunk built, mapped, summed and released), so
//! that the memory plot shows one flat phase.
//!
//! Checksum: N and the bits of the total, as `array-sum`'s.
//! `ops` is N, the elements each built, mapped and summed once.

use heaplab_core::{Heap, Outcome, Params};

use crate::kernels::{BLOCK, BlockedSum, SUM_INPUT_STREAM, block_sum, element_value, map_value, sum_outcome};
use crate::{Body, Family, Workload};

/// The registry entry.
pub const WORKLOAD: Workload = Workload {
    name: "chunked",
    family: Family::Numeric,
    summary: "array-sum's computation streamed in chunks of 64 Ki elements: bounded peak memory",
    size_meaning: "elements in all (processed 65,536 at a time)",
    quick_sizes: &[100_000, 1_000_000],
    default_sizes: &[1_000_000, 4_000_000, 10_000_000, 20_000_000, 50_000_000],
    threaded: false,
    body: Body::Heap(run),
};

/// Elements in a chunk.
pub const CHUNK: usize = BLOCK;

/// Runs the workload; see the module documentation.
pub fn run(heap: &mut dyn Heap, params: &Params) -> Outcome {
    let n_elements = params.size as usize;
    let mut sum = BlockedSum::new();

    heap.phase("stream");
    for start in (0..n_elements).step_by(CHUNK) {
        let len = CHUNK.min(n_elements - start);
        let inputs = heap.array(len);
        for (offset, slot) in heap.floats_mut(inputs).iter_mut().enumerate() {
            *slot = element_value(params.seed, SUM_INPUT_STREAM, (start + offset) as u64);
        }
        let mapped = heap.array(len);
        let (sources, outputs) = heap.floats_zip(&[inputs], mapped);
        for (output, &input) in outputs.iter_mut().zip(sources[0]) {
            *output = map_value(input);
        }
        sum.add_block_total(block_sum(heap.floats(mapped)));
        heap.release(inputs);
        heap.release(mapped);
    }

    sum_outcome(params.size, sum.finish())
}
