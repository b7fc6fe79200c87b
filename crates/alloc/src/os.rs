//! Anonymous memory straight from the operating system, for pymalloc's arenas and bump's chunks.
//!
//! Mappings are private and anonymous, as CPython's `_PyObject_ArenaMmap` makes them: pages
//! are zero and cost no resident memory until they are touched.
//!
//! Under Miri, which cannot call `mmap`, the same requests are served by `std::alloc` with
//! zeroed memory, aligned to the mapping's length when that is a power of two (an arena's
//! size: so every arena is pool-aligned there), else to the page size. Only Miri builds use
//! it; CI and every measurement use the kernel.

use std::ptr::NonNull;

/// The alignment the Miri fallback gives a mapping of `len` bytes.
#[cfg(miri)]
fn miri_layout(len: usize) -> std::alloc::Layout {
    let align = if len.is_power_of_two() { len } else { page_size() };
    std::alloc::Layout::from_size_align(len, align).expect("a mapping size below isize::MAX")
}

/// Maps `len` bytes (a multiple of the page size) of fresh, zeroed, read-write memory:
/// the Miri fallback of the function below.
#[cfg(miri)]
pub(crate) fn map(len: usize) -> Option<NonNull<u8>> {
    // SAFETY: the layout has a non-zero size (callers map whole pages).
    NonNull::new(unsafe { std::alloc::alloc_zeroed(miri_layout(len)) })
}

/// Gives back a mapping made by [`map`]: the Miri fallback.
///
/// # Safety
/// As for the kernel version below.
#[cfg(miri)]
pub(crate) unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: `ptr` came from `map(len)`, so from `alloc_zeroed` with this very layout.
    unsafe { std::alloc::dealloc(ptr.as_ptr(), miri_layout(len)) }
}

/// Maps `len` bytes (a multiple of the page size) of fresh, zeroed, read-write memory.
///
/// Returns `None` where the kernel refuses, as when the address space or the overcommit
/// limit is exhausted.
#[cfg(not(miri))]
pub(crate) fn map(len: usize) -> Option<NonNull<u8>> {
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches
    // no existing memory; every argument is valid for that request.
    let address = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if address == libc::MAP_FAILED { None } else { NonNull::new(address.cast::<u8>()) }
}

/// Gives a mapping made by [`map`] back to the operating system.
///
/// # Safety
/// `ptr` and `len` are those of one earlier call to [`map`], not unmapped since, and no
/// reference into the mapping is used afterwards.
#[cfg(not(miri))]
pub(crate) unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: the caller guarantees this is one whole live mapping of ours.
    let rc = unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
    debug_assert_eq!(rc, 0, "munmap of a mapping of {len} bytes failed");
}

/// The size of a page of this machine.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as usize } else { 4096 }
}

/// Rounds `n` up to a multiple of `multiple`, a power of two.
pub(crate) const fn round_up(n: usize, multiple: usize) -> usize {
    (n + multiple - 1) & !(multiple - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_is_zeroed_writable_and_page_aligned() {
        let len = 4 * page_size();
        let ptr = map(len).expect("a small mapping");
        assert_eq!(ptr.as_ptr() as usize % page_size(), 0);
        // SAFETY: the mapping is `len` bytes long and ours alone until unmapped below.
        let bytes = unsafe { std::slice::from_raw_parts_mut(ptr.as_ptr(), len) };
        assert!(bytes.iter().all(|&b| b == 0));
        bytes[len - 1] = 7;
        assert_eq!(bytes[len - 1], 7);
        // SAFETY: `ptr` and `len` are those of the mapping above; `bytes` is not used again.
        unsafe { unmap(ptr, len) };
    }

    #[test]
    fn round_up_reaches_the_next_multiple() {
        let check = |n, multiple, expected| assert_eq!(round_up(n, multiple), expected, "{n} to {multiple}");
        check(0, 16, 0);
        check(1, 16, 16);
        check(16, 16, 16);
        check(17, 16, 32);
        check(4097, 4096, 8192);
    }
}
