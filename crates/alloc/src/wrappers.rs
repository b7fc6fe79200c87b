//! Wrappers that give an allocator the interface it lacks.
//!
//! [`Locked`] puts a single-threaded allocator behind one mutex: the shared view of
//! `pymalloc`, whose lock plays the part of the GIL.
//!
//! libc, mimalloc and jemalloc are process-wide and thread-safe already. [`Counted`] gives the
//! single-threaded [`Allocator`] view, which keeps [`Counters`] in plain fields; [`Uncounted`]
//! gives the [`SharedAllocator`] view, which calls straight through and keeps no counts, so
//! that it adds no synchronisation to the allocator it measures.

use std::ptr::NonNull;
use std::sync::Mutex;

use heaplab_core::{AllocStats, Allocator, Counters, SharedAllocator};

/// A thread-safe allocator of raw, sized, 16-byte-aligned blocks.
///
/// # Safety
/// Implementations return blocks of at least the requested size, aligned to
/// [`heaplab_core::ALIGN`], that no one else uses until they are freed; any thread may free
/// or resize a block another thread allocated.
pub unsafe trait RawAllocator: Send + Sync + 'static {
    /// Allocates `size > 0` bytes.
    fn allocate(&self, size: usize) -> Option<NonNull<u8>>;

    /// Frees a block.
    ///
    /// # Safety
    /// As for [`Allocator::free`].
    unsafe fn free(&self, ptr: NonNull<u8>, size: usize);

    /// Resizes a block, keeping its first `min(old_size, new_size)` bytes.
    ///
    /// # Safety
    /// As for [`Allocator::reallocate`].
    unsafe fn reallocate(&self, ptr: NonNull<u8>, old_size: usize, new_size: usize) -> Option<NonNull<u8>>;

    /// Bytes the allocator holds from the operating system, where it can say cheaply.
    fn mapped_bytes(&self) -> Option<u64> {
        None
    }
}

/// The single-threaded view of a [`RawAllocator`], counting every request.
#[derive(Debug, Default)]
pub struct Counted<R> {
    raw: R,
    counters: Counters,
}

impl<R: RawAllocator> Counted<R> {
    /// Wraps `raw` with counts at zero.
    pub fn new(raw: R) -> Counted<R> {
        Counted { raw, counters: Counters::default() }
    }
}

impl<R: RawAllocator> Allocator for Counted<R> {
    #[inline]
    fn allocate(&mut self, size: usize) -> Option<NonNull<u8>> {
        let block = self.raw.allocate(size)?;
        self.counters.on_alloc(size);
        Some(block)
    }

    #[inline]
    unsafe fn free(&mut self, ptr: NonNull<u8>, size: usize) {
        // SAFETY: the caller upholds the contract of `Allocator::free`.
        unsafe { self.raw.free(ptr, size) };
        self.counters.on_free(size);
    }

    #[inline]
    unsafe fn reallocate(
        &mut self,
        ptr: NonNull<u8>,
        old_size: usize,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: the caller upholds the contract of `Allocator::reallocate`.
        let moved = unsafe { self.raw.reallocate(ptr, old_size, new_size) }?;
        self.counters.on_realloc(old_size, new_size);
        Some(moved)
    }

    fn stats(&self) -> AllocStats {
        AllocStats {
            counters: Some(self.counters),
            mapped_bytes: self.raw.mapped_bytes(),
            arenas: None,
            poisoned: false,
        }
    }
}

/// The shared view of a [`RawAllocator`]: calls go straight through, and nothing is counted.
#[derive(Debug, Default)]
pub struct Uncounted<R>(pub R);

impl<R: RawAllocator> SharedAllocator for Uncounted<R> {
    #[inline]
    fn allocate(&self, size: usize) -> Option<NonNull<u8>> {
        self.0.allocate(size)
    }

    #[inline]
    unsafe fn free(&self, ptr: NonNull<u8>, size: usize) {
        // SAFETY: the caller upholds the contract of `SharedAllocator::free`.
        unsafe { self.0.free(ptr, size) }
    }

    fn stats(&self) -> AllocStats {
        AllocStats { counters: None, mapped_bytes: self.0.mapped_bytes(), arenas: None, poisoned: false }
    }
}

/// A single-threaded allocator behind one mutex: the shared view of `pymalloc`, whose lock
/// plays the part of the GIL.
///
/// A panic inside a call (while the lock is held) poisons the mutex and may leave the
/// allocator half-updated: a pool unlinked from one list and not yet in another, a count
/// changed and its block not. From then on the allocator is out of use, and every call
/// fails cleanly without touching it: `allocate` returns `None`, `free` leaks the block,
/// and `stats` reports only `poisoned: true` (so a record can say so). The allocator is
/// still dropped with the `Locked`, which only unmaps what it holds.
pub struct Locked<A>(Mutex<A>);

impl<A: Allocator + Send> Locked<A> {
    /// Puts `alloc` behind a lock.
    pub fn new(alloc: A) -> Locked<A> {
        Locked(Mutex::new(alloc))
    }

    /// The allocator, unless a panic inside an earlier call took it out of use.
    fn lock(&self) -> Option<std::sync::MutexGuard<'_, A>> {
        self.0.lock().ok()
    }

    /// Whether a panic inside a call has taken the allocator out of use.
    pub fn poisoned(&self) -> bool {
        self.0.is_poisoned()
    }
}

impl<A: Allocator + Send> SharedAllocator for Locked<A> {
    fn allocate(&self, size: usize) -> Option<NonNull<u8>> {
        self.lock()?.allocate(size)
    }

    unsafe fn free(&self, ptr: NonNull<u8>, size: usize) {
        // A poisoned allocator is not touched again: the block leaks.
        if let Some(mut alloc) = self.lock() {
            // SAFETY: the caller upholds the contract of `SharedAllocator::free`, and the
            // lock gives this call the allocator alone.
            unsafe { alloc.free(ptr, size) }
        }
    }

    fn stats(&self) -> AllocStats {
        match self.lock() {
            Some(alloc) => alloc.stats(),
            None => AllocStats { poisoned: true, ..AllocStats::default() },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// An allocator over libc that counts the calls that reach it, and panics halfway through
    /// a request of 13 bytes, after changing its state, as a bug in an allocator would.
    struct Fragile {
        calls: Arc<AtomicUsize>,
        counters: Counters,
    }

    impl Allocator for Fragile {
        fn allocate(&mut self, size: usize) -> Option<NonNull<u8>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.counters.on_alloc(size);
            assert_ne!(size, 13, "a bug halfway through an update");
            // SAFETY: malloc accepts any size.
            NonNull::new(unsafe { libc::malloc(size.max(1)) }.cast::<u8>())
        }

        unsafe fn free(&mut self, ptr: NonNull<u8>, size: usize) {
            self.calls.fetch_add(1, Ordering::SeqCst);
            // SAFETY: the caller passes a live block of `allocate`.
            unsafe { libc::free(ptr.as_ptr().cast()) };
            self.counters.on_free(size);
        }

        unsafe fn reallocate(&mut self, _ptr: NonNull<u8>, _old: usize, _new: usize) -> Option<NonNull<u8>> {
            unreachable!("the shared view does not resize")
        }

        fn stats(&self) -> AllocStats {
            AllocStats { counters: Some(self.counters), ..AllocStats::default() }
        }
    }

    #[test]
    fn a_panic_inside_a_locked_allocator_takes_it_out_of_use() {
        let calls = Arc::new(AtomicUsize::new(0));
        let locked = Locked::new(Fragile { calls: Arc::clone(&calls), counters: Counters::default() });
        let before = locked.allocate(32).expect("memory");
        assert!(!locked.poisoned() && !locked.stats().poisoned);
        assert_eq!(locked.stats().counters.map(|c| c.n_allocs), Some(1));

        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| locked.allocate(13)));
        assert!(panic.is_err(), "the panic reaches the caller");
        assert!(locked.poisoned());
        let reached = calls.load(Ordering::SeqCst);
        assert_eq!(reached, 2);

        // Every later call fails cleanly and none reaches the half-updated allocator.
        assert_eq!(locked.allocate(32), None);
        assert_eq!(locked.allocate(0), None);
        // SAFETY: `before` is a live block of this allocator; a poisoned one leaks it.
        unsafe { locked.free(before, 32) };
        let stats = locked.stats();
        assert!(stats.poisoned);
        assert_eq!(stats.counters, None, "nothing is read from a half-updated allocator");
        assert_eq!(calls.load(Ordering::SeqCst), reached, "no call reached the allocator");
    }

    #[test]
    fn a_poisoned_pymalloc_fails_cleanly_too() {
        let locked = Locked::new(crate::Pymalloc::default());
        let block = locked.allocate(64).expect("memory");
        // A panic while the lock is held, as a bug inside pymalloc would raise.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = locked.0.lock().unwrap();
            panic!("a bug inside pymalloc");
        }));
        assert!(locked.poisoned());
        assert_eq!(locked.allocate(64), None);
        // SAFETY: a live block of this allocator; it leaks.
        unsafe { locked.free(block, 64) };
        assert!(locked.stats().poisoned && locked.stats().arenas.is_none());
    }
}
