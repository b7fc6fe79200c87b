//! The `Allocator` trait: where bytes come from.
//!
//! An allocator hands out raw, sized blocks aligned to [`ALIGN`]. The caller
//! passes the size back on `free` and `reallocate`, as a collector that knows
//! its objects' layouts can, so that no allocator needs to look an address up.
//!
//! Single-threaded users hold an allocator by `&mut` and pay for no
//! synchronisation. Multi-threaded workloads get a [`SharedAllocator`]: for
//! pymalloc that is one global lock, as CPython runs it under the GIL.

use std::cell::{Ref, RefCell};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Every block is aligned to this many bytes, as CPython's pymalloc aligns on 64-bit.
pub const ALIGN: usize = 16;

/// A raw memory allocator for one thread.
///
/// Implementations count what they hand out in a [`Counters`] and report it,
/// with anything of their own, through [`Allocator::stats`].
///
/// # Zero-size requests
///
/// Every allocator treats size 0 the same way, as CPython's `PyObject_Malloc(0)` does
/// (`_PyMem_RawMalloc` in `Objects/obmalloc.c` turns a zero request into `malloc(1)`): a
/// zero request is served as a request of one byte (or the allocator's smallest block). So
/// `allocate(0)` returns `Some` unique, non-null, [`ALIGN`]-aligned block that overlaps no
/// other live block (memory permitting), and `reallocate(ptr, old_size, 0)` returns such a
/// block too, releasing the old one as any move does — never C's `realloc(p, 0)`, which may
/// free `p` and return NULL. The block's size is 0: it is given back with `free(ptr, 0)` or
/// resized with `old_size` 0, and none of its bytes may be read or written. The counters
/// record 0 bytes for it (sizes are the sizes requested).
pub trait Allocator {
    /// Allocates `size` bytes aligned to [`ALIGN`]; `None` when memory is exhausted.
    /// A `size` of 0 is served as described under "Zero-size requests".
    fn allocate(&mut self, size: usize) -> Option<NonNull<u8>>;

    /// Gives a block back.
    ///
    /// # Safety
    /// `ptr` was returned by this allocator for a request of exactly `size`
    /// bytes (or last resized to `size`), and has not been freed since.
    unsafe fn free(&mut self, ptr: NonNull<u8>, size: usize);

    /// Resizes a block, keeping its first `min(old_size, new_size)` bytes.
    /// On `None` the old block is untouched and still owned by the caller.
    ///
    /// # Safety
    /// As for [`Allocator::free`], with `old_size` the block's current size. `new_size` may be
    /// 0 (see "Zero-size requests").
    unsafe fn reallocate(
        &mut self,
        ptr: NonNull<u8>,
        old_size: usize,
        new_size: usize,
    ) -> Option<NonNull<u8>>;

    /// Counts and the allocator's own figures (for pymalloc, its arenas and pools).
    fn stats(&self) -> AllocStats;
}

/// A thread-safe allocator, for multi-threaded workloads.
pub trait SharedAllocator: Send + Sync {
    /// As [`Allocator::allocate`].
    fn allocate(&self, size: usize) -> Option<NonNull<u8>>;

    /// As [`Allocator::free`]; any thread may free a block another allocated.
    ///
    /// # Safety
    /// As for [`Allocator::free`].
    unsafe fn free(&self, ptr: NonNull<u8>, size: usize);

    /// What the allocator can say about itself; counts may be absent where
    /// keeping them would add synchronisation to the fast path.
    fn stats(&self) -> AllocStats;
}

/// Running counts of requests, kept by every allocator.
///
/// Sizes are the sizes requested, not what the allocator rounded them to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Successful allocations (a reallocation counts as neither).
    pub n_allocs: u64,
    /// Frees.
    pub n_frees: u64,
    /// Reallocations.
    pub n_reallocs: u64,
    /// Bytes requested over the whole life of the allocator.
    pub allocated_bytes: u64,
    /// Bytes requested and not yet freed.
    pub live_bytes: u64,
    /// The highest `live_bytes` has been.
    pub peak_live_bytes: u64,
}

impl Counters {
    /// Records an allocation of `size` bytes.
    #[inline]
    pub fn on_alloc(&mut self, size: usize) {
        self.n_allocs += 1;
        self.allocated_bytes += size as u64;
        self.live_bytes += size as u64;
        self.peak_live_bytes = self.peak_live_bytes.max(self.live_bytes);
    }

    /// Records a free of a `size`-byte block.
    #[inline]
    pub fn on_free(&mut self, size: usize) {
        self.n_frees += 1;
        self.live_bytes -= size as u64;
    }

    /// Records a resize from `old_size` to `new_size` bytes.
    #[inline]
    pub fn on_realloc(&mut self, old_size: usize, new_size: usize) {
        self.n_reallocs += 1;
        if new_size > old_size {
            self.allocated_bytes += (new_size - old_size) as u64;
        }
        self.live_bytes = self.live_bytes - old_size as u64 + new_size as u64;
        self.peak_live_bytes = self.peak_live_bytes.max(self.live_bytes);
    }
}

/// What an allocator reports about itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AllocStats {
    /// Request counts; `None` for a shared allocator that does not keep them.
    pub counters: Option<Counters>,
    /// Bytes the allocator holds from the operating system, where it knows.
    pub mapped_bytes: Option<u64>,
    /// pymalloc's arenas, pools and blocks, as `sys._debugmallocstats()` shows them.
    pub arenas: Option<ArenaStats>,
    /// The allocator panicked inside a call and was taken out of use: its structures may be
    /// half-updated, so every later call fails cleanly (allocations give `None`, frees leak)
    /// and nothing else is reported. Left out of serialized records when false.
    #[serde(default, skip_serializing_if = "is_false")]
    pub poisoned: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// pymalloc's own figures, named as `sys._debugmallocstats()` names them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArenaStats {
    /// Bytes in a pool.
    pub pool_size: u64,
    /// Bytes in an arena.
    pub arena_size: u64,
    /// "# arenas allocated total".
    pub arenas_allocated_total: u64,
    /// "# arenas reclaimed".
    pub arenas_reclaimed: u64,
    /// "# arenas highwater mark".
    pub arenas_highwater: u64,
    /// "# arenas allocated current".
    pub arenas_current: u64,
    /// One row per size class that has pools in use.
    pub classes: Vec<ClassStats>,
    /// Each arena currently held, in address order: how its pools are used.
    pub arena_map: Vec<ArenaUse>,
    /// Requests over the small-object threshold, passed to the system allocator and still live.
    pub large_blocks: u64,
}

/// One size class of pymalloc.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassStats {
    /// The class index (0 is 16 B).
    pub class: u32,
    /// Block size in bytes.
    pub size: u32,
    /// Pools currently carved for this class.
    pub pools: u64,
    /// Blocks handed out and not freed.
    pub blocks_in_use: u64,
    /// Free blocks in this class's pools (including never-used tail space).
    pub blocks_free: u64,
}

/// The pools of one arena, by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArenaUse {
    /// Pools with some blocks in use and some free.
    pub used: u32,
    /// Pools with every block in use.
    pub full: u32,
    /// Pools with no block in use, or never carved.
    pub empty: u32,
}

/// A block owned by safe code: made by [`BlockAllocator::alloc_block`] or
/// [`SharedBlockAllocator::alloc_block`], consumed by their `free_block`.
///
/// It lets workloads that exercise an allocator directly do so without `unsafe`. Two things
/// keep it sound:
/// - the lifetime `'a` is the borrow of the allocator the handle was made over, so a block
///   cannot outlive its allocator (dropping or replacing the allocator while a block lives is
///   a compile error: its arenas cannot be unmapped under [`Block::bytes`]);
/// - each handle is stamped with a process-wide unique id (a counter, never an address, which
///   another allocator, or any zero-sized one, could share), the block carries it, and
///   freeing or resizing a block through another handle panics instead of handing one
///   allocator's memory to another.
///
/// Dropping a block without freeing it leaks it, which is safe.
///
/// A block cannot outlive its allocator:
///
/// ```compile_fail,E0505
/// # use heaplab_core::{AllocStats, Allocator, BlockAllocator};
/// # use std::ptr::NonNull;
/// # struct Arena;
/// # impl Allocator for Arena {
/// #     fn allocate(&mut self, _: usize) -> Option<NonNull<u8>> { None }
/// #     unsafe fn free(&mut self, _: NonNull<u8>, _: usize) {}
/// #     unsafe fn reallocate(&mut self, _: NonNull<u8>, _: usize, _: usize) -> Option<NonNull<u8>> { None }
/// #     fn stats(&self) -> AllocStats { AllocStats::default() }
/// # }
/// let mut arena = Arena;
/// let blocks = BlockAllocator::new(&mut arena);
/// let block = blocks.alloc_block(16);
/// drop(blocks);
/// drop(arena); // error: `arena` is still borrowed by `block`
/// let _ = block;
/// ```
///
/// and the allocator cannot be replaced under it either:
///
/// ```compile_fail,E0499
/// # use heaplab_core::{AllocStats, Allocator, BlockAllocator};
/// # use std::ptr::NonNull;
/// # struct Arena;
/// # impl Allocator for Arena {
/// #     fn allocate(&mut self, _: usize) -> Option<NonNull<u8>> { None }
/// #     unsafe fn free(&mut self, _: NonNull<u8>, _: usize) {}
/// #     unsafe fn reallocate(&mut self, _: NonNull<u8>, _: usize, _: usize) -> Option<NonNull<u8>> { None }
/// #     fn stats(&self) -> AllocStats { AllocStats::default() }
/// # }
/// let mut arena = Arena;
/// let blocks = BlockAllocator::new(&mut arena);
/// let block = blocks.alloc_block(16);
/// let _old = std::mem::replace(&mut arena, Arena); // error: `arena` is borrowed
/// let _ = block;
/// ```
///
/// Once the blocks are gone, the allocator is free again:
///
/// ```
/// # use heaplab_core::{AllocStats, Allocator, BlockAllocator};
/// # use std::ptr::NonNull;
/// # struct Arena;
/// # impl Allocator for Arena {
/// #     fn allocate(&mut self, _: usize) -> Option<NonNull<u8>> { None }
/// #     unsafe fn free(&mut self, _: NonNull<u8>, _: usize) {}
/// #     unsafe fn reallocate(&mut self, _: NonNull<u8>, _: usize, _: usize) -> Option<NonNull<u8>> { None }
/// #     fn stats(&self) -> AllocStats { AllocStats::default() }
/// # }
/// let mut arena = Arena;
/// let blocks = BlockAllocator::new(&mut arena);
/// let block = blocks.alloc_block(16);
/// assert!(block.is_err()); // this arena is always out of memory
/// drop(block);
/// drop(blocks);
/// drop(arena);
/// ```
#[derive(Debug)]
pub struct Block<'a> {
    ptr: NonNull<u8>,
    size: usize,
    owner: u64,
    _allocator: PhantomData<&'a ()>,
}

// SAFETY: a Block owns its memory exclusively (it is not Clone), like a Box<[u8]>; reading or
// writing it on another thread touches no allocator state, and freeing it needs the handle,
// which for a single-threaded allocator is not Sync (so stays on its thread) and for a shared
// one is thread-safe.
unsafe impl Send for Block<'_> {}

impl Block<'_> {
    /// The block's size in bytes (0 for a zero-size request).
    pub fn size(&self) -> usize {
        self.size
    }

    /// The block's address, for checks of alignment and overlap.
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// The block's bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the block owns `size` bytes at `ptr` until freed, freeing consumes it, and
        // the lifetime keeps the allocator (so the memory) alive as long as the block.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.size) }
    }

    /// The block's bytes, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, and `&mut self` makes this the only access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.size) }
    }
}

/// The error of a failed allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("out of memory allocating {0} bytes")]
pub struct OutOfMemory(pub usize);

/// A fresh id for a block handle: unique in the process.
fn next_handle_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Safe block-level access to an [`Allocator`], for workloads and tests: a handle that
/// borrows the allocator exclusively for `'a` and hands out [`Block`]s that live at most as
/// long (see [`Block`] for why that, and the handle's id, make it sound).
///
/// The handle is not `Sync`: a single-threaded allocator stays on one thread.
pub struct BlockAllocator<'a> {
    alloc: RefCell<&'a mut dyn Allocator>,
    id: u64,
}

impl<'a> BlockAllocator<'a> {
    /// A handle over `alloc`, with an id no other handle has.
    pub fn new(alloc: &'a mut dyn Allocator) -> BlockAllocator<'a> {
        BlockAllocator { alloc: RefCell::new(alloc), id: next_handle_id() }
    }

    /// Allocates a block of `size` bytes (0 allowed: see "Zero-size requests" on [`Allocator`]).
    #[inline]
    pub fn alloc_block(&self, size: usize) -> Result<Block<'a>, OutOfMemory> {
        let ptr = self.alloc.borrow_mut().allocate(size).ok_or(OutOfMemory(size))?;
        Ok(Block { ptr, size, owner: self.id, _allocator: PhantomData })
    }

    /// Frees a block made by this handle; panics, freeing nothing, for any other block.
    #[inline]
    pub fn free_block(&self, block: Block<'a>) {
        assert_eq!(block.owner, self.id, "block freed into another allocator");
        // SAFETY: the block came from this handle's allocator (checked above) with this size,
        // and taking it by value means it cannot be freed twice.
        unsafe { self.alloc.borrow_mut().free(block.ptr, block.size) }
    }

    /// Resizes a block made by this handle, keeping its first `min(old, new)` bytes; panics
    /// for a block of another handle. On failure the old block is leaked (never freed twice).
    #[inline]
    pub fn realloc_block(&self, block: Block<'a>, new_size: usize) -> Result<Block<'a>, OutOfMemory> {
        assert_eq!(block.owner, self.id, "block resized in another allocator");
        // SAFETY: as in `free_block`; on failure the old block is untouched and its handle is
        // dropped without freeing it, which leaks it and is safe.
        match unsafe { self.alloc.borrow_mut().reallocate(block.ptr, block.size, new_size) } {
            Some(ptr) => Ok(Block { ptr, size: new_size, owner: self.id, _allocator: PhantomData }),
            None => Err(OutOfMemory(new_size)),
        }
    }

    /// The allocator's stats.
    pub fn stats(&self) -> AllocStats {
        self.alloc.borrow().stats()
    }

    /// Read access to the allocator (its `stats`, say), while blocks are out.
    ///
    /// No `&mut` access is given: with it safe code could replace the allocator, and drop the
    /// old one under the blocks. Holding the guard while allocating through the handle panics.
    pub fn allocator(&self) -> Ref<'_, dyn Allocator + 'a> {
        Ref::map(self.alloc.borrow(), |alloc| &**alloc)
    }
}

/// Safe block-level access to a [`SharedAllocator`]: a handle that borrows it for `'a`,
/// shareable between threads, whose [`Block`]s live at most as long and may be freed on any
/// thread through the same handle.
pub struct SharedBlockAllocator<'a> {
    alloc: &'a dyn SharedAllocator,
    id: u64,
}

impl<'a> SharedBlockAllocator<'a> {
    /// A handle over `alloc`, with an id no other handle has.
    pub fn new(alloc: &'a dyn SharedAllocator) -> SharedBlockAllocator<'a> {
        SharedBlockAllocator { alloc, id: next_handle_id() }
    }

    /// Allocates a block of `size` bytes (0 allowed).
    pub fn alloc_block(&self, size: usize) -> Result<Block<'a>, OutOfMemory> {
        let ptr = self.alloc.allocate(size).ok_or(OutOfMemory(size))?;
        Ok(Block { ptr, size, owner: self.id, _allocator: PhantomData })
    }

    /// Frees a block made by this handle, on any thread; panics, freeing nothing, for any
    /// other block.
    pub fn free_block(&self, block: Block<'a>) {
        assert_eq!(block.owner, self.id, "block freed into another allocator");
        // SAFETY: the block came from this handle's allocator with this size and is consumed here.
        unsafe { self.alloc.free(block.ptr, block.size) }
    }

    /// The allocator under the handle.
    pub fn allocator(&self) -> &'a dyn SharedAllocator {
        self.alloc
    }
}

/// Rounds `n` up to a multiple of [`ALIGN`].
#[inline]
pub const fn align_up(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zero-sized allocator over libc: two values of it may share an address, so an owner
    /// check by address could not tell them apart.
    struct Malloc(Counters);

    impl Allocator for Malloc {
        fn allocate(&mut self, size: usize) -> Option<NonNull<u8>> {
            // SAFETY: malloc accepts any size; 1 byte at least, as the trait says of 0.
            let block = NonNull::new(unsafe { libc::malloc(size.max(1)) }.cast::<u8>())?;
            self.0.on_alloc(size);
            Some(block)
        }
        unsafe fn free(&mut self, ptr: NonNull<u8>, size: usize) {
            // SAFETY: the caller passes a live block of `allocate`.
            unsafe { libc::free(ptr.as_ptr().cast()) };
            self.0.on_free(size);
        }
        unsafe fn reallocate(
            &mut self,
            ptr: NonNull<u8>,
            old_size: usize,
            new_size: usize,
        ) -> Option<NonNull<u8>> {
            let moved = self.allocate(new_size)?;
            // SAFETY: both live and distinct, each at least `min` bytes; the old one is freed once.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr.as_ptr(), moved.as_ptr(), old_size.min(new_size));
                self.free(ptr, old_size);
            }
            Some(moved)
        }
        fn stats(&self) -> AllocStats {
            AllocStats { counters: Some(self.0), ..AllocStats::default() }
        }
    }

    #[test]
    fn a_poisoned_allocator_says_so_in_its_record_and_a_healthy_one_adds_nothing() {
        let healthy = serde_json::to_string(&AllocStats::default()).unwrap();
        assert!(!healthy.contains("poisoned"), "{healthy}");
        let back: AllocStats = serde_json::from_str(&healthy).unwrap();
        assert!(!back.poisoned);
        let poisoned =
            serde_json::to_string(&AllocStats { poisoned: true, ..AllocStats::default() }).unwrap();
        assert!(poisoned.contains(r#""poisoned":true"#), "{poisoned}");
        assert!(serde_json::from_str::<AllocStats>(&poisoned).unwrap().poisoned);
    }

    #[test]
    fn blocks_live_and_die_with_their_handle() {
        let mut alloc = Malloc(Counters::default());
        let blocks = BlockAllocator::new(&mut alloc);
        let mut a = blocks.alloc_block(24).unwrap();
        a.bytes_mut().fill(7);
        let a = blocks.realloc_block(a, 100).unwrap();
        assert_eq!((a.size(), &a.bytes()[..24]), (100, &[7u8; 24][..]));
        let zero = blocks.alloc_block(0).unwrap();
        assert!(zero.bytes().is_empty());
        assert_eq!(blocks.stats().counters.map(|c| c.live_bytes), Some(100));
        assert_eq!(blocks.allocator().stats().counters.map(|c| c.n_allocs), Some(3));
        blocks.free_block(a);
        blocks.free_block(zero);
        // The handle's borrow of `alloc` ends here, so it can be used directly again.
        assert_eq!(alloc.stats().counters.map(|c| (c.n_allocs, c.n_frees, c.live_bytes)), Some((3, 3, 0)));
    }

    #[test]
    fn a_block_freed_into_another_handle_panics_and_frees_nothing() {
        let mut first = Malloc(Counters::default());
        let mut second = Malloc(Counters::default());
        let one = BlockAllocator::new(&mut first);
        let two = BlockAllocator::new(&mut second);
        let block = one.alloc_block(32).unwrap();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| two.free_block(block)));
        assert!(result.is_err(), "freeing into another allocator must panic");
        assert_eq!(two.stats().counters.map(|c| c.n_frees), Some(0));
        // (The block was consumed by the failed call and leaked; nothing was freed twice.)
        let block = one.alloc_block(32).unwrap();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| two.realloc_block(block, 64)));
        assert!(result.is_err(), "resizing in another allocator must panic");
    }

    #[test]
    fn handles_have_distinct_ids_even_over_zero_sized_allocators() {
        struct Zst;
        impl SharedAllocator for Zst {
            fn allocate(&self, size: usize) -> Option<NonNull<u8>> {
                // SAFETY: malloc accepts any size.
                NonNull::new(unsafe { libc::malloc(size.max(1)) }.cast::<u8>())
            }
            unsafe fn free(&self, ptr: NonNull<u8>, _size: usize) {
                // SAFETY: the caller passes a live block of `allocate`.
                unsafe { libc::free(ptr.as_ptr().cast()) }
            }
            fn stats(&self) -> AllocStats {
                AllocStats::default()
            }
        }
        let (x, y): (Box<dyn SharedAllocator>, Box<dyn SharedAllocator>) = (Box::new(Zst), Box::new(Zst));
        let one = SharedBlockAllocator::new(x.as_ref());
        let two = SharedBlockAllocator::new(y.as_ref());
        assert_ne!(one.id, two.id);
        let block = one.alloc_block(16).unwrap();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| two.free_block(block)));
        assert!(result.is_err());
        std::thread::scope(|scope| {
            let block = one.alloc_block(48).unwrap();
            let one = &one;
            scope.spawn(move || one.free_block(block)).join().unwrap();
        });
    }
}
