//! A dropped heap gives back the memory it took from Rust's own allocator (the cycle
//! detector's list heads, the runtime's tables), not only its objects.
//!
//! A counting global allocator sees every allocation of this test binary, which has this one
//! test, so between two readings almost only the heaps it builds and drops allocate.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

use heaplab_gc::{COLLECTORS, GcConfig};

mod common;

struct Counting;

static NET_BYTES: AtomicI64 = AtomicI64::new(0);

// SAFETY: every call is forwarded to `System` with the caller's layout; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        NET_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        NET_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Builds a heap of `collector` over pymalloc, gives it some work, releases everything and
/// drops it.
fn build_and_drop(collector: &'static str) {
    common::with_heap(collector, GcConfig::default(), |heap| {
        let holder = heap.list(0);
        for i in 0..100 {
            let item = heap.instance(1);
            let n = heap.int(i);
            heap.set(item, 0, Some(n));
            heap.release(n);
            heap.append(holder, item);
            heap.release(item);
        }
        heap.collect();
        heap.release(holder);
        heap.collect();
    });
}

#[test]
fn dropped_heaps_give_back_what_they_took_from_the_rust_allocator() {
    for collector in COLLECTORS {
        // One run first, so that lazily made statics (the allocator registry) are counted out.
        build_and_drop(collector.name);
        // Three windows of 100 heaps: a leak shows in every one; the test harness's own
        // threads may allocate now and then, which shows in one at most.
        let grown = (0..3)
            .map(|_| {
                let before = NET_BYTES.load(Ordering::Relaxed);
                for _ in 0..100 {
                    build_and_drop(collector.name);
                }
                NET_BYTES.load(Ordering::Relaxed) - before
            })
            .min()
            .expect("three windows");
        // A heap that kept even one 16-byte list head would leave 1,600 bytes behind in each.
        assert!(grown < 800, "{}: 100 heaps built and dropped left {grown} bytes allocated", collector.name);
    }
}
