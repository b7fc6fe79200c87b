//! What each collector declares, when mark-sweep collects, and what a dropped heap gives back:
//! figures computed from the documented rules, compared exactly.

use std::cell::Cell;
use std::ptr::NonNull;
use std::rc::Rc;

use heaplab_alloc::AllocConfig;
use heaplab_core::{AllocStats, Allocator, Capabilities, Obj};
use heaplab_gc::{COLLECTORS, GcConfig};

mod common;

#[test]
fn every_collector_declares_what_it_can_do() {
    let expected = |name: &str, generations: u8| match name {
        "refcount" => Capabilities { refcounting: true, ..Capabilities::default() },
        "cycle" | "incremental" => Capabilities {
            refcounting: true,
            reclaims_cycles: true,
            can_disable: true,
            can_freeze: true,
            generations,
        },
        "marksweep" => Capabilities {
            can_disable: true,
            reclaims_cycles: true,
            generations: 1,
            ..Capabilities::default()
        },
        other => panic!("a collector this test does not know: {other}"),
    };
    common::for_each_collector(|heap| {
        let name = heap.collector();
        // The default thresholds: three generations, as CPython's.
        assert_eq!(heap.capabilities(), expected(name, 3), "{name}");
        assert_eq!(
            heap.stats().collections_by_gen.len(),
            usize::from(heap.capabilities().generations.max(1)),
            "{name}: one collection count per generation"
        );
    });
    assert_eq!(COLLECTORS.len(), 4, "a new collector needs its capabilities here");
    // The cycle detector has one generation per threshold.
    for thresholds in [vec![5], vec![5, 3], vec![700, 10, 10, 10, 10]] {
        let n = thresholds.len();
        common::with_heap("cycle", GcConfig { thresholds, ..GcConfig::default() }, |heap| {
            assert_eq!(heap.capabilities(), expected("cycle", n as u8));
            assert_eq!(heap.stats().collections_by_gen, vec![0; n]);
        });
    }
}

/// Size of a float as every collector allocates it (CPython's 24 bytes, no collector header).
const FLOAT: u64 = 24;

/// The pacing rule of `marksweep`, as its module doc states it: a collection runs when an
/// allocation brings the bytes allocated since the last collection over the budget, which
/// that collection set to `(growth - 1) x` the live bytes it left (the new object's included,
/// as it is allocated before the collection runs), and at least `min_budget`.
struct Pacing {
    growth: f64,
    min_budget: u64,
    allocated: u64,
    at_last: u64,
    budget: u64,
    /// Bytes of objects not yet freed: the kept, and garbage a collection has not swept yet.
    live: u64,
    kept: u64,
    collections: u64,
}

impl Pacing {
    fn new(growth: f64, min_budget: u64) -> Pacing {
        Pacing {
            growth,
            min_budget,
            allocated: 0,
            at_last: 0,
            budget: min_budget,
            live: 0,
            kept: 0,
            collections: 0,
        }
    }

    /// One float allocated, kept or dropped at once.
    fn float(&mut self, kept: bool) {
        self.allocated += FLOAT;
        self.live += FLOAT;
        if self.allocated - self.at_last > self.budget {
            // Everything but what is kept is garbage; the float being made survives.
            self.live = self.kept + FLOAT;
            self.collections += 1;
            self.at_last = self.allocated;
            self.budget = (((self.growth - 1.0) * self.live as f64) as u64).max(self.min_budget);
        }
        if kept {
            self.kept += FLOAT;
        }
    }
}

#[test]
fn mark_sweep_collects_when_the_bytes_since_the_last_collection_pass_the_budget() {
    for (growth, min_budget) in [(2.0, 240), (3.0, 240), (1.5, 100), (1.25, 2400), (4.0, 24)] {
        let config = GcConfig { growth, min_budget_bytes: min_budget, ..GcConfig::default() };
        common::with_heap("marksweep", config, |heap| {
            let mut model = Pacing::new(growth, min_budget);
            let mut kept: Vec<Obj> = Vec::new();
            for i in 0..3_000u32 {
                // Two of every three floats are kept: the live heap grows, so the budget does.
                let keep = i % 3 != 0;
                let f = heap.float(f64::from(i));
                model.float(keep);
                if keep {
                    kept.push(f);
                } else {
                    heap.release(f);
                }
                assert_eq!(
                    heap.stats().collections_by_gen,
                    [model.collections],
                    "growth {growth}, budget {min_budget}: collections after float {i}"
                );
                assert_eq!(
                    heap.stats().live_bytes,
                    model.live,
                    "growth {growth}: live bytes after float {i}"
                );
            }
            assert!(model.collections >= 5, "the check saw too few collections: {}", model.collections);
            for (i, &f) in kept.iter().enumerate() {
                assert_eq!(heap.float_value(f), f64::from(i as u32 / 2 * 3 + 1 + i as u32 % 2));
            }
            for f in kept {
                heap.release(f);
            }
        });
    }
}

#[test]
fn the_first_mark_sweep_collection_comes_exactly_past_the_minimum_budget() {
    let config = GcConfig { growth: 2.0, min_budget_bytes: 10 * FLOAT, ..GcConfig::default() };
    common::with_heap("marksweep", config, |heap| {
        let floats: Vec<Obj> = (0..10).map(|i| heap.float(f64::from(i))).collect();
        assert_eq!(heap.stats().collections_by_gen, [0], "exactly the budget allocated: no collection yet");
        let eleventh = heap.float(10.0);
        assert_eq!(heap.stats().collections_by_gen, [1], "one byte past it: collected");
        for f in floats.into_iter().chain([eleventh]) {
            heap.release(f);
        }
    });
}

#[test]
fn mark_sweep_with_automatic_collection_off_collects_only_when_asked() {
    let config = GcConfig { min_budget_bytes: 64, ..GcConfig::default() };
    common::with_heap("marksweep", config, |heap| {
        heap.set_automatic(false);
        for i in 0..1_000 {
            let f = heap.float(f64::from(i));
            heap.release(f);
        }
        assert_eq!(heap.stats().collections_by_gen, [0], "disabled");
        assert_eq!(heap.stats().live_objects, 1_000, "nothing swept while disabled");
        heap.collect();
        assert_eq!(heap.stats().collections_by_gen, [1], "an explicit collection still runs");
        assert_eq!(heap.stats().live_objects, 0);
        heap.set_automatic(true);
        for i in 0..10 {
            let f = heap.float(f64::from(i));
            heap.release(f);
        }
        // The explicit collection left nothing live, so the budget is the minimum: every third
        // float (72 bytes since the last collection) passes it.
        assert_eq!(heap.stats().collections_by_gen, [4], "enabled again: collections at floats 3, 6 and 9");
    });
}

/// An allocator that counts the bytes it has handed out and not had back, where a test can
/// still read them once the heap that owned the allocator is gone.
struct Counting {
    inner: Box<dyn Allocator>,
    live: Rc<Cell<u64>>,
}

impl Allocator for Counting {
    fn allocate(&mut self, size: usize) -> Option<NonNull<u8>> {
        let block = self.inner.allocate(size)?;
        self.live.set(self.live.get() + size as u64);
        Some(block)
    }

    unsafe fn free(&mut self, ptr: NonNull<u8>, size: usize) {
        self.live.set(self.live.get() - size as u64);
        // SAFETY: the caller's contract for `free` is the inner allocator's: it made `ptr`.
        unsafe { self.inner.free(ptr, size) }
    }

    unsafe fn reallocate(
        &mut self,
        ptr: NonNull<u8>,
        old_size: usize,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: as in `free`: the block is the inner allocator's, `old_size` its size.
        let block = unsafe { self.inner.reallocate(ptr, old_size, new_size) }?;
        self.live.set(self.live.get() - old_size as u64 + new_size as u64);
        Some(block)
    }

    fn stats(&self) -> AllocStats {
        self.inner.stats()
    }
}

/// Builds a heap of `collector` over a counting system allocator, fills it with a garbage
/// cycle, a held list and scalars it never releases, drops it, and returns the bytes never
/// given back.
fn bytes_left_after_drop(collector: &str) -> (u64, u64) {
    let live = Rc::new(Cell::new(0));
    let inner = heaplab_alloc::boxed("system", &AllocConfig::default()).expect("the system allocator");
    let mut heap =
        heaplab_gc::new_heap(collector, Counting { inner, live: live.clone() }, &GcConfig::default(), None)
            .expect("a known collector");
    let held = heap.list(0);
    for i in 0..100 {
        let f = heap.float(f64::from(i));
        heap.append(held, f);
        heap.release(f);
    }
    let (a, b) = (heap.instance(1), heap.instance(1));
    heap.set(a, 0, Some(b));
    heap.set(b, 0, Some(a));
    heap.release(a);
    heap.release(b);
    let _unreleased = heap.str("never released");
    let before = live.get();
    assert!(before > 0);
    assert_eq!(before, heap.stats().live_bytes, "{collector}: the heap counts what the allocator holds");
    drop(heap);
    (before, live.get())
}

#[test]
fn a_dropped_mark_sweep_heap_frees_everything_it_still_held() {
    let (before, after) = bytes_left_after_drop("marksweep");
    assert!(before > 100 * FLOAT);
    assert_eq!(after, 0, "marksweep finds every object it holds and frees it when dropped");
}
