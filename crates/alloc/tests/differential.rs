//! The rebuilt pymalloc against the real one: the same seeded sequences of alloc / free /
//! realloc, replayed in lockstep on [`Pymalloc`] and on libpython's `PyObject_Malloc`,
//! `PyObject_Free` and `PyObject_Realloc`, compared at checkpoints on the figures each reports
//! of itself: for libpython its own `_PyObject_DebugMallocStats` text (what
//! `sys._debugmallocstats()` prints), parsed.
//!
//! Compared: arenas allocated in total, reclaimed, highwater and current; unused pools; and,
//! per size class, pools, blocks in use and blocks free. Sizes cover every class, 1..=512, and
//! the sequences fill pools and arenas and drain them again, twice.
//!
//! The one difference the kernel may cause: an arena whose mmap address is not pool-aligned
//! holds one pool less (`new_arena` in `Objects/obmalloc.c`), 63 of 16 KiB instead of 64 in a
//! 1 MiB arena (4 KiB pools are always page-aligned, so 3.9's 256 KiB arenas hold 64). While
//! both sides hold as many unaligned arenas (pymalloc's arena map; libpython's "bytes lost to
//! arena alignment" / pool size), every figure must be equal. Where they do not, the test
//! checks that the difference is exactly that: per-class figures are still equal, and on each
//! side the pools held are `64 * arenas - unaligned arenas`.
//!
//! Runs at 3.10+ geometry against libpython 3.11, and at `Geometry::Py39` against 3.9, each
//! found under pyenv (`AllocConfig::cpython_version`); a missing one is skipped with a
//! printed message. Both libraries export the same symbols; they are loaded `RTLD_LOCAL`, each
//! with its own pymalloc state.

use std::collections::HashMap;
use std::ptr::NonNull;

use heaplab_alloc::cpython::{CPython, MallocStats};
use heaplab_alloc::{Geometry, Pymalloc};
use heaplab_core::{Allocator, ArenaStats, ClassStats};

/// xorshift64*: the same sequence wherever it runs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One phase of a sequence: how many operations, and the odds (in 100) of alloc and free;
/// the rest are reallocs. `until_empty` ends the phase early when no block is live.
struct Phase {
    name: &'static str,
    ops: usize,
    alloc: usize,
    free: usize,
    until_empty: bool,
}

const PHASES: &[Phase] = &[
    Phase { name: "fill", ops: 60_000, alloc: 75, free: 15, until_empty: false },
    Phase { name: "churn", ops: 30_000, alloc: 48, free: 42, until_empty: false },
    Phase { name: "drain", ops: 200_000, alloc: 10, free: 85, until_empty: true },
    Phase { name: "refill", ops: 20_000, alloc: 80, free: 10, until_empty: false },
    Phase { name: "drain again", ops: 200_000, alloc: 5, free: 90, until_empty: true },
];

/// Operations between checkpoints.
const CHECK_EVERY: usize = 2_500;

/// What one side reports at a checkpoint.
#[derive(Debug)]
struct Figures {
    arenas: ArenaStats,
    unused_pools: u64,
    unaligned_arenas: u64,
}

fn pymalloc_figures(alloc: &Pymalloc) -> Figures {
    let arenas = alloc.arena_stats();
    let max_pools = alloc.geometry().max_pools_in_arena() as u32;
    let unaligned_arenas = arenas
        .arena_map
        .iter()
        .filter(|arena| arena.used + arena.full + arena.empty == max_pools - 1)
        .count() as u64;
    let unused_pools = arenas.arena_map.iter().map(|arena| u64::from(arena.empty)).sum();
    Figures { arenas, unused_pools, unaligned_arenas }
}

fn libpython_figures(alloc: &CPython) -> Figures {
    let MallocStats { arenas, bytes_lost_to_arena_alignment, unused_pools } =
        alloc.malloc_stats().expect("libpython's _PyObject_DebugMallocStats");
    let unaligned_arenas = bytes_lost_to_arena_alignment / arenas.pool_size.max(1);
    Figures { arenas, unused_pools, unaligned_arenas }
}

/// The per-class rows that matter: pools, blocks in use and free, by class.
fn classes(stats: &ArenaStats) -> Vec<ClassStats> {
    stats.classes.iter().filter(|row| row.pools > 0).cloned().collect()
}

/// The arena figures `sys._debugmallocstats()` prints, in its order.
fn arena_figures(figures: &Figures) -> [u64; 5] {
    let a = &figures.arenas;
    [a.arenas_allocated_total, a.arenas_reclaimed, a.arenas_highwater, a.arenas_current, figures.unused_pools]
}

/// Pools in use on one side, summed over the classes.
fn pools_in_use(figures: &Figures) -> u64 {
    figures.arenas.classes.iter().map(|row| row.pools).sum()
}

/// Compares the two sides at a checkpoint; returns whether the arena figures could be held
/// to equality (the alignment of every arena so far agreed).
fn compare(at: &str, ours: &Figures, theirs: &Figures, geometry: Geometry, aligned_alike: bool) -> bool {
    assert_eq!(classes(&ours.arenas), classes(&theirs.arenas), "{at}: pools and blocks per class");
    let max_pools = geometry.max_pools_in_arena() as u64;
    for (side, figures) in [("pymalloc", ours), ("libpython", theirs)] {
        // Pools held = 64 per arena, less one for each unaligned arena: the only way the
        // kernel's addresses enter the figures.
        let held = max_pools * figures.arenas.arenas_current - figures.unaligned_arenas;
        assert_eq!(pools_in_use(figures) + figures.unused_pools, held, "{at}: {side}'s pools held");
    }
    let aligned_alike = aligned_alike && ours.unaligned_arenas == theirs.unaligned_arenas;
    if aligned_alike {
        assert_eq!(
            arena_figures(ours),
            arena_figures(theirs),
            "{at}: arenas allocated total / reclaimed / highwater / current, unused pools"
        );
    } else {
        println!(
            "{at}: arena alignment differs (pymalloc {} of {} arenas unaligned, libpython {} of {}): arena \
             figures {:?} vs {:?} are not compared; per-class figures are equal",
            ours.unaligned_arenas,
            ours.arenas.arenas_current,
            theirs.unaligned_arenas,
            theirs.arenas.arenas_current,
            arena_figures(ours),
            arena_figures(theirs),
        );
    }
    aligned_alike
}

/// A live block on both sides.
struct Live {
    ours: NonNull<u8>,
    theirs: NonNull<u8>,
    size: usize,
}

/// Replays the phases with `seed` on both allocators, comparing at every checkpoint, and
/// returns the figures at the highwater point and at the end, for the report.
/// `aligned_alike` says whether every arena so far, in this replay and the ones before it on
/// the same allocators, had the same alignment on both sides: the arena totals are cumulative,
/// so once an unaligned arena has made one side map more arenas they differ for good.
fn replay(
    ours: &mut Pymalloc,
    theirs: &mut CPython,
    seed: u64,
    aligned_alike: &mut bool,
) -> (Figures, Figures) {
    let geometry = ours.geometry();
    let mut rng = Rng(seed);
    // Reserved up front, so that growing it maps nothing between arenas.
    let mut live: Vec<Live> = Vec::with_capacity(200_000);
    let mut peak: Option<Figures> = None;
    let mut step = 0usize;
    let mut checkpoint = |label: &str, ours: &Pymalloc, theirs: &CPython, aligned_alike: &mut bool| {
        let (a, b) = (pymalloc_figures(ours), libpython_figures(theirs));
        *aligned_alike = compare(label, &a, &b, geometry, *aligned_alike);
        if peak.as_ref().is_none_or(|p| pools_in_use(&b) > pools_in_use(p)) {
            peak = Some(b);
        }
    };
    checkpoint("start", ours, theirs, aligned_alike);
    for phase in PHASES {
        for op in 0..phase.ops {
            if phase.until_empty && live.is_empty() {
                break;
            }
            let roll = rng.below(100);
            if roll < phase.alloc || live.is_empty() {
                let size = 1 + rng.below(512);
                let a = ours.allocate(size).expect("pymalloc memory");
                let b = theirs.allocate(size).expect("libpython memory");
                live.push(Live { ours: a, theirs: b, size });
            } else if roll < phase.alloc + phase.free {
                let block = live.swap_remove(rng.below(live.len()));
                // SAFETY: each side's block is live with this size, and freed once.
                unsafe {
                    ours.free(block.ours, block.size);
                    theirs.free(block.theirs, block.size);
                }
            } else {
                let index = rng.below(live.len());
                let new_size = 1 + rng.below(512);
                let block = &mut live[index];
                // SAFETY: as for free; the old pointers are replaced by the results.
                unsafe {
                    block.ours = ours.reallocate(block.ours, block.size, new_size).expect("pymalloc memory");
                    block.theirs =
                        theirs.reallocate(block.theirs, block.size, new_size).expect("libpython memory");
                }
                block.size = new_size;
            }
            step += 1;
            if step.is_multiple_of(CHECK_EVERY) {
                checkpoint(&format!("{} op {op} (step {step})", phase.name), ours, theirs, aligned_alike);
            }
        }
        checkpoint(&format!("end of {}", phase.name), ours, theirs, aligned_alike);
    }
    for block in live.drain(..) {
        // SAFETY: as above.
        unsafe {
            ours.free(block.ours, block.size);
            theirs.free(block.theirs, block.size);
        }
    }
    checkpoint("all freed", ours, theirs, aligned_alike);
    let end = libpython_figures(theirs);
    let our_end = pymalloc_figures(ours);
    assert!(classes(&our_end.arenas).is_empty() && classes(&end.arenas).is_empty());
    println!("{step} operations; arena alignment agreed throughout: {aligned_alike}");
    (peak.expect("a checkpoint"), end)
}

/// The allocator of release `version`, or `None` after printing why it is skipped.
fn libpython(version: &str) -> Option<CPython> {
    match CPython::with_version(Some(version)) {
        Ok(alloc) => match alloc.malloc_stats() {
            Ok(_) => Some(alloc),
            Err(reason) => {
                println!("skipping the differential test against {version}: {reason}");
                None
            }
        },
        Err(reason) => {
            println!("skipping the differential test against {version}: {reason}");
            None
        }
    }
}

/// Puts `ours` in the state libpython is in after loading: `load` probes `PyObject_Malloc`
/// with one 32-byte block, freed at once, which leaves one empty arena.
fn mirror_the_load_probe(ours: &mut Pymalloc) {
    let probe = ours.allocate(32).expect("memory");
    // SAFETY: allocated just above with 32 bytes.
    unsafe { ours.free(probe, 32) };
}

fn differential(version: &str, geometry: Geometry) {
    let Some(mut theirs) = libpython(version) else { return };
    println!("libpython {}: {}", theirs.library().version(), theirs.library().path().display());
    let before = libpython_figures(&theirs);
    assert_eq!(
        (before.arenas.pool_size, before.arenas.arena_size),
        (geometry.pool_size() as u64, geometry.arena_size() as u64),
        "libpython {version}'s geometry"
    );
    let mut ours = Pymalloc::new(geometry);
    mirror_the_load_probe(&mut ours);
    let mut aligned_alike = true;
    for seed in [0x5eed_0001u64, 0x0bad_cafe_f00d_d00d] {
        let (peak, end) = replay(&mut ours, &mut theirs, seed, &mut aligned_alike);
        let a = &peak.arenas;
        println!(
            "{version} seed {seed:#x}: at the most pools in use: {} pools in {} arenas ({} unaligned), \
             {} blocks; at the end: arenas allocated total {}, reclaimed {}, highwater {}, current {}",
            pools_in_use(&peak),
            a.arenas_current,
            peak.unaligned_arenas,
            a.classes.iter().map(|row| row.blocks_in_use).sum::<u64>(),
            end.arenas.arenas_allocated_total,
            end.arenas.arenas_reclaimed,
            end.arenas.arenas_highwater,
            end.arenas.arenas_current,
        );
        assert!(end.arenas.arenas_reclaimed > 0, "the sequence drains arenas");
        assert!(a.arenas_current >= 5, "the sequence fills several arenas");
    }
}

#[test]
fn pymalloc_matches_libpython_3_11_figure_for_figure() {
    differential("3.11", Geometry::Py310);
}

#[test]
fn pymalloc_in_the_39_geometry_matches_libpython_3_9_figure_for_figure() {
    differential("3.9", Geometry::Py39);
}

/// A pool that was full and gets a block back goes to the front of its `usedpools` list in
/// libpython (`insert_to_usedpool`), so the next request of its class is served from it; and
/// so it does in the rebuild.
fn a_pool_that_was_full_goes_to_the_front(version: &str, geometry: Geometry) {
    let Some(mut theirs) = libpython(version) else { return };
    let mut ours = Pymalloc::new(geometry);
    let pool_mask = !(geometry.pool_size() - 1);
    let per_pool = geometry.blocks_per_pool(1);
    for (side, alloc) in [("libpython", &mut theirs as &mut dyn Allocator), ("pymalloc", &mut ours)] {
        // Whatever pools of the class were partly used before fill first; then come pools
        // wholly ours, all full but the last.
        let blocks: Vec<NonNull<u8>> =
            (0..3 * per_pool + 1).map(|_| alloc.allocate(32).expect("memory")).collect();
        let mut by_pool: HashMap<usize, Vec<usize>> = HashMap::new();
        for (index, block) in blocks.iter().enumerate() {
            by_pool.entry(block.as_ptr() as usize & pool_mask).or_default().push(index);
        }
        let last_pool = blocks.last().map(|b| b.as_ptr() as usize & pool_mask).expect("blocks");
        let (&full_pool, indices) = by_pool
            .iter()
            .filter(|(_, indices)| indices.len() == per_pool)
            .min_by_key(|(_, indices)| indices[0])
            .expect("a full pool wholly ours");
        assert_ne!(full_pool, last_pool);
        let freed = indices[per_pool / 2];
        // SAFETY: a live block of `alloc` of 32 bytes, freed once (and not freed again below).
        unsafe { alloc.free(blocks[freed], 32) };
        let next = alloc.allocate(32).expect("memory");
        assert_eq!(
            next.as_ptr() as usize & pool_mask,
            full_pool,
            "{side} {version}: the next 32 B block comes from the pool that was full"
        );
        for (_, block) in blocks.iter().enumerate().filter(|&(index, _)| index != freed) {
            // SAFETY: live blocks of 32 bytes, each freed once.
            unsafe { alloc.free(*block, 32) };
        }
        // SAFETY: allocated above with 32 bytes.
        unsafe { alloc.free(next, 32) };
    }
}

#[test]
fn a_pool_that_was_full_goes_to_the_front_in_libpython_too() {
    a_pool_that_was_full_goes_to_the_front("3.11", Geometry::Py310);
    a_pool_that_was_full_goes_to_the_front("3.9", Geometry::Py39);
}
