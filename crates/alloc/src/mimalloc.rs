//! `mimalloc`: Microsoft's mimalloc, through the `mimalloc` crate's `GlobalAlloc`.
//!
//! Every request is rounded up to a multiple of 16 bytes and asked for with an alignment of
//! 16, so that `MiMalloc` takes its ordinary small-block path (the alignment never exceeds the
//! size) and every block meets [`heaplab_core::ALIGN`].

use std::alloc::{GlobalAlloc, Layout};
use std::ptr::NonNull;

use heaplab_core::{ALIGN, alloc::align_up};

use crate::counted::{Counted, RawAllocator};

/// mimalloc's process-wide heap.
#[derive(Clone, Copy, Debug, Default)]
pub struct MimallocRaw;

/// `mimalloc` as a single-threaded, counting [`heaplab_core::Allocator`].
pub type Mimalloc = Counted<MimallocRaw>;

/// The layout every block of `size` bytes is requested with.
#[inline]
fn layout(size: usize) -> Layout {
    // A size rounded up to 16 and an alignment of 16 make a valid layout short of
    // `isize::MAX`, which no request of this program reaches.
    Layout::from_size_align(align_up(size), ALIGN).expect("a block size below isize::MAX")
}

// SAFETY: mimalloc returns fresh blocks of the requested layout, here 16-byte-aligned, and
// frees blocks from any thread.
unsafe impl RawAllocator for MimallocRaw {
    #[inline]
    fn allocate(&self, size: usize) -> Option<NonNull<u8>> {
        // SAFETY: the layout has a non-zero size (every request is at least 1 byte, rounded to 16).
        NonNull::new(unsafe { mimalloc::MiMalloc.alloc(layout(size)) })
    }

    #[inline]
    unsafe fn free(&self, ptr: NonNull<u8>, size: usize) {
        // SAFETY: the caller passes a live block allocated with this size, hence this layout.
        unsafe { mimalloc::MiMalloc.dealloc(ptr.as_ptr(), layout(size)) }
    }

    #[inline]
    unsafe fn reallocate(&self, ptr: NonNull<u8>, old_size: usize, new_size: usize) -> Option<NonNull<u8>> {
        // SAFETY: a live block of `old_size` (so of its layout); the new size, rounded, is
        // non-zero and keeps the layout valid.
        NonNull::new(unsafe {
            mimalloc::MiMalloc.realloc(ptr.as_ptr(), layout(old_size), align_up(new_size))
        })
    }
}
