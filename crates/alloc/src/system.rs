//! `system`: the C library's `malloc`, `free` and `realloc` (glibc's ptmalloc2 on Linux).
//!
//! glibc returns blocks aligned to 16 bytes on x86_64 and aarch64 (`MALLOC_ALIGNMENT` is
//! `2 * sizeof(size_t)`), so requests go through unchanged; debug builds check the alignment.

use std::ptr::NonNull;

use heaplab_core::ALIGN;

use heaplab_core::SharedAllocator;

use crate::wrappers::{Counted, RawAllocator, Uncounted};
use crate::{AllocConfig, AllocatorInfo, RegisteredAllocator};

/// The C library's allocator.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemMalloc;

/// `system` as a single-threaded, counting [`heaplab_core::Allocator`].
pub type System = Counted<SystemMalloc>;

// SAFETY: malloc returns fresh, 16-byte-aligned blocks (checked in debug builds) and is
// thread-safe; free and realloc accept blocks from any thread.
unsafe impl RawAllocator for SystemMalloc {
    #[inline]
    fn allocate(&self, size: usize) -> Option<NonNull<u8>> {
        // A zero request is one of 1 byte (see `Allocator`): glibc's `malloc(0)` returns a
        // unique block already, but C allows NULL. Requests under 16 bytes ask for 16: C
        // promises only the alignment of what fits in the size (Miri's malloc gives a 1-byte
        // request less than 16), and glibc serves 1 to 24 bytes from the same 32-byte chunk.
        // SAFETY: malloc accepts any size.
        let block = NonNull::new(unsafe { libc::malloc(size.max(ALIGN)) }.cast::<u8>())?;
        debug_assert_eq!(block.as_ptr() as usize % ALIGN, 0, "malloc returned a block not 16-aligned");
        Some(block)
    }

    #[inline]
    unsafe fn free(&self, ptr: NonNull<u8>, _size: usize) {
        // SAFETY: the caller passes a live block from malloc or realloc.
        unsafe { libc::free(ptr.as_ptr().cast()) }
    }

    #[inline]
    unsafe fn reallocate(&self, ptr: NonNull<u8>, _old_size: usize, new_size: usize) -> Option<NonNull<u8>> {
        // SAFETY: the caller passes a live block from malloc or realloc; on failure realloc
        // leaves it untouched. The size is at least 16 (see `allocate`): glibc's
        // `realloc(p, 0)` frees `p` and returns NULL, which would read here as a failure that
        // left the block live.
        let moved =
            NonNull::new(unsafe { libc::realloc(ptr.as_ptr().cast(), new_size.max(ALIGN)) }.cast::<u8>())?;
        debug_assert_eq!(moved.as_ptr() as usize % ALIGN, 0, "realloc returned a block not 16-aligned");
        Some(moved)
    }
}

impl RegisteredAllocator for System {
    const INFO: AllocatorInfo = AllocatorInfo { name: "system", summary: "libc malloc" };

    fn create(_config: &AllocConfig) -> Result<Self, String> {
        Ok(Counted::new(SystemMalloc))
    }

    fn create_shared(_config: &AllocConfig) -> Result<Box<dyn SharedAllocator>, String> {
        Ok(Box::new(Uncounted(SystemMalloc)))
    }
}
