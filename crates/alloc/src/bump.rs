//! `bump`: a region allocator, the lower bound of allocation cost and a "never collect"
//! baseline.
//!
//! Memory comes in chunks of 64 MiB mapped from the kernel (untouched pages cost no resident
//! memory); a request takes the next bytes of the current chunk, rounded up to 16. A request
//! that does not fit in what is left gets a fresh chunk, or, when it is over a quarter of a
//! chunk, a mapping of its own, so that the current chunk goes on serving small requests.
//! `free` does nothing but count; `reallocate` grows or shrinks the last block in place and
//! copies any other that grows. Everything goes back to the kernel when the allocator is
//! dropped.
//!
//! The shared view hands out memory with one atomic add on the current chunk's cursor and
//! takes a lock only to map a new chunk.

use std::ptr::{self, NonNull};
use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use heaplab_core::alloc::align_up;
use heaplab_core::{AllocStats, Allocator, Counters, SharedAllocator};

use crate::{AllocConfig, AllocatorInfo, RegisteredAllocator, os};

/// Bytes in a chunk.
pub const CHUNK_SIZE: usize = 64 << 20;

/// Requests over this size that do not fit in the current chunk get a mapping of their own.
pub const OWN_MAPPING_THRESHOLD: usize = CHUNK_SIZE / 4;

/// A region: see the module documentation.
pub struct Bump {
    /// The next free byte of the current chunk.
    cursor: *mut u8,
    /// The end of the current chunk.
    end: *mut u8,
    counters: Counters,
    /// Every mapping made, to unmap on drop.
    mappings: Vec<(NonNull<u8>, usize)>,
    mapped_bytes: u64,
}

// SAFETY: a Bump owns its mappings exclusively and nothing in it is tied to a thread.
unsafe impl Send for Bump {}

impl Default for Bump {
    fn default() -> Self {
        Bump::new()
    }
}

impl Bump {
    /// A region with no chunk yet; the first request maps one.
    pub fn new() -> Bump {
        Bump {
            cursor: ptr::null_mut(),
            end: ptr::null_mut(),
            counters: Counters::default(),
            mappings: Vec::new(),
            mapped_bytes: 0,
        }
    }

    /// Bytes left in the current chunk.
    #[inline]
    fn room(&self) -> usize {
        self.end as usize - self.cursor as usize
    }

    #[inline]
    fn allocate_raw(&mut self, size: usize) -> Option<NonNull<u8>> {
        let rounded = align_up(size.max(1));
        if rounded <= self.room() {
            let block = self.cursor;
            // SAFETY: `rounded` bytes remain in the current chunk.
            self.cursor = unsafe { self.cursor.add(rounded) };
            // SAFETY: a pointer into a live mapping is not null.
            return Some(unsafe { NonNull::new_unchecked(block) });
        }
        self.allocate_slow(rounded)
    }

    #[inline(never)]
    fn allocate_slow(&mut self, rounded: usize) -> Option<NonNull<u8>> {
        if rounded > OWN_MAPPING_THRESHOLD {
            let len = os::round_up(rounded, os::page_size());
            let mapping = os::map(len)?;
            self.mappings.push((mapping, len));
            self.mapped_bytes += len as u64;
            return Some(mapping);
        }
        let chunk = os::map(CHUNK_SIZE)?;
        self.mappings.push((chunk, CHUNK_SIZE));
        self.mapped_bytes += CHUNK_SIZE as u64;
        // SAFETY: the chunk is CHUNK_SIZE bytes long and `rounded` is at most a quarter of it.
        unsafe {
            self.end = chunk.as_ptr().add(CHUNK_SIZE);
            self.cursor = chunk.as_ptr().add(rounded);
        }
        Some(chunk)
    }

    /// # Safety
    /// As for [`Allocator::reallocate`].
    unsafe fn reallocate_raw(
        &mut self,
        block: NonNull<u8>,
        old_size: usize,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let old_rounded = align_up(old_size.max(1));
        let new_rounded = align_up(new_size.max(1));
        let start = block.as_ptr() as usize;
        if start + old_rounded == self.cursor as usize && start + new_rounded <= self.end as usize {
            // The last block grows or shrinks where it is.
            self.cursor = block.as_ptr().wrapping_add(new_rounded);
            return Some(block);
        }
        if new_rounded <= old_rounded {
            return Some(block);
        }
        let moved = self.allocate_raw(new_size)?;
        // SAFETY: both blocks are live and distinct (the new one lies past the old), and at
        // least `old_size` bytes long.
        unsafe { ptr::copy_nonoverlapping(block.as_ptr(), moved.as_ptr(), old_size) };
        Some(moved)
    }
}

impl Allocator for Bump {
    #[inline]
    fn allocate(&mut self, size: usize) -> Option<NonNull<u8>> {
        let block = self.allocate_raw(size)?;
        self.counters.on_alloc(size);
        Some(block)
    }

    #[inline]
    unsafe fn free(&mut self, _ptr: NonNull<u8>, size: usize) {
        self.counters.on_free(size);
    }

    unsafe fn reallocate(
        &mut self,
        ptr: NonNull<u8>,
        old_size: usize,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: the caller upholds the contract of `Allocator::reallocate`.
        let moved = unsafe { self.reallocate_raw(ptr, old_size, new_size) }?;
        self.counters.on_realloc(old_size, new_size);
        Some(moved)
    }

    fn stats(&self) -> AllocStats {
        AllocStats {
            counters: Some(self.counters),
            mapped_bytes: Some(self.mapped_bytes),
            arenas: None,
            poisoned: false,
        }
    }
}

impl Drop for Bump {
    fn drop(&mut self) {
        for &(mapping, len) in &self.mappings {
            // SAFETY: each entry is one live mapping of ours, and the region dies here.
            unsafe { os::unmap(mapping, len) };
        }
    }
}

/// One chunk of the shared region.
struct Chunk {
    base: NonNull<u8>,
    /// Offset of the next free byte; may run past the end when requests race for the last bytes.
    cursor: AtomicUsize,
}

/// The thread-safe region: an atomic cursor per chunk, a lock to map the next.
pub struct SharedBump {
    /// The chunk requests are served from; null before the first.
    current: AtomicPtr<Chunk>,
    /// Every chunk and own mapping made, kept until the region is dropped so that a thread
    /// still looking at an old chunk reads valid memory.
    /// Each from `Box::into_raw`, so that the pointers threads hold are derived from the
    /// allocation itself and stay valid however this list moves (a pointer taken from a
    /// `Box` is invalidated when the Box is moved: Miri's Stacked Borrows found that).
    chunks: Mutex<Vec<NonNull<Chunk>>>,
    own_mappings: Mutex<Vec<(NonNull<u8>, usize)>>,
    mapped_bytes: AtomicU64,
}

// SAFETY: the raw pointers in a SharedBump point to mappings and chunks it owns until it is
// dropped; all mutation goes through atomics or mutexes.
unsafe impl Send for SharedBump {}
// SAFETY: as above: shared access goes through atomics and mutexes only.
unsafe impl Sync for SharedBump {}

impl Default for SharedBump {
    fn default() -> Self {
        SharedBump::new()
    }
}

impl SharedBump {
    /// A shared region with no chunk yet.
    pub fn new() -> SharedBump {
        SharedBump {
            current: AtomicPtr::new(ptr::null_mut()),
            chunks: Mutex::new(Vec::new()),
            own_mappings: Mutex::new(Vec::new()),
            mapped_bytes: AtomicU64::new(0),
        }
    }

    /// Replaces `exhausted` (the chunk the caller found full, or null) with a fresh chunk,
    /// unless another thread did so already.
    #[inline(never)]
    fn refill(&self, exhausted: *mut Chunk) -> Option<()> {
        let mut chunks = self.chunks.lock().unwrap_or_else(|e| e.into_inner());
        if self.current.load(Ordering::Acquire) != exhausted {
            return Some(());
        }
        let base = os::map(CHUNK_SIZE)?;
        let chunk = NonNull::from(Box::leak(Box::new(Chunk { base, cursor: AtomicUsize::new(0) })));
        let chunk_ptr: *mut Chunk = chunk.as_ptr();
        chunks.push(chunk);
        self.mapped_bytes.fetch_add(CHUNK_SIZE as u64, Ordering::Relaxed);
        self.current.store(chunk_ptr, Ordering::Release);
        Some(())
    }
}

impl SharedAllocator for SharedBump {
    fn allocate(&self, size: usize) -> Option<NonNull<u8>> {
        let rounded = align_up(size.max(1));
        if rounded > OWN_MAPPING_THRESHOLD {
            let len = os::round_up(rounded, os::page_size());
            let mapping = os::map(len)?;
            self.own_mappings.lock().unwrap_or_else(|e| e.into_inner()).push((mapping, len));
            self.mapped_bytes.fetch_add(len as u64, Ordering::Relaxed);
            return Some(mapping);
        }
        loop {
            let chunk = self.current.load(Ordering::Acquire);
            if !chunk.is_null() {
                // SAFETY: chunks live until the region is dropped, and this one was published
                // with Release after it was fully written.
                let chunk_ref = unsafe { &*chunk };
                let offset = chunk_ref.cursor.fetch_add(rounded, Ordering::Relaxed);
                if offset + rounded <= CHUNK_SIZE {
                    // SAFETY: the bytes `offset..offset + rounded` lie in the chunk and the
                    // atomic add gave them to this caller alone.
                    return Some(unsafe { chunk_ref.base.add(offset) });
                }
            }
            self.refill(chunk)?;
        }
    }

    unsafe fn free(&self, _ptr: NonNull<u8>, _size: usize) {}

    fn stats(&self) -> AllocStats {
        AllocStats {
            counters: None,
            mapped_bytes: Some(self.mapped_bytes.load(Ordering::Relaxed)),
            arenas: None,
            poisoned: false,
        }
    }
}

impl Drop for SharedBump {
    fn drop(&mut self) {
        let chunks = std::mem::take(self.chunks.get_mut().unwrap_or_else(|e| e.into_inner()));
        for chunk in chunks {
            // SAFETY: each came from `Box::leak` in `refill` and is given back once, here,
            // where no thread holds a pointer to it any more; its chunk owns one live mapping
            // of CHUNK_SIZE bytes, and the region dies here.
            unsafe {
                let chunk = Box::from_raw(chunk.as_ptr());
                os::unmap(chunk.base, CHUNK_SIZE);
            }
        }
        let own = std::mem::take(self.own_mappings.get_mut().unwrap_or_else(|e| e.into_inner()));
        for (mapping, len) in own {
            // SAFETY: one live mapping of ours, of this length.
            unsafe { os::unmap(mapping, len) };
        }
    }
}

impl RegisteredAllocator for Bump {
    const INFO: AllocatorInfo =
        AllocatorInfo { name: "bump", summary: "a region: bump pointer in 64 MiB chunks, free is a no-op" };

    fn create(_config: &AllocConfig) -> Result<Self, String> {
        Ok(Bump::new())
    }

    fn create_shared(_config: &AllocConfig) -> Result<Box<dyn SharedAllocator>, String> {
        Ok(Box::new(SharedBump::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_follow_each_other_rounded_to_16() {
        let mut bump = Bump::new();
        let a = bump.allocate(1).unwrap();
        let b = bump.allocate(17).unwrap();
        let c = bump.allocate(32).unwrap();
        assert_eq!(b.as_ptr() as usize - a.as_ptr() as usize, 16);
        assert_eq!(c.as_ptr() as usize - b.as_ptr() as usize, 32);
        assert_eq!(bump.stats().mapped_bytes, Some(CHUNK_SIZE as u64));
    }

    #[test]
    fn free_is_counted_and_gives_nothing_back() {
        let mut bump = Bump::new();
        let a = bump.allocate(64).unwrap();
        // SAFETY: allocated above with 64 bytes.
        unsafe { bump.free(a, 64) };
        let b = bump.allocate(64).unwrap();
        assert_ne!(a, b);
        let counters = bump.stats().counters.unwrap();
        assert_eq!((counters.n_allocs, counters.n_frees, counters.live_bytes), (2, 1, 64));
    }

    #[test]
    fn the_last_block_resizes_in_place_and_others_move() {
        let mut bump = Bump::new();
        let first = bump.allocate(16).unwrap();
        let last = bump.allocate(16).unwrap();
        // SAFETY: each block is live with the size passed, and resized once.
        unsafe {
            assert_eq!(bump.reallocate(last, 16, 1000), Some(last));
            let moved = bump.reallocate(first, 16, 100).unwrap();
            assert_ne!(moved, first);
            assert!(moved.as_ptr() as usize >= last.as_ptr() as usize + 1000);
            assert_eq!(bump.reallocate(moved, 100, 10), Some(moved));
        }
    }

    #[test]
    fn a_full_chunk_is_followed_by_a_fresh_one_and_huge_requests_get_their_own() {
        let mut bump = Bump::new();
        for _ in 0..4 {
            bump.allocate(OWN_MAPPING_THRESHOLD).unwrap();
        }
        assert_eq!(bump.stats().mapped_bytes, Some(CHUNK_SIZE as u64));
        let small = bump.allocate(16).unwrap();
        assert_eq!(bump.stats().mapped_bytes, Some(2 * CHUNK_SIZE as u64));
        bump.allocate(CHUNK_SIZE).unwrap();
        assert_eq!(bump.stats().mapped_bytes, Some(3 * CHUNK_SIZE as u64));
        // The second chunk still serves small requests.
        let next = bump.allocate(16).unwrap();
        assert_eq!(next.as_ptr() as usize, small.as_ptr() as usize + 16);
        assert_eq!(bump.stats().mapped_bytes, Some(3 * CHUNK_SIZE as u64));
    }

    #[test]
    fn shared_region_gives_disjoint_blocks_across_chunks() {
        let bump = SharedBump::new();
        let mut blocks: Vec<usize> =
            (0..5).map(|_| bump.allocate(OWN_MAPPING_THRESHOLD - 16).unwrap().as_ptr() as usize).collect();
        blocks.sort_unstable();
        assert!(blocks.windows(2).all(|w| w[1] - w[0] >= OWN_MAPPING_THRESHOLD - 16));
        assert_eq!(bump.stats().mapped_bytes, Some(2 * CHUNK_SIZE as u64));
    }
}
