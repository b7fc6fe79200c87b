//! The cycle collector's triggers, counted: after k tracked allocations,
//! exactly the collections per generation that CPython 3.11's rules give.

use heaplab_core::{Heap, Obj};
use heaplab_gc::{GcConfig, THRESHOLDS_311, THRESHOLDS_313};

mod common;
use common::with_heap;

/// Allocates `k` lists and keeps them all alive in a holder list; returns
/// collections per generation.
fn keep_lists(heap: &mut dyn Heap, k: usize) -> Vec<u64> {
    let holder = heap.list(0);
    for _ in 0..k {
        let list = heap.list(0);
        heap.append(holder, list);
        heap.release(list);
    }
    let counts = heap.stats().collections_by_gen;
    heap.release(holder);
    counts
}

fn check(thresholds: [u32; 3], k: usize, expected: [u64; 3]) {
    with_heap("cycle", GcConfig { thresholds: thresholds.to_vec(), ..GcConfig::default() }, |heap| {
        // The holder itself is the first tracked allocation.
        assert_eq!(keep_lists(heap, k - 1), expected, "{k} tracked allocations, thresholds {thresholds:?}");
    });
}

#[test]
fn generation_0_collects_when_its_count_exceeds_700() {
    check(THRESHOLDS_311, 700, [0, 0, 0]);
    check(THRESHOLDS_311, 701, [1, 0, 0]);
    check(THRESHOLDS_311, 1401, [1, 0, 0]);
    check(THRESHOLDS_311, 1402, [2, 0, 0]);
}

#[test]
fn generation_1_collects_after_ten_generation_0_collections() {
    // Triggers at every 701st allocation: eleven of generation 0, then one of generation 1.
    check(THRESHOLDS_311, 701 * 11, [11, 0, 0]);
    check(THRESHOLDS_311, 701 * 12, [11, 1, 0]);
    check(THRESHOLDS_311, 701 * 24, [22, 2, 0]);
}

#[test]
fn a_full_collection_follows_eleven_of_generation_1_when_enough_is_pending() {
    // Everything survives, so long-lived pending objects always exceed 25% of the total.
    check(THRESHOLDS_311, 701 * 12 * 11, [121, 11, 0]);
    check(THRESHOLDS_311, 701 * (12 * 11 + 1), [121, 11, 1]);
}

#[test]
fn python_3_13_thresholds_are_selectable() {
    check(THRESHOLDS_313, 2000, [0, 0, 0]);
    check(THRESHOLDS_313, 2001, [1, 0, 0]);
}

#[test]
fn deallocations_count_down() {
    with_heap("cycle", GcConfig::default(), |heap| {
        let kept: Vec<Obj> = (0..700).map(|_| heap.list(0)).collect();
        heap.release(kept[0]);
        let extra = heap.list(0);
        assert_eq!(heap.stats().collections_by_gen, [0, 0, 0], "700 allocations - 1 free + 1 allocation");
        let last = heap.list(0);
        assert_eq!(heap.stats().collections_by_gen, [1, 0, 0], "the count reached 701");
        heap.release(last);
        heap.release(extra);
        for &list in &kept[1..] {
            heap.release(list);
        }
    });
}

#[test]
fn scalars_do_not_count() {
    with_heap("cycle", GcConfig::default(), |heap| {
        for i in 0..10_000 {
            let f = heap.float(f64::from(i));
            let s = heap.str("abc");
            let n = heap.int(i64::from(i));
            heap.release(f);
            heap.release(s);
            heap.release(n);
        }
        assert_eq!(heap.stats().collections_by_gen, [0, 0, 0]);
    });
}

#[test]
fn disabled_collection_never_runs_and_freeze_resets_the_count() {
    with_heap("cycle", GcConfig::default(), |heap| {
        heap.set_automatic(false);
        assert_eq!(keep_lists(heap, 10_000), [0, 0, 0]);
        heap.set_automatic(true);
        let holder = heap.list(0);
        for _ in 0..600 {
            let l = heap.list(0);
            heap.append(holder, l);
            heap.release(l);
        }
        heap.freeze();
        for _ in 0..600 {
            let l = heap.list(0);
            heap.append(holder, l);
            heap.release(l);
        }
        assert_eq!(heap.stats().collections_by_gen, [0, 0, 0], "freeze restarted generation 0's count");
        heap.release(holder);
    });
}

#[test]
fn frozen_objects_are_never_collected_but_still_die_by_refcount() {
    with_heap("cycle", GcConfig::default(), |heap| {
        let a = heap.instance(1);
        let b = heap.instance(1);
        heap.set(a, 0, Some(b));
        heap.set(b, 0, Some(a));
        heap.freeze();
        heap.release(a);
        heap.release(b);
        heap.collect();
        assert_eq!(heap.stats().live_objects, 2, "a frozen cycle survives gc.collect()");
        let t = heap.tuple(&[]);
        heap.freeze();
        heap.release(t);
        assert_eq!(heap.stats().live_objects, 2, "a frozen acyclic object dies at count zero");
        let (stats, _) = heap.finish();
        assert_eq!(stats.leaked_objects, 2, "the frozen cycle is reported as leaked");
    });
}

#[test]
fn tuples_of_scalars_are_untracked_by_a_collection() {
    with_heap("cycle", GcConfig::default(), |heap| {
        let n = heap.int(1);
        let scalars = heap.tuple(&[n]);
        let l = heap.list(0);
        let holding_a_list = heap.tuple(&[l]);
        let nested = heap.tuple(&[scalars]);
        assert!(!heap.is_tracked(n), "an int is never tracked");
        for (obj, what) in [
            (scalars, "a tuple of scalars"),
            (holding_a_list, "a tuple of a list"),
            (nested, "a tuple of a tuple"),
        ] {
            assert!(heap.is_tracked(obj), "{what} is tracked when made (PyTuple_New)");
        }
        heap.collect();
        assert!(!heap.is_tracked(scalars), "a tuple of scalars is untracked by a collection");
        assert!(!heap.is_tracked(nested), "so is a tuple that holds only untracked tuples, scanned after it");
        assert!(heap.is_tracked(holding_a_list), "a tuple of a list may join a cycle: still tracked");
        assert!(heap.is_tracked(l), "lists stay tracked");

        // An untracked tuple still dies by its count, and a garbage cycle through a list that
        // holds one is freed by a collection.
        let cycle = heap.list(0);
        heap.append(cycle, scalars);
        heap.append(cycle, cycle);
        heap.release(cycle);
        for obj in [n, scalars, l, holding_a_list, nested] {
            heap.release(obj);
        }
        assert_eq!(heap.stats().live_objects, 3, "the cycle's list, the tuple it holds, the int in that");
        heap.collect();
        assert_eq!(heap.stats().live_objects, 0, "the cycle and what it held are freed");
    });
}
