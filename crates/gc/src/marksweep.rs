//! `marksweep`: a non-moving tracing collector.
//!
//! No counts on edges: storing into a container costs nothing. The
//! workload's owned references are the root set — what a real VM finds on its
//! stack — kept as a vector of rooted objects, each with the number of owned
//! references to it; an object's tag holds its index there. Every object is
//! linked into one list through header word 0, so the sweep can find the dead.
//!
//! A collection marks from the roots with an explicit stack (never
//! recursion), then walks the object list, freeing what is unmarked and
//! clearing the marks of the rest.
//!
//! Pacing: a collection runs before an allocation once the bytes allocated
//! since the last collection exceed `(growth - 1) x` the live bytes it left
//! (at least `min_budget` bytes), so the heap peaks near `growth x` live.
//! `growth` defaults to 2.0 and is a parameter for heap-size sweeps.

use std::time::Instant;

use heaplab_core::{Allocator, Capabilities, Kind, Obj};

use crate::object::{self as layout, FLAG_MARKED};
use crate::runtime::{Core, Policy};

const NOT_ROOTED: u32 = u32::MAX;

/// The mark-sweep collector.
#[derive(Debug)]
pub(crate) struct MarkSweep {
    /// Heap growth factor between collections.
    growth: f64,
    /// The smallest allocation budget between collections, in bytes.
    min_budget: u64,
    /// Head of the list of every object (0 when empty).
    all_objects: u64,
    /// Rooted objects and how many owned references each has.
    roots: Vec<(Obj, u32)>,
    /// The marking stack, kept between collections to avoid reallocating it.
    mark_stack: Vec<Obj>,
    /// `allocated_bytes` after the last collection.
    allocated_at_last: u64,
    /// Bytes that may be allocated before the next collection.
    budget: u64,
    automatic: bool,
}

impl MarkSweep {
    pub(crate) fn new(growth: f64, min_budget: u64) -> MarkSweep {
        assert!(growth > 1.0, "the growth factor must exceed 1 (got {growth})");
        MarkSweep {
            growth,
            min_budget,
            all_objects: 0,
            roots: Vec::new(),
            mark_stack: Vec::new(),
            allocated_at_last: 0,
            budget: min_budget,
            automatic: true,
        }
    }

    fn mark_from_roots(&mut self) {
        let stack = &mut self.mark_stack;
        for &(root, _) in &self.roots {
            push_unmarked(stack, root);
        }
        while let Some(obj) = stack.pop() {
            layout::for_each_ref(obj, |child| push_unmarked(stack, child));
        }
    }

    fn sweep<A: Allocator>(&mut self, core: &mut Core<A>) {
        let mut prev: Option<Obj> = None;
        let mut cursor = self.all_objects;
        // SAFETY: the all-objects list links live objects of this heap through word 0, 0 ending it.
        while let Some(obj) = unsafe { layout::obj_at(cursor) } {
            cursor = layout::word0(obj);
            let flags = layout::flags(obj);
            if flags & FLAG_MARKED != 0 {
                layout::set_flags(obj, flags & !FLAG_MARKED);
                prev = Some(obj);
            } else {
                match prev {
                    Some(p) => layout::set_word0(p, cursor),
                    None => self.all_objects = cursor,
                }
                core.free_object(obj, 0);
            }
        }
    }

    fn run_collection<A: Allocator>(&mut self, core: &mut Core<A>) {
        let started = Instant::now();
        self.mark_from_roots();
        self.sweep(core);
        core.record_pause(0, started);
        self.allocated_at_last = core.stats.allocated_bytes;
        let target = (self.growth - 1.0) * core.stats.live_bytes as f64;
        self.budget = (target as u64).max(self.min_budget);
    }
}

#[inline]
fn push_unmarked(stack: &mut Vec<Obj>, obj: Obj) {
    let flags = layout::flags(obj);
    if flags & FLAG_MARKED == 0 {
        layout::set_flags(obj, flags | FLAG_MARKED);
        if layout::kind(obj).is_container() {
            stack.push(obj);
        }
    }
}

impl<A: Allocator> Policy<A> for MarkSweep {
    const NAME: &'static str = "marksweep";

    fn capabilities(&self) -> Capabilities {
        Capabilities { can_disable: true, reclaims_cycles: true, generations: 1, ..Capabilities::default() }
    }

    #[inline]
    fn prefix(&self, _kind: Kind) -> usize {
        0
    }

    #[inline]
    fn initial_word0(&self) -> u64 {
        self.all_objects
    }

    #[inline]
    fn after_alloc(&mut self, core: &mut Core<A>, _kind: Kind, _recycled: bool) {
        if self.automatic && core.stats.allocated_bytes - self.allocated_at_last > self.budget {
            self.run_collection(core);
        }
    }

    #[inline]
    fn on_create(&mut self, _core: &mut Core<A>, obj: Obj) {
        // The header's word 0 already links to the old head (`initial_word0`).
        self.all_objects = obj.addr() as u64;
        layout::set_aux(obj, self.roots.len() as u32);
        self.roots.push((obj, 1));
    }

    #[inline]
    fn own(&mut self, _core: &mut Core<A>, obj: Obj) {
        let index = layout::aux(obj);
        if index == NOT_ROOTED {
            layout::set_aux(obj, self.roots.len() as u32);
            self.roots.push((obj, 1));
        } else {
            self.roots[index as usize].1 += 1;
        }
    }

    #[inline]
    fn disown(&mut self, _core: &mut Core<A>, obj: Obj) {
        let index = layout::aux(obj);
        assert!(index != NOT_ROOTED, "release of {obj:?}, which the workload does not own");
        let entry = &mut self.roots[index as usize];
        entry.1 -= 1;
        if entry.1 == 0 {
            self.roots.swap_remove(index as usize);
            layout::set_aux(obj, NOT_ROOTED);
            if let Some(&(moved, _)) = self.roots.get(index as usize) {
                layout::set_aux(moved, index);
            }
        }
    }

    #[inline]
    fn hold(&mut self, _core: &mut Core<A>, _obj: Obj) {}

    #[inline]
    fn unhold(&mut self, _core: &mut Core<A>, _obj: Obj) {}

    fn collect(&mut self, core: &mut Core<A>) {
        self.run_collection(core);
    }

    fn set_automatic(&mut self, enabled: bool) {
        self.automatic = enabled;
    }

    fn freeze(&mut self, _core: &mut Core<A>) {}

    fn finish(&mut self, core: &mut Core<A>) {
        self.run_collection(core);
    }

    fn free_all(&mut self, core: &mut Core<A>) {
        let mut cursor = std::mem::take(&mut self.all_objects);
        // SAFETY: as in `sweep`.
        while let Some(obj) = unsafe { layout::obj_at(cursor) } {
            cursor = layout::word0(obj);
            core.free_object(obj, 0);
        }
        self.roots.clear();
    }
}
