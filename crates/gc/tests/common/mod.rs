//! Helpers shared by the collector tests: every collector over every allocator.

#![allow(dead_code)]

use heaplab_alloc::{AllocConfig, AllocVisitor};
use heaplab_core::{Allocator, Heap};
use heaplab_gc::{COLLECTORS, GcConfig};

/// What a collector promises to free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frees {
    /// Objects die when their count reaches zero, at once; cycles stay.
    AtZero,
    /// After a collection, exactly the unreachable objects are gone.
    Unreachable,
    /// Both: objects die when their count reaches zero, and a collection
    /// frees the cycles too.
    AtZeroAndCycles,
}

/// What the named collector promises.
pub fn expectation(collector: &str) -> Frees {
    match collector {
        "refcount" => Frees::AtZero,
        "cycle" | "incremental" => Frees::AtZeroAndCycles,
        _ => Frees::Unreachable,
    }
}

/// The allocators the collectors are tested over: CPython's model, and the system's.
pub const ALLOCATORS: &[&str] = &["pymalloc", "system"];

struct Visit<'f> {
    collector: &'static str,
    config: GcConfig,
    f: &'f mut dyn FnMut(&mut dyn Heap, Frees),
}

impl AllocVisitor for Visit<'_> {
    type Output = ();
    fn visit<A: Allocator + 'static>(self, alloc: A) {
        let mut heap =
            heaplab_gc::new_heap(self.collector, alloc, &self.config, None).expect("a known collector");
        (self.f)(heap.as_mut(), expectation(self.collector));
    }
}

/// Calls `f` with a fresh heap of every collector over every tested allocator.
pub fn for_each_heap(f: impl FnMut(&mut dyn Heap, Frees)) {
    for_each_heap_with(&GcConfig::default(), f);
}

/// As [`for_each_heap`], with the collectors configured by `config`.
pub fn for_each_heap_with(config: &GcConfig, mut f: impl FnMut(&mut dyn Heap, Frees)) {
    for collector in COLLECTORS {
        for allocator in ALLOCATORS {
            heaplab_alloc::with_allocator(
                allocator,
                &AllocConfig::default(),
                Visit { collector: collector.name, config: config.clone(), f: &mut f },
            )
            .expect("a known allocator");
        }
    }
}

/// Calls `f` with a fresh heap of every collector over pymalloc.
pub fn for_each_collector(mut f: impl FnMut(&mut dyn Heap)) {
    for collector in COLLECTORS {
        with_heap(collector.name, GcConfig::default(), &mut f);
    }
}

/// Calls `f` with a heap of `collector` over pymalloc, configured by `config`.
pub fn with_heap(collector: &'static str, config: GcConfig, mut f: impl FnMut(&mut dyn Heap)) {
    let mut g = |heap: &mut dyn Heap, _: Frees| f(heap);
    heaplab_alloc::with_allocator(
        "pymalloc",
        &AllocConfig::default(),
        Visit { collector, config, f: &mut g },
    )
    .expect("the pymalloc allocator");
}

/// Calls `f` with a refcount heap over pymalloc.
pub fn refcount_heap(f: impl FnMut(&mut dyn Heap)) {
    with_heap("refcount", GcConfig::default(), f)
}
