//! `pymalloc`: CPython's small-object allocator (`Objects/obmalloc.c` of CPython 3.11), rebuilt.
//!
//! What it follows exactly:
//! - 32 size classes of 16 bytes (`ALIGNMENT` 16, `SMALL_REQUEST_THRESHOLD` 512); a request of
//!   `n` bytes is served from class `(n - 1) >> 4`, whose blocks are `16 * (class + 1)` bytes.
//! - Pools of 16 KiB in arenas of 1 MiB, the geometry of CPython 3.10 and later on 64-bit
//!   ([`Geometry::Py310`]), or 4 KiB pools in 256 KiB arenas, that of 3.9 and earlier
//!   ([`Geometry::Py39`]).
//! - The 48-byte pool header at the start of each pool (`POOL_OVERHEAD`), so that a pool of the
//!   32 B class holds `(16384 - 48) / 32 = 510` blocks. Its fields are CPython's: the count of
//!   blocks in use, the head of the pool's free-block list, the links of its `usedpools` list,
//!   the index of its arena, its size class, and `nextoffset`/`maxnextoffset`, which carve
//!   never-used blocks lazily, one at a time, when the free list runs dry.
//! - Arenas come from `mmap`. When the kernel hands back an address that is not pool-aligned,
//!   one pool is lost and the arena's pools start at the next pool boundary: a 1 MiB arena
//!   usually holds 63 usable pools of 16 KiB (4 KiB pools are always page-aligned, so a 3.9
//!   arena holds all 64).
//! - Per-class `usedpools` lists of partly used pools, each a circular list whose head is a
//!   pool header that is not a pool. A pool that fills up leaves its list; one that gets a
//!   block back joins the FRONT of it again (`insert_to_usedpool`), so the next request of
//!   its class is served from it; a new pool joins an empty list.
//! - Per-arena lists of empty pools (`freepools`), and `usable_arenas`: the arenas that have
//!   a free pool, kept sorted by their count of free pools, fewest first, so that new pools
//!   come from the fullest arena and nearly empty arenas can drain. `nfp2lasta` (the last
//!   arena of each free-pool count) makes keeping the order constant-time.
//! - An arena is unmapped only when all its pools are empty and it is not the last of
//!   `usable_arenas` (bpo-37257: keeping that one avoids thrashing). Arena objects are
//!   recycled through `unused_arena_objects`, and their table doubles as CPython's does.
//! - `realloc` as `pymalloc_realloc`: a block stays where it is when the new size fits its
//!   class and does not shrink it by more than a quarter; otherwise it moves.
//!
//! Where it differs:
//! - The caller passes each block's size back (see [`heaplab_core::Allocator`]), so freeing a
//!   small block finds its pool by masking the address, with no `address_in_range` lookup
//!   (CPython 3.11 consults a radix tree of arenas on every free).
//! - Requests over 512 bytes, and requests of 0 bytes, go to libc `malloc`, as
//!   `PyMem_RawMalloc` sends them (which turns 0 into `malloc(1)`). Because a
//!   block's size says where it lives, a large block resized to a small size moves into a pool
//!   (CPython would `realloc` it in place with libc).
//! - Each allocator value has its own arenas; CPython has one set per process (per
//!   interpreter from 3.12).
//! - The counts of [`heaplab_core::Counters`] are kept on every call, which CPython does not do.
//!
//! Names of the internal fields and functions are CPython's, so that this file reads side
//! by side with `obmalloc.c`.

use std::ptr::{self, NonNull};
use std::str::FromStr;

use heaplab_core::{AllocStats, Allocator, ArenaStats, ArenaUse, ClassStats, Counters, SharedAllocator};

use crate::{AllocConfig, AllocatorInfo, Locked, RegisteredAllocator, os};

/// Blocks are sized in multiples of, and aligned to, this many bytes (`ALIGNMENT` on 64-bit).
pub const ALIGNMENT: usize = 16;
const ALIGNMENT_SHIFT: u32 = 4;

/// Requests of at most this many bytes are served from pools; larger ones go to libc `malloc`.
pub const SMALL_REQUEST_THRESHOLD: usize = 512;

/// The number of size classes: 16, 32, …, 512 bytes.
pub const NB_SMALL_SIZE_CLASSES: usize = SMALL_REQUEST_THRESHOLD / ALIGNMENT;

/// Bytes taken by the header at the start of every pool (`POOL_OVERHEAD`).
pub const POOL_OVERHEAD: usize = 48;

/// The size class a freshly carved pool carries until its first use.
const DUMMY_SIZE_IDX: u32 = 0xffff;

/// Arena objects in the first table; the table doubles when every one is in use.
const INITIAL_ARENA_OBJECTS: usize = 16;

/// The end of a list of arena objects (CPython's `NULL`).
const NO_ARENA: u32 = u32::MAX;

/// The block size of size class `class` (`INDEX2SIZE`).
#[inline]
pub const fn class_block_size(class: usize) -> usize {
    (class + 1) << ALIGNMENT_SHIFT
}

/// The size class of a request of `size` bytes, `1 <= size <= 512`.
#[inline]
pub const fn size_class(size: usize) -> usize {
    (size - 1) >> ALIGNMENT_SHIFT
}

/// The sizes of pools and arenas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Geometry {
    /// CPython 3.10 and later on 64-bit: 16 KiB pools in 1 MiB arenas.
    #[default]
    Py310,
    /// CPython 3.9 and earlier: 4 KiB pools in 256 KiB arenas.
    Py39,
}

impl Geometry {
    /// Bytes in a pool (`POOL_SIZE`).
    pub const fn pool_size(self) -> usize {
        match self {
            Geometry::Py310 => 16 << 10,
            Geometry::Py39 => 4 << 10,
        }
    }

    /// Bytes in an arena (`ARENA_SIZE`).
    pub const fn arena_size(self) -> usize {
        match self {
            Geometry::Py310 => 1 << 20,
            Geometry::Py39 => 256 << 10,
        }
    }

    /// Pools in an arena whose address is pool-aligned (`MAX_POOLS_IN_ARENA`).
    pub const fn max_pools_in_arena(self) -> usize {
        self.arena_size() / self.pool_size()
    }

    /// Blocks of size class `class` that one pool holds.
    pub const fn blocks_per_pool(self, class: usize) -> usize {
        (self.pool_size() - POOL_OVERHEAD) / class_block_size(class)
    }

    /// The name this geometry is selected by: `py310` or `py39`.
    pub const fn name(self) -> &'static str {
        match self {
            Geometry::Py310 => "py310",
            Geometry::Py39 => "py39",
        }
    }
}

impl FromStr for Geometry {
    type Err = String;

    fn from_str(name: &str) -> Result<Geometry, String> {
        match name {
            "py310" | "3.10" => Ok(Geometry::Py310),
            "py39" | "3.9" => Ok(Geometry::Py39),
            _ => Err(format!("unknown pymalloc geometry `{name}` (valid: py310, py39)")),
        }
    }
}

/// The pools an interpreter holds before a workload starts, class by class, as the table of
/// `sys._debugmallocstats()` shows them (`_PyObject_DebugMallocStats` in `Objects/obmalloc.c`:
/// "class size num pools blocks in use avail blocks"). A [`Pymalloc::with_start`] allocator
/// begins with them, so that the workload's first requests fill the interpreter's partly used
/// pools and its unused pools before they map an arena, as in CPython. The text form, for
/// `heaplab run --set pymalloc.start=…`, is `SIZE:POOLS:AVAIL` per class, comma-separated
/// (`16:3:1200,32:12:310`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StartState {
    /// The classes with pools in use.
    pub classes: Vec<StartClass>,
}

/// One size class of a [`StartState`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartClass {
    /// The block size, a multiple of 16 up to 512.
    pub block_size: usize,
    /// Pools in use.
    pub pools: u64,
    /// Free blocks in those pools ("avail blocks").
    pub avail_blocks: u64,
}

impl FromStr for StartState {
    type Err = String;

    fn from_str(text: &str) -> Result<StartState, String> {
        let usage =
            || format!("pymalloc.start takes SIZE:POOLS:AVAIL per class, comma-separated (got '{text}')");
        let mut classes = Vec::new();
        for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let fields: Vec<Option<u64>> = item.split(':').map(|field| field.trim().parse().ok()).collect();
            let [Some(block_size), Some(pools), Some(avail_blocks)] = fields[..] else { return Err(usage()) };
            let block_size = usize::try_from(block_size).map_err(|_| usage())?;
            if block_size == 0 || block_size > SMALL_REQUEST_THRESHOLD || block_size % ALIGNMENT != 0 {
                return Err(format!("pymalloc.start: {block_size} is no block size (16, 32, …, 512)"));
            }
            if classes.iter().any(|class: &StartClass| class.block_size == block_size) {
                return Err(format!("pymalloc.start names {block_size} B blocks twice"));
            }
            classes.push(StartClass { block_size, pools, avail_blocks });
        }
        Ok(StartState { classes })
    }
}

impl std::fmt::Display for StartState {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let items: Vec<String> = self
            .classes
            .iter()
            .map(|class| format!("{}:{}:{}", class.block_size, class.pools, class.avail_blocks))
            .collect();
        formatter.write_str(&items.join(","))
    }
}

/// Where an arena's first pool starts and how many pools fit, given the arena's address.
///
/// This is CPython's alignment rule in `new_arena`: when the address is not pool-aligned, the
/// pools start at the next pool boundary and one pool is lost.
const fn carve_arena(address: usize, geometry: Geometry) -> (usize, u32) {
    let pool_size = geometry.pool_size();
    let excess = address & (pool_size - 1);
    let pools = geometry.max_pools_in_arena() as u32;
    if excess == 0 { (0, pools) } else { (pool_size - excess, pools - 1) }
}

/// The header at the start of every pool (`struct pool_header`).
///
/// The list heads of `usedpools` are headers of this type too, but not pools: their
/// `nextpool` and `prevpool` are all that is used of them.
#[repr(C)]
struct PoolHeader {
    /// Blocks handed out (`ref.count`, in a union with a pointer that pads it to 8 bytes).
    count: u32,
    padding: u32,
    /// The first free block; each free block holds the address of the next in its first word.
    freeblock: *mut u8,
    /// The next pool in its `usedpools` list, or in its arena's `freepools` list.
    nextpool: *mut PoolHeader,
    /// The previous pool in its `usedpools` list.
    prevpool: *mut PoolHeader,
    /// The index of the pool's arena among the arena objects.
    arenaindex: u32,
    /// The pool's size class.
    szidx: u32,
    /// The offset of the next never-used block.
    nextoffset: u32,
    /// The largest offset at which a whole block still fits.
    maxnextoffset: u32,
}

const _: () = assert!(size_of::<PoolHeader>() == POOL_OVERHEAD);

impl PoolHeader {
    const fn list_head() -> PoolHeader {
        PoolHeader {
            count: 0,
            padding: 0,
            freeblock: ptr::null_mut(),
            nextpool: ptr::null_mut(),
            prevpool: ptr::null_mut(),
            arenaindex: 0,
            szidx: DUMMY_SIZE_IDX,
            nextoffset: 0,
            maxnextoffset: 0,
        }
    }
}

/// One arena, or an unused slot for one (`struct arena_object`).
#[derive(Clone, Copy)]
struct ArenaObject {
    /// The arena's mapping; null when the slot holds no arena.
    address: *mut u8,
    /// The first pool never carved out of this arena.
    pool_address: *mut u8,
    /// Empty pools, carved or not.
    nfreepools: u32,
    /// Pools the arena holds in all.
    ntotalpools: u32,
    /// Carved pools that are empty, linked through their `nextpool`.
    freepools: *mut PoolHeader,
    /// The next arena in `usable_arenas`, or the next slot in `unused_arena_objects`.
    nextarena: u32,
    /// The previous arena in `usable_arenas`.
    prevarena: u32,
}

impl ArenaObject {
    const UNUSED: ArenaObject = ArenaObject {
        address: ptr::null_mut(),
        pool_address: ptr::null_mut(),
        nfreepools: 0,
        ntotalpools: 0,
        freepools: ptr::null_mut(),
        nextarena: NO_ARENA,
        prevarena: NO_ARENA,
    };
}

/// CPython's small-object allocator. See the module documentation.
pub struct Pymalloc {
    /// `!(POOL_SIZE - 1)`: masking a small block's address gives its pool.
    pool_mask: usize,
    /// The heads of the 32 `usedpools` lists, one per size class, at stable addresses.
    usedpools: NonNull<PoolHeader>,
    counters: Counters,
    geometry: Geometry,
    /// Every arena object, associated with an arena or not (`arenas`).
    arenas: Vec<ArenaObject>,
    /// The head of the list of arenas with a free pool, fewest free pools first.
    usable_arenas: u32,
    /// The head of the list of arena objects with no arena.
    unused_arena_objects: u32,
    /// For each count of free pools, the last arena in `usable_arenas` with that count.
    nfp2lasta: Box<[u32]>,
    narenas_currently_allocated: u64,
    ntimes_arena_allocated: u64,
    narenas_highwater: u64,
    /// Live requests over the threshold, passed to libc.
    large_blocks: u64,
    /// Bytes of those requests.
    large_bytes: u64,
}

// SAFETY: a Pymalloc owns its arenas and list heads exclusively; none of its raw pointers is
// shared with another value or tied to the thread that created it, so it may move to another
// thread like a Box.
unsafe impl Send for Pymalloc {}

impl Default for Pymalloc {
    fn default() -> Self {
        Pymalloc::new(Geometry::default())
    }
}

impl Pymalloc {
    /// An allocator with no arenas yet; the first small request maps one.
    pub fn new(geometry: Geometry) -> Pymalloc {
        let heads: Box<[PoolHeader; NB_SMALL_SIZE_CLASSES]> =
            Box::new([const { PoolHeader::list_head() }; NB_SMALL_SIZE_CLASSES]);
        // The heads are reached only through this raw pointer from now on, so that the
        // pointers to them stored in pools stay valid; `Drop` turns it back into the Box.
        let usedpools = NonNull::from(Box::leak(heads)).cast::<PoolHeader>();
        for class in 0..NB_SMALL_SIZE_CLASSES {
            // SAFETY: `class` is within the array of heads just made.
            unsafe {
                let head = usedpools.as_ptr().add(class);
                (*head).nextpool = head;
                (*head).prevpool = head;
            }
        }
        Pymalloc {
            pool_mask: !(geometry.pool_size() - 1),
            usedpools,
            counters: Counters::default(),
            geometry,
            arenas: Vec::new(),
            usable_arenas: NO_ARENA,
            unused_arena_objects: NO_ARENA,
            nfp2lasta: vec![NO_ARENA; geometry.max_pools_in_arena() + 1].into_boxed_slice(),
            narenas_currently_allocated: 0,
            ntimes_arena_allocated: 0,
            narenas_highwater: 0,
            large_blocks: 0,
            large_bytes: 0,
        }
    }

    /// An allocator that begins with `start`'s pools in use: for each class, as many pools
    /// filled and then, round the pools from their ends, as many blocks freed as `start` says
    /// are free, so that no pool empties. What arenas this maps and what unused pools they
    /// leave follow from pymalloc's own rules, as they did in the interpreter (the table holds
    /// no addresses). The interpreter's blocks stay allocated for the allocator's life and are
    /// left out of its counters (they are not the workload's); its arena figures include them.
    /// Fails where a class has more free blocks than its pools can hold while in use, or where
    /// memory runs out.
    pub fn with_start(geometry: Geometry, start: &StartState) -> Result<Pymalloc, String> {
        let mut alloc = Pymalloc::new(geometry);
        for class in &start.classes {
            let index = size_class(class.block_size);
            let per_pool = geometry.blocks_per_pool(index) as u64;
            if class.avail_blocks > class.pools * (per_pool - 1) {
                return Err(format!(
                    "pymalloc.start: {} pools of {} B blocks cannot have {} free blocks and all be in use",
                    class.pools, class.block_size, class.avail_blocks
                ));
            }
            let total =
                usize::try_from(class.pools * per_pool).map_err(|_| "pymalloc.start: too many pools")?;
            let mut blocks = Vec::with_capacity(total);
            for _ in 0..total {
                let block = alloc.allocate_raw(class.block_size).ok_or("pymalloc.start: out of memory")?;
                blocks.push(block);
            }
            // A class starts with no pool, so its blocks came pool by pool: `per_pool`
            // consecutive blocks share one. Free the j-th from the end of pool j mod pools.
            for j in 0..class.avail_blocks {
                let (pool, from_end) = (j % class.pools, j / class.pools);
                let block = blocks[(pool * per_pool + per_pool - 1 - from_end) as usize];
                // SAFETY: `block` came from `allocate_raw` of this allocator for `block_size`
                // bytes, and each (pool, from_end) pair names a different block, freed once.
                unsafe { alloc.free_raw(block, class.block_size) };
            }
        }
        Ok(alloc)
    }

    /// The geometry of pools and arenas in use.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// The list head of `usedpools` for size class `class`.
    #[inline]
    fn usedpool_head(&self, class: usize) -> *mut PoolHeader {
        debug_assert!(class < NB_SMALL_SIZE_CLASSES);
        // SAFETY: `class` is below NB_SMALL_SIZE_CLASSES, the length of the array of heads.
        unsafe { self.usedpools.as_ptr().add(class) }
    }

    /// The pool of a small block.
    #[inline]
    fn pool_of(&self, block: *mut u8) -> *mut PoolHeader {
        block.map_addr(|address| address & self.pool_mask).cast::<PoolHeader>()
    }

    /// Allocates a block of `1 <= size <= 512` bytes (`pymalloc_alloc`).
    #[inline]
    fn pymalloc_alloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        let class = size_class(size);
        let head = self.usedpool_head(class);
        // SAFETY: `head` is a live list head; every pool linked into its list is a carved
        // pool of a live arena with a valid header and a non-empty free list (a pool whose
        // list runs dry is refilled by `pymalloc_pool_extend` or leaves the list).
        unsafe {
            let pool = (*head).nextpool;
            if pool != head {
                (*pool).count += 1;
                let block = (*pool).freeblock;
                debug_assert!(!block.is_null());
                let next = block.cast::<*mut u8>().read();
                (*pool).freeblock = next;
                if next.is_null() {
                    self.pymalloc_pool_extend(pool, class);
                }
                Some(NonNull::new_unchecked(block))
            } else {
                self.allocate_from_new_pool(class)
            }
        }
    }

    /// Refills a pool's empty free list with one never-used block, or, when the pool has
    /// none left, takes the full pool out of its `usedpools` list.
    ///
    /// # Safety
    /// `pool` is a pool of size class `class` in its `usedpools` list, with an empty free list.
    #[inline]
    unsafe fn pymalloc_pool_extend(&mut self, pool: *mut PoolHeader, class: usize) {
        // SAFETY: `pool` is a valid pool header (the caller's contract), and so are its
        // neighbours in the circular list; a block at `nextoffset <= maxnextoffset` lies
        // wholly inside the pool.
        unsafe {
            if (*pool).nextoffset <= (*pool).maxnextoffset {
                let block = pool.cast::<u8>().add((*pool).nextoffset as usize);
                (*pool).freeblock = block;
                (*pool).nextoffset += class_block_size(class) as u32;
                block.cast::<*mut u8>().write(ptr::null_mut());
                return;
            }
            let next = (*pool).nextpool;
            let prev = (*pool).prevpool;
            (*next).prevpool = prev;
            (*prev).nextpool = next;
        }
    }

    /// Takes an empty pool from the fullest usable arena, mapping a new arena where none has
    /// one, and allocates its first block (`allocate_from_new_pool`).
    #[inline(never)]
    fn allocate_from_new_pool(&mut self, class: usize) -> Option<NonNull<u8>> {
        if self.usable_arenas == NO_ARENA {
            let arena = self.new_arena()?;
            self.usable_arenas = arena;
            let ao = &mut self.arenas[arena as usize];
            ao.nextarena = NO_ARENA;
            ao.prevarena = NO_ARENA;
            let nfree = ao.nfreepools as usize;
            debug_assert_eq!(self.nfp2lasta[nfree], NO_ARENA);
            self.nfp2lasta[nfree] = arena;
        }
        let arena = self.usable_arenas;
        let nfree = self.arenas[arena as usize].nfreepools as usize;
        debug_assert!(nfree > 0);
        // This arena already had the fewest free pools, so taking one keeps the order; it
        // only has to leave the list when it has none left.
        if self.nfp2lasta[nfree] == arena {
            self.nfp2lasta[nfree] = NO_ARENA;
        }
        if nfree > 1 {
            debug_assert_eq!(self.nfp2lasta[nfree - 1], NO_ARENA);
            self.nfp2lasta[nfree - 1] = arena;
        }

        let pool_size = self.geometry.pool_size();
        let ao = &mut self.arenas[arena as usize];
        let pool: *mut PoolHeader;
        if !ao.freepools.is_null() {
            // A cached empty pool.
            pool = ao.freepools;
            // SAFETY: pools on an arena's free list are carved pools of that live arena.
            ao.freepools = unsafe { (*pool).nextpool };
        } else {
            // Carve a new pool off the arena.
            pool = ao.pool_address.cast::<PoolHeader>();
            // SAFETY: the arena has a free pool and none is cached, so an uncarved pool
            // lies at `pool_address`, inside the arena's mapping.
            unsafe {
                (*pool).arenaindex = arena;
                (*pool).szidx = DUMMY_SIZE_IDX;
                ao.pool_address = ao.pool_address.add(pool_size);
            }
        }
        ao.nfreepools -= 1;
        if ao.nfreepools == 0 {
            // Wholly allocated: unlink the arena from usable_arenas.
            let next = ao.nextarena;
            self.usable_arenas = next;
            if next != NO_ARENA {
                self.arenas[next as usize].prevarena = NO_ARENA;
            }
        }

        let head = self.usedpool_head(class);
        // SAFETY: `pool` is an empty pool of a live arena, now ours to link into the empty
        // list of `class`; its blocks lie within the pool.
        unsafe {
            (*pool).nextpool = head;
            (*pool).prevpool = head;
            (*head).nextpool = pool;
            (*head).prevpool = pool;
            (*pool).count = 1;
            if (*pool).szidx as usize == class {
                // The pool last held blocks of this class: its free list is still valid.
                let block = (*pool).freeblock;
                debug_assert!(!block.is_null());
                (*pool).freeblock = block.cast::<*mut u8>().read();
                debug_assert!(!(*pool).freeblock.is_null());
                return Some(NonNull::new_unchecked(block));
            }
            // Initialise the header: hand out the first block, put the second on the free
            // list, and leave the rest to be carved lazily.
            let block_size = class_block_size(class);
            (*pool).szidx = class as u32;
            let block = pool.cast::<u8>().add(POOL_OVERHEAD);
            (*pool).nextoffset = (POOL_OVERHEAD + 2 * block_size) as u32;
            (*pool).maxnextoffset = (pool_size - block_size) as u32;
            (*pool).freeblock = block.add(block_size);
            (*pool).freeblock.cast::<*mut u8>().write(ptr::null_mut());
            Some(NonNull::new_unchecked(block))
        }
    }

    /// Maps a new arena into an unused arena object (`new_arena`).
    fn new_arena(&mut self) -> Option<u32> {
        if self.unused_arena_objects == NO_ARENA {
            // Double the table of arena objects. As in CPython this happens only when every
            // arena is wholly allocated, so nothing refers to the table by address (and here
            // nothing does anyway: arenas are named by index).
            debug_assert_eq!(self.usable_arenas, NO_ARENA);
            let old_len = self.arenas.len();
            let new_len = if old_len == 0 { INITIAL_ARENA_OBJECTS } else { old_len * 2 };
            if new_len > NO_ARENA as usize {
                return None;
            }
            self.arenas.reserve_exact(new_len - old_len);
            for index in old_len..new_len {
                let next = if index + 1 < new_len { (index + 1) as u32 } else { NO_ARENA };
                self.arenas.push(ArenaObject { nextarena: next, ..ArenaObject::UNUSED });
            }
            self.unused_arena_objects = old_len as u32;
        }
        let arena_size = self.geometry.arena_size();
        let address = os::map(arena_size)?.as_ptr();
        let index = self.unused_arena_objects;
        let ao = &mut self.arenas[index as usize];
        debug_assert!(ao.address.is_null());
        self.unused_arena_objects = ao.nextarena;
        let (first_pool_offset, pools) = carve_arena(address as usize, self.geometry);
        *ao = ArenaObject {
            address,
            // SAFETY: the first pool offset is below one pool size, inside the arena.
            pool_address: unsafe { address.add(first_pool_offset) },
            nfreepools: pools,
            ntotalpools: pools,
            freepools: ptr::null_mut(),
            nextarena: NO_ARENA,
            prevarena: NO_ARENA,
        };
        self.narenas_currently_allocated += 1;
        self.ntimes_arena_allocated += 1;
        self.narenas_highwater = self.narenas_highwater.max(self.narenas_currently_allocated);
        Some(index)
    }

    /// Frees a small block (`pymalloc_free`).
    ///
    /// # Safety
    /// `block` is a live block handed out by `pymalloc_alloc` of this allocator.
    #[inline]
    unsafe fn pymalloc_free(&mut self, block: *mut u8) {
        let pool = self.pool_of(block);
        // SAFETY: a live small block lies in a carved pool of a live arena, whose header
        // starts at the pool boundary below it; the block is ours to overwrite.
        unsafe {
            debug_assert!((*pool).count > 0);
            let lastfree = (*pool).freeblock;
            block.cast::<*mut u8>().write(lastfree);
            (*pool).freeblock = block;
            (*pool).count -= 1;
            if lastfree.is_null() {
                // The pool was full, so in no list: put it at the front of its usedpools
                // list, so that the next request of its class fills it again.
                self.insert_to_usedpool(pool);
                return;
            }
            if (*pool).count != 0 {
                return;
            }
            self.insert_to_freepool(pool);
        }
    }

    /// Links a pool that was full back into its `usedpools` list (`insert_to_usedpool`), at
    /// the FRONT, so that the next request of its class is served from it.
    ///
    /// CPython 3.11 (`Objects/obmalloc.c`, `insert_to_usedpool`) writes
    /// `next = usedpools[size + size]; prev = next->prevpool;` and inserts the pool between
    /// `prev` and `next`. `usedpools[size + size]` is not the list head but the head's
    /// `nextpool` field (the heads are the `PTA(x)` fake headers whose `nextpool` and
    /// `prevpool` overlay `usedpools[2x]` and `usedpools[2x + 1]`), that is the first pool of
    /// the list; its `prevpool` is the head. So the pool goes between the head and the first
    /// pool. Measured on libpython 3.11.7 and 3.9.18 by the differential test
    /// (`a_pool_that_was_full_goes_to_the_front_in_libpython_too`).
    ///
    /// # Safety
    /// `pool` is a carved pool, in no list, with at least one block in use.
    #[inline]
    unsafe fn insert_to_usedpool(&mut self, pool: *mut PoolHeader) {
        // SAFETY: the caller's contract; the list head and its first pool (the head itself
        // when the list is empty) are valid headers.
        unsafe {
            debug_assert!((*pool).count > 0);
            let head = self.usedpool_head((*pool).szidx as usize);
            let next = (*head).nextpool;
            let prev = (*next).prevpool;
            debug_assert_eq!(prev, head);
            // insert pool before next:   prev (the head) <-> pool <-> next
            (*pool).nextpool = next;
            (*pool).prevpool = prev;
            (*next).prevpool = pool;
            (*prev).nextpool = pool;
        }
    }

    /// Moves a pool that has just become empty from its `usedpools` list to its arena's free
    /// pools, and does the arena bookkeeping that follows (`insert_to_freepool`).
    ///
    /// # Safety
    /// `pool` is a carved pool in its `usedpools` list with no block in use.
    #[inline(never)]
    unsafe fn insert_to_freepool(&mut self, pool: *mut PoolHeader) {
        // SAFETY: the caller's contract; the pool's neighbours are valid headers.
        let arena = unsafe {
            let next = (*pool).nextpool;
            let prev = (*pool).prevpool;
            (*next).prevpool = prev;
            (*prev).nextpool = next;
            (*pool).arenaindex
        };
        let ao_index = arena as usize;
        let ao = &mut self.arenas[ao_index];
        // SAFETY: the pool is now in no list; its `nextpool` links it into the free pools.
        unsafe { (*pool).nextpool = ao.freepools };
        ao.freepools = pool;
        let nf_before = ao.nfreepools as usize;
        let prevarena = ao.prevarena;
        let lastnf = self.nfp2lasta[nf_before];
        // If this was the last arena with `nf_before` free pools, the one before it (if it
        // has as many) becomes the last. (With `nf_before == 0` the arena is in no list.)
        if lastnf == arena {
            self.nfp2lasta[nf_before] = if prevarena != NO_ARENA
                && self.arenas[prevarena as usize].nfreepools as usize == nf_before
            {
                prevarena
            } else {
                NO_ARENA
            };
        }
        let ao = &mut self.arenas[ao_index];
        ao.nfreepools += 1;
        let nf = ao.nfreepools as usize;
        let nextarena = ao.nextarena;

        // Case 1: every pool is empty and the arena is not the last usable one: unmap it.
        if nf == ao.ntotalpools as usize && nextarena != NO_ARENA {
            if prevarena == NO_ARENA {
                self.usable_arenas = nextarena;
            } else {
                self.arenas[prevarena as usize].nextarena = nextarena;
            }
            self.arenas[nextarena as usize].prevarena = prevarena;
            let ao = &mut self.arenas[ao_index];
            let address = ao.address;
            *ao = ArenaObject { nextarena: self.unused_arena_objects, ..ArenaObject::UNUSED };
            self.unused_arena_objects = arena;
            // SAFETY: the arena was mapped by `new_arena` with this size, and no pool of it
            // is in any list any more (all were empty, and the free-pool list went with the
            // arena object).
            unsafe {
                os::unmap(NonNull::new_unchecked(address), self.geometry.arena_size());
            }
            self.narenas_currently_allocated -= 1;
            return;
        }

        // Case 2: the arena had no free pool, so it was in no list: it goes to the front.
        if nf == 1 {
            let head = self.usable_arenas;
            let ao = &mut self.arenas[ao_index];
            ao.nextarena = head;
            ao.prevarena = NO_ARENA;
            if head != NO_ARENA {
                self.arenas[head as usize].prevarena = arena;
            }
            self.usable_arenas = arena;
            if self.nfp2lasta[1] == NO_ARENA {
                self.nfp2lasta[1] = arena;
            }
            return;
        }

        // The arena may now be out of order: it must follow every arena with fewer free
        // pools, that is, come right after the last one with `nf_before`.
        if self.nfp2lasta[nf] == NO_ARENA {
            self.nfp2lasta[nf] = arena;
        }
        // Case 4: it was the last with `nf_before`, so the order holds.
        if lastnf == arena {
            return;
        }
        // Case 3: unlink it and insert it after `lastnf`.
        debug_assert_ne!(nextarena, NO_ARENA);
        if prevarena != NO_ARENA {
            self.arenas[prevarena as usize].nextarena = nextarena;
        } else {
            debug_assert_eq!(self.usable_arenas, arena);
            self.usable_arenas = nextarena;
        }
        self.arenas[nextarena as usize].prevarena = prevarena;
        let after_lastnf = self.arenas[lastnf as usize].nextarena;
        let ao = &mut self.arenas[ao_index];
        ao.prevarena = lastnf;
        ao.nextarena = after_lastnf;
        if after_lastnf != NO_ARENA {
            self.arenas[after_lastnf as usize].prevarena = arena;
        }
        self.arenas[lastnf as usize].nextarena = arena;
    }

    /// Resizes a small block (`pymalloc_realloc`).
    ///
    /// # Safety
    /// `block` is a live small block of this allocator whose requested size is `old_size`.
    unsafe fn pymalloc_realloc(
        &mut self,
        block: *mut u8,
        old_size: usize,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let pool = self.pool_of(block);
        // SAFETY: a live small block lies in a pool with a valid header.
        let block_size = class_block_size(unsafe { (*pool).szidx } as usize);
        // Shrinking copies only when at least a quarter of the block would be saved.
        if new_size <= block_size && 4 * new_size > 3 * block_size {
            // SAFETY: `block` is not null.
            return Some(unsafe { NonNull::new_unchecked(block) });
        }
        let moved = self.allocate_raw(new_size)?;
        // SAFETY: both blocks are live, distinct, and at least `min(old, new)` bytes long;
        // then the old one is freed once.
        unsafe {
            ptr::copy_nonoverlapping(block, moved.as_ptr(), old_size.min(new_size));
            self.pymalloc_free(block);
        }
        Some(moved)
    }

    /// Allocates without counting: from a pool when small, from libc when large.
    #[inline]
    fn allocate_raw(&mut self, size: usize) -> Option<NonNull<u8>> {
        // `size - 1` wraps for a zero size, which then goes to libc, as in CPython.
        if size.wrapping_sub(1) < SMALL_REQUEST_THRESHOLD {
            self.pymalloc_alloc(size)
        } else {
            self.allocate_large(size)
        }
    }

    /// A request over the threshold, or of zero bytes, from libc: `PyMem_RawMalloc`, which
    /// turns 0 into 1 (`_PyMem_RawMalloc` in `Objects/obmalloc.c`).
    #[inline(never)]
    fn allocate_large(&mut self, size: usize) -> Option<NonNull<u8>> {
        // SAFETY: malloc accepts any size.
        // (As 16, not 1: C promises a 1-byte block only 1-byte alignment, and glibc serves
        // both from the same 32-byte chunk.)
        let block = NonNull::new(unsafe { libc::malloc(size.max(ALIGNMENT)) }.cast::<u8>())?;
        debug_assert_eq!(
            block.as_ptr() as usize % ALIGNMENT,
            0,
            "libc malloc returned a block not 16-aligned"
        );
        self.large_blocks += 1;
        self.large_bytes += size as u64;
        Some(block)
    }

    /// Frees without counting.
    ///
    /// # Safety
    /// As for [`Allocator::free`].
    #[inline]
    unsafe fn free_raw(&mut self, block: NonNull<u8>, size: usize) {
        if size.wrapping_sub(1) < SMALL_REQUEST_THRESHOLD {
            // SAFETY: a block of a small size was handed out from a pool.
            unsafe { self.pymalloc_free(block.as_ptr()) }
        } else {
            // SAFETY: a block of a large size came from libc malloc.
            unsafe { self.free_large(block, size) }
        }
    }

    /// # Safety
    /// `block` came from `allocate_large` with `size`, and is live.
    #[inline(never)]
    unsafe fn free_large(&mut self, block: NonNull<u8>, size: usize) {
        // SAFETY: the caller's contract.
        unsafe { libc::free(block.as_ptr().cast()) };
        self.large_blocks -= 1;
        self.large_bytes -= size as u64;
    }

    /// Resizes without counting.
    ///
    /// # Safety
    /// As for [`Allocator::reallocate`].
    unsafe fn reallocate_raw(
        &mut self,
        block: NonNull<u8>,
        old_size: usize,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let old_small = old_size.wrapping_sub(1) < SMALL_REQUEST_THRESHOLD;
        let new_small = new_size.wrapping_sub(1) < SMALL_REQUEST_THRESHOLD;
        if old_small {
            // SAFETY: a small live block of this allocator.
            return unsafe { self.pymalloc_realloc(block.as_ptr(), old_size, new_size) };
        }
        if new_small {
            // A large block becoming small moves into a pool, so that its size keeps saying
            // where it lives.
            let moved = self.pymalloc_alloc(new_size)?;
            // Only `min(old, new)` bytes: a large block is not always the bigger one. A
            // zero-size block is "large" (it went to libc, as CPython sends it there, and holds
            // 16 bytes), and copying `new_size` bytes out of it read past its end
            // (AddressSanitizer: heap-buffer-overflow in the harness's realloc from 0 to 61).
            // SAFETY: both live and distinct, each at least `min(old_size, new_size)` bytes long.
            unsafe {
                ptr::copy_nonoverlapping(block.as_ptr(), moved.as_ptr(), old_size.min(new_size));
                self.free_large(block, old_size);
            }
            return Some(moved);
        }
        // SAFETY: a large block came from libc malloc; on failure realloc leaves it alone.
        // A zero size is made 16 (`_PyMem_RawRealloc` makes it 1; see `allocate_large`): glibc's `realloc(p, 0)` would
        // free the block and return NULL, which reads here as a failure that kept it.
        let moved = unsafe { libc::realloc(block.as_ptr().cast(), new_size.max(ALIGNMENT)) };
        let moved = NonNull::new(moved.cast::<u8>())?;
        debug_assert_eq!(moved.as_ptr() as usize % ALIGNMENT, 0);
        self.large_bytes = self.large_bytes - old_size as u64 + new_size as u64;
        Some(moved)
    }

    /// The arenas, pools and blocks, as `sys._debugmallocstats()` reports them.
    pub fn arena_stats(&self) -> ArenaStats {
        let geometry = self.geometry;
        let pool_size = geometry.pool_size();
        let mut classes: Vec<ClassStats> = (0..NB_SMALL_SIZE_CLASSES)
            .map(|class| ClassStats {
                class: class as u32,
                size: class_block_size(class) as u32,
                ..ClassStats::default()
            })
            .collect();
        let mut held: Vec<(usize, ArenaUse)> = Vec::new();
        for ao in self.arenas.iter().filter(|ao| !ao.address.is_null()) {
            let (first_pool_offset, _) = carve_arena(ao.address as usize, geometry);
            let mut arena_use = ArenaUse::default();
            let mut carved = 0;
            // SAFETY: the first pool offset is inside the arena.
            let mut pool = unsafe { ao.address.add(first_pool_offset) };
            while pool < ao.pool_address {
                let header = pool.cast::<PoolHeader>();
                // SAFETY: every pool below `pool_address` has been carved, so its header
                // was written, and the arena is mapped.
                let (count, class) = unsafe { ((*header).count as u64, (*header).szidx as usize) };
                if count == 0 {
                    arena_use.empty += 1;
                } else {
                    let capacity = geometry.blocks_per_pool(class) as u64;
                    if count == capacity {
                        arena_use.full += 1;
                    } else {
                        arena_use.used += 1;
                    }
                    let row = &mut classes[class];
                    row.pools += 1;
                    row.blocks_in_use += count;
                    row.blocks_free += capacity - count;
                }
                carved += 1;
                // SAFETY: stays within, or one past the end of, the arena's mapping.
                pool = unsafe { pool.add(pool_size) };
            }
            arena_use.empty += ao.ntotalpools - carved;
            held.push((ao.address as usize, arena_use));
        }
        held.sort_unstable_by_key(|&(address, _)| address);
        ArenaStats {
            pool_size: pool_size as u64,
            arena_size: geometry.arena_size() as u64,
            arenas_allocated_total: self.ntimes_arena_allocated,
            arenas_reclaimed: self.ntimes_arena_allocated - self.narenas_currently_allocated,
            arenas_highwater: self.narenas_highwater,
            arenas_current: self.narenas_currently_allocated,
            classes: classes.into_iter().filter(|row| row.pools > 0).collect(),
            arena_map: held.into_iter().map(|(_, arena_use)| arena_use).collect(),
            large_blocks: self.large_blocks,
        }
    }
}

impl Allocator for Pymalloc {
    #[inline]
    fn allocate(&mut self, size: usize) -> Option<NonNull<u8>> {
        let block = self.allocate_raw(size)?;
        self.counters.on_alloc(size);
        Some(block)
    }

    #[inline]
    unsafe fn free(&mut self, ptr: NonNull<u8>, size: usize) {
        // SAFETY: the caller upholds the contract of `Allocator::free`.
        unsafe { self.free_raw(ptr, size) };
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
        let arena_bytes = self.narenas_currently_allocated * self.geometry.arena_size() as u64;
        AllocStats {
            counters: Some(self.counters),
            mapped_bytes: Some(arena_bytes + self.large_bytes),
            arenas: Some(self.arena_stats()),
            poisoned: false,
        }
    }
}

impl Drop for Pymalloc {
    fn drop(&mut self) {
        let arena_size = self.geometry.arena_size();
        for ao in &self.arenas {
            if let Some(address) = NonNull::new(ao.address) {
                // SAFETY: each associated arena object holds one live mapping of this size,
                // and the allocator (so every block in it) dies here.
                unsafe { os::unmap(address, arena_size) };
            }
        }
        // Blocks over the threshold still live belong to libc and are left to the caller,
        // who passed no size for them here.
        // SAFETY: `usedpools` came from `Box::leak` of this very type in `new`, and nothing
        // refers to the heads any more.
        drop(unsafe { Box::from_raw(self.usedpools.as_ptr().cast::<[PoolHeader; NB_SMALL_SIZE_CLASSES]>()) });
    }
}

impl RegisteredAllocator for Pymalloc {
    const INFO: AllocatorInfo = AllocatorInfo {
        name: "pymalloc",
        summary: "CPython's small-object allocator rebuilt: 16 KiB pools, 1 MiB arenas, 32 size classes",
    };

    fn create(config: &AllocConfig) -> Result<Self, String> {
        match &config.pymalloc_start {
            Some(start) => Pymalloc::with_start(config.pymalloc_geometry, start),
            None => Ok(Pymalloc::new(config.pymalloc_geometry)),
        }
    }

    fn create_shared(config: &AllocConfig) -> Result<Box<dyn SharedAllocator>, String> {
        Ok(Box::new(Locked::new(Pymalloc::create(config)?)))
    }
}

#[cfg(test)]
impl Pymalloc {
    /// Checks every structural invariant of the allocator, panicking on the first broken one.
    pub(crate) fn check_invariants(&self) {
        let geometry = self.geometry;
        let pool_size = geometry.pool_size();
        let max_pools = geometry.max_pools_in_arena();

        // usable_arenas: well linked, sorted by free pools, and nfp2lasta names the last
        // arena of each count.
        let mut expected_last = vec![NO_ARENA; max_pools + 1];
        let mut in_usable = vec![false; self.arenas.len()];
        let mut previous = NO_ARENA;
        let mut arena = self.usable_arenas;
        let mut previous_nf = 0;
        while arena != NO_ARENA {
            let ao = &self.arenas[arena as usize];
            assert!(!ao.address.is_null(), "usable arena {arena} has no memory");
            assert_eq!(ao.prevarena, previous, "usable arena {arena} has a wrong back link");
            assert!(ao.nfreepools > 0, "usable arena {arena} has no free pool");
            assert!(ao.nfreepools >= previous_nf, "usable_arenas out of order at {arena}");
            expected_last[ao.nfreepools as usize] = arena;
            in_usable[arena as usize] = true;
            previous_nf = ao.nfreepools;
            previous = arena;
            arena = ao.nextarena;
        }
        assert_eq!(&expected_last[..], &self.nfp2lasta[..], "nfp2lasta");

        // Pools: counts agree with free lists and carving; list membership follows state.
        let mut in_used_list = std::collections::HashSet::new();
        for class in 0..NB_SMALL_SIZE_CLASSES {
            let head = self.usedpool_head(class);
            // SAFETY: the list heads and every pool linked to them are valid headers.
            unsafe {
                let mut pool = (*head).nextpool;
                while pool != head {
                    assert_eq!((*(*pool).nextpool).prevpool, pool, "usedpools links");
                    assert_eq!((*pool).szidx as usize, class, "pool in another class's list");
                    in_used_list.insert(pool as usize);
                    pool = (*pool).nextpool;
                }
            }
        }
        let mut current = 0;
        for (index, ao) in self.arenas.iter().enumerate() {
            if ao.address.is_null() {
                continue;
            }
            current += 1;
            assert_eq!(in_usable[index], ao.nfreepools > 0, "arena {index} usable iff it has a free pool");
            let mut on_free_list = std::collections::HashSet::new();
            let mut pool = ao.freepools;
            while !pool.is_null() {
                on_free_list.insert(pool as usize);
                // SAFETY: pools on an arena's free list are carved pools of it.
                pool = unsafe { (*pool).nextpool };
            }
            let (first_pool_offset, total) = carve_arena(ao.address as usize, geometry);
            assert_eq!(total, ao.ntotalpools);
            let first = ao.address as usize + first_pool_offset;
            let carved = (ao.pool_address as usize - first) / pool_size;
            assert_eq!(
                ao.nfreepools as usize,
                on_free_list.len() + (ao.ntotalpools as usize - carved),
                "arena {index}: free pools = cached + uncarved"
            );
            for n in 0..carved {
                let header = (first + n * pool_size) as *const PoolHeader;
                // SAFETY: carved pools have valid headers.
                let pool = unsafe { &*header };
                assert_eq!(pool.arenaindex as usize, index, "pool's arena index");
                if pool.count == 0 {
                    assert!(
                        on_free_list.contains(&(header as usize)),
                        "an empty pool is on its arena's free list"
                    );
                    continue;
                }
                let class = pool.szidx as usize;
                let block_size = class_block_size(class);
                let capacity = geometry.blocks_per_pool(class);
                let mut free_blocks = 0;
                let mut block = pool.freeblock;
                while !block.is_null() {
                    let offset = block as usize - header as usize;
                    assert!(
                        offset >= POOL_OVERHEAD && (offset - POOL_OVERHEAD).is_multiple_of(block_size),
                        "free block off the grid"
                    );
                    free_blocks += 1;
                    // SAFETY: free blocks hold the address of the next in their first word.
                    block = unsafe { block.cast::<*mut u8>().read() };
                }
                let never_used = if pool.nextoffset <= pool.maxnextoffset {
                    (pool.maxnextoffset - pool.nextoffset) as usize / block_size + 1
                } else {
                    0
                };
                assert_eq!(pool.count as usize + free_blocks + never_used, capacity, "pool block accounting");
                let partly_used = (pool.count as usize) < capacity;
                assert_eq!(
                    in_used_list.contains(&(header as usize)),
                    partly_used,
                    "a pool is in usedpools iff partly used"
                );
            }
        }
        assert_eq!(current, self.narenas_currently_allocated);

        // The table of arena objects starts at 16 and doubles (`new_arena`), and every object
        // without an arena is on `unused_arena_objects`, once.
        let len = self.arenas.len();
        assert!(
            len == 0
                || (len.is_multiple_of(INITIAL_ARENA_OBJECTS)
                    && (len / INITIAL_ARENA_OBJECTS).is_power_of_two()),
            "{len} arena objects"
        );
        let mut unused = vec![false; len];
        let mut index = self.unused_arena_objects;
        while index != NO_ARENA {
            let ao = &self.arenas[index as usize];
            assert!(ao.address.is_null(), "arena object {index} is on the unused list with an arena");
            assert!(!std::mem::replace(&mut unused[index as usize], true), "unused list loops at {index}");
            index = ao.nextarena;
        }
        let without_arena = self.arenas.iter().filter(|ao| ao.address.is_null()).count();
        assert_eq!(
            unused.iter().filter(|&&u| u).count(),
            without_arena,
            "every unused arena object is listed"
        );
    }

    /// Blocks in use in pools, summed over every pool.
    pub(crate) fn small_blocks_in_use(&self) -> u64 {
        self.arena_stats().classes.iter().map(|row| row.blocks_in_use).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_are_16_bytes_wide() {
        let check = |size, class, block| {
            assert_eq!(size_class(size), class, "class of {size}");
            assert_eq!(class_block_size(class), block, "block of class {class}");
        };
        check(1, 0, 16);
        check(16, 0, 16);
        check(17, 1, 32);
        check(24, 1, 32);
        check(32, 1, 32);
        check(33, 2, 48);
        check(511, 31, 512);
        check(512, 31, 512);
    }

    #[test]
    fn geometry_gives_cpythons_pool_capacities() {
        let check = |geometry: Geometry, block, expected| {
            assert_eq!(geometry.blocks_per_pool(size_class(block)), expected, "{geometry:?} {block} B");
        };
        check(Geometry::Py310, 16, 1021);
        check(Geometry::Py310, 32, 510);
        check(Geometry::Py310, 512, 31);
        check(Geometry::Py39, 32, 126);
        check(Geometry::Py39, 512, 7);
        assert_eq!(Geometry::Py310.max_pools_in_arena(), 64);
        assert_eq!(Geometry::Py39.max_pools_in_arena(), 64);
    }

    #[test]
    fn an_unaligned_arena_loses_one_pool() {
        let check = |address, geometry, expected| {
            assert_eq!(carve_arena(address, geometry), expected, "{address:#x} {geometry:?}");
        };
        check(0x7f00_0000_0000, Geometry::Py310, (0, 64));
        check(0x7f00_0000_1000, Geometry::Py310, (0x3000, 63));
        check(0x7f00_0000_3000, Geometry::Py310, (0x1000, 63));
        check(0x7f00_0000_1000, Geometry::Py39, (0, 64));
    }

    #[test]
    fn geometry_names_parse_back() {
        for geometry in [Geometry::Py310, Geometry::Py39] {
            assert_eq!(geometry.name().parse::<Geometry>(), Ok(geometry));
        }
        assert!("py38".parse::<Geometry>().unwrap_err().contains("py310, py39"));
    }

    fn allocate_many(alloc: &mut Pymalloc, n: usize, size: usize) -> Vec<NonNull<u8>> {
        (0..n).map(|_| alloc.allocate(size).expect("memory")).collect()
    }

    fn free_all(alloc: &mut Pymalloc, blocks: impl IntoIterator<Item = NonNull<u8>>, size: usize) {
        for block in blocks {
            // SAFETY: every block was allocated by `alloc` with `size` and is freed once.
            unsafe { alloc.free(block, size) };
        }
    }

    fn arenas(alloc: &Pymalloc) -> ArenaStats {
        alloc.arena_stats()
    }

    /// The pools and arenas that `n` blocks of `size` bytes need under `geometry`, given the
    /// pools each held arena actually offers.
    fn expect_packed(alloc: &Pymalloc, n: usize, size: usize) {
        let geometry = alloc.geometry();
        let per_pool = geometry.blocks_per_pool(size_class(size));
        let pools = n.div_ceil(per_pool);
        let stats = arenas(alloc);
        let row = &stats.classes[0];
        assert_eq!(stats.classes.len(), 1);
        assert_eq!(row.pools as usize, pools, "pools of {n} blocks of {size} B");
        assert_eq!(row.blocks_in_use as usize, n);
        assert_eq!(row.blocks_free as usize, pools * per_pool - n);
        // Every arena but the last is wholly used: fewest arenas for these pools.
        let totals: Vec<u32> = stats.arena_map.iter().map(|a| a.used + a.full + a.empty).collect();
        let all: u32 = totals.iter().sum();
        let last = *totals.last().expect("an arena");
        assert!(((all - last) as usize) < pools && pools <= all as usize, "{pools} pools in {totals:?}");
        let full_pools: u32 = stats.arena_map.iter().map(|a| a.full).sum();
        assert_eq!(full_pools as usize, n / per_pool);
        let max_pools = geometry.max_pools_in_arena() as u32;
        for total in totals {
            assert!(total == max_pools || total == max_pools - 1, "an arena holds 63 or 64 pools");
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "hundreds of thousands of blocks: too slow under Miri")]
    fn a_hundred_thousand_32_byte_blocks_fill_197_pools_in_4_arenas() {
        let mut alloc = Pymalloc::new(Geometry::Py310);
        let blocks = allocate_many(&mut alloc, 100_000, 32);
        expect_packed(&alloc, 100_000, 32);
        assert_eq!(arenas(&alloc).classes[0].pools, 197);
        assert_eq!(arenas(&alloc).arenas_current, 4);
        alloc.check_invariants();
        free_all(&mut alloc, blocks, 32);
        let stats = arenas(&alloc);
        // CPython keeps at most one empty arena, except in one corner it shares: a 64-pool
        // arena can drain after a 63-pool one, behind it in the list, and both stay.
        assert!(stats.arenas_current <= 2, "{stats:?}");
        assert!(stats.arena_map.iter().all(|a| a.used == 0 && a.full == 0));
        assert_eq!(stats.arenas_reclaimed, stats.arenas_allocated_total - stats.arenas_current);
        assert_eq!(stats.arenas_highwater, 4);
        alloc.check_invariants();
    }

    #[test]
    fn the_39_geometry_packs_126_blocks_of_32_bytes_per_pool() {
        let mut alloc = Pymalloc::new(Geometry::Py39);
        let blocks = allocate_many(&mut alloc, 10_000, 32);
        expect_packed(&alloc, 10_000, 32);
        let stats = arenas(&alloc);
        assert_eq!(stats.classes[0].pools, 10_000usize.div_ceil(126) as u64);
        // 4 KiB pools are always page-aligned: 64 per arena, 80 pools in 2 arenas.
        assert_eq!(stats.arenas_current, 2);
        assert_eq!((stats.pool_size, stats.arena_size), (4096, 256 << 10));
        free_all(&mut alloc, blocks, 32);
        // With arenas of equal size, at most one empty arena is kept.
        assert_eq!(arenas(&alloc).arenas_current, 1);
        alloc.check_invariants();
    }

    #[test]
    fn every_size_class_packs_its_pools() {
        for geometry in [Geometry::Py310, Geometry::Py39] {
            for class in 0..NB_SMALL_SIZE_CLASSES {
                let size = class_block_size(class);
                let mut alloc = Pymalloc::new(geometry);
                let n = 3 * geometry.blocks_per_pool(class) + 1;
                let blocks = allocate_many(&mut alloc, n, size);
                let stats = arenas(&alloc);
                assert_eq!(stats.classes.len(), 1);
                assert_eq!(stats.classes[0].class as usize, class);
                assert_eq!(stats.classes[0].pools, 4, "{geometry:?} class {class}");
                let mut addresses: Vec<usize> = blocks.iter().map(|b| b.as_ptr() as usize).collect();
                addresses.sort_unstable();
                assert!(addresses.windows(2).all(|w| w[1] - w[0] >= size), "blocks overlap");
                assert!(addresses.iter().all(|a| a % ALIGNMENT == 0));
                alloc.check_invariants();
                free_all(&mut alloc, blocks, size);
                alloc.check_invariants();
            }
        }
    }

    #[test]
    fn a_freed_block_is_the_next_one_handed_out() {
        let mut alloc = Pymalloc::default();
        let blocks = allocate_many(&mut alloc, 10, 48);
        free_all(&mut alloc, [blocks[4]], 48);
        assert_eq!(alloc.allocate(40), Some(blocks[4]));
        free_all(&mut alloc, [blocks[4]], 40);
        let others = blocks.iter().enumerate().filter(|&(i, _)| i != 4).map(|(_, b)| *b);
        free_all(&mut alloc, others, 48);
        assert_eq!(alloc.stats().counters.map(|c| c.live_bytes), Some(0));
    }

    /// `insert_to_usedpool` puts a pool that was full at the front of its list
    /// (`Objects/obmalloc.c` of 3.11, `insert_to_usedpool`), so the next request of the class
    /// is served from it and not from the partly used pool already in the list.
    /// `with_start` begins with the interpreter's table, class for class, and its arenas
    /// leave as many unused pools as packing those pools allows; the workload's first
    /// requests fill the free blocks before they carve a pool.
    #[test]
    fn an_allocator_begins_with_the_interpreters_pools() {
        for geometry in [Geometry::Py310, Geometry::Py39] {
            let start: StartState = "16:3:100,32:70:1,48:1:0,512:5:20".parse().unwrap();
            let mut alloc = Pymalloc::with_start(geometry, &start).unwrap();
            alloc.check_invariants();
            let stats = alloc.arena_stats();
            let table: Vec<(u32, u64, u64)> =
                stats.classes.iter().map(|class| (class.size, class.pools, class.blocks_free)).collect();
            assert_eq!(table, [(16, 3, 100), (32, 70, 1), (48, 1, 0), (512, 5, 20)], "{geometry:?}");
            let pools: u64 = 3 + 70 + 1 + 5;
            let per_arena = geometry.max_pools_in_arena() as u64;
            // Each arena holds per_arena pools, or one fewer where its address is not pool-aligned.
            assert!(stats.arenas_current >= pools.div_ceil(per_arena), "{geometry:?}");
            assert!(stats.arenas_current <= pools.div_ceil(per_arena - 1), "{geometry:?}");
            assert_eq!(
                alloc.stats().counters.unwrap(),
                Counters::default(),
                "the interpreter's blocks are not counted"
            );
            // The 100 free 16 B blocks serve the next 100 requests without a new pool.
            let blocks = allocate_many(&mut alloc, 100, 16);
            assert_eq!(alloc.arena_stats().classes[0].pools, 3);
            assert_eq!(alloc.arena_stats().classes[0].blocks_free, 0);
            let one_more = alloc.allocate(16).unwrap();
            assert_eq!(alloc.arena_stats().classes[0].pools, 4);
            alloc.check_invariants();
            free_all(&mut alloc, blocks.into_iter().chain([one_more]), 16);
            alloc.check_invariants();
        }
    }

    #[test]
    fn a_start_state_that_cannot_be_is_refused() {
        let refused = |text: &str| match text.parse::<StartState>() {
            Ok(start) => Pymalloc::with_start(Geometry::Py310, &start).err().expect(text),
            Err(message) => message,
        };
        assert!(refused("32:1").contains("SIZE:POOLS:AVAIL"));
        assert!(refused("24:1:0").contains("no block size"));
        assert!(refused("528:1:0").contains("no block size"));
        assert!(refused("32:1:0,32:2:0").contains("twice"));
        // A pool of 32 B blocks holds 510: 510 free would leave it empty, not in use.
        let per_pool = Geometry::Py310.blocks_per_pool(size_class(32));
        assert!(refused(&format!("32:1:{per_pool}")).contains("cannot have"));
        assert!(
            Pymalloc::with_start(Geometry::Py310, &format!("32:1:{}", per_pool - 1).parse().unwrap()).is_ok()
        );
        let round_trip: StartState = "16:3:100,32:70:1".parse().unwrap();
        assert_eq!(round_trip.to_string(), "16:3:100,32:70:1");
        assert_eq!("".parse::<StartState>().unwrap(), StartState::default());
    }

    #[test]
    fn a_pool_that_was_full_and_got_a_block_back_serves_the_next_request() {
        for geometry in [Geometry::Py310, Geometry::Py39] {
            let mut alloc = Pymalloc::new(geometry);
            let per_pool = geometry.blocks_per_pool(size_class(32));
            // Two full pools of the 32 B class, and a third partly used one in usedpools.
            let blocks = allocate_many(&mut alloc, 2 * per_pool + 1, 32);
            let pool_of = |alloc: &Pymalloc, block: NonNull<u8>| alloc.pool_of(block.as_ptr()) as usize;
            let (first, second, third) = (
                pool_of(&alloc, blocks[0]),
                pool_of(&alloc, blocks[per_pool]),
                pool_of(&alloc, blocks[2 * per_pool]),
            );
            assert!(first != second && second != third && first != third, "{geometry:?}");
            assert!(blocks[..per_pool].iter().all(|&b| pool_of(&alloc, b) == first));
            // One block back to the first full pool: it rejoins usedpools, at the front.
            free_all(&mut alloc, [blocks[7]], 32);
            alloc.check_invariants();
            let next = alloc.allocate(32).expect("memory");
            assert_eq!(pool_of(&alloc, next), first, "{geometry:?}: served from the pool that was full");
            assert_eq!(next, blocks[7]);
            // It is full again and leaves the list: the third pool serves the one after.
            let after = alloc.allocate(32).expect("memory");
            assert_eq!(pool_of(&alloc, after), third, "{geometry:?}");
            alloc.check_invariants();
            let rest = blocks.iter().enumerate().filter(|&(i, _)| i != 7).map(|(_, b)| *b);
            free_all(&mut alloc, rest.chain([next, after]), 32);
            assert_eq!(alloc.small_blocks_in_use(), 0);
            alloc.check_invariants();
        }
    }

    /// Two pools that were full and got blocks back, in turn: the later one is served first.
    #[test]
    fn pools_that_were_full_are_served_last_returned_first() {
        let mut alloc = Pymalloc::default();
        let per_pool = alloc.geometry().blocks_per_pool(size_class(32));
        let blocks = allocate_many(&mut alloc, 3 * per_pool, 32);
        let pool_of = |alloc: &Pymalloc, block: NonNull<u8>| alloc.pool_of(block.as_ptr()) as usize;
        free_all(&mut alloc, [blocks[per_pool + 3], blocks[5]], 32);
        let next = alloc.allocate(32).expect("memory");
        assert_eq!(pool_of(&alloc, next), pool_of(&alloc, blocks[0]));
        let next2 = alloc.allocate(32).expect("memory");
        assert_eq!(pool_of(&alloc, next2), pool_of(&alloc, blocks[per_pool]));
        let rest = blocks.iter().enumerate().filter(|&(i, _)| i != 5 && i != per_pool + 3).map(|(_, b)| *b);
        free_all(&mut alloc, rest.chain([next, next2]), 32);
        alloc.check_invariants();
    }

    /// More arenas at once than the first table of arena objects holds (16): the table
    /// doubles, and arena objects freed by reclaimed arenas are reused.
    #[test]
    fn the_arena_table_doubles_past_16_arenas_and_recycles_its_objects() {
        let geometry = Geometry::Py39;
        let mut alloc = Pymalloc::new(geometry);
        let per_arena = geometry.max_pools_in_arena() * geometry.blocks_per_pool(size_class(512));
        let blocks = allocate_many(&mut alloc, 17 * per_arena + 1, 512);
        let stats = arenas(&alloc);
        assert_eq!(stats.arenas_current, 18);
        assert_eq!(stats.arena_map.len(), 18);
        // (The map is in address order, which need not be the order of mapping.)
        assert_eq!(stats.arena_map.iter().filter(|a| a.full == 64).count(), 17, "{:?}", stats.arena_map);
        assert_eq!(alloc.arenas.len(), 32);
        alloc.check_invariants();
        // Drain all but the last arena's block, then fill again: reclaimed arenas' objects
        // come back from the unused list, and the table does not grow.
        let (first, rest) = blocks.split_at(17 * per_arena);
        free_all(&mut alloc, first.iter().copied(), 512);
        alloc.check_invariants();
        let stats = arenas(&alloc);
        // Each drained arena sits before the one still in use (63 free pools) in
        // usable_arenas when its last pool empties, so it is not the last and goes.
        assert_eq!((stats.arenas_current, stats.arenas_reclaimed), (1, 17), "{:?}", stats);
        let again = allocate_many(&mut alloc, 17 * per_arena, 512);
        assert_eq!(alloc.arenas.len(), 32);
        assert_eq!(arenas(&alloc).arenas_highwater, 18);
        alloc.check_invariants();
        free_all(&mut alloc, again.into_iter().chain(rest.iter().copied()), 512);
        alloc.check_invariants();
        assert_eq!(alloc.small_blocks_in_use(), 0);
    }

    #[test]
    fn mapped_bytes_count_arenas_and_large_blocks() {
        for geometry in [Geometry::Py310, Geometry::Py39] {
            let mut alloc = Pymalloc::new(geometry);
            let per_arena = geometry.max_pools_in_arena() * geometry.blocks_per_pool(size_class(512));
            let blocks = allocate_many(&mut alloc, per_arena + 1, 512);
            let big = alloc.allocate(1000).expect("memory");
            let arenas_now = alloc.arena_stats().arenas_current;
            assert_eq!(arenas_now, 2);
            assert_eq!(alloc.stats().mapped_bytes, Some(arenas_now * geometry.arena_size() as u64 + 1000));
            // SAFETY: allocated above with 1000 bytes.
            unsafe { alloc.free(big, 1000) };
            free_all(&mut alloc, blocks, 512);
        }
    }

    /// Dropping the allocator gives its arenas back to the kernel: `mincore` then finds
    /// their pages unmapped (ENOMEM). Another test thread may map something at one of those
    /// addresses in between, so it asks that not every one of the arenas be mapped still.
    #[test]
    #[cfg_attr(miri, ignore = "mincore")]
    fn dropping_the_allocator_unmaps_its_arenas() {
        let mut alloc = Pymalloc::new(Geometry::Py310);
        let per_arena = 63 * alloc.geometry().blocks_per_pool(size_class(512));
        let blocks = allocate_many(&mut alloc, 4 * per_arena, 512);
        let page = os::page_size();
        let mut pages: Vec<usize> = blocks.iter().map(|b| b.as_ptr() as usize & !(page - 1)).collect();
        pages.dedup();
        let arena_pages: Vec<usize> = pages.iter().step_by(pages.len() / 4).copied().collect();
        let mapped = |address: usize| {
            let mut vec = [0u8; 1];
            // SAFETY: mincore only reports on the page at `address`; it writes one byte to `vec`.
            unsafe { libc::mincore(address as *mut libc::c_void, page, vec.as_mut_ptr()) == 0 }
        };
        assert!(arena_pages.iter().all(|&address| mapped(address)));
        drop(alloc);
        assert!(!arena_pages.iter().all(|&address| mapped(address)), "arenas still mapped after drop");
    }

    #[test]
    fn the_fullest_arena_is_preferred() {
        let mut alloc = Pymalloc::default();
        let per_pool = alloc.geometry().blocks_per_pool(0);
        // Fill exactly three arenas with pools of 16 B blocks, a pool at a time (whether an
        // arena holds 63 or 64 pools depends on where the kernel maps it).
        let mut pools: Vec<Vec<NonNull<u8>>> = Vec::new();
        loop {
            pools.push(allocate_many(&mut alloc, per_pool, 16));
            let map = alloc.arena_stats().arena_map;
            if map.len() == 3 && map.iter().all(|arena| arena.empty == 0) {
                break;
            }
        }
        let arena_of = |alloc: &Pymalloc, block: NonNull<u8>| {
            let pool = alloc.pool_of(block.as_ptr());
            // SAFETY: a live block's pool has a valid header.
            unsafe { (*pool).arenaindex }
        };
        let arena_ids: Vec<u32> = pools.iter().map(|pool| arena_of(&alloc, pool[0])).collect();
        let mut distinct = arena_ids.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 3, "three arenas: {distinct:?}");
        let (a, b) = (distinct[0], distinct[1]);
        // Empty 10 pools of arena a and 2 of arena b: b is now the fullest with a free pool.
        let mut emptied = 0;
        let mut freed_in =
            |arena: u32, count: usize, alloc: &mut Pymalloc, pools: &mut Vec<Vec<NonNull<u8>>>| {
                let mut done = 0;
                for (pool, id) in pools.iter_mut().zip(&arena_ids) {
                    if *id == arena && !pool.is_empty() && done < count {
                        free_all(alloc, pool.drain(..), 16);
                        done += 1;
                    }
                }
                emptied += done;
            };
        freed_in(a, 10, &mut alloc, &mut pools);
        freed_in(b, 2, &mut alloc, &mut pools);
        assert_eq!(emptied, 12);
        alloc.check_invariants();
        // A new pool, even of another class, comes from b, the arena with fewer free pools.
        let block = alloc.allocate(100).expect("memory");
        assert_eq!(arena_of(&alloc, block), b);
        // SAFETY: allocated just above with 100 bytes.
        unsafe { alloc.free(block, 100) };
        for pool in pools {
            free_all(&mut alloc, pool, 16);
        }
        alloc.check_invariants();
    }

    #[test]
    #[cfg_attr(miri, ignore = "hundreds of thousands of blocks: too slow under Miri")]
    fn scattered_survivors_pin_every_arena_and_contiguous_ones_do_not() {
        // Sizes and geometries whose pools hold different counts (1021, 510, 31; 254, 126,
        // 7), so that no expectation is right for one size only.
        for geometry in [Geometry::Py310, Geometry::Py39] {
            for size in [16, 24, 100, 512] {
                // Enough for two arenas and more, ending partway through a pool.
                let per_pool = geometry.blocks_per_pool(size_class(size));
                survivors_in(
                    geometry,
                    size,
                    (2 * geometry.max_pools_in_arena() + 3) * per_pool + per_pool / 2,
                );
            }
        }
        survivors_in(Geometry::Py310, 24, 200_000);
    }

    fn survivors_in(geometry: Geometry, size: usize, n: usize) {
        let per_pool = geometry.blocks_per_pool(size_class(size));
        let at = format!("{geometry:?}, {n} blocks of {size} B");
        // Free 99 of every 100: the survivors sit in every arena.
        let mut alloc = Pymalloc::new(geometry);
        let blocks = allocate_many(&mut alloc, n, size);
        let arenas_before = arenas(&alloc).arenas_current;
        assert!(arenas_before >= 2, "{at}: several arenas");
        let (kept, freed): (Vec<_>, Vec<_>) = blocks.iter().enumerate().partition(|(i, _)| i % 100 == 0);
        free_all(&mut alloc, freed.into_iter().map(|(_, b)| *b), size);
        let stats = arenas(&alloc);
        assert_eq!(stats.arenas_current, arenas_before, "{at}: every arena pinned");
        assert_eq!(stats.arenas_reclaimed, 0, "{at}");
        assert_eq!(stats.classes[0].blocks_in_use, kept.len() as u64, "{at}");
        // A pool keeps a survivor when one of its blocks has an index that is a multiple of
        // 100: blocks fill pools in order, `per_pool` at a time.
        let pinned_pools = (0..n.div_ceil(per_pool))
            .filter(|pool| (pool * per_pool..((pool + 1) * per_pool).min(n)).any(|i| i % 100 == 0))
            .count();
        assert_eq!(stats.classes[0].pools as usize, pinned_pools, "{at}: pinned pools");
        alloc.check_invariants();
        free_all(&mut alloc, kept.into_iter().map(|(_, b)| *b), size);

        // Free the first 99%: the survivors fill a few pools.
        let mut alloc = Pymalloc::new(geometry);
        let blocks = allocate_many(&mut alloc, n, size);
        let first_kept = n - n / 100;
        let (freed, kept) = blocks.split_at(first_kept);
        free_all(&mut alloc, freed.iter().copied(), size);
        let stats = arenas(&alloc);
        // What stays: the one or two arenas of the survivors, and one empty arena.
        assert!(stats.arenas_current <= 3, "{at}: {:?}", stats.arena_map);
        assert_eq!(stats.arenas_reclaimed, arenas_before - stats.arenas_current, "{at}");
        // The survivors' pools: from the one of the first kept block to the one of the last
        // (the first may be shared with freed blocks, hence not `div_ceil` of the count).
        let survivor_pools = (n - 1) / per_pool - first_kept / per_pool + 1;
        assert_eq!(stats.classes[0].pools as usize, survivor_pools, "{at}: survivors' pools");
        alloc.check_invariants();
        free_all(&mut alloc, kept.iter().copied(), size);
    }

    #[test]
    fn realloc_stays_in_place_within_a_quarter_of_the_class() {
        let mut alloc = Pymalloc::default();
        let check = |alloc: &mut Pymalloc, old: usize, new: usize, in_place: bool| {
            let block = alloc.allocate(old).expect("memory");
            // SAFETY: `block` is live with `old` bytes; the result is freed with `new`.
            unsafe {
                let moved = alloc.reallocate(block, old, new).expect("memory");
                assert_eq!(moved == block, in_place, "{old} -> {new}");
                alloc.free(moved, new);
            }
        };
        check(&mut alloc, 20, 32, true);
        check(&mut alloc, 64, 49, true);
        check(&mut alloc, 64, 48, false);
        check(&mut alloc, 64, 65, false);
        check(&mut alloc, 512, 385, true);
        check(&mut alloc, 512, 384, false);
        check(&mut alloc, 500, 600, false);
        check(&mut alloc, 600, 100, false);
        alloc.check_invariants();
        assert_eq!(alloc.small_blocks_in_use(), 0);
        assert_eq!(alloc.arena_stats().large_blocks, 0);
    }

    #[test]
    fn large_requests_go_to_libc_and_are_counted() {
        let mut alloc = Pymalloc::default();
        let big = alloc.allocate(513).expect("memory");
        let huge = alloc.allocate(1 << 20).expect("memory");
        let stats = alloc.stats();
        assert_eq!(stats.arenas.as_ref().map(|a| (a.large_blocks, a.arenas_current)), Some((2, 0)));
        assert_eq!(stats.mapped_bytes, Some(513 + (1 << 20)));
        // SAFETY: both allocated above with these sizes.
        unsafe {
            alloc.free(big, 513);
            alloc.free(huge, 1 << 20);
        }
        assert_eq!(alloc.arena_stats().large_blocks, 0);
    }

    #[test]
    fn arena_map_tells_used_full_and_empty_pools() {
        let mut alloc = Pymalloc::default();
        let per_pool = alloc.geometry().blocks_per_pool(size_class(64));
        let blocks = allocate_many(&mut alloc, 2 * per_pool + 1, 64);
        let stats = arenas(&alloc);
        assert_eq!(stats.arena_map.len(), 1);
        let map = stats.arena_map[0];
        assert_eq!((map.full, map.used), (2, 1));
        assert!([63, 64].contains(&(map.used + map.full + map.empty)), "{map:?}");
        assert_eq!(stats.classes[0].size, 64);
        free_all(&mut alloc, blocks, 64);
        let map = arenas(&alloc).arena_map[0];
        assert_eq!((map.full, map.used), (0, 0));
    }
}
