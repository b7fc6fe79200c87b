//! What a workload is given and what it gives back.

use std::sync::Arc;

use crate::trace::Trace;

/// The parameters of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// The workload's size; what it means is the workload's to say.
    pub size: u64,
    /// Threads to use (1 for single-threaded workloads).
    pub threads: u32,
    /// The seed of every random choice.
    pub seed: u64,
    /// The allocation trace `trace-replay` replays (`heaplab run --trace FILE`), read and
    /// checked before the run starts; `None` for every other workload.
    pub trace: Option<Arc<Trace>>,
}

/// What a workload computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// A deterministic digest of the result: the same for every strategy.
    pub checksum: u64,
    /// Operations done, in the workload's own unit.
    pub ops: u64,
}

/// A deterministic 64-bit digest (FNV-1a over 64-bit words, then a final mix).
#[derive(Clone, Copy, Debug)]
pub struct Checksum(u64);

impl Default for Checksum {
    fn default() -> Self {
        Checksum(0xcbf2_9ce4_8422_2325)
    }
}

impl Checksum {
    /// A fresh digest.
    pub fn new() -> Checksum {
        Checksum::default()
    }

    /// Mixes in a 64-bit word.
    #[inline]
    pub fn word(&mut self, w: u64) {
        for byte in w.to_le_bytes() {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Mixes in a float by its bits.
    #[inline]
    pub fn float(&mut self, f: f64) {
        self.word(f.to_bits());
    }

    /// Mixes in bytes.
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.word(bytes.len() as u64);
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Mixes in raw bytes with no length before them: the stream that [`word`](Self::word)
    /// and [`bytes`](Self::bytes) feed, written by another process (a Python twin's
    /// `--checksum-file`) and digested here. Feeding it in pieces gives the same digest.
    pub fn stream(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// The digest.
    pub fn finish(self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }
}

/// A small, fast, seeded generator (SplitMix64) so that workloads are
/// deterministic without depending on a random-number crate's stream staying stable.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_depends_on_order_and_content() {
        let digest = |words: &[u64]| {
            let mut c = Checksum::new();
            words.iter().for_each(|&w| c.word(w));
            c.finish()
        };
        assert_eq!(digest(&[1, 2]), digest(&[1, 2]));
        assert_ne!(digest(&[1, 2]), digest(&[2, 1]));
        assert_ne!(digest(&[1]), digest(&[1, 0]));
    }

    #[test]
    fn a_stream_digests_as_the_words_and_bytes_it_was_written_from() {
        let mut direct = Checksum::new();
        direct.word(u64::MAX - 4);
        direct.float(2.5);
        direct.bytes(b"item17");
        let mut stream = Vec::new();
        stream.extend_from_slice(&(u64::MAX - 4).to_le_bytes());
        stream.extend_from_slice(&2.5f64.to_bits().to_le_bytes());
        stream.extend_from_slice(&6u64.to_le_bytes());
        stream.extend_from_slice(b"item17");
        let mut whole = Checksum::new();
        whole.stream(&stream);
        let mut pieces = Checksum::new();
        for piece in stream.chunks(5) {
            pieces.stream(piece);
        }
        assert_eq!(whole.finish(), direct.finish());
        assert_eq!(pieces.finish(), direct.finish());
        let mut short = Checksum::new();
        short.stream(&stream[..stream.len() - 1]);
        assert_ne!(short.finish(), direct.finish());
    }

    #[test]
    fn rng_is_seeded_and_bounded() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..100).map(|_| a.below(10)).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.below(10)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|&x| x < 10));
        assert!((0..10).all(|d| xs.contains(&d)));
    }
}
