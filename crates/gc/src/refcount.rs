//! `refcount`: pure reference counting, CPython without its cycle detector.
//!
//! Every reference — the workload's and every container's — is counted in
//! header word 0 (`ob_refcnt`); an object is freed the moment its count
//! reaches zero, and what it references is released in turn. Freeing is
//! iterative, never recursive: objects whose count reaches zero are chained
//! through their (now unused) count word into a stack and freed one by one,
//! so a list nested a million deep frees without growing the call stack —
//! CPython needs its "trashcan" mechanism for the same reason.
//!
//! Cycles are never freed. At teardown, after the workload has released every
//! reference it owned, whatever is still held is unreachable by construction
//! and is reported as `leaked_bytes`.
//!
//! Where this differs from CPython: no immortal or cached objects (small ints,
//! the empty tuple), no per-type free lists; every object is freed to the
//! allocator at once.

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
#[inline]
pub(crate) fn decref<A: Allocator>(
    core: &mut Core<A>,
    obj: Obj,
    prefix: impl Fn(Kind) -> usize,
    mut on_free: impl FnMut(Obj),
) {
    let count = layout::word0(obj);
    debug_assert!(count > 0, "{obj:?} released below zero");
    if count > 1 {
        layout::set_word0(obj, count - 1);
        return;
    }
    // The count word of a dead object links it into the stack of objects to free (0 ends it).
    layout::set_word0(obj, 0);
    let mut top = Some(obj);
    while let Some(dead) = top {
        top = std::ptr::NonNull::new(layout::word0(dead) as *mut u8).map(Obj::from_ptr);
        layout::for_each_ref(dead, |child| {
            let count = layout::word0(child);
            debug_assert!(count > 0, "{child:?} released below zero");
            if count > 1 {
                layout::set_word0(child, count - 1);
            } else {
                layout::set_word0(child, top.map_or(0, |t| t.addr() as u64));
                top = Some(child);
            }
        });
        on_free(dead);
        let kind = layout::kind(dead);
        core.free_object(dead, prefix(kind));
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
    fn before_alloc(&mut self, _core: &mut Core<A>, _kind: Kind) {}

    #[inline]
    fn on_create(&mut self, _core: &mut Core<A>, _obj: Obj) {}

    #[inline]
    fn own(&mut self, _core: &mut Core<A>, obj: Obj) {
        incref(obj);
    }

    #[inline]
    fn disown(&mut self, core: &mut Core<A>, obj: Obj) {
        decref(core, obj, |_| 0, |_| ());
    }

    #[inline]
    fn hold(&mut self, _core: &mut Core<A>, obj: Obj) {
        incref(obj);
    }

    #[inline]
    fn unhold(&mut self, core: &mut Core<A>, obj: Obj) {
        decref(core, obj, |_| 0, |_| ());
    }

    fn collect(&mut self, _core: &mut Core<A>) {}

    fn set_automatic(&mut self, _enabled: bool) {}

    fn freeze(&mut self, _core: &mut Core<A>) {}

    fn finish(&mut self, _core: &mut Core<A>) {}

    fn free_all(&mut self, _core: &mut Core<A>) {}
}
