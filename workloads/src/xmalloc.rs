//! `xmalloc`: producer threads allocate blocks and pass them through
//! channels to consumer threads that free them.
//!
//! What it models: the pattern of xmalloc-test in mimalloc-bench (after
//! Lever and Boreham's benchmark): memory allocated on one thread and freed
//! on another, as in a pipeline whose stages hand buffers on, or a Python
//! program whose worker threads pass objects through a `queue.Queue`.
//!
//! With T threads, T / 2 are producers and the rest consumers (one of each
//! at T = 2 or 3); at T = 1 one thread does both, allocating a batch and
//! then freeing it, so that the single-threaded figure has the same
//! allocation pattern without the hand-off. Blocks travel in batches of
//! [`BATCH`] through bounded channels ([`CHANNEL_BATCHES`] batches per
//! consumer), so producers wait when consumers fall behind and the live set
//! stays small. The batch vectors themselves come from Rust's global
//! allocator, not from the one measured.
//!
//! Block `k` of the N has a size between 16 and 512 bytes drawn from the
//! seed and `k` (so the same blocks are made whatever the thread count),
//! and is stamped with a value derived from `k` at its first and last eight
//! bytes, which the consumer reads back before freeing it.
//!
//! `size` is N, the number of blocks allocated and freed in all; producers
//! split them into contiguous ranges. Blocks average 264 bytes, and at most
//! about `consumers x (CHANNEL_BATCHES + 2) x BATCH` of them are alive at
//! once (under 3 MB for two consumers) — except under `bump`, which frees
//! nothing and so grows by 264 bytes a block (2.6 GB at 10 million).
//!
//! What it stresses: cross-thread frees, which thread-caching allocators
//! must send back to the owning thread's heap, and contention: pymalloc's
//! shared view takes one lock for every request, as CPython runs under the
//! GIL.
//!
//! Phases: `exchange`.
//!
//! Checksum: N, the blocks freed, the sum of their sizes, and the wrapping
//! sums of the stamps read back at each end of every block — the same for
//! every allocator and every thread count. Each consumer keeps its own
//! tally, merged when it ends, so that counting adds no shared cache line
//! to the measured path. `ops` is N, the blocks.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use heaplab_core::{Block, Checksum, Outcome, Params, PhaseLog, SharedAllocator, SharedBlockAllocator};

use crate::kernels::{FreedTally, mix64, random_word, shared_snapshot, stamp_block};
use crate::{Body, Family, Workload};

/// The registry entry.
pub const WORKLOAD: Workload = Workload {
    name: "xmalloc",
    family: Family::Allocator,
    summary: "producer threads allocate blocks of 16..512 bytes and hand them through channels to consumer threads that free them",
    size_meaning: "blocks allocated and freed in all",
    quick_sizes: &[50_000, 200_000],
    default_sizes: &[625_000, 1_250_000, 2_500_000, 5_000_000, 10_000_000],
    threaded: true,
    body: Body::Shared(run),
};

/// Blocks handed over at a time.
pub const BATCH: usize = 64;
/// Batches a consumer's channel holds before its producers wait.
pub const CHANNEL_BATCHES: usize = 16;
/// The smallest block.
pub const MIN_BLOCK: usize = 16;
/// The largest block: pymalloc's largest size class.
pub const MAX_BLOCK: usize = 512;
/// The random stream of block sizes.
const SIZE_STREAM: u64 = 41;

/// Blocks handed from a producer to a consumer at once.
type Batch<'a> = Vec<Block<'a>>;

/// How the threads divide the work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roles {
    /// Threads that allocate.
    pub producers: usize,
    /// Threads that free.
    pub consumers: usize,
}

impl Roles {
    /// T / 2 producers (at least one) and the rest consumers; `None` for one
    /// thread, which allocates and frees alternately.
    pub fn for_threads(threads: u32) -> Option<Roles> {
        let threads = threads as usize;
        if threads < 2 {
            return None;
        }
        let producers = threads / 2;
        Some(Roles { producers, consumers: threads - producers })
    }
}

/// The size of block `k`: 16 to 512 bytes.
pub fn block_size(seed: u64, k: u64) -> usize {
    let span = (MAX_BLOCK - MIN_BLOCK + 1) as u64;
    let word = random_word(seed, SIZE_STREAM, k);
    MIN_BLOCK + ((u128::from(word) * u128::from(span)) >> 64) as usize
}

/// The stamp of block `k`: its first eight bytes hold it, its last eight its complement.
fn stamp(seed: u64, k: u64) -> u64 {
    mix64(seed ^ k.wrapping_mul(0xd6e8_feb8_6659_fd93))
}

/// Runs the workload; see the module documentation.
pub fn run(alloc: &dyn SharedAllocator, log: &mut PhaseLog, params: &Params) -> Outcome {
    let n_blocks = params.size;

    let blocks = SharedBlockAllocator::new(alloc);
    log.start("exchange", || shared_snapshot(alloc));
    let freed = match Roles::for_threads(params.threads) {
        None => {
            let mut freed = FreedTally::default();
            for start in (0..n_blocks).step_by(BATCH) {
                let end = (start + BATCH as u64).min(n_blocks);
                for block in allocate_batch(&blocks, params.seed, start..end) {
                    freed.free(&blocks, block);
                }
            }
            freed
        }
        Some(roles) => exchange(&blocks, params.seed, n_blocks, roles),
    };
    log.end(|| shared_snapshot(alloc));
    assert_eq!(freed.blocks, n_blocks, "xmalloc: blocks lost between producers and consumers");

    let mut checksum = Checksum::new();
    checksum.word(n_blocks);
    freed.digest(&mut checksum);
    Outcome { checksum: checksum.finish(), ops: n_blocks }
}

/// Allocates and stamps blocks `range`.
fn allocate_batch<'a>(
    blocks: &SharedBlockAllocator<'a>,
    seed: u64,
    range: std::ops::Range<u64>,
) -> Batch<'a> {
    range
        .map(|k| {
            let mut block =
                blocks.alloc_block(block_size(seed, k)).unwrap_or_else(|error| panic!("xmalloc: {error}"));
            stamp_block(&mut block, stamp(seed, k));
            block
        })
        .collect()
}

/// Runs the producers and consumers until every block is freed; returns what the consumers tallied.
fn exchange(blocks: &SharedBlockAllocator<'_>, seed: u64, n_blocks: u64, roles: Roles) -> FreedTally {
    let (senders, receivers): (Vec<SyncSender<Batch<'_>>>, Vec<Receiver<Batch<'_>>>) =
        (0..roles.consumers).map(|_| sync_channel(CHANNEL_BATCHES)).unzip();
    std::thread::scope(|scope| {
        let consumers: Vec<_> = receivers
            .into_iter()
            .map(|receiver| {
                scope.spawn(move || {
                    let mut freed = FreedTally::default();
                    for batch in receiver {
                        for block in batch {
                            freed.free(blocks, block);
                        }
                    }
                    freed
                })
            })
            .collect();
        let per_producer = n_blocks.div_ceil(roles.producers as u64);
        for producer in 0..roles.producers as u64 {
            let senders = senders.clone();
            scope.spawn(move || {
                let start = (producer * per_producer).min(n_blocks);
                let end = (start + per_producer).min(n_blocks);
                for (serial, batch_start) in (start..end).step_by(BATCH).enumerate() {
                    let batch_end = (batch_start + BATCH as u64).min(end);
                    let batch = allocate_batch(blocks, seed, batch_start..batch_end);
                    senders[serial % senders.len()].send(batch).expect("a consumer hung up early");
                }
            });
        }
        // The producers hold their own senders; dropping these lets consumers stop when producers do.
        drop(senders);
        let mut freed = FreedTally::default();
        for consumer in consumers {
            freed.merge(consumer.join().expect("an xmalloc consumer panicked"));
        }
        freed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_split_into_producers_and_consumers() {
        let check = |threads: u32, expected: Option<(usize, usize)>| {
            let roles = Roles::for_threads(threads).map(|roles| (roles.producers, roles.consumers));
            assert_eq!(roles, expected, "{threads} threads");
        };
        check(1, None);
        check(2, Some((1, 1)));
        check(3, Some((1, 2)));
        check(4, Some((2, 2)));
        check(7, Some((3, 4)));
    }

    #[test]
    fn block_sizes_span_16_to_512_bytes() {
        let sizes: Vec<usize> = (0..20_000).map(|k| block_size(9, k)).collect();
        assert!(sizes.iter().all(|&size| (MIN_BLOCK..=MAX_BLOCK).contains(&size)));
        assert!(sizes.contains(&MIN_BLOCK) && sizes.contains(&MAX_BLOCK));
        let mean = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
        assert!((mean - 264.0).abs() < 5.0, "mean {mean}");
    }
}
