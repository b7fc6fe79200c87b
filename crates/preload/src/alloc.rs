//! The two allocators behind the hooks, and the choice between them.

use std::ffi::c_void;
use std::sync::atomic::{AtomicU8, Ordering};

use libc::size_t;

/// The allocator serving this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// tikv-jemalloc-sys, prefixed `_rjem_`.
    Jemalloc,
    /// libmimalloc-sys.
    Mimalloc,
}

/// Not chosen yet.
const UNINIT: u8 = 0;
/// A thread is reading the environment.
const INITIALIZING: u8 = 1;
/// Bit set once the choice is made.
const READY: u8 = 0x10;
/// With `READY`: mimalloc (else jemalloc).
const MIMALLOC: u8 = 0x01;
/// With `READY`: trace mode is on.
pub const TRACING: u8 = 0x02;

/// `UNINIT`, `INITIALIZING`, or `READY` with the backend and tracing bits.
static STATE: AtomicU8 = AtomicU8::new(UNINIT);

// mimalloc functions libmimalloc-sys builds but declares only under its `extended` feature.
unsafe extern "C" {
    fn mi_calloc(count: usize, size: usize) -> *mut c_void;
    fn mi_usable_size(p: *const c_void) -> usize;
}

/// The state, initialising it on the first call.
#[inline(always)]
pub fn state() -> u8 {
    let state = STATE.load(Ordering::Acquire);
    if state & READY != 0 { state } else { init() }
}

/// The backend a ready state names.
#[inline(always)]
pub fn backend_of(state: u8) -> Backend {
    if state & MIMALLOC != 0 { Backend::Mimalloc } else { Backend::Jemalloc }
}

#[cold]
#[inline(never)]
fn init() -> u8 {
    match STATE.compare_exchange(UNINIT, INITIALIZING, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {
            let mut state = READY | choose_from_env();
            if crate::tracer::start() {
                state |= TRACING;
            }
            STATE.store(state, Ordering::Release);
            if state & TRACING != 0 {
                // Registered after the state is ready: registering may allocate.
                crate::tracer::register_fork_handler();
            }
            state
        }
        Err(_) => loop {
            // Another thread is reading the environment; it does not allocate, so this is short.
            let state = STATE.load(Ordering::Acquire);
            if state & READY != 0 {
                return state;
            }
            std::hint::spin_loop();
        },
    }
}

/// `HEAPLAB_PRELOAD_ALLOC`: the backend bit for `MIMALLOC`, or 0 for jemalloc.
fn choose_from_env() -> u8 {
    // SAFETY: the name is a NUL-terminated literal; getenv reads the environment without allocating.
    let value = unsafe { libc::getenv(c"HEAPLAB_PRELOAD_ALLOC".as_ptr()) };
    if value.is_null() {
        return 0;
    }
    // SAFETY: getenv returned a NUL-terminated string that lives as long as the environment.
    let value = unsafe { std::ffi::CStr::from_ptr(value) }.to_bytes();
    match value {
        b"" | b"jemalloc" => 0,
        b"mimalloc" => MIMALLOC,
        _ => {
            crate::tracer::say(
                b"heaplab-preload: HEAPLAB_PRELOAD_ALLOC must be jemalloc or mimalloc; aborting\n",
            );
            // SAFETY: abort never returns and needs nothing.
            unsafe { libc::abort() }
        }
    }
}

/// The allocator's name as a C string.
pub fn name(backend: Backend) -> &'static std::ffi::CStr {
    match backend {
        Backend::Jemalloc => c"jemalloc",
        Backend::Mimalloc => c"mimalloc",
    }
}

// The raw calls. Each has the contract of the C function it forwards to.

/// `malloc`.
///
/// # Safety
/// As `malloc`.
#[inline(always)]
pub unsafe fn malloc(backend: Backend, size: size_t) -> *mut c_void {
    // SAFETY: forwarded with malloc's contract, which has no preconditions.
    unsafe {
        match backend {
            Backend::Jemalloc => tikv_jemalloc_sys::malloc(size),
            Backend::Mimalloc => libmimalloc_sys::mi_malloc(size),
        }
    }
}

/// `calloc`, overflow checked by the allocator.
///
/// # Safety
/// As `calloc`.
#[inline(always)]
pub unsafe fn calloc(backend: Backend, n: size_t, size: size_t) -> *mut c_void {
    // SAFETY: forwarded with calloc's contract, which has no preconditions.
    unsafe {
        match backend {
            Backend::Jemalloc => tikv_jemalloc_sys::calloc(n, size),
            Backend::Mimalloc => mi_calloc(n, size),
        }
    }
}

/// `realloc` with `size > 0` (the hook handles size 0).
///
/// # Safety
/// `ptr` is null or a live block of `backend`.
#[inline(always)]
pub unsafe fn realloc(backend: Backend, ptr: *mut c_void, size: size_t) -> *mut c_void {
    // SAFETY: the caller passes a null or live block of this backend, as realloc requires.
    unsafe {
        match backend {
            Backend::Jemalloc => tikv_jemalloc_sys::realloc(ptr, size),
            Backend::Mimalloc => libmimalloc_sys::mi_realloc(ptr, size),
        }
    }
}

/// `free`.
///
/// # Safety
/// `ptr` is null or a live block of `backend`.
#[inline(always)]
pub unsafe fn free(backend: Backend, ptr: *mut c_void) {
    // SAFETY: the caller passes a null or live block of this backend, as free requires.
    unsafe {
        match backend {
            Backend::Jemalloc => tikv_jemalloc_sys::free(ptr),
            Backend::Mimalloc => libmimalloc_sys::mi_free(ptr),
        }
    }
}

/// An allocation aligned to `align`, a power of two.
///
/// # Safety
/// `align` is a power of two.
#[inline]
pub unsafe fn aligned(backend: Backend, align: size_t, size: size_t) -> *mut c_void {
    debug_assert!(align.is_power_of_two());
    // SAFETY: align is a power of two (the caller's contract), as both functions require;
    // MALLOCX_LG_ALIGN(la) is la itself in jemalloc's flags.
    unsafe {
        match backend {
            Backend::Jemalloc => {
                // jemalloc's mallocx does not take size 0.
                tikv_jemalloc_sys::mallocx(size.max(1), align.trailing_zeros() as libc::c_int)
            }
            Backend::Mimalloc => libmimalloc_sys::mi_malloc_aligned(size, align),
        }
    }
}

/// `malloc_usable_size` of a non-null block.
///
/// # Safety
/// `ptr` is a live block of `backend`.
#[inline]
pub unsafe fn usable_size(backend: Backend, ptr: *const c_void) -> size_t {
    // SAFETY: the caller passes a live block of this backend.
    unsafe {
        match backend {
            Backend::Jemalloc => tikv_jemalloc_sys::malloc_usable_size(ptr),
            Backend::Mimalloc => mi_usable_size(ptr),
        }
    }
}
