//! The allocators' fast paths: one allocation and one free per iteration, for each size class
//! a Python heap uses most, and a batch of 1000 blocks of 32 bytes allocated then freed.
//!
//! Every allocator is driven through `with_allocator`, so each loop is compiled for its
//! concrete type: no virtual call blurs the fast path.
//!
//! - `alloc_free/<size>/<allocator>`: one block of the size stays allocated for the whole
//!   run, as a real heap always has neighbours in the same size class; for pymalloc this keeps
//!   the pool in use, so the loop takes the fast path of `pymalloc_alloc` and `pymalloc_free`.
//! - `alloc_free_lone/32/<allocator>`: the same at 32 bytes with no block kept, so that each
//!   free empties the pool; pymalloc (and CPython's) then moves the pool to its arena's free
//!   list and takes it back on the next allocation.
//! - `batch_1000x32/<allocator>`: 1000 allocations of 32 bytes, then their 1000 frees.
//! - `alloc_free_fnptr/<size>/<allocator>`: the `alloc_free` loop with every allocation and free
//!   made through an opaque function pointer (`#[inline(never)]` functions whose pointers pass
//!   through `black_box`), as CPython reaches its allocator through `PyMem_SetAllocator`'s table
//!   and as heaplab's `cpython` allocator reaches libpython's `PyObject_Malloc`: the fair
//!   comparison of pymalloc's fast path with CPython's.
//!
//! Run with `cargo bench --bench alloc_fast_path`; a filter such as `alloc_free/32/` selects
//! one size. Allocators that are unavailable here (cpython without a libpython) are skipped
//! with a line on stderr.

use std::hint::black_box;
use std::ptr::NonNull;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use heaplab_alloc::{ALLOCATORS, AllocConfig, AllocVisitor, availability, with_allocator};
use heaplab_core::Allocator;

/// The sizes of the single-block loop.
const SIZES: [usize; 6] = [16, 32, 64, 128, 256, 512];

/// Blocks in the batch variant.
const BATCH: usize = 1000;

/// Which loop to run.
#[derive(Clone, Copy)]
enum Loop {
    /// One allocation and one free per iteration, with a block of the same size kept.
    AllocFree { size: usize, keep_one: bool },
    /// `BATCH` allocations of 32 bytes, then their frees.
    Batch,
    /// As `AllocFree` with a block kept, every call through an opaque function pointer.
    FnPointer { size: usize },
}

/// One allocation, never inlined: the target of the opaque allocation pointer.
#[inline(never)]
fn allocate_opaque<A: Allocator>(alloc: &mut A, size: usize) -> NonNull<u8> {
    alloc.allocate(size).expect("memory")
}

/// One free, never inlined: the target of the opaque free pointer.
///
/// # Safety
/// `block` was allocated by `alloc` with `size` bytes and is freed once.
#[inline(never)]
unsafe fn free_opaque<A: Allocator>(alloc: &mut A, block: NonNull<u8>, size: usize) {
    // SAFETY: the caller's contract.
    unsafe { alloc.free(block, size) }
}

/// Runs one loop on the allocator it is given.
struct Bench<'g, 'c> {
    group: &'g mut BenchmarkGroup<'c, WallTime>,
    id: BenchmarkId,
    kind: Loop,
}

impl AllocVisitor for Bench<'_, '_> {
    type Output = ();

    fn visit<A: Allocator + 'static>(self, mut alloc: A) {
        match self.kind {
            Loop::AllocFree { size, keep_one } => {
                let kept = keep_one.then(|| alloc.allocate(size).expect("memory"));
                self.group.bench_function(self.id, |b| {
                    b.iter(|| {
                        let size = black_box(size);
                        let block = alloc.allocate(size).expect("memory");
                        black_box(block);
                        // SAFETY: allocated just above with `size` bytes, freed once.
                        unsafe { alloc.free(block, size) };
                    })
                });
                if let Some(kept) = kept {
                    // SAFETY: allocated above with `size` bytes, freed once.
                    unsafe { alloc.free(kept, size) };
                }
            }
            Loop::FnPointer { size } => {
                let kept = alloc.allocate(size).expect("memory");
                let allocate: fn(&mut A, usize) -> NonNull<u8> = black_box(allocate_opaque::<A>);
                let free: unsafe fn(&mut A, NonNull<u8>, usize) = black_box(free_opaque::<A>);
                self.group.bench_function(self.id, |b| {
                    b.iter(|| {
                        let size = black_box(size);
                        let block = allocate(&mut alloc, size);
                        black_box(block);
                        // SAFETY: allocated just above with `size` bytes, freed once.
                        unsafe { free(&mut alloc, block, size) };
                    })
                });
                // SAFETY: allocated above with `size` bytes, freed once.
                unsafe { alloc.free(kept, size) };
            }
            Loop::Batch => {
                let mut blocks: Vec<NonNull<u8>> = Vec::with_capacity(BATCH);
                self.group.bench_function(self.id, |b| {
                    b.iter(|| {
                        for _ in 0..BATCH {
                            blocks.push(alloc.allocate(black_box(32)).expect("memory"));
                        }
                        for block in blocks.drain(..) {
                            // SAFETY: each block was allocated above with 32 bytes, freed once.
                            unsafe { alloc.free(black_box(block), 32) };
                        }
                    })
                });
            }
        }
    }
}

/// The allocators available here, in registry order.
fn available() -> Vec<&'static str> {
    ALLOCATORS
        .iter()
        .filter(|info| match availability(info.name) {
            Ok(()) => true,
            Err(reason) => {
                eprintln!("skipping {}: {reason}", info.name);
                false
            }
        })
        .map(|info| info.name)
        .collect()
}

fn run(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, id: BenchmarkId, kind: Loop) {
    let config = AllocConfig::default();
    with_allocator(name, &config, Bench { group, id, kind }).expect("an available allocator");
}

fn alloc_free(c: &mut Criterion) {
    let names = available();
    let mut group = c.benchmark_group("alloc_free");
    group.throughput(Throughput::Elements(1));
    for size in SIZES {
        for &name in &names {
            let id = BenchmarkId::new(size.to_string(), name);
            run(&mut group, name, id, Loop::AllocFree { size, keep_one: true });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("alloc_free_lone");
    group.throughput(Throughput::Elements(1));
    for &name in &names {
        run(&mut group, name, BenchmarkId::new("32", name), Loop::AllocFree { size: 32, keep_one: false });
    }
    group.finish();

    let mut group = c.benchmark_group("alloc_free_fnptr");
    group.throughput(Throughput::Elements(1));
    for size in [32, 256] {
        for &name in &names {
            run(&mut group, name, BenchmarkId::new(size.to_string(), name), Loop::FnPointer { size });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("batch_1000x32");
    group.throughput(Throughput::Elements(BATCH as u64));
    for &name in &names {
        run(&mut group, name, BenchmarkId::from_parameter(name), Loop::Batch);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = alloc_free
}
criterion_main!(benches);
