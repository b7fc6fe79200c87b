//! `cycle`: reference counting plus CPython's generational cycle detector —
//! CPython's own configuration.
//!
//! Objects die by reference counting, exactly as under [`crate::refcount`].
//! Containers (tuples, lists, instances) also carry CPython's 16-byte
//! `PyGC_Head` in front of the object, which links them into one of the
//! generations (doubly linked lists, as in `Modules/gcmodule.c`; three in
//! every CPython from 3.8 to 3.13, one per threshold here) or the permanent
//! generation of `gc.freeze()`.
//!
//! A collection of generation `g` (CPython 3.11's `gc_collect_main`):
//! 1. merges the younger generations into `g`;
//! 2. counts, for each object, the references that come from inside the
//!    generation; `gc_refs` is its refcount less that count (`update_refs`,
//!    `subtract_refs`, in one pass: see `count_internal_refs`): what stays
//!    positive is referenced from outside;
//! 3. scans the generation (`move_unreachable`): an object with `gc_refs > 0`
//!    is reachable and makes everything it references reachable, moving back
//!    objects already set aside; one with `gc_refs == 0` is set aside as
//!    tentatively unreachable;
//! 4. untracks tuples that hold no containers (`_PyTuple_MaybeUntrack`),
//!    in the same pass as step 3 (see `move_unreachable_and_untrack_tuples`);
//! 5. moves the survivors to the next generation, and clears the references
//!    of the unreachable (`tp_clear` of lists and instances), which frees
//!    them by reference counting.
//!
//! Everything is iterative. The count of internal references lives in the
//! object's tag (32 bits, zero outside a collection) rather than `gc_refs`
//! in the upper bits of `_gc_prev`; each tracked object's generation is kept
//! in two tag bits, so that "in the generation being collected" (CPython's
//! `PREV_MASK_COLLECTING`) needs no marking pass; the "unreachable" mark is
//! a tag flag; the lists stay doubly linked throughout. The objects
//! examined, the decisions and the figures are CPython's.
//!
//! Triggers as CPython 3.11's: allocating a container adds one to
//! generation 0's count and freeing one takes one off; when the count exceeds
//! threshold 0 (700) a collection runs — after the new container's memory is
//! allocated and before it is tracked, as `gc_alloc` calls `PyObject_Malloc`
//! and then `_PyObject_GC_Link` — of the oldest generation whose count
//! exceeds its threshold — generation 1 counts generation-0 collections,
//! generation 2 generation-1 collections (10 each) — except that a full
//! collection waits until the objects that survived generation-1
//! collections since the last full one exceed 25% of those the last full one
//! left (`long_lived_pending < long_lived_total / 4` skips it).
//!
//! A CPython process is never empty: after a `gc.collect()` its modules,
//! functions, classes and their dicts — over ten thousand tracked objects
//! in a bare `python3` — sit in the oldest generation and count in
//! `long_lived_total`, which keeps the 25% rule from letting full
//! collections through while a workload's survivors are few. A heap starts
//! empty, so `GcConfig::interpreter_objects` says how many such objects to
//! count: they are added to `long_lived_total` at the start and after every
//! full collection, and are never traversed (their cost is not modelled).
//!
//! Where this departs from CPython 3.11, and what it changes:
//! - Free lists are CPython's ([`crate::freelist`]): a list, tuple or dict taken from one
//!   does not add to generation 0's count and one put on one does not take one off, as
//!   `PyList_New`/`tuple_alloc`/`new_dict` skip `gc_alloc` and `list_dealloc` & co. skip
//!   `PyObject_GC_Del`. Not modelled: what the interpreter's free lists hold when the
//!   workload starts.
//! - Deallocation order is CPython's (see [`crate::refcount::decref`]), but
//!   without the trashcan, which defers frees nested more than 50 deep.
//! - Not modelled: finalizers, weak references and legacy `__del__`.
//!
//! Dicts (`crate::dict`) are born untracked and tracked when they take a
//! container (`MAINTAIN_TRACKING`, through `Policy::track`); a full
//! collection untracks the surviving dicts that hold only atomic keys and
//! values before it counts `long_lived_total` (`untrack_dicts` and
//! `_PyDict_MaybeUntrack` in 3.11's `gc_collect_main`). Sets and `__dict__`
//! objects are tracked from birth, as tuples, lists and instances are.

use std::ptr::NonNull;
use std::time::Instant;

use heaplab_core::object::GC_HEADER;
use heaplab_core::version::{GcTrigger, Version};
use heaplab_core::{Allocator, Capabilities, Kind, Obj};

use self::list::Node;
use crate::object::{self as layout, FLAG_TRACKED};
use crate::refcount::{decref, incref};
use crate::runtime::{Core, Policy};

/// Tag flag: set aside as tentatively unreachable (`NEXT_MASK_UNREACHABLE`).
pub(crate) const FLAG_UNREACHABLE: u8 = 16;
/// The tag bits that hold a tracked object's generation: 0 up to [`MAX_GENERATIONS`] - 1,
/// or [`PERMANENT`].
const GENERATION_BITS: u8 = 32 | 64 | 128;
const GENERATION_SHIFT: u32 = 5;
/// The generation number of `gc.freeze()`'s permanent generation, in the tag.
pub(crate) const PERMANENT: usize = 7;
/// The most generations a collector may have (the tag's three bits, less the permanent one).
pub const MAX_GENERATIONS: usize = PERMANENT;

/// CPython 3.11's thresholds (`_PyGC_InitState` in Modules/gcmodule.c: 700, 10, 10).
pub const THRESHOLDS_311: [u32; 3] = [700, 10, 10];
/// CPython 3.13's thresholds (`_PyGC_InitState` in Python/gc.c of 3.13: 2000, 10, 10).
pub const THRESHOLDS_313: [u32; 3] = [2000, 10, 10];

/// A list head: the same two words as an object's `PyGC_Head`.
#[repr(C)]
#[derive(Debug)]
struct GcHead {
    next: u64,
    prev: u64,
}

/// Doubly linked lists of GC heads, addressed by integers as CPython's `_gc_next`/`_gc_prev` are.
pub(crate) mod list {
    /// A list head of a `Cycle` (or of `crate::incremental`'s collector), or the GC head of a live, tracked container.
    ///
    /// Only `unsafe` code makes one ([`Node::from_addr`]), so every `Node` a safe function
    /// here receives points at two words the collector owns; that is what makes these
    /// functions safe.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) struct Node(u64);

    impl Node {
        /// # Safety
        /// `addr` is the address of a list head that outlives every use of the node (the
        /// heads of a `Cycle` live as long as it), or the GC head of a live container whose
        /// two words the cycle collector owns.
        #[inline]
        pub(crate) unsafe fn from_addr(addr: u64) -> Node {
            Node(addr)
        }

        #[inline]
        pub(crate) fn addr(self) -> u64 {
            self.0
        }

        #[inline]
        fn word(self, index: usize) -> *mut u64 {
            (self.0 as *mut u64).wrapping_add(index)
        }
    }

    #[inline]
    pub(crate) fn next(node: Node) -> Node {
        // SAFETY: a Node points at two words the collector owns (its contract); word 0 is
        // `_gc_next`, which holds another node of the same list.
        Node(unsafe { node.word(0).read() })
    }

    #[inline]
    pub(crate) fn prev(node: Node) -> Node {
        // SAFETY: as in `next`; word 1 is `_gc_prev`.
        Node(unsafe { node.word(1).read() })
    }

    #[inline]
    fn set_next(node: Node, value: Node) {
        // SAFETY: as in `next`; the collector owns these words.
        unsafe { node.word(0).write(value.0) }
    }

    #[inline]
    fn set_prev(node: Node, value: Node) {
        // SAFETY: as in `next`.
        unsafe { node.word(1).write(value.0) }
    }

    /// Makes `head` an empty list.
    pub(crate) fn init(head: Node) {
        set_next(head, head);
        set_prev(head, head);
    }

    pub(crate) fn is_empty(head: Node) -> bool {
        next(head) == head
    }

    /// Appends `node` to the list of `head`.
    #[inline]
    pub(crate) fn push_back(head: Node, node: Node) {
        let last = prev(head);
        set_next(last, node);
        set_prev(node, last);
        set_next(node, head);
        set_prev(head, node);
    }

    /// Takes `node` out of whatever list it is in.
    #[inline]
    pub(crate) fn unlink(node: Node) {
        let (before, after) = (prev(node), next(node));
        set_next(before, after);
        set_prev(after, before);
    }

    /// Moves every node of `from` to the end of `to`.
    pub(crate) fn merge(from: Node, to: Node) {
        if is_empty(from) {
            return;
        }
        let (first, last, to_last) = (next(from), prev(from), prev(to));
        set_next(to_last, first);
        set_prev(first, to_last);
        set_next(last, to);
        set_prev(to, last);
        init(from);
    }

    /// The number of nodes in a list.
    #[cfg(test)]
    pub(crate) fn len(head: Node) -> u64 {
        let mut n = 0;
        let mut node = next(head);
        while node != head {
            n += 1;
            node = next(node);
        }
        n
    }
}

/// The GC head of a tracked container.
#[inline]
pub(crate) fn head_of(obj: Obj) -> Node {
    // SAFETY: the object is a live container of a `cycle` heap (the crate's contract on every
    // Obj, see `crate::object`), so a `PyGC_Head` the collector owns lies in front of it.
    unsafe { Node::from_addr(obj.addr() as u64 - GC_HEADER as u64) }
}

/// The container whose GC head is `node`.
///
/// # Safety
/// `node` is not a list head: it is linked into a list of the collector, and only tracked,
/// live containers are.
#[inline]
pub(crate) unsafe fn obj_of(node: Node) -> Obj {
    let ptr =
        NonNull::new((node.addr() + GC_HEADER as u64) as *mut u8).expect("a GC head is never at address 0");
    // SAFETY: the caller's contract: the object lies right after its GC head.
    unsafe { Obj::from_ptr(ptr) }
}

#[inline]
pub(crate) fn has_flag(obj: Obj, flag: u8) -> bool {
    layout::flags(obj) & flag != 0
}

#[inline]
pub(crate) fn set_flag(obj: Obj, flag: u8, on: bool) {
    let flags = layout::flags(obj);
    layout::set_flags(obj, if on { flags | flag } else { flags & !flag });
}

/// Records the generation a tracked object is in.
#[inline]
pub(crate) fn set_generation(obj: Obj, generation: usize) {
    let flags = layout::flags(obj) & !GENERATION_BITS;
    layout::set_flags(obj, flags | ((generation as u8) << GENERATION_SHIFT));
}

/// The generation recorded in a tracked object's tag.
#[inline]
pub(crate) fn generation_of(obj: Obj) -> usize {
    usize::from((layout::flags(obj) & GENERATION_BITS) >> GENERATION_SHIFT)
}

/// Whether `obj` is a tracked object of a generation up to `generation`,
/// that is, in the young list of a collection of `generation` and not yet
/// scanned (CPython's `gc_is_collecting`; see `move_unreachable_and_untrack_tuples`).
#[inline]
fn is_collecting(obj: Obj, generation: usize) -> bool {
    has_flag(obj, FLAG_TRACKED) && generation_of(obj) <= generation
}

/// `gc_refs`: the refcount less the references from inside the collected generation.
#[inline]
pub(crate) fn gc_refs(obj: Obj) -> u64 {
    layout::word0(obj).saturating_sub(u64::from(layout::aux(obj)))
}

/// Sets `gc_refs` to 1: marks an object reachable (`gc_set_refs(gc, 1)`).
#[inline]
fn set_gc_refs_to_one(obj: Obj) {
    let internal = layout::word0(obj).saturating_sub(1);
    layout::set_aux(obj, u32::try_from(internal).unwrap_or(u32::MAX));
}

/// The list heads of a `Cycle`: one per generation, the permanent generation, and the scratch
/// list of the unreachable, in one allocation that never moves.
///
/// The heads are reached only through the raw pointer (never through a reference), because
/// the tracked objects' GC heads point at them and write through those pointers: a reference
/// to the array would be invalidated by such writes.
#[derive(Debug)]
pub(crate) struct Heads {
    base: NonNull<GcHead>,
    len: usize,
}

impl Heads {
    pub(crate) fn new(len: usize) -> Heads {
        let boxed: Box<[GcHead]> = (0..len).map(|_| GcHead { next: 0, prev: 0 }).collect();
        // From here on the heads are reached only through `base`; `Drop` rebuilds the Box.
        let base = NonNull::new(Box::into_raw(boxed).cast::<GcHead>()).expect("Box::into_raw is never null");
        let heads = Heads { base, len };
        for index in 0..len {
            list::init(heads.get(index));
        }
        heads
    }

    #[inline]
    pub(crate) fn get(&self, index: usize) -> Node {
        assert!(index < self.len, "list head {index} of {}", self.len);
        // SAFETY: `index` is within the allocation, which lives as long as `self`; a `Cycle`
        // and its heads outlive every tracked object (teardown collects before they go).
        unsafe { Node::from_addr(self.base.as_ptr().add(index) as u64) }
    }
}

impl Drop for Heads {
    fn drop(&mut self) {
        let slice = std::ptr::slice_from_raw_parts_mut(self.base.as_ptr(), self.len);
        // SAFETY: `base` and `len` are those of the Box leaked in `new`, dropped only here.
        drop(unsafe { Box::from_raw(slice) });
    }
}

// SAFETY: the heads are owned by their `Cycle` alone, like a Box's contents.
unsafe impl Send for Heads {}

/// The generational cycle detector's state (`struct _gc_runtime_state`).
#[derive(Debug)]
pub(crate) struct Cycle {
    /// Generations `0..n`, then the permanent generation, then the unreachable.
    heads: Heads,
    thresholds: Box<[u32]>,
    counts: Box<[u64]>,
    enabled: bool,
    collecting: bool,
    /// When a collection runs once generation 0's count passes its threshold.
    trigger: GcTrigger,
    /// Whether a scheduled collection is skipped when collection was disabled meanwhile.
    scheduled_checks_enabled: bool,
    /// A collection scheduled for the next eval-breaker check (`_Py_ScheduleGC`).
    scheduled: bool,
    /// Tracked objects of the interpreter's own, counted as long-lived but never traversed.
    interpreter_objects: u64,
    long_lived_total: u64,
    long_lived_pending: u64,
    /// References taken out of a cleared object, waiting to be released.
    scratch: Vec<Obj>,
}

impl Cycle {
    /// A detector with one generation per threshold (CPython has three), counting
    /// `interpreter_objects` tracked objects of the interpreter's own as long-lived.
    pub(crate) fn new(thresholds: &[u32], interpreter_objects: u64, version: &Version) -> Cycle {
        assert!(
            (1..=MAX_GENERATIONS).contains(&thresholds.len()),
            "a cycle collector has 1 to {MAX_GENERATIONS} generations, not {}",
            thresholds.len()
        );
        Cycle {
            heads: Heads::new(thresholds.len() + 2),
            thresholds: thresholds.into(),
            counts: vec![0; thresholds.len()].into(),
            enabled: true,
            collecting: false,
            trigger: version.trigger,
            scheduled_checks_enabled: version.scheduled_gc_checks_enabled,
            scheduled: false,
            interpreter_objects,
            long_lived_total: interpreter_objects,
            long_lived_pending: 0,
            scratch: Vec::new(),
        }
    }

    /// The number of generations (the permanent one not counted).
    fn generations(&self) -> usize {
        self.thresholds.len()
    }

    /// The list of generation `generation`.
    fn head(&self, generation: usize) -> Node {
        self.heads.get(generation)
    }

    fn permanent(&self) -> Node {
        self.heads.get(self.generations())
    }

    fn unreachable(&self) -> Node {
        self.heads.get(self.generations() + 1)
    }

    /// Releases one reference, unlinking and uncounting containers that die
    /// (`PyObject_GC_Del` takes one off generation 0's count, never below zero).
    fn release<A: Allocator>(&mut self, core: &mut Core<A>, obj: Obj) {
        let counts = &mut self.counts;
        decref(core, obj, prefix, |dead, gc_frees| {
            if layout::kind(dead).is_container() {
                if has_flag(dead, FLAG_TRACKED) {
                    list::unlink(head_of(dead));
                }
                // One `PyObject_GC_Del` a GC allocation given back: two for a 3.8-3.10 object
                // and its dict, none for a container kept on a free list.
                counts[0] = counts[0].saturating_sub(gc_frees);
            }
        });
    }

    /// `gc_collect_generations`: collects the oldest generation over its threshold.
    fn collect_generations<A: Allocator>(&mut self, core: &mut Core<A>) {
        let oldest = self.generations() - 1;
        for generation in (0..self.generations()).rev() {
            if self.counts[generation] > u64::from(self.thresholds[generation]) {
                if generation == oldest && oldest > 0 && self.long_lived_pending < self.long_lived_total / 4 {
                    continue;
                }
                self.collect(core, generation);
                break;
            }
        }
    }

    /// `gc_collect_main`: one collection of `generation` and the younger ones.
    fn collect<A: Allocator>(&mut self, core: &mut Core<A>, generation: usize) {
        let started = Instant::now();
        let oldest = self.generations() - 1;
        self.collecting = true;
        if generation < oldest {
            self.counts[generation + 1] += 1;
        }
        for count in &mut self.counts[..=generation] {
            *count = 0;
        }
        let young = self.head(generation);
        for younger in 0..generation {
            list::merge(self.head(younger), young);
        }
        let old = if generation < oldest { self.head(generation + 1) } else { young };
        let unreachable = self.unreachable();

        count_internal_refs(young, generation);
        let n_survivors = move_unreachable_and_untrack_tuples(young, unreachable, generation, oldest);

        if young != old {
            if generation + 2 == self.generations() {
                self.long_lived_pending += n_survivors;
            }
            list::merge(young, old);
        } else {
            // "We only un-track dicts in full collections, to avoid quadratic dict build-up."
            let n_untracked = untrack_dicts(young);
            self.long_lived_pending = 0;
            self.long_lived_total = n_survivors - n_untracked + self.interpreter_objects;
        }
        let old_generation = (generation + 1).min(oldest);
        self.delete_garbage(core, unreachable, old, old_generation);
        core.record_pause(generation, started);
        self.collecting = false;
    }

    /// Clears the references of every unreachable object, which frees them
    /// by reference counting; any that survive move to `old`, generation
    /// `old_generation`.
    fn delete_garbage<A: Allocator>(
        &mut self,
        core: &mut Core<A>,
        unreachable: Node,
        old: Node,
        old_generation: usize,
    ) {
        while !list::is_empty(unreachable) {
            let node = list::next(unreachable);
            // SAFETY: `node` is in the unreachable list and is not its head.
            let obj = unsafe { obj_of(node) };
            set_flag(obj, FLAG_UNREACHABLE, false);
            self.clear(core, obj);
            if list::next(unreachable) == node {
                // Still alive: something outside the garbage kept it.
                layout::set_aux(obj, 0);
                set_generation(obj, old_generation);
                list::unlink(node);
                list::push_back(old, node);
            }
        }
    }

    /// `tp_clear`: drops every reference a list, instance, object, dict or set holds (tuples have no `tp_clear`).
    ///
    /// `_list_clear` (Objects/listobject.c) detaches the items and releases them last to
    /// first; `subtype_clear` (Objects/typeobject.c) runs `clear_slots`, first to last: the
    /// order of [`layout::for_each_ref`].
    /// `dict_tp_clear` and `set_clear_internal` take every key and value out and free the table.
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

    /// The first half of `tp_clear`: takes every reference out of a list or instance into
    /// `taken`, in the order they are to be released, and detaches a list's item buffer,
    /// returned to be freed after the releases. Shared with `crate::incremental`.
    pub(crate) fn detach_refs<A: Allocator>(
        core: &mut Core<A>,
        obj: Obj,
        taken: &mut Vec<Obj>,
    ) -> Option<(NonNull<u8>, usize)> {
        let mut detached = None;
        match layout::kind(obj) {
            Kind::List => {
                // Emptied first, the buffer freed after the items, as `_list_clear` does.
                let (_, cap) = layout::list_shape(obj);
                layout::for_each_ref(obj, |item| taken.push(item));
                detached = layout::buffer(obj).map(|(ptr, _)| (ptr, cap * heaplab_core::object::WORD));
                layout::set_list_len(obj, 0);
                layout::set_list_buffer(obj, None, 0);
            }
            Kind::Instance | Kind::Object => {
                for index in 0..layout::ref_count_of(obj) {
                    taken.extend(layout::put_ref(obj, index, None));
                }
            }
            Kind::Dict => crate::dict::clear(core, obj, taken),
            Kind::Set => crate::set::clear(core, obj, taken),
            _ => {}
        }
        detached
    }
}

/// The collector header in front of an object of this kind.
pub(crate) fn prefix(kind: Kind) -> usize {
    if kind.is_container() { GC_HEADER } else { 0 }
}

/// `update_refs` and `subtract_refs` in one pass: counts, in each object of
/// `young` (the generations up to `generation`), the references it gets
/// from objects of `young`, so that `gc_refs` is its refcount less that
/// count.
///
/// CPython first copies every refcount into `gc_refs`, marking the object
/// as collecting, then walks the generation again to subtract. Here the
/// count starts at zero — every tracked object keeps it at zero outside a
/// collection — and "is this child being collected" reads the generation
/// kept in its tag, so one walk does both: the same counts, one cache miss
/// per object fewer.
pub(crate) fn count_internal_refs(young: Node, generation: usize) {
    let mut node = list::next(young);
    while node != young {
        // SAFETY: `node` is in `young` and is not its head.
        layout::for_each_ref(unsafe { obj_of(node) }, |child| {
            if is_collecting(child, generation) {
                layout::set_aux(child, layout::aux(child).saturating_add(1));
            }
        });
        node = list::next(node);
    }
}

/// `move_unreachable`, then `untrack_tuples`, in one pass over `young`;
/// returns the number of objects left in `young` (CPython's
/// `gc_list_size(young)` after both).
///
/// `move_unreachable` sets aside what nothing outside reaches: an object
/// with `gc_refs > 0` is reachable and makes everything it references
/// reachable, bringing back (to the end of `young`) whatever was set aside;
/// one with `gc_refs == 0` is set aside, tentatively. An object scanned
/// is no longer collecting: it moves to the next generation (its tag says
/// so at once, and its count of internal references goes back to zero); in
/// a full collection it stays in the oldest generation, and its `gc_refs`, now its
/// whole refcount, is positive, which `visit_reachable` also leaves alone.
///
/// `untrack_tuples` stops tracking a reachable tuple that holds no
/// container that could be tracked (`_PyTuple_MaybeUntrack`): it can never
/// be part of a cycle. CPython runs it as a second pass over `young`, in
/// list order; here each reachable object is checked when the scan leaves
/// it, which visits the same objects in the same order — what the scan
/// brings back is appended behind it, where the second pass would find it
/// too — and sees every item's tracked flag as that pass would, so the
/// same tuples are untracked. Folding the two passes (and the count) into
/// one saves two walks over the generation, each a cache miss per object.
pub(crate) fn move_unreachable_and_untrack_tuples(
    young: Node,
    unreachable: Node,
    generation: usize,
    oldest: usize,
) -> u64 {
    let next_generation = (generation + 1).min(oldest);
    let mut n_survivors = 0;
    let mut node = list::next(young);
    while node != young {
        // SAFETY: `node` is in `young` and is not its head.
        let obj = unsafe { obj_of(node) };
        if gc_refs(obj) > 0 {
            layout::for_each_ref(obj, |child| visit_reachable(child, young, generation));
            layout::set_aux(obj, 0);
            set_generation(obj, next_generation);
            // Read after the traversal: it may have appended to `young` behind `node`.
            let next = list::next(node);
            if layout::kind(obj) == Kind::Tuple && !may_hold_tracked(obj) {
                list::unlink(node);
                set_flag(obj, FLAG_TRACKED, false);
            } else {
                n_survivors += 1;
            }
            node = next;
        } else {
            let next = list::next(node);
            list::unlink(node);
            list::push_back(unreachable, node);
            set_flag(obj, FLAG_UNREACHABLE, true);
            node = next;
        }
    }
    n_survivors
}

/// `untrack_dicts`: stops tracking every dict of `young` that holds only
/// atomic keys and values (`_PyDict_MaybeUntrack`); returns how many.
fn untrack_dicts(young: Node) -> u64 {
    let mut n_untracked = 0;
    let mut node = list::next(young);
    while node != young {
        let next = list::next(node);
        // SAFETY: `node` is in `young` and is not its head.
        let obj = unsafe { obj_of(node) };
        if layout::kind(obj) == Kind::Dict && crate::dict::holds_only_atomic(obj) {
            list::unlink(node);
            set_flag(obj, FLAG_TRACKED, false);
            n_untracked += 1;
        }
        node = next;
    }
    n_untracked
}

/// `visit_reachable`: `child` is reachable; bring it back if it was set aside.
#[inline]
fn visit_reachable(child: Obj, young: Node, generation: usize) {
    if !is_collecting(child, generation) || gc_refs(child) > 0 {
        return;
    }
    if has_flag(child, FLAG_UNREACHABLE) {
        set_flag(child, FLAG_UNREACHABLE, false);
        list::unlink(head_of(child));
        list::push_back(young, head_of(child));
    }
    set_gc_refs_to_one(child);
}

/// Whether a tuple holds an item that is, or could become, tracked
/// (`_PyObject_GC_MAY_BE_TRACKED`): a list or an instance, or a tuple still tracked.
fn may_hold_tracked(tuple: Obj) -> bool {
    let mut may_be_tracked = false;
    layout::for_each_ref(tuple, |item| {
        let kind = layout::kind(item);
        may_be_tracked |= kind.is_container() && (kind != Kind::Tuple || has_flag(item, FLAG_TRACKED));
    });
    may_be_tracked
}

impl<A: Allocator> Policy<A> for Cycle {
    const NAME: &'static str = "cycle";

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            refcounting: true,
            reclaims_cycles: true,
            can_disable: true,
            can_freeze: true,
            generations: self.generations() as u8,
        }
    }

    #[inline]
    fn prefix(&self, kind: Kind) -> usize {
        prefix(kind)
    }

    #[inline]
    fn initial_word0(&self) -> u64 {
        1
    }

    /// `_PyObject_GC_Link`: count the container and maybe collect, once its memory is
    /// allocated and before it is tracked (`gc_alloc` in Modules/gcmodule.c, 3.11).
    #[inline]
    fn after_alloc(&mut self, core: &mut Core<A>, kind: Kind, recycled: bool) {
        if !kind.is_container() || recycled {
            return;
        }
        self.counts[0] += 1;
        if self.counts[0] > u64::from(self.thresholds[0])
            && self.enabled
            && self.thresholds[0] != 0
            && !self.collecting
        {
            match self.trigger {
                GcTrigger::InAllocation => self.collect_generations(core),
                GcTrigger::EvalBreaker => self.scheduled = true,
            }
        }
    }

    /// `_Py_RunGC` at the eval breaker (3.12 and later): a scheduled collection runs at the
    /// runtime's next eval-breaker check (before the next object is made, or at the next
    /// phase boundary or the end, whichever comes first), unless collection was disabled meanwhile and the version
    /// checks (3.13 does; 3.12 runs it anyway: `Version::scheduled_gc_checks_enabled`).
    #[inline]
    fn eval_breaker(&mut self, core: &mut Core<A>) {
        if self.scheduled {
            self.scheduled = false;
            if self.enabled || !self.scheduled_checks_enabled {
                self.collect_generations(core);
            }
        }
    }

    /// `_PyObject_GC_TRACK`: containers join generation 0, with no internal references counted.
    #[inline]
    fn on_create(&mut self, _core: &mut Core<A>, obj: Obj) {
        let kind = layout::kind(obj);
        // `dict_new` and `PyDict_New` leave a new dict untracked.
        if kind.is_container() && kind != Kind::Dict {
            // A fresh tag has no flags, so the generation bits already say 0.
            set_flag(obj, FLAG_TRACKED, true);
            layout::set_aux(obj, 0);
            list::push_back(self.head(0), head_of(obj));
        }
    }

    /// `_PyObject_GC_TRACK` of a dict that `MAINTAIN_TRACKING` decided to track: it joins generation 0.
    fn track(&mut self, _core: &mut Core<A>, obj: Obj) {
        if !has_flag(obj, FLAG_TRACKED) {
            set_generation(obj, 0);
            set_flag(obj, FLAG_TRACKED, true);
            layout::set_aux(obj, 0);
            list::push_back(self.head(0), head_of(obj));
        }
    }

    #[inline]
    fn own(&mut self, _core: &mut Core<A>, obj: Obj) {
        incref(obj);
    }

    #[inline]
    fn disown(&mut self, core: &mut Core<A>, obj: Obj) {
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
        self.collect(core, self.generations() - 1);
    }

    fn set_automatic(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    /// `gc.freeze()`: every generation joins the permanent one, and every
    /// generation's count restarts (CPython 3.11's `gc_freeze_impl` zeroes
    /// all three).
    ///
    /// CPython only splices the lists; here each object's tag also records
    /// its new generation, a walk over what is tracked.
    fn freeze(&mut self, _core: &mut Core<A>) {
        for generation in 0..self.generations() {
            let head = self.head(generation);
            let mut node = list::next(head);
            while node != head {
                // SAFETY: `node` is in the list of `generation` and is not its head.
                set_generation(unsafe { obj_of(node) }, PERMANENT);
                node = list::next(node);
            }
            list::merge(head, self.permanent());
        }
        self.counts.fill(0);
    }

    fn finish(&mut self, core: &mut Core<A>) {
        self.collect(core, self.generations() - 1);
    }

    fn free_all(&mut self, _core: &mut Core<A>) {}
}

#[cfg(test)]
mod tests {
    use heaplab_core::Heap;

    use super::*;

    /// Runs `test` on a fresh `cycle` heap over the system allocator.
    fn with_cycle_heap(test: fn(&mut dyn Heap)) {
        struct OnHeap(fn(&mut dyn Heap));
        impl heaplab_alloc::AllocVisitor for OnHeap {
            type Output = ();
            fn visit<A: Allocator + 'static>(self, alloc: A) {
                let mut heap = crate::new_heap("cycle", alloc, &crate::GcConfig::default(), None).unwrap();
                (self.0)(heap.as_mut());
            }
        }
        heaplab_alloc::with_allocator("system", &heaplab_alloc::AllocConfig::default(), OnHeap(test))
            .unwrap();
    }

    /// A collection scheduled at 3.12 runs at the next eval breaker even after `gc.disable()`
    /// (gh-116604); at 3.13 it is dropped. In both, one scheduled while enabled runs at the
    /// next object creation, and none is scheduled while disabled.
    #[test]
    fn a_scheduled_collection_and_gc_disable_by_version() {
        struct OnHeap(&'static str, [u64; 3]);
        impl heaplab_alloc::AllocVisitor for OnHeap {
            type Output = ();
            fn visit<A: Allocator + 'static>(self, alloc: A) {
                let version = heaplab_core::version::find(self.0).unwrap();
                let config =
                    crate::GcConfig { thresholds: vec![10, 10, 10], version, ..crate::GcConfig::default() };
                let mut heap = crate::new_heap("cycle", alloc, &config, None).unwrap();
                let lists: Vec<Obj> = (0..11).map(|_| heap.list(0)).collect();
                assert_eq!(heap.stats().collections_by_gen, [0, 0, 0], "{}: scheduled, not run", self.0);
                heap.set_automatic(false);
                let one_more = heap.list(0);
                assert_eq!(heap.stats().collections_by_gen, self.1, "{}: after gc.disable()", self.0);
                let more: Vec<Obj> = (0..30).map(|_| heap.list(0)).collect();
                assert_eq!(
                    heap.stats().collections_by_gen,
                    self.1,
                    "{}: nothing scheduled while disabled",
                    self.0
                );
                heap.set_automatic(true);
                for list in lists.into_iter().chain(more).chain([one_more]) {
                    heap.release(list);
                }
            }
        }
        for (version, after) in [("3.12", [1, 0, 0]), ("3.13", [0, 0, 0])] {
            heaplab_alloc::with_allocator(
                "system",
                &heaplab_alloc::AllocConfig::default(),
                OnHeap(version, after),
            )
            .unwrap();
        }
    }

    /// From 3.12, a collection scheduled by a phase's last container runs at the phase
    /// boundary (the twin's `recorder.phase()` is a call, whose `RESUME` checks the eval
    /// breaker) and is counted in the phase that scheduled it. Up to 3.11 it ran inside the
    /// allocation. Releasing the lists first would have dropped generation 0's count to the
    /// threshold, and the check would then find nothing to collect (`gc_collect_generations`
    /// at 3.12, `gc_select_generation` at 3.13).
    #[test]
    fn a_collection_scheduled_last_in_a_phase_runs_at_its_boundary() {
        struct OnHeap(&'static str);
        impl heaplab_alloc::AllocVisitor for OnHeap {
            type Output = ();
            fn visit<A: Allocator + 'static>(self, alloc: A) {
                let name = self.0;
                let version = heaplab_core::version::find(name).unwrap();
                let config =
                    crate::GcConfig { thresholds: vec![10, 10, 10], version, ..crate::GcConfig::default() };
                let mut heap = crate::new_heap("cycle", alloc, &config, None).unwrap();
                heap.phase("build");
                let lists: Vec<Obj> = (0..11).map(|_| heap.list(0)).collect();
                let ran = u64::from(version.trigger == GcTrigger::InAllocation);
                assert_eq!(heap.stats().collections_by_gen, [ran, 0, 0], "{name}: after the 11th list");
                heap.phase("teardown");
                assert_eq!(heap.stats().collections_by_gen, [1, 0, 0], "{name}: at the phase boundary");
                for list in lists {
                    heap.release(list);
                }
                let (_, phases) = heap.finish();
                assert_eq!(phases[0].name, "build");
                assert_eq!(phases[0].collections, 1, "{name}: counted in the phase that scheduled it");
            }
        }
        for version in ["3.11", "3.12", "3.13"] {
            heaplab_alloc::with_allocator("system", &heaplab_alloc::AllocConfig::default(), OnHeap(version))
                .unwrap();
        }
    }

    #[test]
    fn outside_a_collection_counts_are_zero_and_generations_are_recorded() {
        with_cycle_heap(|heap| {
            let check = |heap: &dyn Heap, objs: &[Obj], generation: u8, when: &str| {
                for &obj in objs {
                    assert_eq!(layout::aux(obj), 0, "{when}: internal count of a {}", heap.kind(obj).name());
                    assert_eq!(
                        generation_of(obj),
                        usize::from(generation),
                        "{when}: generation of a {}",
                        heap.kind(obj).name()
                    );
                }
            };
            let holder = heap.list(0);
            let (a, b) = (heap.instance(1), heap.instance(1));
            heap.set(a, 0, Some(b));
            heap.set(b, 0, Some(a));
            heap.append(holder, a);
            heap.release(a);
            heap.release(b);
            let pair = heap.tuple(&[holder]);
            let (g1, g2) = (heap.instance(1), heap.instance(1));
            heap.set(g1, 0, Some(g2));
            heap.set(g2, 0, Some(g1));
            heap.release(g1);
            heap.release(g2);
            check(heap, &[holder, a, b, pair], 0, "new");

            heap.collect();
            check(heap, &[holder, a, b, pair], 2, "after a full collection");
            assert_eq!(heap.stats().live_objects, 4, "the garbage cycle is freed, the held one is not");

            // The first young list refers to an old one: generation 0's collection must count
            // references to its own objects only, and leave the old list's count alone.
            let mut young = vec![heap.list(0)];
            heap.append(young[0], holder);
            young.extend((0..700).map(|_| heap.list(0)));
            assert_eq!(heap.stats().collections_by_gen, [1, 0, 1], "the 701st list triggers generation 0");
            check(heap, &young[..700], 1, "after a collection of generation 0");
            check(heap, &young[700..], 0, "made after it");
            check(heap, &[holder, a, b], 2, "untouched by it");

            heap.freeze();
            check(heap, &young, PERMANENT as u8, "frozen");
            check(heap, &[holder, a, b, pair], PERMANENT as u8, "frozen");
            for list in young {
                heap.release(list);
            }
            heap.release(pair);
            heap.release(holder);
        });
    }

    #[test]
    fn lists_link_merge_and_count() {
        let heads = Heads::new(2);
        let (a, b) = (heads.get(0), heads.get(1));
        let nodes = Heads::new(4);
        let ids: Vec<Node> = (0..4).map(|index| nodes.get(index)).collect();
        list::push_back(a, ids[0]);
        list::push_back(a, ids[1]);
        list::push_back(b, ids[2]);
        list::push_back(b, ids[3]);
        list::unlink(ids[1]);
        list::merge(b, a);
        assert!(list::is_empty(b));
        assert_eq!(list::len(a), 3);
        assert_eq!(list::next(a), ids[0]);
        assert_eq!(list::next(ids[0]), ids[2]);
        assert_eq!(list::next(ids[3]), a);
    }
}
