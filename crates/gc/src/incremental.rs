//! `incremental`: reference counting plus the incremental cycle collector of
//! CPython 3.14.0 to 3.14.4 (reverted to the generational one in 3.14.5).
//!
//! **Modelled from the sources only.** No 3.14 interpreter is on the machine
//! heaplab was built on, so nothing here is calibrated against one; the rules
//! follow `Python/gc.c` of the 3.14 line (the functions named below) and
//! `Include/internal/pycore_interp_structs.h` / `pycore_runtime_init.h`
//! (`struct _gc_runtime_state`: `young`, `old[2]`, `heap_size`, `work_to_do`,
//! `visited_space`, `phase`; `.young.threshold = 2000`, `.old[0].threshold =
//! 10`, `.work_to_do = -5000`, `.phase = GC_PHASE_MARK`).
//!
//! Objects die by reference counting, as under [`crate::cycle`], and
//! containers carry the same 16-byte `PyGC_Head`. There are two generations,
//! young and old, and the old one is split into two *spaces*, `old[0]` and
//! `old[1]`: one is the *visited* space (`visited_space`), the other the
//! *pending* one. Each tracked object records its space in a tag flag
//! ([`FLAG_OLD_SPACE_1`], CPython's `_PyGC_NEXT_MASK_OLD_SPACE_1` bit of
//! `_gc_next`); new objects are tracked in the pending space
//! (`_PyObject_GC_TRACK`: `1 ^ visited_space`).
//!
//! Triggers (`_PyObject_GC_Link`, `_Py_RunGC`): allocating a container adds
//! one to `young.count` and to `heap_size` (`PyObject_GC_Del` takes one off
//! each, `young.count` never below zero); when `young.count` exceeds 2000 an
//! *increment* runs (`_PyGC_Collect(tstate, 1, ...)`: every automatic
//! collection is an increment; `gc_collect_young` runs only for
//! `gc.collect(0)`, which heaplab's `Heap` does not offer).
//!
//! An increment (`gc_collect_increment`):
//! 1. adds [`assess_work_to_do`] to `work_to_do`: the new objects plus a
//!    fraction of the heap, `heap_size / SCAN_RATE_DIVISOR / scale_factor`
//!    (`scale_factor` = `old[0].threshold`, at least 2), capped at 1.5 times
//!    the new objects;
//! 2. in the *mark* phase (the first increment of every scavenge) only marks
//!    from the roots (`mark_at_start`: `mark_global_roots`, `mark_stacks`):
//!    what the roots reach outside the visited space moves to it, and is not
//!    scanned by this scavenge; `work_to_do` loses what was marked (twice, as
//!    in the source: once in `mark_at_start`, once in its caller);
//! 3. otherwise takes the whole young generation, then, while the increment
//!    is smaller than `work_to_do`, the first object of the pending space and
//!    everything it reaches transitively in the pending space
//!    (`expand_region_transitively_reachable`: a *region*), all moved to the
//!    visited space;
//! 4. collects that increment as the generational collector collects a
//!    generation (`gc_collect_region`: `deduce_unreachable`, then
//!    `delete_garbage`), the survivors joining the visited space;
//! 5. adds `heap_size / SCAN_RATE_DIVISOR / scale_factor` to `work_to_do`
//!    and takes off the increment's size;
//! 6. when the pending space is empty, the scavenge is complete
//!    (`completed_scavenge`): the spaces swap roles (`visited_space` flips),
//!    so everything old is pending again, `work_to_do` is reset to 0 and the
//!    next increment marks.
//!
//! Objects reachable from an increment's objects are in it, so a garbage
//! cycle in the old space is freed by the increment that reaches any of its
//! members: increments alone free every old cycle within a scavenge or two,
//! but a cycle that became garbage just after its region was scanned waits
//! for the next scavenge — the memory the collector holds back.
//!
//! `gc.collect()` is a full collection (`gc_collect_full`): young and both
//! old spaces merge into the visited space and are collected as one region;
//! then the counts are zeroed and the scavenge completes.
//!
//! `gc.freeze()` (`_PyGC_Freeze`) moves young and both spaces to the
//! permanent generation, every object marked visited; while it is not
//! empty, completing a scavenge moves the visited space back to pending
//! instead of flipping `visited_space` (`completed_scavenge`), so that the
//! permanent generation stays "visited" and is never pulled into an increment.
//!
//! Collections per generation in [`heaplab_core::HeapStats`]: 0 young
//! collections (`gc_collect_young`, never automatic), 1 increments (the
//! marking ones included), 2 full collections; each increment is one pause.
//!
//! # The roots
//!
//! CPython marks from its real roots, the interpreter's globals (`sysdict`,
//! `builtins`, the static types' dicts: `mark_global_roots`) and every
//! frame's locals and stack (`mark_stacks`), so that the old objects they
//! reach — most of a program's heap — are never scanned by the increments.
//! heaplab's frames are the workload's owned references: this collector keeps
//! the containers the workload owns references to in a vector with their
//! number, as the mark-sweep collector keeps its roots (an object's `aux`
//! holds its index there outside a collection; a new container is a root
//! until the workload gives its reference away). `mark_at_start` moves each
//! root outside the visited space to it and marks what they reach, one
//! traversal of the reachable objects in one pause, as in CPython (the
//! source's "TO DO -- Make this incremental"). The vector costs a push and a
//! swap-remove per container the workload holds for a while, which CPython's
//! frames do not. `mark_stacks` at later increments (`start = false`: the
//! frames pushed since) is not modelled: young objects the workload holds
//! are collected with the increment, where their external references keep
//! them alive.
//!
//! What follows from the source as read: where everything old is reachable
//! from the roots (binary-trees, gc-traverse), marking empties the pending
//! space, so the next increment (young only) completes the scavenge, which
//! resets `work_to_do` to 0, and the one after marks the whole live heap
//! again — every other increment is a mark of the live heap, in one pause.
//! The pause is shorter than a 3.13 full collection of the same heap (one
//! traversal against `update_refs`, `subtract_refs` and `move_unreachable`)
//! but it comes every 4,000 allocations: CPython's gh-129210 reports the
//! same shape on the main branch, a script 3.13 ran in 3.3 s taking 20.8 s,
//! traced to the incremental collector.
//!
//! Also not modelled, as in [`crate::cycle`]: finalizers, weak references,
//! legacy `__del__`, immortal objects (free lists are: a container taken from
//! or kept on one is not counted in `young.count` or `heap_size`). As there, the collection
//! runs inside the allocation that triggers it, before the new container is
//! tracked (3.14 schedules it for the eval breaker, which runs it at the next
//! instruction boundary), and `heap_size` starts at
//! `GcConfig::interpreter_objects`, the tracked objects of a bare
//! interpreter, which are otherwise not traversed.

use std::time::Instant;

use heaplab_core::{Allocator, Capabilities, Kind, Obj};

use crate::cycle::{
    self, Cycle, FLAG_UNREACHABLE, Heads, PERMANENT, count_internal_refs, generation_of, has_flag, head_of,
    list, move_unreachable_and_untrack_tuples, obj_of, set_flag, set_generation,
};
use crate::object::{self as layout, FLAG_TRACKED};
use crate::refcount::{decref, incref};
use crate::runtime::{Core, Policy};

/// CPython 3.14's thresholds as `gc.get_threshold()` gives them: `young.threshold`,
/// `old[0].threshold` (the scale factor of [`assess_work_to_do`]), `old[1].threshold`
/// (unused). `Include/internal/pycore_runtime_init.h`: 2000, 10, 0.
pub const THRESHOLDS_314: [u32; 3] = [2000, 10, 0];

/// `SCAN_RATE_DIVISOR` (Python/gc.c, 3.14): "so that the default incremental threshold of
/// 10 scans objects at 1% of the heap size".
pub const SCAN_RATE_DIVISOR: i64 = 10;

/// `work_to_do` at interpreter start (`.work_to_do = -5000`, pycore_runtime_init.h).
const INITIAL_WORK_TO_DO: i64 = -5000;

/// Tag flag: the object is in old space 1 (`_PyGC_NEXT_MASK_OLD_SPACE_1`); clear, space 0.
const FLAG_OLD_SPACE_1: u8 = 8;

/// The generation recorded in the tag: young objects, and old ones pulled into the
/// increment being collected (the collected region is always "generation 0").
const YOUNG: usize = 0;
/// The generation recorded in the tag of old objects, of either space.
const OLD: usize = 1;

/// The list heads, by index in [`Heads`].
const HEAD_YOUNG: usize = 0;
const HEAD_OLD: [usize; 2] = [1, 2];
const HEAD_PERMANENT: usize = 3;
const HEAD_UNREACHABLE: usize = 4;
const HEAD_INCREMENT: usize = 5;
const HEAD_REACHABLE: usize = 6;
const N_HEADS: usize = 7;

/// `gcstate->phase`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// `GC_PHASE_MARK`: the next increment marks from the roots.
    Mark,
    /// `GC_PHASE_COLLECT`: increments collect young plus a slice of the pending space.
    Collect,
}

/// What one increment did, kept for the unit tests.
#[cfg(test)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct IncrementLog {
    /// Whether it only marked from the roots.
    pub(crate) marked_only: bool,
    /// Objects it marked, if it marked.
    pub(crate) marked: i64,
    /// Young objects it took.
    pub(crate) young: i64,
    /// `work_to_do` when it chose its slice of the pending space.
    pub(crate) work_to_do: i64,
    /// Objects it collected: young plus every region.
    pub(crate) size: i64,
    /// The size of the last region it took (0 if none).
    pub(crate) last_region: i64,
    /// Pending objects left after it.
    pub(crate) pending_after: u64,
}

/// The incremental collector's state (CPython 3.14's `struct _gc_runtime_state`).
#[derive(Debug)]
pub(crate) struct Incremental {
    heads: Heads,
    /// `young.threshold`.
    young_threshold: u32,
    /// `old[0].threshold`: the scale factor.
    old_threshold: u32,
    /// `young.count`: containers allocated less those freed since the last increment.
    young_count: i64,
    /// `heap_size`: live containers (tracked or not), the interpreter's own included.
    heap_size: i64,
    work_to_do: i64,
    /// Which old space is the visited one, 0 or 1.
    visited_space: usize,
    phase: Phase,
    enabled: bool,
    collecting: bool,
    /// References taken out of a cleared object, waiting to be released.
    scratch: Vec<Obj>,
    /// The roots: every container the workload holds owned references to, with their number
    /// (the frames' locals and stacks that `mark_stacks` walks). Outside a collection a rooted
    /// object's `aux` is its index here plus one, and 0 for every other object; a collection
    /// clears the roots' `aux` for its counts and writes it back after ([`Self::hide_roots`]).
    roots: Vec<(Obj, u32)>,
    #[cfg(test)]
    pub(crate) log: Vec<IncrementLog>,
}

/// The space a tracked object is in.
#[inline]
fn space_of(obj: Obj) -> usize {
    usize::from(has_flag(obj, FLAG_OLD_SPACE_1))
}

/// `gc_set_old_space`.
#[inline]
fn set_space(obj: Obj, space: usize) {
    set_flag(obj, FLAG_OLD_SPACE_1, space == 1);
}

/// `gc_list_set_space`: sets the space of every object of a list; returns their number.
fn list_set_space(head: list::Node, space: usize) -> i64 {
    let mut n = 0;
    let mut node = list::next(head);
    while node != head {
        // SAFETY: `node` is in the list of `head` and is not its head.
        set_space(unsafe { obj_of(node) }, space);
        n += 1;
        node = list::next(node);
    }
    n
}

/// Whether `child` is a tracked container outside the permanent generation and outside
/// the visited space: what `visit_add_to_container` and `move_to_reachable` move.
#[inline]
fn is_unvisited(child: Obj, visited_space: usize) -> bool {
    has_flag(child, FLAG_TRACKED) && generation_of(child) != PERMANENT && space_of(child) != visited_space
}

/// A root's `aux`: its index in [`Incremental::roots`] plus one (0 is "not a root").
fn root_tag(index: usize) -> u32 {
    u32::try_from(index + 1).expect("fewer than 2^32 roots")
}

/// `assess_work_to_do`: the new objects, plus a fraction of the heap no larger than 1.5
/// times them; restarts `young.count`.
fn assess_work_to_do(young_count: &mut i64, heap_size: i64, old_threshold: u32) -> i64 {
    let scale_factor = i64::from(old_threshold).max(2);
    let new_objects = *young_count;
    let max_heap_fraction = new_objects * 3 / 2;
    let heap_fraction = (heap_size / SCAN_RATE_DIVISOR / scale_factor).min(max_heap_fraction);
    *young_count = 0;
    new_objects + heap_fraction
}

impl Incremental {
    /// A collector with `gc.set_threshold(thresholds...)`'s thresholds (young, old[0], old[1]:
    /// [`THRESHOLDS_314`] by default), counting `interpreter_objects` in `heap_size`.
    pub(crate) fn new(thresholds: &[u32], interpreter_objects: u64) -> Incremental {
        assert!(
            (1..=3).contains(&thresholds.len()),
            "the incremental collector takes 1 to 3 thresholds, not {}",
            thresholds.len()
        );
        Incremental {
            heads: Heads::new(N_HEADS),
            young_threshold: thresholds[0],
            old_threshold: thresholds.get(1).copied().unwrap_or(THRESHOLDS_314[1]),
            young_count: 0,
            heap_size: i64::try_from(interpreter_objects).unwrap_or(i64::MAX),
            work_to_do: INITIAL_WORK_TO_DO,
            visited_space: 0,
            phase: Phase::Mark,
            enabled: true,
            collecting: false,
            scratch: Vec::new(),
            roots: Vec::new(),
            #[cfg(test)]
            log: Vec::new(),
        }
    }

    fn head(&self, index: usize) -> list::Node {
        self.heads.get(index)
    }

    fn visited(&self) -> list::Node {
        self.head(HEAD_OLD[self.visited_space])
    }

    fn pending(&self) -> list::Node {
        self.head(HEAD_OLD[self.visited_space ^ 1])
    }

    fn scale_factor(&self) -> i64 {
        i64::from(self.old_threshold).max(2)
    }

    /// Releases one reference, unlinking containers that die and counting them off
    /// (`PyObject_GC_Del`).
    fn release<A: Allocator>(&mut self, core: &mut Core<A>, obj: Obj) {
        let (young_count, heap_size) = (&mut self.young_count, &mut self.heap_size);
        decref(core, obj, cycle::prefix, |dead, gc_frees| {
            if layout::kind(dead).is_container() {
                if has_flag(dead, FLAG_TRACKED) {
                    list::unlink(head_of(dead));
                }
                // `PyObject_GC_Del`, which a container kept on a free list never reaches.
                if gc_frees > 0 {
                    if *young_count > 0 {
                        *young_count -= 1;
                    }
                    *heap_size -= 1;
                }
            }
        });
    }

    /// `_PyGC_Collect(tstate, 1, ...)`: one increment, one pause.
    fn collect_increment<A: Allocator>(&mut self, core: &mut Core<A>) {
        let started = Instant::now();
        self.collecting = true;
        self.hide_roots();
        self.gc_collect_increment(core);
        self.show_roots();
        core.record_pause(1, started);
        self.collecting = false;
    }

    /// Clears the roots' `aux` (their index), which a collection uses for its counts.
    fn hide_roots(&self) {
        for &(obj, _) in &self.roots {
            layout::set_aux(obj, 0);
        }
    }

    /// Writes every root's index back into its `aux`. No root dies in a collection: its owned
    /// references are outside the collected objects, so it is reachable.
    fn show_roots(&self) {
        for (index, &(obj, _)) in self.roots.iter().enumerate() {
            layout::set_aux(obj, root_tag(index));
        }
    }

    /// The workload takes a reference to a container: one more for a root, or a new root.
    fn add_root(&mut self, obj: Obj) {
        match layout::aux(obj) {
            0 => {
                self.roots.push((obj, 1));
                layout::set_aux(obj, root_tag(self.roots.len() - 1));
            }
            tag => self.roots[tag as usize - 1].1 += 1,
        }
    }

    /// The workload gives back a reference to a container: one fewer, and past the last the
    /// object is no longer a root (the last root takes its place).
    fn drop_root(&mut self, obj: Obj) {
        let index = layout::aux(obj) as usize - 1;
        let entry = &mut self.roots[index].1;
        *entry -= 1;
        if *entry == 0 {
            layout::set_aux(obj, 0);
            self.roots.swap_remove(index);
            if let Some(&(moved, _)) = self.roots.get(index) {
                layout::set_aux(moved, root_tag(index));
            }
        }
    }

    /// `gc_collect_increment`.
    fn gc_collect_increment<A: Allocator>(&mut self, core: &mut Core<A>) {
        self.work_to_do += assess_work_to_do(&mut self.young_count, self.heap_size, self.old_threshold);
        if self.phase == Phase::Mark {
            let marked = self.mark_at_start();
            self.work_to_do -= marked;
            #[cfg(test)]
            self.log.push(IncrementLog {
                marked_only: true,
                marked,
                pending_after: list_len(self.pending()),
                ..IncrementLog::default()
            });
            return;
        }
        let visited_space = self.visited_space;
        let (pending, visited, increment) = (self.pending(), self.visited(), self.head(HEAD_INCREMENT));
        let young = self.head(HEAD_YOUNG);
        let mut increment_size = list_set_space(young, visited_space);
        list::merge(young, increment);
        #[cfg(test)]
        let (young_size, budget) = (increment_size, self.work_to_do);
        #[cfg(test)]
        let mut last_region = 0;
        while increment_size < self.work_to_do {
            if list::is_empty(pending) {
                break;
            }
            let node = list::next(pending);
            list::unlink(node);
            list::push_back(increment, node);
            // SAFETY: `node` was the first object of the pending space, not its head.
            let obj = unsafe { obj_of(node) };
            set_space(obj, visited_space);
            set_generation(obj, YOUNG);
            let region = 1 + expand_region_transitively_reachable(increment, node, visited_space);
            increment_size += region;
            #[cfg(test)]
            {
                last_region = region;
            }
        }
        self.gc_collect_region(core, increment, visited, YOUNG);
        self.work_to_do += self.heap_size / SCAN_RATE_DIVISOR / self.scale_factor();
        self.work_to_do -= increment_size;
        #[cfg(test)]
        self.log.push(IncrementLog {
            marked_only: false,
            marked: 0,
            young: young_size,
            work_to_do: budget,
            size: increment_size,
            last_region,
            pending_after: list_len(pending),
        });
        if list::is_empty(pending) {
            self.completed_scavenge();
        }
    }

    /// `mark_at_start` (`mark_global_roots`, `mark_stacks(start = true)`): every root outside
    /// the visited space moves to it (`move_to_reachable`), then everything they reach
    /// (`mark_all_reachable`); returns the number of objects marked.
    fn mark_at_start(&mut self) -> i64 {
        let visited_space = self.visited_space;
        let (visited, reachable) = (self.visited(), self.head(HEAD_REACHABLE));
        let mut marked = 0;
        for &(obj, _) in &self.roots {
            if is_unvisited(obj, visited_space) {
                set_space(obj, visited_space);
                let node = head_of(obj);
                list::unlink(node);
                list::push_back(reachable, node);
                marked += 1;
            }
        }
        marked += mark_all_reachable(reachable, visited, visited_space);
        self.work_to_do -= marked;
        self.phase = Phase::Collect;
        marked
    }

    /// `gc_collect_region`: collects the objects of `from` (of generation `generation` and
    /// younger in their tags: the collected ones), the survivors joining `to`.
    fn gc_collect_region<A: Allocator>(
        &mut self,
        core: &mut Core<A>,
        from: list::Node,
        to: list::Node,
        generation: usize,
    ) {
        let unreachable = self.head(HEAD_UNREACHABLE);
        count_internal_refs(from, generation);
        move_unreachable_and_untrack_tuples(from, unreachable, generation, OLD);
        if from != to {
            list::merge(from, to);
        }
        self.delete_garbage(core, unreachable, to);
    }

    /// `delete_garbage`: clears every unreachable object, which frees them by reference
    /// counting; any that survive join `to`, old and visited.
    fn delete_garbage<A: Allocator>(&mut self, core: &mut Core<A>, unreachable: list::Node, to: list::Node) {
        while !list::is_empty(unreachable) {
            let node = list::next(unreachable);
            // SAFETY: `node` is in the unreachable list and is not its head.
            let obj = unsafe { obj_of(node) };
            set_flag(obj, FLAG_UNREACHABLE, false);
            self.clear(core, obj);
            if list::next(unreachable) == node {
                // Still alive: something outside the garbage kept it.
                layout::set_aux(obj, 0);
                set_generation(obj, OLD);
                set_space(obj, self.visited_space);
                list::unlink(node);
                list::push_back(to, node);
            }
        }
    }

    /// `tp_clear` (see `Cycle::detach_refs`).
    fn clear<A: Allocator>(&mut self, core: &mut Core<A>, obj: Obj) {
        let mut taken = std::mem::take(&mut self.scratch);
        let detached = Cycle::detach_refs(core, obj, &mut taken);
        // `obj` may die during these releases; it is not touched again.
        for item in taken.drain(..) {
            self.release(core, item);
        }
        if let Some((buffer, bytes)) = detached {
            core.free_buffer(Some(buffer), bytes);
        }
        self.scratch = taken;
    }

    /// `completed_scavenge`: the spaces swap roles, or, while the permanent generation is
    /// not empty (it must stay visited), the visited space moves back to pending.
    fn completed_scavenge(&mut self) {
        if list::is_empty(self.head(HEAD_PERMANENT)) {
            let not_visited = self.visited_space;
            self.visited_space ^= 1;
            list_set_space(self.head(HEAD_YOUNG), not_visited);
        } else {
            let (visited, pending) = (self.visited(), self.pending());
            list::merge(visited, pending);
            list_set_space(pending, self.visited_space ^ 1);
        }
        self.work_to_do = 0;
        self.phase = Phase::Mark;
    }

    /// `gc_collect_full`: young and both spaces, collected as one region.
    fn gc_collect_full<A: Allocator>(&mut self, core: &mut Core<A>) {
        let started = Instant::now();
        self.collecting = true;
        self.hide_roots();
        let (young, pending, visited) = (self.head(HEAD_YOUNG), self.pending(), self.visited());
        list::merge(young, pending);
        list_set_space(pending, self.visited_space);
        self.young_count = 0;
        list::merge(pending, visited);
        self.gc_collect_region(core, visited, visited, OLD);
        self.young_count = 0;
        self.completed_scavenge();
        self.show_roots();
        core.record_pause(2, started);
        self.collecting = false;
    }
}

/// `expand_region_transitively_reachable`: from `start` to the end of `container`, moves
/// every tracked object referenced and not yet visited into `container`, visited (and
/// collected: generation [`YOUNG`] in its tag); returns the number moved.
fn expand_region_transitively_reachable(
    container: list::Node,
    start: list::Node,
    visited_space: usize,
) -> i64 {
    let mut size = 0;
    let mut node = start;
    while node != container {
        // SAFETY: `node` is in `container` and is not its head.
        let obj = unsafe { obj_of(node) };
        layout::for_each_ref(obj, |child| {
            // `visit_add_to_container`
            if is_unvisited(child, visited_space) {
                set_space(child, visited_space);
                set_generation(child, YOUNG);
                list::unlink(head_of(child));
                list::push_back(container, head_of(child));
                size += 1;
            }
        });
        // Read after the traversal, which may have appended behind `node`.
        node = list::next(node);
    }
    size
}

/// `mark_all_reachable`: moves everything `reachable` holds to `visited`, and with it,
/// transitively, every tracked object they reference outside the visited space; returns
/// the number of objects it added on the way (not those `reachable` held at the start).
fn mark_all_reachable(reachable: list::Node, visited: list::Node, visited_space: usize) -> i64 {
    let mut size = 0;
    while !list::is_empty(reachable) {
        let node = list::next(reachable);
        list::unlink(node);
        list::push_back(visited, node);
        // SAFETY: `node` was the first object of `reachable`, not its head.
        let obj = unsafe { obj_of(node) };
        set_generation(obj, OLD);
        layout::for_each_ref(obj, |child| {
            if is_unvisited(child, visited_space) {
                set_space(child, visited_space);
                list::unlink(head_of(child));
                list::push_back(reachable, head_of(child));
                size += 1;
            }
        });
    }
    size
}

/// The number of objects in a list.
#[cfg(test)]
fn list_len(head: list::Node) -> u64 {
    let mut n = 0;
    let mut node = list::next(head);
    while node != head {
        n += 1;
        node = list::next(node);
    }
    n
}

impl<A: Allocator> Policy<A> for Incremental {
    const NAME: &'static str = "incremental";

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            refcounting: true,
            reclaims_cycles: true,
            can_disable: true,
            can_freeze: true,
            generations: 3,
        }
    }

    #[inline]
    fn prefix(&self, kind: Kind) -> usize {
        cycle::prefix(kind)
    }

    #[inline]
    fn initial_word0(&self) -> u64 {
        1
    }

    /// `_PyObject_GC_Link`: counts the container and, past the young threshold, runs an
    /// increment (`_Py_ScheduleGC`, then `_Py_RunGC`).
    #[inline]
    fn after_alloc(&mut self, core: &mut Core<A>, kind: Kind, recycled: bool) {
        if !kind.is_container() || recycled {
            return;
        }
        self.young_count += 1;
        self.heap_size += 1;
        if self.young_count > i64::from(self.young_threshold)
            && self.enabled
            && self.young_threshold != 0
            && !self.collecting
        {
            self.collect_increment(core);
        }
    }

    /// `_PyObject_GC_TRACK`: containers join the young generation, in the pending space.
    #[inline]
    fn on_create(&mut self, _core: &mut Core<A>, obj: Obj) {
        if layout::kind(obj).is_container() {
            // A fresh tag has no flags: generation YOUNG, space 0.
            set_flag(obj, FLAG_TRACKED, true);
            set_space(obj, self.visited_space ^ 1);
            layout::set_aux(obj, 0);
            list::push_back(self.head(HEAD_YOUNG), head_of(obj));
            // The new object's one owned reference.
            self.add_root(obj);
        }
    }

    #[inline]
    fn own(&mut self, _core: &mut Core<A>, obj: Obj) {
        incref(obj);
        if layout::kind(obj).is_container() {
            self.add_root(obj);
        }
    }

    #[inline]
    fn disown(&mut self, core: &mut Core<A>, obj: Obj) {
        if layout::kind(obj).is_container() {
            self.drop_root(obj);
        }
        self.release(core, obj);
    }

    #[inline]
    fn hold(&mut self, _core: &mut Core<A>, obj: Obj) {
        incref(obj);
    }

    #[inline]
    fn unhold(&mut self, core: &mut Core<A>, obj: Obj) {
        self.release(core, obj);
    }

    fn collect(&mut self, core: &mut Core<A>) {
        self.gc_collect_full(core);
    }

    fn set_automatic(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    /// `_PyGC_Freeze`: young and both spaces join the permanent generation, marked visited;
    /// the counts restart.
    fn freeze(&mut self, _core: &mut Core<A>) {
        let permanent = self.head(HEAD_PERMANENT);
        for index in [HEAD_YOUNG, HEAD_OLD[0], HEAD_OLD[1]] {
            let head = self.head(index);
            let mut node = list::next(head);
            while node != head {
                // SAFETY: `node` is in the list of `head` and is not its head.
                let obj = unsafe { obj_of(node) };
                set_space(obj, self.visited_space);
                set_generation(obj, PERMANENT);
                node = list::next(node);
            }
            list::merge(head, permanent);
        }
        self.young_count = 0;
    }

    fn finish(&mut self, core: &mut Core<A>) {
        self.gc_collect_full(core);
    }

    fn free_all(&mut self, _core: &mut Core<A>) {}
}

#[cfg(test)]
mod tests {
    use heaplab_alloc::system::System;
    use heaplab_core::Heap;

    use super::*;
    use crate::runtime::Runtime;

    fn heap(thresholds: &[u32]) -> Runtime<Incremental, System> {
        let release = heaplab_core::version::find("3.14").unwrap();
        Runtime::new(Incremental::new(thresholds, 0), System::default(), None, release, release.free_lists)
    }

    /// Makes `n` two-instance garbage cycles, each held by `holder`; returns nothing held.
    fn held_pairs(heap: &mut dyn Heap, holder: Obj, n: usize) {
        for _ in 0..n {
            let (a, b) = (heap.instance(1), heap.instance(1));
            heap.set(a, 0, Some(b));
            heap.set(b, 0, Some(a));
            heap.append(holder, a);
            heap.release(a);
            heap.release(b);
        }
    }

    /// Allocates `n` lists that die young, in batches of up to 2,500 held together (a freed
    /// container takes one off `young.count`, so objects that die at once never trigger),
    /// driving increments.
    fn churn(heap: &mut dyn Heap, n: usize) {
        let mut left = n;
        while left > 0 {
            let batch = left.min(2_500);
            let temp = heap.list(0);
            keep(heap, temp, batch);
            heap.release(temp);
            left -= batch;
        }
    }

    /// Allocates `n` instances kept in `keeper`: young objects that survive into the old
    /// space. (Instances, which have no free list, so that each one is counted: a list could
    /// come from the list free list, which `gc_alloc` never sees.)
    fn keep(heap: &mut dyn Heap, keeper: Obj, n: usize) {
        for _ in 0..n {
            let l = heap.instance(0);
            heap.append(keeper, l);
            heap.release(l);
        }
    }

    #[test]
    fn assess_work_to_do_follows_the_source() {
        let mut young = 2001;
        // A small heap: the new objects plus heap_size / 10 / 10.
        assert_eq!(assess_work_to_do(&mut young, 10_000, 10), 2001 + 100);
        assert_eq!(young, 0, "young.count restarts");
        // A large heap: the fraction is capped at 1.5 times the new objects.
        let mut young = 2001;
        assert_eq!(assess_work_to_do(&mut young, 100_000_000, 10), 2001 + 3001);
        // The scale factor is at least 2.
        let mut young = 100;
        assert_eq!(assess_work_to_do(&mut young, 1_000, 0), 100 + 50);
    }

    #[test]
    #[cfg_attr(miri, ignore = "150,000 objects: hours under Miri; the sized-down tests run there")]
    fn an_increment_is_bounded_by_work_to_do_plus_one_region() {
        let mut heap = heap(&[100, 10, 0]);
        // Many small regions in the old space: 20,000 garbage pairs, each a region of two
        // objects. (Held, they would be marked from the roots and never scanned.)
        let holder = heap.list(0);
        held_pairs(&mut heap, holder, 20_000);
        churn(&mut heap, 5_000);
        heap.release(holder);
        let keeper = heap.list(0);
        for _ in 0..400 {
            keep(&mut heap, keeper, 50);
            churn(&mut heap, 200);
        }
        assert!(heap.stats().live_objects < 40_000, "increments freed garbage pairs");
        let log = heap.policy().log.clone();
        let collecting: Vec<&IncrementLog> = log.iter().filter(|l| !l.marked_only).collect();
        assert!(collecting.len() > 50, "{} increments", collecting.len());
        let mut took_old = 0;
        for l in &collecting {
            assert!(l.size <= l.young.max(l.work_to_do) + l.last_region, "increment over its bound: {l:?}");
            if l.size > l.young {
                took_old += 1;
                assert!(l.last_region >= 1 && l.last_region <= 2, "pairs are regions of at most two: {l:?}");
                assert!(l.size - l.young < 10_000, "an increment takes a slice of the old space: {l:?}");
            }
        }
        assert!(took_old > 10, "increments took slices of the old space: {took_old}");
        heap.release(keeper);
        heap.collect();
        assert_eq!(heap.stats().live_objects, 0);
    }

    #[test]
    #[cfg_attr(miri, ignore = "23,000 objects: past 50 minutes under Miri")]
    fn marking_takes_what_the_roots_reach_and_no_garbage() {
        let mut heap = heap(&[100, 10, 0]);
        // 1,000 garbage pairs in the old space, and 1,000 lists held by one root.
        let holder = heap.list(0);
        held_pairs(&mut heap, holder, 1_000);
        churn(&mut heap, 1_000);
        heap.release(holder);
        let keeper = heap.list(0);
        keep(&mut heap, keeper, 1_000);
        let before = heap.policy().log.len();
        churn(&mut heap, 20_000);
        let marks: Vec<i64> =
            heap.policy().log[before..].iter().filter(|l| l.marked_only).map(|l| l.marked).collect();
        assert!(marks.len() >= 2, "{marks:?}");
        // At most the keeper and its lists plus churn's batch list and its lists (2,500):
        // never the 2,000 objects of the garbage pairs on top.
        assert!(marks.iter().all(|&marked| marked <= 1 + 1_000 + 1 + 2_500), "{marks:?}");
        assert!(marks.iter().any(|&marked| marked > 1_000), "the keeper's lists were marked: {marks:?}");
        heap.release(keeper);
        heap.collect();
        assert_eq!(heap.stats().live_objects, 0);
    }

    #[test]
    #[cfg_attr(miri, ignore = "200,000 objects: hours under Miri; the sized-down run is below")]
    fn increments_alone_free_garbage_cycles_in_the_old_space() {
        increments_alone_free_old_cycles(5_000, 200_000);
    }

    /// The same at a size Miri finishes (run natively too, so that the size is known to do it).
    #[test]
    fn increments_alone_free_garbage_cycles_in_the_old_space_small() {
        increments_alone_free_old_cycles(100, 6_000);
    }

    fn increments_alone_free_old_cycles(pairs: usize, churned: usize) {
        let mut heap = heap(&[100, 10, 0]);
        let holder = heap.list(0);
        held_pairs(&mut heap, holder, pairs);
        // Drive the pairs into the old space.
        churn(&mut heap, pairs.max(1_000));
        let old = list_len(heap.policy().head(HEAD_OLD[0])) + list_len(heap.policy().head(HEAD_OLD[1]));
        assert!(old >= 2 * pairs as u64, "the pairs are old: {old} old objects");
        // Drop the holder: garbage cycles in the old space.
        heap.release(holder);
        assert_eq!(heap.stats().live_objects, 2 * pairs as u64);
        let full = heap.stats().collections_by_gen[2];
        churn(&mut heap, churned);
        assert_eq!(heap.stats().collections_by_gen[2], full, "no gc.collect()");
        assert_eq!(heap.stats().live_objects, 0, "increments freed every old cycle");
        let log = &heap.policy().log;
        assert!(log.iter().any(|l| l.marked_only), "scavenges started by marking");
        assert!(log.iter().any(|l| !l.marked_only && l.pending_after == 0), "scavenges completed");
    }

    #[test]
    #[cfg_attr(miri, ignore = "50,000 objects: too slow under Miri; the sized-down run is below")]
    fn the_roots_are_marked_and_not_collected() {
        roots_are_marked(50_000);
    }

    #[test]
    fn the_roots_are_marked_and_not_collected_small() {
        roots_are_marked(12_000);
    }

    fn roots_are_marked(churned: usize) {
        let mut heap = heap(&[100, 10, 0]);
        // A held chain and a garbage ring, both old.
        let holder = heap.list(0);
        keep(&mut heap, holder, 1_000);
        let ring: Vec<Obj> = (0..10).map(|_| heap.instance(1)).collect();
        for (i, &node) in ring.iter().enumerate() {
            heap.set(node, 0, Some(ring[(i + 1) % ring.len()]));
        }
        for node in ring {
            heap.release(node);
        }
        churn(&mut heap, churned);
        assert_eq!(heap.len(holder), 1_000);
        assert_eq!(heap.stats().live_objects, 1_001, "the ring is freed, the holder and its lists kept");
        heap.release(holder);
        assert_eq!(heap.stats().live_objects, 0);
    }

    #[test]
    fn gc_collect_frees_every_unreachable_cycle_and_counts_as_full() {
        let mut heap = heap(&THRESHOLDS_314);
        let holder = heap.list(0);
        held_pairs(&mut heap, holder, 3_000);
        let kept = heap.list(0);
        keep(&mut heap, kept, 3_000);
        heap.release(holder);
        let (a, b) = (heap.list(0), heap.list(0));
        heap.append(a, b);
        heap.append(b, a);
        heap.release(a);
        heap.release(b);
        heap.collect();
        assert_eq!(heap.stats().live_objects, 3_001, "only `kept` and its lists");
        assert_eq!(heap.stats().collections_by_gen[2], 1);
        assert_eq!(heap.stats().collections_by_gen[0], 0, "no young-only collections");
        heap.release(kept);
        assert_eq!(heap.stats().live_objects, 0);
    }

    #[test]
    fn outside_a_collection_counts_are_zero_and_spaces_consistent() {
        let mut heap = heap(&[50, 10, 0]);
        let holder = heap.list(0);
        held_pairs(&mut heap, holder, 500);
        churn(&mut heap, 3_000);
        let policy = heap.policy();
        assert_eq!(policy.roots, [(holder, 1)], "the one container the test holds");
        let visited = policy.visited_space;
        for (index, space) in [(HEAD_OLD[visited], visited), (HEAD_OLD[visited ^ 1], visited ^ 1)] {
            let head = policy.head(index);
            let mut node = list::next(head);
            while node != head {
                // SAFETY: `node` is in an old list and is not its head.
                let obj = unsafe { obj_of(node) };
                let root = policy.roots.iter().position(|&(root, _)| root == obj);
                assert_eq!(layout::aux(obj), root.map_or(0, root_tag), "aux: the root's index + 1, else 0");
                assert_eq!(space_of(obj), space, "every object of old[{space}] is in space {space}");
                assert_eq!(generation_of(obj), OLD);
                node = list::next(node);
            }
        }
        heap.release(holder);
        assert!(heap.policy().roots.is_empty(), "no root left once the test holds nothing");
        heap.collect();
        assert_eq!(heap.stats().live_objects, 0);
    }

    #[test]
    #[cfg_attr(miri, ignore = "110,000 objects: too slow under Miri; the sized-down run is below")]
    fn disabled_it_never_collects_and_frozen_objects_are_never_collected() {
        disabled_and_frozen(10_000, 100_000, 10);
    }

    #[test]
    fn disabled_it_never_collects_and_frozen_objects_are_never_collected_small() {
        disabled_and_frozen(3_000, 12_000, 1);
    }

    fn disabled_and_frozen(disabled_churn: usize, churned: usize, min_increments: u64) {
        let mut heap = heap(&THRESHOLDS_314);
        heap.set_automatic(false);
        churn(&mut heap, disabled_churn);
        assert_eq!(heap.stats().collections(), 0, "disabled: no increments");
        heap.set_automatic(true);
        let (a, b) = (heap.instance(1), heap.instance(1));
        heap.set(a, 0, Some(b));
        heap.set(b, 0, Some(a));
        heap.freeze();
        heap.release(a);
        heap.release(b);
        churn(&mut heap, 1_999);
        assert_eq!(heap.stats().collections(), 0, "freeze restarted young.count: 2,000 allocations");
        churn(&mut heap, churned);
        assert!(heap.stats().collections_by_gen[1] > min_increments);
        heap.collect();
        assert_eq!(heap.stats().live_objects, 2, "a frozen cycle survives increments and gc.collect()");
        let (stats, _) = heap.finish();
        assert_eq!(stats.leaked_objects, 2, "the frozen cycle is reported as leaked");
    }
}
