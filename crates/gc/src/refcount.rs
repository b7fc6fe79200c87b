//! `refcount`: pure reference counting, CPython without its cycle detector.
//!
//! Every reference — the workload's and every container's — is counted in
//! header word 0 (`ob_refcnt`); an object is freed the moment its count
//! reaches zero, and what it references is released in turn, in CPython's
//! order (see [`decref`]). Freeing is iterative, never recursive: dying
//! containers are chained through their (now unused) count word into a
//! stack, so a list nested a million deep frees without growing the call
//! stack — CPython needs its "trashcan" mechanism for the same reason.
//!
//! Cycles are never freed. At teardown, after the workload has released every
//! reference it owned, whatever is still held is unreachable by construction
//! and is reported as `leaked_bytes`.
//!
//! Where this differs from CPython: no immortal or cached objects (small ints,
//! the empty tuple). Every object dies at once, onto its type's free list
//! where CPython keeps one ([`crate::freelist`]), else back to the allocator.

use heaplab_core::{Allocator, Capabilities, Kind, Obj};

use crate::object as layout;
use crate::runtime::{Core, Policy};

/// The pure reference-counting collector.
#[derive(Debug, Default)]
pub(crate) struct RefCount;

/// Releases one counted reference to `obj`, freeing it and, iteratively, all
/// it alone kept alive when the count reaches zero. `prefix` gives the
/// collector header in front of each kind, and `on_free` runs on each object
/// just before it is freed (the cycle collector unlinks it there).
///
/// The order is CPython's recursive one, without the recursion: a dying
/// container releases its references in the order of
/// [`layout::for_each_ref`] (a list's or tuple's items last to first, an
/// instance's slots first to last: `list_dealloc`, `tupledealloc`,
/// `subtype_dealloc`'s `clear_slots`), each one freed with everything it alone
/// held before the next is released, and the container itself is freed last.
/// That is the order in which blocks go back to the allocator, and so which
/// blocks pymalloc hands out next. Dying containers wait on a stack linked
/// through their (now unused) count word, each with the position of its next
/// reference in its tag's 32-bit field. CPython's trashcan (`Py_TRASHCAN_BEGIN`)
/// defers deallocations nested more than 50 deep; this stack has no depth
/// limit, so only structures nested deeper than that free in another order.
#[inline]
pub(crate) fn decref<A: Allocator>(
    core: &mut Core<A>,
    obj: Obj,
    prefix: impl Fn(Kind) -> usize,
    mut on_free: impl FnMut(Obj, u64),
) {
    let count = layout::word0(obj);
    debug_assert!(count > 0, "{obj:?} released below zero");
    if count > 1 {
        layout::set_word0(obj, count - 1);
        return;
    }
    // The containers being dismantled, innermost first, linked through word 0 (0 ends it).
    let mut top: Option<Obj> = None;
    let mut dying = obj;
    loop {
        let kind = layout::kind(dying);
        if kind.is_container() && layout::ref_count_of(dying) > 0 {
            layout::set_word0(dying, top.map_or(0, |t| t.addr() as u64));
            layout::set_aux(dying, 0);
            top = Some(dying);
        } else {
            on_free(dying, core.gc_frees(dying));
            core.free_object(dying, prefix(kind));
        }
        // The next reference to release, from the innermost container that has one left.
        dying = loop {
            let Some(container) = top else { return };
            let len = layout::ref_count_of(container);
            let position = layout::aux(container) as usize;
            if position == len {
                // SAFETY: word 0 of a dying container links the next one down, or is 0.
                top = unsafe { layout::obj_at(layout::word0(container)) };
                on_free(container, core.gc_frees(container));
                core.free_object(container, prefix(layout::kind(container)));
                continue;
            }
            let next = u32::try_from(position + 1).expect("a container of at most 2^32 references");
            layout::set_aux(container, next);
            let Some(child) = layout::ref_in_order(container, position, len) else { continue };
            let count = layout::word0(child);
            debug_assert!(count > 0, "{child:?} released below zero");
            if count > 1 {
                layout::set_word0(child, count - 1);
            } else {
                break child;
            }
        };
    }
}

/// Takes one counted reference to `obj`.
#[inline]
pub(crate) fn incref(obj: Obj) {
    layout::set_word0(obj, layout::word0(obj) + 1);
}

impl<A: Allocator> Policy<A> for RefCount {
    const NAME: &'static str = "refcount";

    fn capabilities(&self) -> Capabilities {
        Capabilities { refcounting: true, ..Capabilities::default() }
    }

    #[inline]
    fn prefix(&self, _kind: Kind) -> usize {
        0
    }

    #[inline]
    fn initial_word0(&self) -> u64 {
        1
    }

    #[inline]
    fn after_alloc(&mut self, _core: &mut Core<A>, _kind: Kind, _recycled: bool) {}

    #[inline]
    fn on_create(&mut self, _core: &mut Core<A>, _obj: Obj) {}

    #[inline]
    fn own(&mut self, _core: &mut Core<A>, obj: Obj) {
        incref(obj);
    }

    #[inline]
    fn disown(&mut self, core: &mut Core<A>, obj: Obj) {
        decref(core, obj, |_| 0, |_, _| ());
    }

    #[inline]
    fn hold(&mut self, _core: &mut Core<A>, obj: Obj) {
        incref(obj);
    }

    #[inline]
    fn unhold(&mut self, core: &mut Core<A>, obj: Obj) {
        decref(core, obj, |_| 0, |_, _| ());
    }

    fn collect(&mut self, _core: &mut Core<A>) {}

    fn set_automatic(&mut self, _enabled: bool) {}

    fn freeze(&mut self, _core: &mut Core<A>) {}

    fn finish(&mut self, _core: &mut Core<A>) {}

    fn free_all(&mut self, _core: &mut Core<A>) {}
}
