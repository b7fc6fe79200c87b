//! The property-test harness every allocator goes through: random sequences of allocate,
//! free and reallocate, checked against a model of the live blocks.
//!
//! After every step: each block is 16-aligned; no two live blocks overlap; each block still
//! holds the pattern written into it (checked when it is freed or resized); and the
//! allocator's counters agree with the model (live bytes are the sum of live sizes, and
//! allocations minus frees the number of live blocks).

use std::collections::BTreeMap;
use std::ptr::NonNull;

use heaplab_core::{ALIGN, Allocator, Counters, SharedAllocator};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::{ALLOCATORS, AllocConfig, AllocVisitor, Geometry, availability, shared, with_allocator};

/// One step of a test sequence.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// Allocate this many bytes.
    Allocate(usize),
    /// Free the live block at this index.
    Free(Index),
    /// Resize the live block at this index to this many bytes.
    Reallocate(Index, usize),
}

/// Sizes from 0 to 2048 bytes, mostly small, as a Python heap's are (0 now and then: see
/// "Zero-size requests" on [`Allocator`]).
pub(crate) fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        1 => Just(0usize),
        6 => 1..=64usize,
        3 => 65..=512usize,
        1 => 513..=2048usize,
    ]
}

/// A sequence of steps.
pub(crate) fn ops(max_len: usize) -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        5 => size().prop_map(Op::Allocate),
        3 => any::<Index>().prop_map(Op::Free),
        2 => (any::<Index>(), size()).prop_map(|(index, size)| Op::Reallocate(index, size)),
    ];
    proptest::collection::vec(op, 1..max_len)
}

/// The byte at `offset` of the block with id `id`.
fn pattern(id: u64, offset: usize) -> u8 {
    (id.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8 ^ (offset as u8)
}

fn fill(ptr: NonNull<u8>, size: usize, id: u64) {
    // SAFETY: callers pass a live block of at least `size` bytes that only they use.
    let bytes = unsafe { std::slice::from_raw_parts_mut(ptr.as_ptr(), size) };
    for (offset, byte) in bytes.iter_mut().enumerate() {
        *byte = pattern(id, offset);
    }
}

/// Checks the first `len` bytes of a live block against the pattern of `id`.
fn holds_pattern(ptr: NonNull<u8>, len: usize, id: u64) -> bool {
    // SAFETY: callers pass a live block of at least `len` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.as_ptr(), len) };
    bytes.iter().enumerate().all(|(offset, &byte)| byte == pattern(id, offset))
}

/// A live block of the model.
#[derive(Clone, Copy, Debug)]
struct Live {
    ptr: NonNull<u8>,
    size: usize,
    id: u64,
}

/// The live blocks, by address, with the checks that relate them.
#[derive(Default)]
struct Model {
    by_address: BTreeMap<usize, Live>,
    next_id: u64,
    live_bytes: u64,
}

impl Model {
    /// Records a new block, checking alignment and that it overlaps no live block.
    fn insert(&mut self, ptr: NonNull<u8>, size: usize, id: u64) -> Result<(), TestCaseError> {
        let start = ptr.as_ptr() as usize;
        prop_assert_eq!(start % ALIGN, 0, "block of {} bytes at {:#x} not 16-aligned", size, start);
        // Distinct addresses, even for zero-size blocks.
        prop_assert!(!self.by_address.contains_key(&start), "two live blocks at {:#x}", start);
        if let Some((&before, live)) = self.by_address.range(..=start).next_back() {
            prop_assert!(
                before + live.size <= start,
                "{:#x}+{} overlaps {:#x}+{}",
                before,
                live.size,
                start,
                size
            );
        }
        if let Some((&after, live)) = self.by_address.range(start..).next() {
            prop_assert!(start + size <= after, "{:#x}+{} overlaps {:#x}+{}", start, size, after, live.size);
        }
        self.by_address.insert(start, Live { ptr, size, id });
        self.live_bytes += size as u64;
        Ok(())
    }

    /// Takes out the live block at `index` (in address order), checking its contents.
    fn take(&mut self, index: Index) -> Result<Option<Live>, TestCaseError> {
        if self.by_address.is_empty() {
            return Ok(None);
        }
        self.take_at(index.index(self.by_address.len()))
    }

    /// Takes out the live block at `position` (in address order), if any, checking its contents.
    fn take_at(&mut self, position: usize) -> Result<Option<Live>, TestCaseError> {
        let Some(&address) = self.by_address.keys().nth(position) else { return Ok(None) };
        let live = self.by_address.remove(&address).expect("present");
        prop_assert!(
            holds_pattern(live.ptr, live.size, live.id),
            "block {} of {} bytes was overwritten",
            live.id,
            live.size
        );
        self.live_bytes -= live.size as u64;
        Ok(Some(live))
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Checks counters, where the allocator keeps them, against the model.
    fn check_counters(&self, counters: Option<Counters>) -> Result<(), TestCaseError> {
        if let Some(counters) = counters {
            prop_assert_eq!(counters.live_bytes, self.live_bytes);
            prop_assert_eq!(counters.n_allocs - counters.n_frees, self.by_address.len() as u64);
            prop_assert!(counters.peak_live_bytes >= counters.live_bytes);
        }
        Ok(())
    }
}

/// Runs `ops` on `alloc`, then frees what is left, checking everything on the way.
pub(crate) fn run_ops<A: Allocator + ?Sized>(alloc: &mut A, ops: &[Op]) -> Result<(), TestCaseError> {
    run_ops_with(alloc, ops, 1, |_, _| {})
}

/// As [`run_ops`], checking the counters every `counters_every` steps (pymalloc's `stats`
/// walks every pool) and calling `check(alloc, step)` after every step and once more (with
/// `ops.len()`) before the final drain.
pub(crate) fn run_ops_with<A: Allocator + ?Sized>(
    alloc: &mut A,
    ops: &[Op],
    counters_every: usize,
    mut check: impl FnMut(&A, usize),
) -> Result<(), TestCaseError> {
    let mut model = Model::default();
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Allocate(size) => {
                let ptr = alloc.allocate(size).expect("memory");
                let id = model.new_id();
                model.insert(ptr, size, id)?;
                fill(ptr, size, id);
            }
            Op::Free(index) => {
                if let Some(live) = model.take(index)? {
                    // SAFETY: the model holds only live blocks of `alloc`, with their sizes.
                    unsafe { alloc.free(live.ptr, live.size) };
                }
            }
            Op::Reallocate(index, new_size) => {
                if let Some(live) = model.take(index)? {
                    // SAFETY: as for free; the old block is not used again.
                    let moved = unsafe { alloc.reallocate(live.ptr, live.size, new_size) }.expect("memory");
                    let kept = live.size.min(new_size);
                    prop_assert!(
                        holds_pattern(moved, kept, live.id),
                        "realloc {} -> {} lost contents",
                        live.size,
                        new_size
                    );
                    model.insert(moved, new_size, live.id)?;
                    fill(moved, new_size, live.id);
                }
            }
        }
        if step % counters_every == 0 {
            model.check_counters(alloc.stats().counters)?;
        }
        check(alloc, step);
    }
    check(alloc, ops.len());
    while let Some(live) = model.take_at(0)? {
        // SAFETY: as above.
        unsafe { alloc.free(live.ptr, live.size) };
    }
    model.check_counters(alloc.stats().counters)
}

/// Long sequences for pymalloc: an allocation-heavy run of `fill` steps then a free-heavy
/// one of `drain` steps, sizes 1..=512 (every class), so that pools and arenas fill up and
/// empty again.
pub(crate) fn fill_then_drain(
    fill: std::ops::Range<usize>,
    drain: std::ops::Range<usize>,
) -> impl Strategy<Value = Vec<Op>> {
    let small = || 1..=512usize;
    let fill_op = prop_oneof![
        8 => small().prop_map(Op::Allocate),
        1 => any::<Index>().prop_map(Op::Free),
        1 => (any::<Index>(), small()).prop_map(|(index, size)| Op::Reallocate(index, size)),
    ];
    let drain_op = prop_oneof![
        1 => small().prop_map(Op::Allocate),
        8 => any::<Index>().prop_map(Op::Free),
        1 => (any::<Index>(), small()).prop_map(|(index, size)| Op::Reallocate(index, size)),
    ];
    (proptest::collection::vec(fill_op, fill), proptest::collection::vec(drain_op, drain)).prop_map(
        |(mut fill, drain)| {
            fill.extend(drain);
            fill
        },
    )
}

/// Runs `ops` through a shared view (a resize there is a free and a fresh allocation).
pub(crate) fn run_shared_ops(alloc: &dyn SharedAllocator, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut model = Model::default();
    let start = alloc.stats().counters;
    let relative = |counters: Option<Counters>| {
        counters.map(|c| {
            let s = start.unwrap_or_default();
            Counters {
                n_allocs: c.n_allocs - s.n_allocs,
                n_frees: c.n_frees - s.n_frees,
                live_bytes: c.live_bytes - s.live_bytes,
                ..c
            }
        })
    };
    for op in ops {
        let (free, allocate) = match *op {
            Op::Allocate(size) => (None, Some(size)),
            Op::Free(index) => (Some(index), None),
            Op::Reallocate(index, size) => (Some(index), Some(size)),
        };
        if let Some(live) = free.map(|index| model.take(index)).transpose()?.flatten() {
            // SAFETY: the model holds only live blocks of `alloc`, with their sizes.
            unsafe { alloc.free(live.ptr, live.size) };
        }
        if let Some(size) = allocate {
            let ptr = alloc.allocate(size).expect("memory");
            let id = model.new_id();
            model.insert(ptr, size, id)?;
            fill(ptr, size, id);
        }
        model.check_counters(relative(alloc.stats().counters))?;
    }
    while let Some(live) = model.take_at(0)? {
        // SAFETY: as above.
        unsafe { alloc.free(live.ptr, live.size) };
    }
    model.check_counters(relative(alloc.stats().counters))
}

/// Allocates blocks on this thread and frees them on another, while both keep allocating.
pub(crate) fn free_on_another_thread(alloc: &dyn SharedAllocator, sizes: &[usize]) {
    let (sender, receiver) = std::sync::mpsc::channel::<(usize, usize, u64)>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut own: Vec<(NonNull<u8>, usize)> = Vec::new();
            for (address, size, id) in receiver {
                let ptr = NonNull::new(address as *mut u8).expect("non-null");
                assert!(holds_pattern(ptr, size, id), "block {id} changed on its way between threads");
                // SAFETY: the producer handed this live block over and does not touch it again.
                unsafe { alloc.free(ptr, size) };
                own.push((alloc.allocate(size).expect("memory"), size));
                if own.len() > 8 {
                    for (ptr, size) in own.drain(..) {
                        // SAFETY: allocated on this thread with this size, freed once.
                        unsafe { alloc.free(ptr, size) };
                    }
                }
            }
            for (ptr, size) in own {
                // SAFETY: as above.
                unsafe { alloc.free(ptr, size) };
            }
        });
        for (id, &size) in sizes.iter().enumerate() {
            let ptr = alloc.allocate(size).expect("memory");
            fill(ptr, size, id as u64);
            sender.send((ptr.as_ptr() as usize, size, id as u64)).expect("consumer alive");
        }
        drop(sender);
    });
}

/// The allocators the tests run: every available one; under Miri, which cannot call foreign
/// allocators (mimalloc, jemalloc) or load libpython, those written in Rust over libc's
/// malloc (which Miri provides) and `std::alloc`.
fn testable_allocators() -> impl Iterator<Item = &'static crate::AllocatorInfo> {
    ALLOCATORS.iter().filter(|info| {
        if cfg!(miri) {
            matches!(info.name, "pymalloc" | "system" | "bump")
        } else {
            availability(info.name).is_ok()
        }
    })
}

/// Runs `ops` on every available allocator, through [`with_allocator`].
fn run_on_every_allocator(config: &AllocConfig, ops: &[Op]) -> Result<(), TestCaseError> {
    struct RunOps<'a>(&'a [Op]);
    impl AllocVisitor for RunOps<'_> {
        type Output = Result<(), TestCaseError>;
        fn visit<A: Allocator + 'static>(self, mut alloc: A) -> Self::Output {
            run_ops(&mut alloc, self.0)
        }
    }
    for info in testable_allocators() {
        with_allocator(info.name, config, RunOps(ops))
            .expect("available")
            .map_err(|e| TestCaseError::fail(format!("{}: {e}", info.name)))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 2 } else { 48 }, ..ProptestConfig::default() })]

    #[test]
    fn every_allocator_keeps_blocks_aligned_apart_and_intact(ops in ops(200)) {
        run_on_every_allocator(&AllocConfig::default(), &ops)?;
    }

    #[test]
    fn pymalloc_in_the_39_geometry_does_too(ops in ops(200)) {
        let mut alloc = crate::Pymalloc::new(Geometry::Py39);
        run_ops(&mut alloc, &ops)?;
        alloc.check_invariants();
    }

    #[test]
    fn every_shared_view_keeps_blocks_aligned_apart_and_intact(ops in ops(200)) {
        for info in testable_allocators() {
            let alloc = shared(info.name, &AllocConfig::default()).expect("available");
            run_shared_ops(alloc.as_ref(), &ops).map_err(|e| TestCaseError::fail(format!("{}: {e}", info.name)))?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 1 } else { 8 }, ..ProptestConfig::default() })]

    /// Thousands of mixed operations of every class on pymalloc, through the model (aligned,
    /// apart, intact, counted), with every structural invariant checked every 250 steps, at
    /// the end of the sequence and after the last block is freed (counters every 64 steps and
    /// at the end); the sequence fills several
    /// arenas and drains them.
    #[test]
    #[cfg_attr(miri, ignore = "16,000 checked operations over several arenas: hours under Miri; the turnover test below runs there")]
    fn pymalloc_keeps_its_invariants_through_long_fill_and_drain_runs(
        geometry in prop_oneof![Just(Geometry::Py310), Just(Geometry::Py39)],
        ops in fill_then_drain(6_000..8_000, 4_000..8_000),
    ) {
        let mut alloc = crate::Pymalloc::new(geometry);
        run_ops_with(&mut alloc, &ops, 64, |alloc, step| {
            if step % 500 == 0 || step == ops.len() {
                alloc.check_invariants();
            }
        })?;
        alloc.check_invariants();
        let stats = alloc.arena_stats();
        prop_assert!(stats.arenas_highwater >= 2, "the run fills several arenas: {:?}", stats);
        prop_assert_eq!(alloc.small_blocks_in_use(), 0);
        prop_assert!(stats.classes.is_empty());
        // Every arena drained: at most the one kept empty (two in the corner that
        // `a_hundred_thousand_32_byte_blocks_fill_197_pools_in_4_arenas` describes).
        prop_assert!(stats.arenas_current <= 2, "{:?}", stats);
        prop_assert_eq!(stats.arenas_reclaimed, stats.arenas_allocated_total - stats.arenas_current);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 2 } else { 24 }, ..ProptestConfig::default() })]

    /// pymalloc's lists, counts and arena order stay consistent through long mixed runs of
    /// many blocks of one class, where pools fill, drain and arenas come and go.
    #[test]
    fn pymalloc_invariants_hold_through_pool_and_arena_turnover(
        geometry in prop_oneof![Just(Geometry::Py310), Just(Geometry::Py39)],
        rounds in proptest::collection::vec((1usize..3000, 0usize..3000, 1usize..=512), 1..6),
    ) {
        let mut alloc = crate::Pymalloc::new(geometry);
        let mut live: Vec<(NonNull<u8>, usize)> = Vec::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for (n_alloc, n_free, size) in rounds {
            for _ in 0..n_alloc {
                live.push((alloc.allocate(size).expect("memory"), size));
            }
            for _ in 0..n_free.min(live.len()) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let (ptr, size) = live.swap_remove(seed as usize % live.len());
                // SAFETY: a live block of `alloc` with its size, freed once.
                unsafe { alloc.free(ptr, size) };
            }
            alloc.check_invariants();
            prop_assert_eq!(alloc.small_blocks_in_use(), live.len() as u64);
        }
        for (ptr, size) in live {
            // SAFETY: as above.
            unsafe { alloc.free(ptr, size) };
        }
        alloc.check_invariants();
        prop_assert_eq!(alloc.small_blocks_in_use(), 0);
    }
}

#[test]
fn every_shared_view_accepts_frees_from_another_thread() {
    let sizes: Vec<usize> = (0..2000).map(|i| [8, 24, 32, 100, 512, 700, 3000][i % 7]).collect();
    for info in testable_allocators() {
        let alloc = shared(info.name, &AllocConfig::default()).expect("available");
        free_on_another_thread(alloc.as_ref(), &sizes);
        if let Some(counters) = alloc.stats().counters {
            assert_eq!((counters.n_allocs, counters.n_frees), (4000, 4000), "{}", info.name);
            assert_eq!(counters.live_bytes, 0, "{}", info.name);
        }
    }
}

/// A zero request is served as one of 1 byte by every allocator and every shared view: a
/// unique, non-null, aligned block, freed with size 0; resizing to 0 gives such a block and
/// never frees behind the caller's back (C's `realloc(p, 0)`).
#[test]
fn every_allocator_serves_zero_size_requests_as_one_byte() {
    struct ZeroSize;
    impl AllocVisitor for ZeroSize {
        type Output = Result<(), String>;
        fn visit<A: Allocator + 'static>(self, mut alloc: A) -> Self::Output {
            let a = alloc.allocate(0).ok_or("allocate(0) gave None")?;
            let b = alloc.allocate(0).ok_or("allocate(0) gave None")?;
            let c = alloc.allocate(24).ok_or("allocate(24) gave None")?;
            fill(c, 24, 7);
            for ptr in [a, b, c] {
                if !(ptr.as_ptr() as usize).is_multiple_of(ALIGN) {
                    return Err(format!("{ptr:p} not aligned"));
                }
            }
            if a == b || a == c || b == c {
                return Err(format!("zero-size blocks not unique: {a:p} {b:p} {c:p}"));
            }
            let counters = alloc.stats().counters;
            if let Some(counters) = counters
                && (counters.n_allocs, counters.live_bytes) != (3, 24)
            {
                return Err(format!("counters after two zero requests: {counters:?}"));
            }
            // SAFETY: `c` is live with 24 bytes and is not used again; the result has size 0.
            let c0 = unsafe { alloc.reallocate(c, 24, 0) }.ok_or("reallocate(24 -> 0) gave None")?;
            // SAFETY: `c0` is live with size 0; the result is live with 100 bytes.
            let c100 = unsafe { alloc.reallocate(c0, 0, 100) }.ok_or("reallocate(0 -> 100) gave None")?;
            fill(c100, 100, 8);
            // SAFETY: `a` is live with size 0.
            let a0 = unsafe { alloc.reallocate(a, 0, 0) }.ok_or("reallocate(0 -> 0) gave None")?;
            if !holds_pattern(c100, 100, 8) {
                return Err("a resized block lost its contents".into());
            }
            // SAFETY: each is live with the size given, and freed once.
            unsafe {
                alloc.free(a0, 0);
                alloc.free(b, 0);
                alloc.free(c100, 100);
            }
            if let Some(counters) = alloc.stats().counters
                && (counters.n_allocs, counters.n_frees, counters.live_bytes) != (3, 3, 0)
            {
                return Err(format!("counters at the end: {counters:?}"));
            }
            Ok(())
        }
    }
    for geometry in [Geometry::Py310, Geometry::Py39] {
        let config = AllocConfig { pymalloc_geometry: geometry, ..AllocConfig::default() };
        for info in testable_allocators() {
            let result = with_allocator(info.name, &config, ZeroSize).expect("available");
            assert_eq!(result, Ok(()), "{} ({geometry:?})", info.name);
            let alloc = shared(info.name, &config).expect("available");
            let blocks: Vec<NonNull<u8>> = (0..3).map(|_| alloc.allocate(0).expect("memory")).collect();
            assert!(blocks.iter().all(|b| (b.as_ptr() as usize).is_multiple_of(ALIGN)), "{}", info.name);
            assert!(
                blocks[0] != blocks[1] && blocks[1] != blocks[2] && blocks[0] != blocks[2],
                "{}",
                info.name
            );
            for block in blocks {
                // SAFETY: allocated above with size 0, freed once.
                unsafe { alloc.free(block, 0) };
            }
        }
    }
}

/// A zero request to pymalloc goes where CPython sends it: to libc, as `malloc(1)`.
#[test]
fn a_zero_request_to_pymalloc_goes_to_libc_as_cpython_sends_it() {
    let mut alloc = crate::Pymalloc::default();
    let block = alloc.allocate(0).expect("memory");
    let arenas = alloc.stats().arenas.expect("pymalloc's figures");
    assert_eq!((arenas.large_blocks, arenas.arenas_current), (1, 0));
    // SAFETY: allocated just above with size 0.
    unsafe { alloc.free(block, 0) };
    assert_eq!(alloc.arena_stats().large_blocks, 0);
}

/// A zero-size block lives in libc (above) and moves into a pool when it grows to a small
/// size; nothing is copied out of it, as it holds no bytes of the caller's. (The copy once
/// took `new_size` bytes, reading past the 16-byte block: AddressSanitizer and Miri see that
/// here; a plain run cannot.)
#[test]
fn a_zero_size_block_grows_into_a_pool_copying_nothing() {
    for new_size in [1, 61, 512] {
        let mut alloc = crate::Pymalloc::default();
        let block = alloc.allocate(0).expect("memory");
        // SAFETY: allocated just above with size 0, resized once, its result owned here.
        let grown = unsafe { alloc.reallocate(block, 0, new_size) }.expect("memory");
        let arenas = alloc.arena_stats();
        assert_eq!((arenas.large_blocks, alloc.small_blocks_in_use()), (0, 1), "{new_size} bytes: in a pool");
        // SAFETY: `grown` is a live block of `new_size` bytes.
        unsafe {
            grown.as_ptr().write_bytes(0xa5, new_size);
            assert_eq!(grown.as_ptr().add(new_size - 1).read(), 0xa5);
            alloc.free(grown, new_size);
        }
        assert_eq!(alloc.small_blocks_in_use(), 0);
    }
}
