//! `bandwidth`: one block of N f64 from the allocator, filled, then read
//! once from start to end — the memory-bandwidth reference the numeric
//! workloads are measured against.
//!
//! What it models: the best a reduction over a large array can do on this
//! machine: one sequential pass over data already resident, with no objects,
//! no collector and nothing else in the way. In Python with NumPy:
//!
//! ```python
//! buffer = np.empty(n); buffer[:] = values(n)    # fill
//! total = buffer.sum()                           # read
//! del buffer                                     # teardown
//! ```
//!
//! The read loop is the sum of [`crate::kernels`] over the block's bytes:
//! eight independent accumulators over 64-byte groups, each f64 read with
//! `from_le_bytes`, which the compiler turns into plain vector loads and
//! adds, so that the loop waits on memory and not on the latency of one
//! chain of additions.
//!
//! `size` is N, the number of f64 in the block: 8N bytes, 400 MB at 50 million.
//!
//! What it stresses: the allocator's path for one very large block (an
//! mmap for every allocator here), page faults while filling, then memory
//! bandwidth alone.
//!
//! Phases: `fill`, `read`, `teardown`.
//!
//! `ops` is 8N, the bytes read, so `ops_per_s` is a read bandwidth in bytes
//! per second — but over the whole run, fill and page faults included. The
//! pure bandwidth is 8N divided by the duration of the `read` phase, which
//! the JSON record carries in `phases`; the report should use that, and
//! compare it with the `reduce` phase of `array-sum` at the same N.
//!
//! Checksum: N and the bits of the sum, read back.

use heaplab_core::{Allocator, BlockAllocator, Checksum, Outcome, Params, PhaseLog};

use crate::kernels::{F64_BYTES, alloc_snapshot, blocked_sum_le_bytes, element_value, write_f64};
use crate::{Body, Family, Workload};

/// The registry entry.
pub const WORKLOAD: Workload = Workload {
    name: "bandwidth",
    family: Family::Numeric,
    summary: "one block of N f64 filled, then summed in one sequential read pass: the bandwidth reference",
    size_meaning: "f64 in the block (ops: bytes read)",
    quick_sizes: &[100_000, 1_000_000],
    default_sizes: &[1_000_000, 4_000_000, 10_000_000, 20_000_000, 50_000_000],
    threaded: false,
    body: Body::Alloc(run),
};

/// The value stream of the block's contents.
const STREAM: u64 = 31;

/// Runs the workload; see the module documentation.
pub fn run(alloc: &mut dyn Allocator, log: &mut PhaseLog, params: &Params) -> Outcome {
    let n_bytes = params.size as usize * F64_BYTES;

    let blocks = BlockAllocator::new(alloc);
    log.start("fill", || alloc_snapshot(&*blocks.allocator()));
    let mut block = blocks.alloc_block(n_bytes).unwrap_or_else(|error| panic!("bandwidth: {error}"));
    for (index, slot) in block.bytes_mut().chunks_exact_mut(F64_BYTES).enumerate() {
        write_f64(slot, element_value(params.seed, STREAM, index as u64));
    }

    log.start("read", || alloc_snapshot(&*blocks.allocator()));
    let total = blocked_sum_le_bytes(block.bytes());

    log.start("teardown", || alloc_snapshot(&*blocks.allocator()));
    blocks.free_block(block);
    log.end(|| alloc_snapshot(&*blocks.allocator()));

    let mut checksum = Checksum::new();
    checksum.word(params.size);
    checksum.float(total);
    Outcome { checksum: checksum.finish(), ops: n_bytes as u64 }
}
