//! The pieces the numeric and threaded allocator workloads share: input
//! values, the one order in which sums are taken, f64 in a block's bytes,
//! and allocator snapshots for the phase log.
//!
//! Input values are a function of the seed, a stream and the element's
//! index ([`element_value`]), not of a generator's running state, so that a
//! boxed list, a contiguous array, a chunk of either and a task on another
//! thread all see the same value for element `i`.
//!
//! Summation order. Floating-point addition is not associative, so two
//! workloads that are to give the same sum bit for bit must add in the same
//! order. Every numeric workload here sums in *blocks* of [`BLOCK`]
//! elements; inside a block element `i` goes to lane `i % LANES` of
//! [`LANES`] independent accumulators, and the lanes are combined pairwise
//! at the end of the block; the blocks' totals are added left to right to a
//! running total. This is close to what NumPy does (its pairwise summation
//! unrolls eight accumulators in blocks of 128), it lets the compiler keep
//! the lanes in vector registers so that a sum over a large array is
//! limited by memory bandwidth rather than by the latency of one add, and
//! it makes a chunked or parallel sum over chunks of [`BLOCK`] elements
//! equal to the whole-array sum. Boxed workloads push their floats one at a
//! time through [`BlockedSum`], which keeps exactly the same order.

use heaplab_core::{Allocator, Block, Checksum, Outcome, SharedAllocator, SharedBlockAllocator, Snapshot};

/// Elements in a summation block, and in a chunk of `chunked` and `par-map-reduce`: 64 Ki (512 KiB of f64).
pub const BLOCK: usize = 64 * 1024;

/// Independent accumulators inside a block.
pub const LANES: usize = 8;

/// Bytes of one f64.
pub const F64_BYTES: usize = 8;

/// SplitMix64's increment.
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function: a bijection on 64-bit words that mixes every input bit into every output bit.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The random 64-bit word number `index` of stream `stream` under `seed`:
/// SplitMix64's output at position `index` of a sequence whose start depends on the seed and the stream.
#[inline]
pub fn random_word(seed: u64, stream: u64, index: u64) -> u64 {
    let start = mix64(seed ^ mix64(stream.wrapping_add(GOLDEN_GAMMA)));
    mix64(start.wrapping_add(index.wrapping_add(1).wrapping_mul(GOLDEN_GAMMA)))
}

/// Turns 64 random bits into a float uniform in `[0, 1)` with 53 random bits.
#[inline]
pub fn unit_float(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The input value of element `index` of stream `stream`: uniform in `[0, 1)`, like `random.random()`.
#[inline]
pub fn element_value(seed: u64, stream: u64, index: u64) -> f64 {
    unit_float(random_word(seed, stream, index))
}

/// The map every sum workload applies: `x * 2 + 1`, two roundings, never fused.
#[inline]
pub fn map_value(x: f64) -> f64 {
    x * 2.0 + 1.0
}

/// Combines the lanes of a block pairwise: `((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))`.
#[inline]
fn combine_lanes(lanes: &[f64; LANES]) -> f64 {
    ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
}

/// The sum of at most one block, in the lane order of the module documentation.
#[inline]
pub fn block_sum(values: &[f64]) -> f64 {
    debug_assert!(values.len() <= BLOCK, "a block holds at most {BLOCK} elements");
    let mut lanes = [0.0; LANES];
    let mut groups = values.chunks_exact(LANES);
    for group in &mut groups {
        for (lane, value) in lanes.iter_mut().zip(group) {
            *lane += value;
        }
    }
    for (lane, value) in lanes.iter_mut().zip(groups.remainder()) {
        *lane += value;
    }
    combine_lanes(&lanes)
}

/// The sum of at most one block of little-endian f64 bytes, in the same
/// order as [`block_sum`] over the same values.
#[inline]
pub fn block_sum_le_bytes(bytes: &[u8]) -> f64 {
    debug_assert!(bytes.chunks_exact(F64_BYTES).remainder().is_empty(), "a whole number of f64s");
    debug_assert!(bytes.len() <= BLOCK * F64_BYTES, "a block holds at most {BLOCK} elements");
    let mut lanes = [0.0; LANES];
    let mut groups = bytes.chunks_exact(LANES * F64_BYTES);
    for group in &mut groups {
        for (lane, value) in lanes.iter_mut().zip(group.chunks_exact(F64_BYTES)) {
            *lane += read_f64(value);
        }
    }
    for (lane, value) in lanes.iter_mut().zip(groups.remainder().chunks_exact(F64_BYTES)) {
        *lane += read_f64(value);
    }
    combine_lanes(&lanes)
}

/// The sum of any number of values: block totals added left to right.
pub fn blocked_sum(values: &[f64]) -> f64 {
    values.chunks(BLOCK).fold(0.0, |total, block| total + block_sum(block))
}

/// The sum of any number of little-endian f64 bytes, in the order of [`blocked_sum`].
pub fn blocked_sum_le_bytes(bytes: &[u8]) -> f64 {
    bytes.chunks(BLOCK * F64_BYTES).fold(0.0, |total, block| total + block_sum_le_bytes(block))
}

/// The stream of the sum workloads' input values (`boxed-sum`, `array-sum`, `chunked`, `par-map-reduce`).
pub const SUM_INPUT_STREAM: u64 = 0;

/// The outcome of a sum workload: the checksum mixes the element count and
/// the total's bits, so that every form of the computation that sums the
/// same values in the same order gives the same checksum; `ops` is the
/// number of elements.
pub fn sum_outcome(n_elements: u64, total: f64) -> Outcome {
    let mut checksum = Checksum::new();
    checksum.word(n_elements);
    checksum.float(total);
    Outcome { checksum: checksum.finish(), ops: n_elements }
}

/// A running sum fed one value at a time, in exactly the order of [`blocked_sum`].
#[derive(Clone, Debug, Default)]
pub struct BlockedSum {
    total: f64,
    lanes: [f64; LANES],
    in_block: usize,
}

impl BlockedSum {
    /// An empty sum.
    pub fn new() -> BlockedSum {
        BlockedSum::default()
    }

    /// Adds the next value.
    #[inline]
    pub fn push(&mut self, value: f64) {
        self.lanes[self.in_block % LANES] += value;
        self.in_block += 1;
        if self.in_block == BLOCK {
            self.close_block();
        }
    }

    /// Adds the total of a whole block (or of the last, shorter one) summed elsewhere.
    /// Only valid between blocks: after a multiple of [`BLOCK`] pushes.
    pub fn add_block_total(&mut self, block_total: f64) {
        assert_eq!(self.in_block, 0, "a block total added in the middle of a block");
        self.total += block_total;
    }

    /// The sum of everything added.
    pub fn finish(mut self) -> f64 {
        if self.in_block > 0 {
            self.close_block();
        }
        self.total
    }

    fn close_block(&mut self) {
        self.total += combine_lanes(&self.lanes);
        self.lanes = [0.0; LANES];
        self.in_block = 0;
    }
}

/// Reads one little-endian f64 from exactly eight bytes.
#[inline]
pub fn read_f64(bytes: &[u8]) -> f64 {
    f64::from_le_bytes(bytes.try_into().expect("eight bytes"))
}

/// Writes one f64, little-endian, into exactly eight bytes.
#[inline]
pub fn write_f64(bytes: &mut [u8], value: f64) {
    bytes.copy_from_slice(&value.to_le_bytes());
}

/// Reads one little-endian u64 from the eight bytes at `offset`.
#[inline]
pub fn read_u64_at(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(bytes[offset..offset + 8].try_into().expect("eight bytes"))
}

/// What a thread adds up about the blocks it frees: their bytes and the
/// stamps read back from their first and last eight bytes. Sums wrap, so
/// they do not depend on the order of the frees, and tallies kept by
/// separate threads merge into the same figures whatever the split.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FreedTally {
    /// Blocks freed.
    pub blocks: u64,
    /// Their sizes, summed.
    pub bytes: u64,
    /// Their first words, summed, wrapping.
    pub first_words: u64,
    /// Their last words, summed, wrapping.
    pub last_words: u64,
}

impl FreedTally {
    /// Reads `block`'s stamps, counts it, and frees it into `alloc`.
    pub fn free<'a>(&mut self, blocks: &SharedBlockAllocator<'a>, block: Block<'a>) {
        let bytes = block.bytes();
        self.blocks += 1;
        self.bytes = self.bytes.wrapping_add(bytes.len() as u64);
        self.first_words = self.first_words.wrapping_add(read_u64_at(bytes, 0));
        self.last_words = self.last_words.wrapping_add(read_u64_at(bytes, bytes.len() - 8));
        blocks.free_block(block);
    }

    /// Adds another thread's tally to this one.
    pub fn merge(&mut self, other: FreedTally) {
        self.blocks += other.blocks;
        self.bytes = self.bytes.wrapping_add(other.bytes);
        self.first_words = self.first_words.wrapping_add(other.first_words);
        self.last_words = self.last_words.wrapping_add(other.last_words);
    }

    /// Mixes every figure into `checksum`.
    pub fn digest(&self, checksum: &mut Checksum) {
        checksum.word(self.blocks);
        checksum.word(self.bytes);
        checksum.word(self.first_words);
        checksum.word(self.last_words);
    }
}

/// Stamps a block with `value` in its first eight bytes and `!value` in its last eight (blocks are at least 16 bytes).
pub fn stamp_block(block: &mut Block, value: u64) {
    let bytes = block.bytes_mut();
    let len = bytes.len();
    bytes[..8].copy_from_slice(&value.to_le_bytes());
    bytes[len - 8..].copy_from_slice(&(!value).to_le_bytes());
}

/// A single-threaded allocator's figures at a phase boundary; its live bytes are those it counts.
pub fn alloc_snapshot(alloc: &dyn Allocator) -> Snapshot {
    let stats = alloc.stats();
    let live_bytes = stats.counters.map_or(0, |counters| counters.live_bytes);
    Snapshot { live_bytes, collections: 0, alloc: stats }
}

/// A thread-safe allocator's figures at a phase boundary; live bytes are 0
/// where it keeps no counts.
pub fn shared_snapshot(alloc: &dyn SharedAllocator) -> Snapshot {
    let stats = alloc.stats();
    let live_bytes = stats.counters.map_or(0, |counters| counters.live_bytes);
    Snapshot { live_bytes, collections: 0, alloc: stats }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u64) -> Vec<f64> {
        (0..n as u64).map(|i| element_value(seed, 0, i)).collect()
    }

    fn to_le_bytes(values: &[f64]) -> Vec<u8> {
        values.iter().flat_map(|value| value.to_le_bytes()).collect()
    }

    #[test]
    fn pushed_slice_and_byte_sums_agree_bit_for_bit() {
        let check = |n: usize| {
            let xs = values(n, 3);
            let mut pushed = BlockedSum::new();
            xs.iter().for_each(|&x| pushed.push(x));
            let pushed = pushed.finish();
            assert_eq!(blocked_sum(&xs).to_bits(), pushed.to_bits(), "{n} values");
            assert_eq!(blocked_sum_le_bytes(&to_le_bytes(&xs)).to_bits(), pushed.to_bits(), "{n} values");
        };
        for n in [0, 1, 7, 8, 9, 1_000, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 13] {
            check(n);
        }
    }

    #[test]
    fn block_totals_added_in_order_equal_the_whole_sum() {
        let xs = values(3 * BLOCK + 100, 5);
        let mut chunked = BlockedSum::new();
        for chunk in xs.chunks(BLOCK) {
            chunked.add_block_total(block_sum(chunk));
        }
        assert_eq!(chunked.finish().to_bits(), blocked_sum(&xs).to_bits());
    }

    #[test]
    fn the_order_is_the_documented_one_and_not_left_to_right() {
        let check =
            |xs: &[f64], expected: f64| assert_eq!(block_sum(xs).to_bits(), expected.to_bits(), "{xs:?}");
        check(&[], 0.0);
        check(&[1.5], 1.5);
        // Lane 0 gets 1e100 and then -1e100; lane 1 gets 1.0, which a left-to-right sum loses.
        let xs = [1e100, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1e100];
        check(&xs, 1.0);
        let left_to_right = xs.iter().fold(0.0, |total, x| total + x);
        assert_ne!(block_sum(&xs).to_bits(), left_to_right.to_bits());
    }

    #[test]
    fn element_values_are_uniform_in_the_unit_interval_and_seeded() {
        let xs = values(10_000, 1);
        assert!(xs.iter().all(|&x| (0.0..1.0).contains(&x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
        assert_eq!(xs, values(10_000, 1));
        assert_ne!(xs, values(10_000, 2));
        assert_ne!(element_value(1, 0, 5), element_value(1, 1, 5), "streams are distinct");
    }

    #[test]
    fn bytes_round_trip() {
        let mut bytes = [0u8; 8];
        write_f64(&mut bytes, -2.5);
        assert_eq!(read_f64(&bytes), -2.5);
        assert_eq!(read_u64_at(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 9], 1), 1);
    }

    #[test]
    fn tallies_merge_into_the_same_figures_whatever_the_split() {
        let tally = |blocks: u64, bytes: u64, first_words: u64, last_words: u64| FreedTally {
            blocks,
            bytes,
            first_words,
            last_words,
        };
        let mut left_then_right = tally(1, 16, u64::MAX, 3);
        left_then_right.merge(tally(2, 32, 2, 4));
        let mut right_then_left = tally(2, 32, 2, 4);
        right_then_left.merge(tally(1, 16, u64::MAX, 3));
        assert_eq!(left_then_right, right_then_left);
        assert_eq!(left_then_right, tally(3, 48, 1, 7));
    }

    #[test]
    #[should_panic(expected = "in the middle of a block")]
    fn a_block_total_cannot_be_added_mid_block() {
        let mut sum = BlockedSum::new();
        sum.push(1.0);
        sum.add_block_total(2.0);
    }
}
