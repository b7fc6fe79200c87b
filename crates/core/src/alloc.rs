//! The `Allocator` trait: where bytes come from.
//!
//! An allocator hands out raw, sized blocks aligned to [`ALIGN`]. The caller
//! passes the size back on `free` and `reallocate`, as a collector that knows
//! its objects' layouts can, so that no allocator needs to look an address up.
//!
//! Single-threaded users hold an allocator by `&mut` and pay for no
//! synchronisation. Multi-threaded workloads get a [`SharedAllocator`]: for
//! pymalloc that is one global lock, as CPython runs it under the GIL.

use std::ptr::NonNull;

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

/// A block owned by safe code: made by [`BlockAllocator::alloc_block`],
/// consumed by [`BlockAllocator::free_block`].
///
/// It lets workloads that exercise an allocator directly do so without
/// `unsafe`. A block must go back to the allocator that made it; each
/// allocator value stamps its blocks with its address, and freeing one into
/// another allocator panics.
#[derive(Debug)]
pub struct Block {
    ptr: NonNull<u8>,
    size: usize,
    owner: usize,
}

// SAFETY: a Block owns its memory exclusively (it is not Clone), like a Box<[u8]>;
// every allocator here may free memory on a thread other than the allocating one
// (pymalloc's shared view takes its lock).
unsafe impl Send for Block {}

impl Block {
    /// The block's size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The block's address, for checks of alignment and overlap.
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// The block's bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the block owns `size` bytes at `ptr` until freed, and freeing consumes it.
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

/// Safe block-level access to any [`Allocator`], for workloads and tests.
pub trait BlockAllocator {
    /// Allocates a block of `size` bytes.
    fn alloc_block(&mut self, size: usize) -> Result<Block, OutOfMemory>;
    /// Frees a block made by this allocator.
    fn free_block(&mut self, block: Block);
    /// Resizes a block made by this allocator.
    fn realloc_block(&mut self, block: Block, new_size: usize) -> Result<Block, OutOfMemory>;
}

fn owner_of<T: ?Sized>(a: &T) -> usize {
    a as *const T as *const u8 as usize
}

impl<A: Allocator + ?Sized> BlockAllocator for A {
    fn alloc_block(&mut self, size: usize) -> Result<Block, OutOfMemory> {
        assert!(size > 0, "zero-sized block");
        let ptr = self.allocate(size).ok_or(OutOfMemory(size))?;
        Ok(Block { ptr, size, owner: owner_of(self) })
    }

    fn free_block(&mut self, block: Block) {
        assert_eq!(block.owner, owner_of(self), "block freed into another allocator");
        // SAFETY: the block came from this allocator (checked above) with this size,
        // and taking it by value means it cannot be freed twice.
        unsafe { self.free(block.ptr, block.size) }
    }

    fn realloc_block(&mut self, block: Block, new_size: usize) -> Result<Block, OutOfMemory> {
        assert!(new_size > 0, "zero-sized block");
        assert_eq!(block.owner, owner_of(self), "block resized in another allocator");
        // SAFETY: as in `free_block`; on failure the old block is untouched, and it
        // is leaked here only in the sense that the error path drops the handle
        // without freeing it, which is safe.
        match unsafe { self.reallocate(block.ptr, block.size, new_size) } {
            Some(ptr) => Ok(Block { ptr, size: new_size, owner: block.owner }),
            None => Err(OutOfMemory(new_size)),
        }
    }
}

/// Safe block-level access to a [`SharedAllocator`].
pub trait SharedBlockAllocator {
    /// Allocates a block of `size` bytes.
    fn alloc_block(&self, size: usize) -> Result<Block, OutOfMemory>;
    /// Frees a block made by this allocator, on any thread.
    fn free_block(&self, block: Block);
}

impl<A: SharedAllocator + ?Sized> SharedBlockAllocator for A {
    fn alloc_block(&self, size: usize) -> Result<Block, OutOfMemory> {
        assert!(size > 0, "zero-sized block");
        let ptr = self.allocate(size).ok_or(OutOfMemory(size))?;
        Ok(Block { ptr, size, owner: owner_of(self) })
    }

    fn free_block(&self, block: Block) {
        assert_eq!(block.owner, owner_of(self), "block freed into another allocator");
        // SAFETY: the block came from this allocator with this size and is consumed here.
        unsafe { self.free(block.ptr, block.size) }
    }
}

/// Rounds `n` up to a multiple of [`ALIGN`].
#[inline]
pub const fn align_up(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}
