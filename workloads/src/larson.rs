//! `larson`: threads replace random blocks in arrays of live blocks, and
//! hand the arrays on to other threads between rounds, so that blocks are
//! freed by threads other than the one that allocated them.
//!
//! What it models: Larson and Krishnan's server benchmark (in mimalloc-bench
//! as `larson`): each worker of a server keeps a set of live objects and
//! keeps replacing random ones — free one, allocate another of a random
//! size — and when a worker ends, its successor inherits its objects.
//!
//! Here the live set is [`ARRAYS`] slot arrays of [`SLOTS`] blocks each,
//! spread over the T threads of a round: in round `r`, array `a` is worked
//! by thread `(a + r) mod T`. Each round starts fresh threads, as Larson's
//! workers end and are replaced, and each array moves to the next thread,
//! so from the second round on (with T > 1) every block freed was allocated
//! by another thread. A replacement frees the block in a random slot and
//! allocates one of a random size between 16 and 512 bytes into it. The
//! random choices of an array in a round come from the seed, the array and
//! the round alone, so the same blocks are made and freed whatever the
//! thread count; with T > 48 some threads have no array.
//!
//! `size` is the number of replacements (alloc + free pairs) in all,
//! rounded down to a multiple of `ARRAYS x ROUNDS` (at least one per array
//! per round). The live set is constant: 49,152 blocks of 264 bytes on
//! average, about 13 MB — except under `bump`, which frees nothing and
//! grows by 264 bytes a replacement (2.6 GB at 10 million).
//!
//! What it stresses: an allocator's thread caches under a steady mix of
//! sizes with frees from foreign threads, and the cost of threads that
//! come and go; pymalloc's shared view serialises it all on one lock.
//!
//! Phases: `fill` (every slot allocated), `rounds`, `teardown` (every block
//! freed); each is run by T threads.
//!
//! Checksum: the replacements, the blocks freed, the sum of their sizes,
//! and the wrapping sums of the stamps read back at each end of every
//! block before it was freed — the same for every allocator and thread
//! count. Each array keeps its own tally (it is worked by one thread at a
//! time), so counting shares no cache line between threads. `ops` is the
//! replacements; `ops_per_s` divides them by the whole run, fill and
//! teardown included, and the `rounds` phase's duration gives the rate of
//! replacements alone.

use heaplab_core::{Block, Checksum, Outcome, Params, PhaseLog, Rng, SharedAllocator, SharedBlockAllocator};

use crate::kernels::{FreedTally, random_word, shared_snapshot, stamp_block};
use crate::{Body, Family, Workload};

/// The registry entry.
pub const WORKLOAD: Workload = Workload {
    name: "larson",
    family: Family::Allocator,
    summary: "T threads replace random blocks of 16..512 bytes in arrays of live blocks, handing the arrays on between rounds",
    size_meaning: "replacements (alloc + free pairs) in all",
    quick_sizes: &[50_000, 200_000],
    default_sizes: &[625_000, 1_250_000, 2_500_000, 5_000_000, 10_000_000],
    threaded: true,
    body: Body::Shared(run),
};

/// Slot arrays in the live set (divisible by 1, 2, 3, 4, 6, 8, 12, 16, 24 and 48 threads).
pub const ARRAYS: usize = 48;
/// Blocks in a slot array.
pub const SLOTS: usize = 1024;
/// Rounds; an array changes threads between rounds.
pub const ROUNDS: usize = 8;
/// The smallest block.
pub const MIN_BLOCK: u64 = 16;
/// The largest block: pymalloc's largest size class.
pub const MAX_BLOCK: u64 = 512;
/// The random stream from which each array's generator for each round is seeded.
const STREAM: u64 = 51;

/// One array of live blocks, its index among the arrays, and what has been freed from it.
#[derive(Debug)]
struct SlotArray<'a> {
    index: usize,
    slots: Vec<Option<Block<'a>>>,
    freed: FreedTally,
}

/// Replacements per array per round for a requested total.
pub fn replacements_per_array_round(size: u64) -> u64 {
    (size / (ARRAYS * ROUNDS) as u64).max(1)
}

/// Runs the workload; see the module documentation.
pub fn run(alloc: &dyn SharedAllocator, log: &mut PhaseLog, params: &Params) -> Outcome {
    let threads = params.threads.max(1) as usize;
    let per_round = replacements_per_array_round(params.size);
    let seed = params.seed;
    let blocks = SharedBlockAllocator::new(alloc);
    let blocks = &blocks;
    let mut arrays: Vec<SlotArray<'_>> = (0..ARRAYS)
        .map(|index| SlotArray { index, slots: Vec::with_capacity(SLOTS), freed: FreedTally::default() })
        .collect();

    log.start("fill", || shared_snapshot(alloc));
    arrays = in_parallel(arrays, threads, 0, |array| {
        let mut rng = array_rng(seed, array.index, ROUNDS);
        for _ in 0..SLOTS {
            array.slots.push(Some(allocate(blocks, &mut rng)));
        }
    });

    log.start("rounds", || shared_snapshot(alloc));
    for round in 0..ROUNDS {
        arrays = in_parallel(arrays, threads, round, |array| {
            let mut rng = array_rng(seed, array.index, round);
            for _ in 0..per_round {
                let slot = &mut array.slots[rng.below(SLOTS as u64) as usize];
                array.freed.free(blocks, slot.take().expect("every slot holds a block"));
                *slot = Some(allocate(blocks, &mut rng));
            }
        });
    }

    log.start("teardown", || shared_snapshot(alloc));
    arrays = in_parallel(arrays, threads, ROUNDS, |array| {
        for block in array.slots.drain(..).flatten() {
            array.freed.free(blocks, block);
        }
    });
    log.end(|| shared_snapshot(alloc));

    let replacements = per_round * (ARRAYS * ROUNDS) as u64;
    let mut freed = FreedTally::default();
    arrays.iter().for_each(|array| freed.merge(array.freed));
    assert_eq!(freed.blocks, (ARRAYS * SLOTS) as u64 + replacements, "larson: blocks lost");
    let mut checksum = Checksum::new();
    checksum.word(replacements);
    freed.digest(&mut checksum);
    Outcome { checksum: checksum.finish(), ops: replacements }
}

/// The generator of `array_index`'s choices in `round` (round [`ROUNDS`] is the fill).
fn array_rng(seed: u64, array_index: usize, round: usize) -> Rng {
    Rng::new(random_word(seed, STREAM, (array_index * (ROUNDS + 1) + round) as u64))
}

/// Allocates a block of a random size and stamps it at both ends with a random word and its complement.
fn allocate<'a>(blocks: &SharedBlockAllocator<'a>, rng: &mut Rng) -> Block<'a> {
    let size = (MIN_BLOCK + rng.below(MAX_BLOCK - MIN_BLOCK + 1)) as usize;
    let mut block = blocks.alloc_block(size).unwrap_or_else(|error| panic!("larson: {error}"));
    stamp_block(&mut block, rng.next_u64());
    block
}

/// Which thread of `threads` works array `array_index` in `round`.
pub fn thread_of(array_index: usize, round: usize, threads: usize) -> usize {
    (array_index + round) % threads
}

/// Runs `work` on every array, each on thread [`thread_of`] of `threads`
/// fresh threads (or on this thread when there is one), and gives the
/// arrays back in index order.
fn in_parallel<'a>(
    arrays: Vec<SlotArray<'a>>,
    threads: usize,
    round: usize,
    work: impl Fn(&mut SlotArray<'a>) + Sync,
) -> Vec<SlotArray<'a>> {
    if threads == 1 {
        let mut arrays = arrays;
        arrays.iter_mut().for_each(&work);
        return arrays;
    }
    let mut shares: Vec<Vec<SlotArray<'a>>> = (0..threads).map(|_| Vec::new()).collect();
    for array in arrays {
        shares[thread_of(array.index, round, threads)].push(array);
    }
    let work = &work;
    let mut arrays: Vec<SlotArray<'a>> = std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .into_iter()
            .map(|mut share| {
                scope.spawn(move || {
                    share.iter_mut().for_each(work);
                    share
                })
            })
            .collect();
        handles.into_iter().flat_map(|handle| handle.join().expect("a larson thread panicked")).collect()
    });
    arrays.sort_by_key(|array| array.index);
    arrays
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_move_to_another_thread_every_round() {
        let check = |threads: usize| {
            for array in 0..ARRAYS {
                for round in 0..ROUNDS {
                    let here = thread_of(array, round, threads);
                    let next = thread_of(array, round + 1, threads);
                    assert!(here < threads);
                    assert_eq!(here != next, threads > 1, "array {array}, round {round}, {threads} threads");
                }
            }
        };
        for threads in [1, 2, 3, 5, 48, 64] {
            check(threads);
        }
    }

    #[test]
    fn replacements_round_down_to_whole_rounds_of_every_array() {
        let check =
            |size: u64, expected: u64| assert_eq!(replacements_per_array_round(size), expected, "{size}");
        check(1, 1);
        check(384, 1);
        check(767, 1);
        check(768, 2);
        check(1_000_000, 2_604);
    }
}
