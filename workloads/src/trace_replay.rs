//! `trace-replay`: a real program's allocation calls, replayed on an allocator.
//!
//! What it models: whatever program was traced — `cargo xtask trace -o FILE
//! -- COMMAND…` records every `malloc`, `calloc`, `realloc`, aligned
//! allocation and `free` of a process through the preload library (format:
//! `heaplab_core::trace`); under `PYTHONMALLOC=malloc` that is every object a
//! Python program makes. The calls are replayed in their recorded order on
//! one thread (a multi-threaded program's calls are serialised in the order
//! they took effect).
//!
//! `size` is the number of times the trace is replayed. Each replay starts
//! from an empty set of blocks and, at its end, frees the blocks the program
//! still held when it exited (those frees are not counted in `ops`). The
//! trace is given with `heaplab run --trace FILE`; it is read and checked
//! before the run starts, so a bad file is a one-line error, not a panic.
//! Without a trace the workload cannot run: `heaplab run` refuses it, and the
//! sweep plans no cell for it (its size lists are empty) unless sizes are
//! given.
//!
//! Requests are mapped onto the Allocator interface (16-byte aligned,
//! sized blocks) so: a size of 0 becomes 1 byte; alignments up to 16 are the
//! natural alignment; a larger alignment `A` is served by over-allocating
//! `A - 16` bytes (the space a real aligned allocator may waste); `calloc` is
//! a plain allocation (no zeroing: the replay measures the allocator, not
//! `memset`). `allocated_bytes` counts what was asked of the allocator, so
//! those roundings are in it.
//!
//! What it stresses: the allocator on a real program's mix of sizes,
//! lifetimes and resizes — pymalloc's pools and arenas under the traffic
//! CPython really sends, large buffers included.
//!
//! Phases: `prepare` (the table of one slot per block id: its end's RSS is
//! the process's with the trace read and nothing replayed, the base of the
//! replay's own footprint), then, for each replay, `replay` (the program's
//! calls: at its end the allocator holds what the program held when it
//! exited — pymalloc's arenas then are the arenas the program kept) and
//! `release` (the blocks still live at exit freed); `replay-2`,
//! `release-2`, … for further replays.
//!
//! Checksum: a digest of the sequence of operations and sizes replayed —
//! the same on every allocator. `ops` is the number of calls replayed.

use heaplab_core::trace::{Op, Trace};
use heaplab_core::{Allocator, Block, BlockAllocator, Checksum, Outcome, Params, PhaseLog, Snapshot};

use crate::kernels::alloc_snapshot;
use crate::{Body, Family, Workload};

/// The registry entry.
pub const WORKLOAD: Workload = Workload {
    name: "trace-replay",
    family: Family::Allocator,
    summary: "a real program's allocation calls (heaplab run --trace FILE), replayed in order",
    size_meaning: "times the trace is replayed",
    // Empty: there is nothing to replay without --trace, so a sweep plans it only
    // when sizes are given (and a trace with them).
    quick_sizes: &[],
    default_sizes: &[],
    threaded: false,
    body: Body::Alloc(run),
};

/// The message when no trace was given.
pub const NEEDS_TRACE: &str = "workload trace-replay needs --trace FILE (record one with: cargo xtask trace -o FILE -- COMMAND ARGS...)";

/// The allocator interface's alignment.
const NATURAL_ALIGN: u64 = 16;

/// Runs the workload; see the module documentation.
pub fn run(alloc: &mut dyn Allocator, log: &mut PhaseLog, params: &Params) -> Outcome {
    let trace = params.trace.as_deref().unwrap_or_else(|| panic!("{NEEDS_TRACE}"));
    let mut checksum = Checksum::new();
    log.start("prepare", || alloc_snapshot(alloc));
    let mut blocks: Vec<Option<Block>> = Vec::new();
    blocks.resize_with(trace.n_ids as usize, || None);
    // The digest of the calls and sizes, taken here so that the replay phase holds nothing
    // but the calls: every replay makes these calls, in this order.
    let digest = digest(trace);
    let handle = BlockAllocator::new(alloc);
    for round in 0..params.size {
        let suffix = if round == 0 { String::new() } else { format!("-{}", round + 1) };
        log.start(&format!("replay{suffix}"), || snapshot(&handle));
        replay(&handle, &mut blocks, trace);
        log.start(&format!("release{suffix}"), || snapshot(&handle));
        for block in blocks.iter_mut().filter_map(Option::take) {
            handle.free_block(block);
        }
        checksum.word(digest);
        checksum.word(trace.events.len() as u64);
    }
    log.end(|| snapshot(&handle));
    Outcome { checksum: checksum.finish(), ops: params.size * trace.events.len() as u64 }
}

/// A digest of the operations and sizes of `trace`, in order.
fn digest(trace: &Trace) -> u64 {
    trace.events.iter().fold(0u64, |digest, event| {
        (digest ^ (event.size << 3 | event.op as u64)).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29)
    })
}

/// The allocator's figures at a phase boundary, through the handle.
fn snapshot(handle: &BlockAllocator<'_>) -> Snapshot {
    alloc_snapshot(&*handle.allocator())
}

/// The bytes asked of the allocator for a request of `size` aligned to `alignment` (0: natural).
fn request_size(size: u64, alignment: u64) -> usize {
    let padding = alignment.saturating_sub(NATURAL_ALIGN);
    usize::try_from(size.max(1) + padding).expect("a size that fits in memory")
}

/// Replays `trace` once into `blocks` (one slot per id, all empty at the start). The blocks
/// the program held at its exit are left in `blocks`.
fn replay<'a>(alloc: &BlockAllocator<'a>, blocks: &mut [Option<Block<'a>>], trace: &Trace) {
    for event in &trace.events {
        let slot = &mut blocks[event.id as usize];
        match event.op {
            Op::Malloc | Op::Calloc | Op::Aligned => {
                let size = request_size(event.size, event.alignment());
                *slot = Some(alloc.alloc_block(size).unwrap_or_else(|error| panic!("trace-replay: {error}")));
            }
            Op::Realloc => {
                let block = slot.take().expect("the reader checked that a resized block is live");
                let size = request_size(event.size, 0);
                *slot = Some(
                    alloc.realloc_block(block, size).unwrap_or_else(|error| panic!("trace-replay: {error}")),
                );
            }
            Op::Free => {
                let block = slot.take().expect("the reader checked that a freed block is live");
                alloc.free_block(block);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_rounded_as_documented() {
        assert_eq!(request_size(0, 0), 1);
        assert_eq!(request_size(24, 0), 24);
        assert_eq!(request_size(24, 8), 24);
        assert_eq!(request_size(24, 16), 24);
        assert_eq!(request_size(100, 64), 148);
        assert_eq!(request_size(0, 4096), 4081);
    }
}
