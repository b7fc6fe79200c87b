//! `cycle`: reference counting plus CPython's generational cycle detector —
//! CPython's own configuration.
//!
//! Objects die by reference counting, exactly as under [`crate::refcount`].
//! Containers (tuples, lists, instances) also carry CPython's 16-byte
//! `PyGC_Head` in front of the object, which links them into one of three
//! generations (doubly linked lists, as in `Modules/gcmodule.c`) or the
//! permanent generation of `gc.freeze()`.
//!
//! A collection of generation `g` (CPython 3.11's `gc_collect_main`):
//! 1. merges the younger generations into `g`;
//! 2. copies each object's refcount into `gc_refs` and subtracts every
//!    reference that comes from inside the generation (`update_refs`,
//!    `subtract_refs`): what stays positive is referenced from outside;
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
//! Everything is iterative. `gc_refs` lives in the object's tag (32 bits)
//! rather than in the upper bits of `_gc_prev`, and the "collecting" and
//! "unreachable" marks are tag flags; the lists stay doubly linked
//! throughout. The figures are the same.
//!
//! Triggers as CPython 3.11's: allocating a container adds one to
//! generation 0's count and freeing one takes one off; when the count exceeds
//! threshold 0 (700) a collection runs, of the oldest generation whose count
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
//! Not modelled: finalizers, weak references, legacy `__del__`, and
//! untracking of dicts (heaplab has no dicts).

use std::ptr::NonNull;
use std::time::Instant;

use heaplab_core::object::GC_HEADER;
use heaplab_core::{Allocator, Capabilities, Kind, Obj};

use crate::object::{self as layout, FLAG_TRACKED};
use crate::refcount::{decref, incref};
use crate::runtime::{Core, Policy};

/// Tag flag: in the generation being collected (`PREV_MASK_COLLECTING`).
const FLAG_COLLECTING: u8 = 8;
/// Tag flag: set aside as tentatively unreachable (`NEXT_MASK_UNREACHABLE`).
const FLAG_UNREACHABLE: u8 = 16;

const GENERATIONS: usize = 3;
const PERMANENT: usize = 3;
const UNREACHABLE: usize = 4;

/// CPython 3.11's thresholds.
pub const THRESHOLDS_311: [u32; 3] = [700, 10, 10];
/// CPython 3.13's thresholds.
pub const THRESHOLDS_313: [u32; 3] = [2000, 10, 10];

/// A list head: the same two words as an object's `PyGC_Head`.
#[repr(C)]
#[derive(Debug)]
struct GcHead {
    next: u64,
    prev: u64,
}

/// Doubly linked lists of GC heads, addressed by integers as CPython's `_gc_next`/`_gc_prev` are.
///
/// Every address given to these functions is a list head of a `Cycle`
/// (boxed, so it never moves) or the GC head of a live, tracked container.
mod list {
    #[inline]
    pub(super) fn next(node: u64) -> u64 {
        // SAFETY: `node` is a list head or a live container's GC head (module contract); word 0 is `_gc_next`.
        unsafe { (node as *const u64).read() }
    }

    #[inline]
    fn prev(node: u64) -> u64 {
        // SAFETY: as in `next`; word 1 is `_gc_prev`.
        unsafe { (node as *const u64).add(1).read() }
    }

    #[inline]
    fn set_next(node: u64, value: u64) {
        // SAFETY: as in `next`; the collector owns these words.
        unsafe { (node as *mut u64).write(value) }
    }

    #[inline]
    fn set_prev(node: u64, value: u64) {
        // SAFETY: as in `next`.
        unsafe { (node as *mut u64).add(1).write(value) }
    }

    /// Makes `head` an empty list.
    pub(super) fn init(head: u64) {
        set_next(head, head);
        set_prev(head, head);
    }

    pub(super) fn is_empty(head: u64) -> bool {
        next(head) == head
    }

    /// Appends `node` to the list of `head`.
    #[inline]
    pub(super) fn push_back(head: u64, node: u64) {
        let last = prev(head);
        set_next(last, node);
        set_prev(node, last);
        set_next(node, head);
        set_prev(head, node);
    }

    /// Takes `node` out of whatever list it is in.
    #[inline]
    pub(super) fn unlink(node: u64) {
        let (before, after) = (prev(node), next(node));
        set_next(before, after);
        set_prev(after, before);
    }

    /// Moves every node of `from` to the end of `to`.
    pub(super) fn merge(from: u64, to: u64) {
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
    pub(super) fn len(head: u64) -> u64 {
        let mut n = 0;
        let mut node = next(head);
        while node != head {
            n += 1;
            node = next(node);
        }
        n
    }
}

#[inline]
fn head_of(obj: Obj) -> u64 {
    obj.addr() as u64 - GC_HEADER as u64
}

#[inline]
fn obj_of(node: u64) -> Obj {
    let ptr = NonNull::new((node + GC_HEADER as u64) as *mut u8).expect("a GC head is never at address 0");
    Obj::from_ptr(ptr)
}

#[inline]
fn has_flag(obj: Obj, flag: u8) -> bool {
    layout::flags(obj) & flag != 0
}

#[inline]
fn set_flag(obj: Obj, flag: u8, on: bool) {
    let flags = layout::flags(obj);
    layout::set_flags(obj, if on { flags | flag } else { flags & !flag });
}

/// The generational cycle detector's state (`struct _gc_runtime_state`).
#[derive(Debug)]
pub(crate) struct Cycle {
    /// Generations 0..3, the permanent generation, and the scratch list of the unreachable.
    heads: Box<[GcHead; 5]>,
    thresholds: [u32; GENERATIONS],
    counts: [u64; GENERATIONS],
    enabled: bool,
    collecting: bool,
    /// Tracked objects of the interpreter's own, counted as long-lived but never traversed.
    interpreter_objects: u64,
    long_lived_total: u64,
    long_lived_pending: u64,
    /// References taken out of a cleared object, waiting to be released.
    scratch: Vec<Obj>,
}

impl Cycle {
    /// A detector with these thresholds, counting `interpreter_objects`
    /// tracked objects of the interpreter's own as long-lived.
    pub(crate) fn new(thresholds: [u32; GENERATIONS], interpreter_objects: u64) -> Cycle {
        let cycle = Cycle {
            heads: Box::new(std::array::from_fn(|_| GcHead { next: 0, prev: 0 })),
            thresholds,
            counts: [0; GENERATIONS],
            enabled: true,
            collecting: false,
            interpreter_objects,
            long_lived_total: interpreter_objects,
            long_lived_pending: 0,
            scratch: Vec::new(),
        };
        for index in 0..cycle.heads.len() {
            list::init(cycle.head(index));
        }
        cycle
    }

    fn head(&self, index: usize) -> u64 {
        &self.heads[index] as *const GcHead as u64
    }

    /// Releases one reference, unlinking and uncounting containers that die.
    fn release<A: Allocator>(&mut self, core: &mut Core<A>, obj: Obj) {
        let counts = &mut self.counts;
        decref(core, obj, prefix, |dead| {
            if layout::kind(dead).is_container() {
                if has_flag(dead, FLAG_TRACKED) {
                    list::unlink(head_of(dead));
                }
                counts[0] = counts[0].saturating_sub(1);
            }
        });
    }

    /// `gc_collect_generations`: collects the oldest generation over its threshold.
    fn collect_generations<A: Allocator>(&mut self, core: &mut Core<A>) {
        for generation in (0..GENERATIONS).rev() {
            if self.counts[generation] > u64::from(self.thresholds[generation]) {
                if generation == GENERATIONS - 1 && self.long_lived_pending < self.long_lived_total / 4 {
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
        self.collecting = true;
        if generation + 1 < GENERATIONS {
            self.counts[generation + 1] += 1;
        }
        for count in &mut self.counts[..=generation] {
            *count = 0;
        }
        let young = self.head(generation);
        for younger in 0..generation {
            list::merge(self.head(younger), young);
        }
        let old = if generation + 1 < GENERATIONS { self.head(generation + 1) } else { young };
        let unreachable = self.head(UNREACHABLE);

        update_refs(young);
        subtract_refs(young);
        let n_survivors = move_unreachable_and_untrack_tuples(young, unreachable);

        if young != old {
            if generation == GENERATIONS - 2 {
                self.long_lived_pending += n_survivors;
            }
            list::merge(young, old);
        } else {
            self.long_lived_pending = 0;
            self.long_lived_total = n_survivors + self.interpreter_objects;
        }
        self.delete_garbage(core, unreachable, old);
        core.record_pause(generation, started);
        self.collecting = false;
    }

    /// Clears the references of every unreachable object, which frees them
    /// by reference counting; any that survive move to `old`.
    fn delete_garbage<A: Allocator>(&mut self, core: &mut Core<A>, unreachable: u64, old: u64) {
        while !list::is_empty(unreachable) {
            let node = list::next(unreachable);
            let obj = obj_of(node);
            set_flag(obj, FLAG_UNREACHABLE, false);
            self.clear(core, obj);
            if list::next(unreachable) == node {
                // Still alive: something outside the garbage kept it.
                set_flag(obj, FLAG_COLLECTING, false);
                list::unlink(node);
                list::push_back(old, node);
            }
        }
    }

    /// `tp_clear`: drops every reference a list or instance holds (tuples have no `tp_clear`).
    fn clear<A: Allocator>(&mut self, core: &mut Core<A>, obj: Obj) {
        let mut taken = std::mem::take(&mut self.scratch);
        match layout::kind(obj) {
            Kind::List => {
                let (len, cap) = layout::list_shape(obj);
                for index in 0..len {
                    taken.extend(layout::get_ref(obj, index));
                }
                let buffer = layout::buffer(obj).map(|(ptr, _)| ptr);
                layout::set_list_len(obj, 0);
                layout::set_list_buffer(obj, None, 0);
                core.free_buffer(buffer, cap * heaplab_core::object::WORD);
            }
            Kind::Instance => {
                for index in 0..layout::ref_count_of(obj) {
                    taken.extend(layout::put_ref(obj, index, None));
                }
            }
            _ => {}
        }
        // `obj` may die during these releases; it is not touched again.
        for item in taken.drain(..) {
            self.release(core, item);
        }
        self.scratch = taken;
    }
}

/// The collector header in front of an object of this kind.
fn prefix(kind: Kind) -> usize {
    if kind.is_container() { GC_HEADER } else { 0 }
}

/// `update_refs`: `gc_refs = refcount` for everything in `young`, marked as collecting.
fn update_refs(young: u64) {
    let mut node = list::next(young);
    while node != young {
        let obj = obj_of(node);
        let refcount = layout::word0(obj);
        layout::set_aux(obj, u32::try_from(refcount).unwrap_or(u32::MAX));
        set_flag(obj, FLAG_COLLECTING, true);
        node = list::next(node);
    }
}

/// `subtract_refs`: takes off every reference from inside `young`.
fn subtract_refs(young: u64) {
    let mut node = list::next(young);
    while node != young {
        layout::for_each_ref(obj_of(node), |child| {
            if has_flag(child, FLAG_COLLECTING) {
                layout::set_aux(child, layout::aux(child).saturating_sub(1));
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
/// one with `gc_refs == 0` is set aside, tentatively.
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
fn move_unreachable_and_untrack_tuples(young: u64, unreachable: u64) -> u64 {
    let mut n_survivors = 0;
    let mut node = list::next(young);
    while node != young {
        let obj = obj_of(node);
        if layout::aux(obj) > 0 {
            layout::for_each_ref(obj, |child| visit_reachable(child, young));
            set_flag(obj, FLAG_COLLECTING, false);
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

/// `visit_reachable`: `child` is reachable; bring it back if it was set aside.
#[inline]
fn visit_reachable(child: Obj, young: u64) {
    if !has_flag(child, FLAG_COLLECTING) || layout::aux(child) > 0 {
        return;
    }
    if has_flag(child, FLAG_UNREACHABLE) {
        set_flag(child, FLAG_UNREACHABLE, false);
        list::unlink(head_of(child));
        list::push_back(young, head_of(child));
    }
    layout::set_aux(child, 1);
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
            generations: GENERATIONS as u8,
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

    /// `_PyObject_GC_Link`: count the container, maybe collect, before it exists.
    #[inline]
    fn before_alloc(&mut self, core: &mut Core<A>, kind: Kind) {
        if !kind.is_container() {
            return;
        }
        self.counts[0] += 1;
        if self.counts[0] > u64::from(self.thresholds[0])
            && self.enabled
            && self.thresholds[0] != 0
            && !self.collecting
        {
            self.collect_generations(core);
        }
    }

    /// `_PyObject_GC_TRACK`: containers join generation 0.
    #[inline]
    fn on_create(&mut self, _core: &mut Core<A>, obj: Obj) {
        if layout::kind(obj).is_container() {
            set_flag(obj, FLAG_TRACKED, true);
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
        self.collect(core, GENERATIONS - 1);
    }

    fn set_automatic(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    /// `gc.freeze()`: every generation joins the permanent one; generation 0's count restarts.
    fn freeze(&mut self, _core: &mut Core<A>) {
        for generation in 0..GENERATIONS {
            list::merge(self.head(generation), self.head(PERMANENT));
        }
        self.counts[0] = 0;
    }

    fn finish(&mut self, core: &mut Core<A>) {
        self.collect(core, GENERATIONS - 1);
    }

    fn free_all(&mut self, _core: &mut Core<A>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_link_merge_and_count() {
        let mut nodes: Vec<GcHead> = (0..4).map(|_| GcHead { next: 0, prev: 0 }).collect();
        let mut heads: Vec<GcHead> = (0..2).map(|_| GcHead { next: 0, prev: 0 }).collect();
        let addr = |h: &GcHead| h as *const GcHead as u64;
        let (a, b) = (addr(&heads[0]), addr(&heads[1]));
        list::init(a);
        list::init(b);
        let ids: Vec<u64> = nodes.iter_mut().map(|n| addr(n)).collect();
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
        heads.clear();
    }
}
