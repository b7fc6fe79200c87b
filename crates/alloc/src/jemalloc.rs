//! `jemalloc`: jemalloc 5, through the `tikv-jemallocator` crate's `GlobalAlloc`.
//!
//! Every request is rounded up to a multiple of 16 bytes and asked for with an alignment of
//! 16, which jemalloc serves with plain `malloc` flags (the alignment never exceeds the size);
//! frees are sized (`sdallocx`), so jemalloc skips looking the size class up.
//! The crate links jemalloc with prefixed symbols, so it lives beside libc's `malloc`.

use std::alloc::{GlobalAlloc, Layout};
use std::ptr::NonNull;

use heaplab_core::{ALIGN, alloc::align_up};

use heaplab_core::SharedAllocator;

use crate::wrappers::{Counted, RawAllocator, Uncounted};
use crate::{AllocConfig, AllocatorInfo, RegisteredAllocator};

/// jemalloc's process-wide arenas.
#[derive(Clone, Copy, Debug, Default)]
pub struct JemallocRaw;

/// `jemalloc` as a single-threaded, counting [`heaplab_core::Allocator`].
pub type Jemalloc = Counted<JemallocRaw>;

/// The layout every block of `size` bytes is requested with: never of size zero, which
/// `GlobalAlloc::alloc` does not allow (a zero request is served as one of 1 byte, see
/// `heaplab_core::Allocator`, so it gets 16 bytes).
#[inline]
fn layout(size: usize) -> Layout {
    Layout::from_size_align(rounded(size), ALIGN).expect("a block size below isize::MAX")
}

/// The size every request of `size` bytes is made with: a multiple of 16, at least 16.
#[inline]
const fn rounded(size: usize) -> usize {
    align_up(if size == 0 { 1 } else { size })
}

// SAFETY: jemalloc returns fresh blocks of the requested layout, here 16-byte-aligned, and
// frees blocks from any thread.
unsafe impl RawAllocator for JemallocRaw {
    #[inline]
    fn allocate(&self, size: usize) -> Option<NonNull<u8>> {
        // SAFETY: the layout has a non-zero size (`layout` makes every size at least 16).
        NonNull::new(unsafe { tikv_jemallocator::Jemalloc.alloc(layout(size)) })
    }

    #[inline]
    unsafe fn free(&self, ptr: NonNull<u8>, size: usize) {
        // SAFETY: the caller passes a live block allocated with this size, hence this layout.
        unsafe { tikv_jemallocator::Jemalloc.dealloc(ptr.as_ptr(), layout(size)) }
    }

    #[inline]
    unsafe fn reallocate(&self, ptr: NonNull<u8>, old_size: usize, new_size: usize) -> Option<NonNull<u8>> {
        // SAFETY: a live block of `old_size` (so of its layout); the new size, rounded, is
        // non-zero and keeps the layout valid.
        NonNull::new(unsafe {
            tikv_jemallocator::Jemalloc.realloc(ptr.as_ptr(), layout(old_size), rounded(new_size))
        })
    }
}

impl RegisteredAllocator for Jemalloc {
    const INFO: AllocatorInfo =
        AllocatorInfo { name: "jemalloc", summary: "jemalloc 5 (the tikv-jemallocator crate)" };

    fn create(_config: &AllocConfig) -> Result<Self, String> {
        Ok(Counted::new(JemallocRaw))
    }

    fn create_shared(_config: &AllocConfig) -> Result<Box<dyn SharedAllocator>, String> {
        Ok(Box::new(Uncounted(JemallocRaw)))
    }
}
