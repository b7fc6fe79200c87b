//! The exported malloc family. Each function has the contract of the C
//! library function of the same name; the pointers it is given were made by
//! the same functions of this library, since the library serves the whole
//! process from its first allocation (it is preloaded) and never forwards
//! to glibc.
//!
//! Left out of unit-test builds, so that a test binary keeps glibc's malloc.

use std::ffi::{c_int, c_void};

use heaplab_core::trace::Op;
use libc::size_t;

use crate::alloc::{self, TRACING, backend_of, state};
use crate::tracer;

/// The system's page size, for `valloc` and `pvalloc`.
fn page_size() -> size_t {
    // SAFETY: sysconf has no preconditions and does not allocate.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if page > 0 { page as size_t } else { 4096 }
}

fn set_errno(value: c_int) {
    // SAFETY: __errno_location returns this thread's errno, always valid.
    unsafe { *libc::__errno_location() = value };
}

// The untraced path of each hook is a check of the state and a tail call into the
// allocator; the traced path is a function of its own, so that the untraced one saves no
// registers and sets up no frame.

/// `malloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc(size: size_t) -> *mut c_void {
    let state = state();
    if state & TRACING == 0 {
        // SAFETY: malloc has no preconditions.
        return unsafe { alloc::malloc(backend_of(state), size) };
    }
    malloc_traced(state, size)
}

#[inline(never)]
fn malloc_traced(state: u8, size: size_t) -> *mut c_void {
    // SAFETY: malloc has no preconditions.
    let ptr = unsafe { alloc::malloc(backend_of(state), size) };
    if !ptr.is_null() {
        tracer::on_alloc(Op::Malloc, ptr, size as u64, 0);
    }
    ptr
}

/// `free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    let state = state();
    if state & TRACING == 0 {
        // SAFETY: ptr is a live block of this library (the caller's contract), hence of this backend.
        return unsafe { alloc::free(backend_of(state), ptr) };
    }
    // SAFETY: as above.
    unsafe { free_traced(state, ptr) }
}

/// # Safety
/// `ptr` is a live block of this library.
#[inline(never)]
unsafe fn free_traced(state: u8, ptr: *mut c_void) {
    // Before the block is freed, so that no other thread can be given the address first.
    tracer::on_free(ptr);
    // SAFETY: ptr is a live block of this library (the caller's contract), hence of this backend.
    unsafe { alloc::free(backend_of(state), ptr) }
}

/// `calloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn calloc(n: size_t, size: size_t) -> *mut c_void {
    let state = state();
    if state & TRACING == 0 {
        // SAFETY: calloc has no preconditions; the allocator checks n * size for overflow.
        return unsafe { alloc::calloc(backend_of(state), n, size) };
    }
    calloc_traced(state, n, size)
}

#[inline(never)]
fn calloc_traced(state: u8, n: size_t, size: size_t) -> *mut c_void {
    // SAFETY: calloc has no preconditions; the allocator checks n * size for overflow.
    let ptr = unsafe { alloc::calloc(backend_of(state), n, size) };
    if !ptr.is_null() {
        tracer::on_alloc(Op::Calloc, ptr, n as u64 * size as u64, 0);
    }
    ptr
}

/// `realloc`. `realloc(p, 0)` frees `p` and returns null, as glibc does.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: size_t) -> *mut c_void {
    if ptr.is_null() {
        // SAFETY: realloc(NULL, n) is malloc(n).
        return unsafe { malloc(size) };
    }
    if size == 0 {
        // SAFETY: ptr is a live block of this library (the caller's contract).
        unsafe { free(ptr) };
        return std::ptr::null_mut();
    }
    let state = state();
    let backend = backend_of(state);
    if state & TRACING == 0 {
        // SAFETY: ptr is a live block of this library, hence of this backend; size > 0.
        return unsafe { alloc::realloc(backend, ptr, size) };
    }
    let id = tracer::take(ptr);
    // SAFETY: as above.
    let new = unsafe { alloc::realloc(backend, ptr, size) };
    tracer::on_realloc(id, ptr, new, size as u64);
    new
}

/// `reallocarray`: `realloc(ptr, n * size)` unless the product overflows.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reallocarray(ptr: *mut c_void, n: size_t, size: size_t) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: the caller's contract is realloc's.
        Some(bytes) => unsafe { realloc(ptr, bytes) },
        None => {
            set_errno(libc::ENOMEM);
            std::ptr::null_mut()
        }
    }
}

/// An aligned allocation, `align` a power of two; traced as one `aligned` call.
fn aligned(align: size_t, size: size_t) -> *mut c_void {
    let state = state();
    // SAFETY: every caller passes a power of two.
    let ptr = unsafe { alloc::aligned(backend_of(state), align, size) };
    if ptr.is_null() {
        set_errno(libc::ENOMEM);
    } else if state & TRACING != 0 {
        tracer::on_alloc(Op::Aligned, ptr, size as u64, align.trailing_zeros() as u8);
    }
    ptr
}

/// `posix_memalign`: `align` must be a power of two and a multiple of `sizeof(void *)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: size_t, size: size_t) -> c_int {
    if !align.is_power_of_two() || !align.is_multiple_of(size_of::<*mut c_void>()) {
        return libc::EINVAL;
    }
    let ptr = aligned(align, size);
    if ptr.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: out points to writable storage for a pointer (posix_memalign's contract).
    unsafe { *out = ptr };
    0
}

/// `aligned_alloc`: `align` must be a power of two (as glibc 2.38+, jemalloc and mimalloc require).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aligned_alloc(align: size_t, size: size_t) -> *mut c_void {
    if !align.is_power_of_two() {
        set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    }
    aligned(align, size)
}

/// `memalign`: as glibc, an alignment that is not a power of two is rounded up to one.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memalign(align: size_t, size: size_t) -> *mut c_void {
    match align.max(1).checked_next_power_of_two() {
        Some(align) => aligned(align, size),
        None => {
            set_errno(libc::EINVAL);
            std::ptr::null_mut()
        }
    }
}

/// `valloc`: page-aligned.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn valloc(size: size_t) -> *mut c_void {
    aligned(page_size(), size)
}

/// `pvalloc`: page-aligned, the size rounded up to whole pages (one page for 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pvalloc(size: size_t) -> *mut c_void {
    let page = page_size();
    match size.max(1).checked_next_multiple_of(page) {
        Some(rounded) => aligned(page, rounded),
        None => {
            set_errno(libc::ENOMEM);
            std::ptr::null_mut()
        }
    }
}

/// `malloc_usable_size`: 0 for null.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc_usable_size(ptr: *mut c_void) -> size_t {
    if ptr.is_null() {
        return 0;
    }
    // SAFETY: ptr is a live block of this library (the caller's contract), hence of this backend.
    unsafe { alloc::usable_size(backend_of(state()), ptr) }
}

/// `_exit`: flushes the trace (a fork child that ends with `os._exit` keeps
/// its trace), then ends the process as glibc's `_exit` does.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _exit(status: c_int) -> ! {
    tracer::finish();
    loop {
        // SAFETY: exit_group ends every thread of the process; it does not return.
        unsafe { libc::syscall(libc::SYS_exit_group, status) };
    }
}

/// The name of the allocator serving this process, as a NUL-terminated string.
#[unsafe(no_mangle)]
pub extern "C" fn heaplab_preload_allocator() -> *const std::ffi::c_char {
    alloc::name(backend_of(state())).as_ptr()
}
