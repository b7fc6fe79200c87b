//! heaplab-preload: an `LD_PRELOAD` library that puts jemalloc or mimalloc
//! under any dynamically linked program — a real `python3` above all — and
//! can record every allocation call the program makes.
//!
//! ```text
//! LD_PRELOAD=target/release/libheaplab_preload.so HEAPLAB_PRELOAD_ALLOC=mimalloc \
//!     PYTHONMALLOC=malloc python3 script.py
//! ```
//!
//! # Environment
//!
//! - `HEAPLAB_PRELOAD_ALLOC`: `jemalloc` (the default, also when empty) or
//!   `mimalloc`. Any other value is an error: the library says so on stderr
//!   and aborts the process at its first allocation, rather than run on an
//!   allocator nobody asked for.
//! - `HEAPLAB_TRACE=FILE`: trace mode (see [`tracer`]): every process writes
//!   `FILE.<pid>` in the format of `heaplab_core::trace`.
//! - jemalloc is built with the `_rjem_` prefix, so its options are read from
//!   `_RJEM_MALLOC_CONF` (not `MALLOC_CONF`); mimalloc reads its `MIMALLOC_*`
//!   variables as usual (`MIMALLOC_SHOW_STATS=1`).
//!
//! # What it interposes
//!
//! `malloc`, `free`, `calloc`, `realloc`, `reallocarray`, `posix_memalign`,
//! `aligned_alloc`, `memalign`, `valloc`, `pvalloc`, `malloc_usable_size`,
//! and `_exit` (only to flush a trace; it then ends the process as `_exit`
//! does). `heaplab_preload_allocator()` returns the allocator's name as a C
//! string, for a process that wants to ask.
//!
//! # Rules it keeps
//!
//! - **Before initialisation.** The allocator is chosen lazily, on the first
//!   call, from the environment (`getenv`, which does not allocate), under a
//!   static atomic state; a thread that arrives while another initialises
//!   waits. Nothing on any path allocates through Rust's `std`.
//! - **Never mixing.** One allocator serves the whole life of the process and
//!   there is no fallback to glibc (no `dlsym(RTLD_NEXT)`): every block freed
//!   here was made here, by the same allocator.
//! - **Threads and fork.** Both allocators are thread-safe and handle `fork`
//!   themselves (jemalloc through `pthread_atfork`, mimalloc with per-thread
//!   heaps); the tracer has its own fork handler.

#![allow(clippy::missing_safety_doc)]
// the exported functions have the C library's contracts
// Unit-test builds leave the hooks out (the test binary keeps glibc's malloc).
#![cfg_attr(test, allow(dead_code))]

mod alloc;
mod tracer;

#[cfg(not(test))]
mod hooks;

pub use alloc::Backend;
