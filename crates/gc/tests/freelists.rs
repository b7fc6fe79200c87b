//! CPython's free lists, as each release keeps them (`heaplab_core::version::FreeLists`):
//! which objects stay allocated when they die, which the next object of their type reuses,
//! and what generation 0's count sees of them.

use heaplab_alloc::AllocConfig;
use heaplab_core::version;
use heaplab_core::{Allocator, Heap, Obj};
use heaplab_gc::GcConfig;

mod common;

/// Runs `f` on a `collector` heap of `release` over pymalloc, with automatic collection as
/// configured, and gives `f` the allocator's live block count through `blocks`.
fn with_heap(collector: &'static str, release: &str, f: impl FnOnce(&mut dyn Heap)) {
    let config = GcConfig {
        version: version::find(release).expect("a modelled release"),
        thresholds: version::find(release).unwrap().thresholds.to_vec(),
        ..GcConfig::default()
    };
    struct Visit<F>(&'static str, GcConfig, F);
    impl<F: FnOnce(&mut dyn Heap)> heaplab_alloc::AllocVisitor for Visit<F> {
        type Output = ();
        fn visit<A: Allocator + 'static>(self, alloc: A) {
            let mut heap = heaplab_gc::new_heap(self.0, alloc, &self.1, None).expect("a known collector");
            (self.2)(heap.as_mut());
        }
    }
    heaplab_alloc::with_allocator("pymalloc", &AllocConfig::default(), Visit(collector, config, f))
        .expect("pymalloc");
}

fn allocations(heap: &dyn Heap) -> u64 {
    heap.alloc_stats().counters.expect("pymalloc counts its calls").n_allocs
}

fn tuples(heap: &mut dyn Heap, item: Obj, len: usize, n: usize) -> Vec<Obj> {
    let items = vec![item; len];
    (0..n).map(|_| heap.tuple(&items)).collect()
}

fn release_all(heap: &mut dyn Heap, objs: Vec<Obj>) {
    for obj in objs {
        heap.release(obj);
    }
}

/// `sys._debugmallocstats()` after 50 tuples of 19 and 50 of 20 items died, then after 30
/// tuples of 20 were made again ("free 20-sized PyTupleObject"; module docs of
/// `heaplab_core::version`): 3.8-3.10 keep no 20-tuple; 3.11 and 3.12 keep 50 and reuse
/// none; 3.13 keeps 50 and reuses 30.
#[test]
fn tuples_are_kept_and_reused_by_length_as_each_release_does() {
    for (release, kept_20, reused_20) in
        [("3.8", 0, 0), ("3.9", 0, 0), ("3.10", 0, 0), ("3.11", 50, 0), ("3.12", 50, 0), ("3.13", 50, 30)]
    {
        with_heap("cycle", release, |heap| {
            let item = heap.float(1.0);
            let short = tuples(heap, item, 19, 50);
            let long = tuples(heap, item, 20, 50);
            let before = allocations(heap);
            let in_use = heap.alloc_stats().counters.unwrap().live_bytes;
            release_all(heap, short);
            release_all(heap, long);
            let freed = in_use - heap.alloc_stats().counters.unwrap().live_bytes;
            // A 20-tuple under `cycle`: its 16-byte GC header, 24 bytes, 20 items.
            let tuple_20 = 16 + 24 + 8 * 20;
            assert_eq!(freed, (50 - kept_20) * tuple_20, "{release}: the 20-tuples given back");
            let again = tuples(heap, item, 20, 30);
            let fresh = allocations(heap) - before;
            assert_eq!(fresh, 30 - reused_20, "{release}: 20-tuples taken from the allocator");
            let again_short = tuples(heap, item, 19, 30);
            assert_eq!(allocations(heap) - before - fresh, 0, "{release}: 19-tuples all reused");
            release_all(heap, again);
            release_all(heap, again_short);
            heap.release(item);
        });
    }
}

/// `for _ in range(n): x = []` never collects in CPython: each list comes from the list free
/// list that the one before went back to, so `gc_alloc` never counts one. Measured: 100,000
/// iterations of it (and of `x = [[]]`) left `gc.get_stats()`'s collections unchanged under
/// 3.8.18, 3.11.7 and 3.13.0.
#[test]
fn a_list_made_and_dropped_over_and_over_is_never_counted() {
    for release in ["3.8", "3.11", "3.12", "3.13"] {
        with_heap("cycle", release, |heap| {
            for _ in 0..100_000 {
                let list = heap.list(0);
                heap.release(list);
            }
            heap.phase("end");
            assert_eq!(heap.stats().collections(), 0, "{release}: collections");
            assert_eq!(allocations(heap), 1, "{release}: one list from the allocator, then the free list");
        });
    }
}

/// The limits: 100 floats, 80 lists, 80 dicts; the rest goes back to the allocator.
#[test]
fn each_free_list_keeps_at_most_its_limit() {
    with_heap("refcount", "3.11", |heap| {
        let floats: Vec<Obj> = (0..1_000).map(|i| heap.float(f64::from(i))).collect();
        let lists: Vec<Obj> = (0..1_000).map(|_| heap.list(0)).collect();
        let dicts: Vec<Obj> = (0..1_000).map(|_| heap.dict()).collect();
        let made = allocations(heap);
        assert_eq!(made, 3_000);
        let frees = heap.alloc_stats().counters.unwrap().n_frees;
        release_all(heap, floats);
        release_all(heap, lists);
        release_all(heap, dicts);
        let given_back = heap.alloc_stats().counters.unwrap().n_frees - frees;
        assert_eq!(given_back, 3_000 - 100 - 80 - 80);
        assert_eq!(heap.stats().live_objects, 0, "kept objects are not live");
        // The next 100 floats, 80 lists and 80 dicts come from the lists.
        let floats: Vec<Obj> = (0..101).map(|i| heap.float(f64::from(i))).collect();
        let lists: Vec<Obj> = (0..81).map(|_| heap.list(0)).collect();
        let dicts: Vec<Obj> = (0..81).map(|_| heap.dict()).collect();
        assert_eq!(allocations(heap) - made, 3, "one of each past the limit");
        release_all(heap, floats);
        release_all(heap, lists);
        release_all(heap, dicts);
    });
}

/// Without free lists (`--set cycle.free-lists=off`) every object goes back to the allocator
/// when it dies, and every one is allocated anew.
#[test]
fn without_free_lists_every_object_goes_back() {
    let config = GcConfig { free_lists: false, ..GcConfig::default() };
    common::for_each_heap_with(&config, |heap, _| {
        for _ in 0..10_000 {
            let list = heap.list(0);
            heap.release(list);
            let float = heap.float(1.0);
            heap.release(float);
        }
        assert_eq!(allocations(heap), 20_000, "{}", heap.collector());
        heap.collect(); // mark-sweep frees at its sweep
        assert_eq!(heap.alloc_stats().counters.unwrap().live_bytes, 0, "{}", heap.collector());
    });
}

/// Where the free lists do not apply: ints up to 3.13, instances and sets always.
#[test]
fn ints_instances_and_sets_have_no_free_list_before_3_14() {
    with_heap("cycle", "3.13", |heap| {
        let mut objs: Vec<Obj> = (0..10).map(|i| heap.int(i)).collect();
        objs.extend((0..10).map(|_| heap.instance(1)));
        let frees = heap.alloc_stats().counters.unwrap().n_frees;
        release_all(heap, objs);
        let set = heap.new_set();
        heap.release(set);
        assert_eq!(heap.alloc_stats().counters.unwrap().n_frees - frees, 21);
    });
    with_heap("incremental", "3.14", |heap| {
        let ints: Vec<Obj> = (0..10).map(|i| heap.int(1 << 20 | i)).collect();
        let big = heap.int(1 << 40);
        let frees = heap.alloc_stats().counters.unwrap().n_frees;
        release_all(heap, ints);
        heap.release(big);
        assert_eq!(heap.alloc_stats().counters.unwrap().n_frees - frees, 1, "3.14 keeps one-digit ints");
    });
}

/// A dict's smallest keys object (8 slots) is kept: any up to 3.10, unicode ones from 3.11.
#[test]
fn small_keys_objects_are_kept_as_each_release_does() {
    for (release, int_keys_kept) in [("3.9", true), ("3.11", false), ("3.13", false)] {
        with_heap("refcount", release, |heap| {
            let key = heap.int(7);
            let value = heap.int(8);
            let dict = heap.dict();
            heap.dict_set(dict, key, value);
            let frees = heap.alloc_stats().counters.unwrap().n_frees;
            heap.release(dict);
            // The dict object is kept; its int-keyed keys object only up to 3.10.
            let expected = if int_keys_kept { 0 } else { 1 };
            assert_eq!(heap.alloc_stats().counters.unwrap().n_frees - frees, expected, "{release}");
            let text = heap.str("a");
            let dict = heap.dict();
            heap.dict_set(dict, text, value);
            let frees = heap.alloc_stats().counters.unwrap().n_frees;
            heap.release(dict);
            assert_eq!(
                heap.alloc_stats().counters.unwrap().n_frees - frees,
                0,
                "{release}: str keys are kept"
            );
            heap.release(key);
            heap.release(value);
            heap.release(text);
        });
    }
}

/// Every collector over every allocator gives every kept block back when the heap is dropped
/// (tests/teardown.rs counts the bytes); here, what a kept object costs the allocator stays
/// allocated at the end of the workload, as CPython's pools do.
#[test]
fn kept_objects_stay_allocated_after_the_workload() {
    common::for_each_heap(|heap, _| {
        let floats: Vec<Obj> = (0..500).map(|i| heap.float(f64::from(i))).collect();
        release_all(heap, floats);
        let (stats, _) = heap.finish();
        assert_eq!(stats.live_objects, 0);
        assert_eq!(stats.leaked_bytes, 0, "kept objects are not leaks");
        if let Some(counters) = heap.alloc_stats().counters {
            assert_eq!(counters.live_bytes, 100 * 24, "{}: 100 floats kept", heap.collector());
        }
    });
}
