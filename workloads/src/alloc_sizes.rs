//! `alloc-sizes`: every pymalloc size class and a few larger sizes, freed
//! in LIFO, FIFO and random order.
//!
//! What it models: the raw traffic an interpreter sends its allocator,
//! without a collector in between, in the family of mimalloc-bench's
//! size-class tests: batches of blocks of one size, each block written,
//! then all freed — newest first (a stack of temporaries), oldest first (a
//! queue), or in random order (objects that die independently).
//!
//! `size` is the number of blocks in one batch of each small size (16, 32,
//! …, 512 bytes: the 32 classes of pymalloc). The larger sizes (768, 1024,
//! 4096 and 32768 bytes, which pymalloc hands to the system allocator) get
//! batches of the same byte count, `size x 512` bytes, so that one batch
//! never holds more than `size x 512` bytes: 150 MB at 300,000 blocks, the
//! largest default size. Each phase runs every size twice, so the second
//! round reuses what the first freed. The run allocates about `size x 63`
//! KB in all, 19 GB at 300,000 blocks: more than a `bump` allocator, which
//! never frees, can hold on most machines.
//!
//! What it stresses: the allocator's fast paths for allocating and freeing,
//! its free lists under three orders, and how it returns memory: pymalloc
//! empties and frees whole pools and arenas best under LIFO.
//!
//! Phases: `lifo`, `fifo`, `random`.
//!
//! Checksum: for each batch its block size, its count and the sums of the
//! first and last words of its blocks, read back just before each block is
//! freed. Each block is written at both ends with a value derived from the
//! batch and the block's index, so an allocator that hands out overlapping
//! blocks or loses contents changes the checksum. `ops` is the number of
//! blocks allocated.

use heaplab_core::{Allocator, Block, BlockAllocator, Checksum, Outcome, Params, PhaseLog, Rng};

use crate::kernels::alloc_snapshot;
use crate::{Body, Family, Workload};

/// The registry entry.
pub const WORKLOAD: Workload = Workload {
    name: "alloc-sizes",
    family: Family::Allocator,
    summary: "batches of every pymalloc size class and a few larger sizes, written, then freed LIFO, FIFO and at random",
    size_meaning: "blocks per batch of each small size (larger sizes get the same bytes)",
    quick_sizes: &[1_000, 5_000],
    default_sizes: &[20_000, 40_000, 80_000, 160_000, 320_000],
    threaded: false,
    body: Body::Alloc(run),
};

/// The largest size pymalloc serves itself; larger requests go to the system allocator.
const SMALL_REQUEST_THRESHOLD: usize = 512;
/// pymalloc's size-class step.
const CLASS_STEP: usize = 16;
/// Sizes above the small-object threshold, served by the large path.
const LARGE_SIZES: [usize; 4] = [768, 1024, 4096, 32768];
/// Rounds of every size in each phase.
const ROUNDS: u64 = 2;
/// Bytes stamped at each end of a block.
const STAMP_BYTES: usize = 8;

/// The order in which a batch is freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FreeOrder {
    /// Newest first.
    Lifo,
    /// Oldest first.
    Fifo,
    /// In a random order.
    Random,
}

impl FreeOrder {
    /// The phase's name.
    fn phase_name(self) -> &'static str {
        match self {
            FreeOrder::Lifo => "lifo",
            FreeOrder::Fifo => "fifo",
            FreeOrder::Random => "random",
        }
    }
}

/// Runs the workload; see the module documentation.
pub fn run(alloc: &mut dyn Allocator, log: &mut PhaseLog, params: &Params) -> Outcome {
    let mut rng = Rng::new(params.seed);
    let mut checksum = Checksum::new();
    let mut n_blocks_allocated = 0;
    let mut batch_serial = 0;

    let blocks = BlockAllocator::new(alloc);
    for order in [FreeOrder::Lifo, FreeOrder::Fifo, FreeOrder::Random] {
        log.start(order.phase_name(), || alloc_snapshot(&*blocks.allocator()));
        for _ in 0..ROUNDS {
            for block_size in block_sizes() {
                let n_blocks = blocks_per_batch(params.size, block_size);
                let batch = allocate_batch(&blocks, block_size, n_blocks, batch_serial);
                let sums = free_batch(&blocks, batch, order, &mut rng);
                checksum.word(block_size as u64);
                checksum.word(n_blocks);
                checksum.word(sums.first_words);
                checksum.word(sums.last_words);
                n_blocks_allocated += n_blocks;
                batch_serial += 1;
            }
        }
    }
    log.end(|| alloc_snapshot(&*blocks.allocator()));

    Outcome { checksum: checksum.finish(), ops: n_blocks_allocated }
}

/// Every size a batch is made of: the 32 pymalloc classes, then the larger sizes.
fn block_sizes() -> impl Iterator<Item = usize> {
    (CLASS_STEP..=SMALL_REQUEST_THRESHOLD).step_by(CLASS_STEP).chain(LARGE_SIZES)
}

/// Blocks in a batch of `block_size`: `size` for the small classes, the
/// same bytes as a batch of 512-byte blocks (at least one) for larger sizes.
fn blocks_per_batch(size: u64, block_size: usize) -> u64 {
    if block_size <= SMALL_REQUEST_THRESHOLD {
        size
    } else {
        (size * SMALL_REQUEST_THRESHOLD as u64 / block_size as u64).max(1)
    }
}

/// The value stamped on block `index` of batch `batch_serial`.
fn stamp(batch_serial: u64, index: u64) -> u64 {
    (batch_serial << 40) ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Allocates `n_blocks` blocks of `block_size`, stamping each at its first
/// and last word.
fn allocate_batch<'a>(
    blocks: &BlockAllocator<'a>,
    block_size: usize,
    n_blocks: u64,
    batch_serial: u64,
) -> Vec<Block<'a>> {
    let mut batch = Vec::with_capacity(n_blocks as usize);
    for index in 0..n_blocks {
        let mut block = match blocks.alloc_block(block_size) {
            Ok(block) => block,
            Err(error) => panic!("alloc-sizes: {error}"),
        };
        let value = stamp(batch_serial, index);
        let bytes = block.bytes_mut();
        bytes[..STAMP_BYTES].copy_from_slice(&value.to_le_bytes());
        bytes[block_size - STAMP_BYTES..].copy_from_slice(&(!value).to_le_bytes());
        batch.push(block);
    }
    batch
}

/// The sums of what a batch's blocks held at each end, read as they were freed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct StampSums {
    first_words: u64,
    last_words: u64,
}

/// Frees every block of `batch` in `order`, reading each block's stamps first.
fn free_batch<'a>(
    blocks: &BlockAllocator<'a>,
    mut batch: Vec<Block<'a>>,
    order: FreeOrder,
    rng: &mut Rng,
) -> StampSums {
    let mut sums = StampSums::default();
    let mut free_one = |block: Block<'a>| {
        let bytes = block.bytes();
        let word_at = |offset: usize| {
            u64::from_le_bytes(bytes[offset..offset + STAMP_BYTES].try_into().expect("eight bytes"))
        };
        sums.first_words = sums.first_words.wrapping_add(word_at(0));
        sums.last_words = sums.last_words.wrapping_add(word_at(bytes.len() - STAMP_BYTES));
        blocks.free_block(block);
    };
    match order {
        FreeOrder::Lifo => {
            while let Some(block) = batch.pop() {
                free_one(block);
            }
        }
        FreeOrder::Fifo => {
            for block in batch {
                free_one(block);
            }
        }
        FreeOrder::Random => {
            shuffle(&mut batch, rng);
            for block in batch {
                free_one(block);
            }
        }
    }
    sums
}

/// Fisher–Yates.
fn shuffle<T>(items: &mut [T], rng: &mut Rng) {
    for upper in (1..items.len()).rev() {
        let other = rng.below(upper as u64 + 1) as usize;
        items.swap(upper, other);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_cover_every_pymalloc_class_then_the_large_path() {
        let sizes: Vec<usize> = block_sizes().collect();
        assert_eq!(sizes.len(), 32 + LARGE_SIZES.len());
        assert_eq!(sizes[..3], [16, 32, 48]);
        assert_eq!(sizes[31], 512);
        assert!(sizes.is_sorted());
        assert!(sizes.iter().all(|size| size % 16 == 0));
    }

    #[test]
    fn large_batches_hold_the_bytes_of_a_batch_of_512_byte_blocks() {
        let check = |size: u64, block_size: usize, expected: u64| {
            assert_eq!(blocks_per_batch(size, block_size), expected, "{size} blocks of {block_size} B");
        };
        check(1000, 16, 1000);
        check(1000, 512, 1000);
        check(1000, 1024, 500);
        check(1000, 4096, 125);
        check(1000, 32768, 15);
        check(1, 32768, 1);
    }

    #[test]
    fn shuffle_is_a_permutation_and_seeded() {
        let shuffled = |seed: u64| {
            let mut items: Vec<u32> = (0..100).collect();
            shuffle(&mut items, &mut Rng::new(seed));
            items
        };
        let mut sorted = shuffled(1);
        assert_ne!(sorted, (0..100).collect::<Vec<u32>>());
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<u32>>());
        assert_eq!(shuffled(1), shuffled(1));
        assert_ne!(shuffled(1), shuffled(2));
    }
}
