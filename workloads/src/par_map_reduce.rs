//! `par-map-reduce`: `array-sum`'s computation split into chunks that
//! `params.threads` threads process in parallel, each task with its own
//! temporary buffers from a thread-safe allocator.
//!
//! What it models: a data-parallel map-reduce over a large range, as
//! `concurrent.futures` over chunks, Dask, or a rayon loop in a native
//! extension would run it, where every task allocates its scratch buffers.
//! In Python:
//!
//! ```python
//! def task(start, length):
//!     xs = values(start, length)       # a buffer of the chunk's inputs
//!     ys = xs * 2 + 1                  # a second buffer
//!     return ys.sum()
//! with ThreadPoolExecutor(threads) as pool:                # map-reduce
//!     totals = pool.map(task, chunks(n, CHUNK))
//! total = sum_in_order(totals)
//! ```
//!
//! The chunks are [`crate::kernels::BLOCK`] elements (64 Ki), run on a
//! rayon pool of `params.threads` threads. Each task allocates its two
//! buffers of 512 KiB from the [`SharedAllocator`], writes and reads its f64
//! through the blocks' bytes, and frees them. The chunks' sums are added in
//! chunk order after all tasks end, so the total — and the checksum — is the
//! same for every thread count, and equals `array-sum`'s bit for bit.
//!
//! `size` is N, the number of elements in all. Two 512 KiB buffers are
//! alive per running task: about 1 MiB a thread, whatever N is.
//!
//! What it stresses: the thread-safe allocator's large-block path under
//! concurrent requests — pymalloc's shared view runs behind one lock, as
//! CPython runs under the GIL, while the native allocators serve each
//! thread on its own — and scaling with threads.
//!
//! Phases: `map-reduce`.
//!
//! Checksum: N and the bits of the total, as `array-sum`'s.
//! `ops` is N, the elements each built, mapped and summed once.

use heaplab_core::{Outcome, Params, PhaseLog, SharedAllocator, SharedBlockAllocator};
use rayon::prelude::*;

use crate::kernels::{
    BLOCK, BlockedSum, F64_BYTES, SUM_INPUT_STREAM, block_sum_le_bytes, element_value, map_value, read_f64,
    shared_snapshot, sum_outcome, write_f64,
};
use crate::{Body, Family, Workload};

/// The registry entry.
pub const WORKLOAD: Workload = Workload {
    name: "par-map-reduce",
    family: Family::Numeric,
    summary: "array-sum's computation in chunks of 64 Ki elements on T threads, each task with its own buffers",
    size_meaning: "elements in all (tasks of 65,536)",
    quick_sizes: &[100_000, 1_000_000],
    default_sizes: &[3_125_000, 6_250_000, 12_500_000, 25_000_000, 50_000_000],
    threaded: true,
    body: Body::Shared(run),
};

/// Elements in one task's chunk.
pub const CHUNK: usize = BLOCK;

/// Runs the workload; see the module documentation.
pub fn run(alloc: &dyn SharedAllocator, log: &mut PhaseLog, params: &Params) -> Outcome {
    let n_elements = params.size as usize;
    let n_chunks = n_elements.div_ceil(CHUNK);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(params.threads.max(1) as usize)
        .thread_name(|index| format!("par-map-reduce-{index}"))
        .build()
        .unwrap_or_else(|error| panic!("par-map-reduce: cannot start {} threads: {error}", params.threads));

    log.start("map-reduce", || shared_snapshot(alloc));
    let chunk_totals: Vec<f64> = pool.install(|| {
        (0..n_chunks)
            .into_par_iter()
            .map(|chunk| {
                let start = chunk * CHUNK;
                chunk_total(alloc, params.seed, start, CHUNK.min(n_elements - start))
            })
            .collect()
    });
    let mut sum = BlockedSum::new();
    for chunk_total in chunk_totals {
        sum.add_block_total(chunk_total);
    }
    log.end(|| shared_snapshot(alloc));

    sum_outcome(params.size, sum.finish())
}

/// One task: builds the inputs of elements `start..start + len` in a new
/// buffer, maps them into a second, sums it, and frees both.
fn chunk_total(alloc: &dyn SharedAllocator, seed: u64, start: usize, len: usize) -> f64 {
    let blocks = SharedBlockAllocator::new(alloc);
    let n_bytes = len * F64_BYTES;
    let mut inputs = blocks.alloc_block(n_bytes).unwrap_or_else(|error| panic!("par-map-reduce: {error}"));
    for (offset, slot) in inputs.bytes_mut().chunks_exact_mut(F64_BYTES).enumerate() {
        write_f64(slot, element_value(seed, SUM_INPUT_STREAM, (start + offset) as u64));
    }
    let mut mapped = blocks.alloc_block(n_bytes).unwrap_or_else(|error| panic!("par-map-reduce: {error}"));
    let input_values = inputs.bytes().chunks_exact(F64_BYTES);
    for (slot, input) in mapped.bytes_mut().chunks_exact_mut(F64_BYTES).zip(input_values) {
        write_f64(slot, map_value(read_f64(input)));
    }
    let total = block_sum_le_bytes(mapped.bytes());
    blocks.free_block(inputs);
    blocks.free_block(mapped);
    total
}
