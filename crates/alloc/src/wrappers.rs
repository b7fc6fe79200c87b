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
        AllocStats { counters: Some(self.counters), mapped_bytes: self.raw.mapped_bytes(), arenas: None }
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
        AllocStats { counters: None, mapped_bytes: self.0.mapped_bytes(), arenas: None }
    }
}

/// A single-threaded allocator behind one mutex: the shared view of `pymalloc`, whose lock
/// plays the part of the GIL.
pub struct Locked<A>(Mutex<A>);

impl<A: Allocator + Send> Locked<A> {
    /// Puts `alloc` behind a lock.
    pub fn new(alloc: A) -> Locked<A> {
        Locked(Mutex::new(alloc))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, A> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<A: Allocator + Send> SharedAllocator for Locked<A> {
    fn allocate(&self, size: usize) -> Option<NonNull<u8>> {
        self.lock().allocate(size)
    }

    unsafe fn free(&self, ptr: NonNull<u8>, size: usize) {
        // SAFETY: the caller upholds the contract of `SharedAllocator::free`, and the lock
        // gives this call the allocator alone.
        unsafe { self.lock().free(ptr, size) }
    }

    fn stats(&self) -> AllocStats {
        self.lock().stats()
    }
}
