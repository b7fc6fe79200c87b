//! `mimalloc`: Microsoft's mimalloc, called through `libmimalloc-sys`, the bindings under the
//! `mimalloc` crate.
//!
//! The crate's `GlobalAlloc` sends every request through `mi_malloc_aligned`, which cost about
//! 9 ns more per allocation and free than `mi_malloc` on the machine this was written on; so
//! this file calls `mi_malloc`, `mi_free` and `mi_realloc` directly. Every request is rounded
//! up to a multiple of 16 bytes, which makes mimalloc serve it from a size bin of whole
//! 16-byte units, so that every block meets [`heaplab_core::ALIGN`] (checked in debug builds
//! and by the property tests).

use std::ptr::NonNull;

use heaplab_core::{ALIGN, alloc::align_up};
use libmimalloc_sys as ffi;

use heaplab_core::SharedAllocator;

use crate::wrappers::{Counted, RawAllocator, Uncounted};
use crate::{AllocConfig, AllocatorInfo, RegisteredAllocator};

/// mimalloc's heaps (one per thread, created on first use).
#[derive(Clone, Copy, Debug, Default)]
pub struct MimallocRaw;

/// `mimalloc` as a single-threaded, counting [`heaplab_core::Allocator`].
pub type Mimalloc = Counted<MimallocRaw>;

// SAFETY: mimalloc returns fresh blocks of at least the requested size, 16-byte-aligned for
// sizes that are multiples of 16 (checked in debug builds), and frees blocks from any thread.
unsafe impl RawAllocator for MimallocRaw {
    #[inline]
    fn allocate(&self, size: usize) -> Option<NonNull<u8>> {
        // A zero request is one of 1 byte (see `heaplab_core::Allocator`), so 16 here.
        // SAFETY: mi_malloc accepts any size.
        let block = NonNull::new(unsafe { ffi::mi_malloc(align_up(size.max(1))) }.cast::<u8>())?;
        debug_assert_eq!(block.as_ptr() as usize % ALIGN, 0, "mi_malloc returned a block not 16-aligned");
        Some(block)
    }

    #[inline]
    unsafe fn free(&self, ptr: NonNull<u8>, _size: usize) {
        // SAFETY: the caller passes a live block of mi_malloc or mi_realloc.
        unsafe { ffi::mi_free(ptr.as_ptr().cast()) }
    }

    #[inline]
    unsafe fn reallocate(&self, ptr: NonNull<u8>, _old_size: usize, new_size: usize) -> Option<NonNull<u8>> {
        // SAFETY: the caller passes a live block of mi_malloc or mi_realloc; on failure
        // mi_realloc leaves it untouched.
        let moved = NonNull::new(
            unsafe { ffi::mi_realloc(ptr.as_ptr().cast(), align_up(new_size.max(1))) }.cast::<u8>(),
        )?;
        debug_assert_eq!(moved.as_ptr() as usize % ALIGN, 0, "mi_realloc returned a block not 16-aligned");
        Some(moved)
    }
}

impl RegisteredAllocator for Mimalloc {
    const INFO: AllocatorInfo =
        AllocatorInfo { name: "mimalloc", summary: "Microsoft's mimalloc (mi_malloc and mi_free)" };

    fn create(_config: &AllocConfig) -> Result<Self, String> {
        Ok(Counted::new(MimallocRaw))
    }

    fn create_shared(_config: &AllocConfig) -> Result<Box<dyn SharedAllocator>, String> {
        Ok(Box::new(Uncounted(MimallocRaw)))
    }
}
