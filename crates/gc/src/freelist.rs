//! CPython's free lists: freed objects of a few types kept for reuse, above the allocator.
//!
//! A float, a short tuple, a list or dict object, a dict's smallest keys object (and from
//! 3.14 a one-digit int) that dies goes onto its type's free list while the list has room,
//! and the next object of that type is taken from it before the allocator is asked: the
//! limits and the rules of each release are in [`heaplab_core::version::FreeLists`], where
//! their sources are cited. A kept block stays allocated, so the allocator's pools and
//! arenas hold it after the workload has let go of everything, as CPython's do.
//!
//! The lists are intrusive, as CPython's are: a kept block's first word links the next
//! one and its second word keeps the block's size, so the lists cost nothing beside the
//! heap and the heap gives every block back to its allocator when it is dropped.

use std::ptr::NonNull;

use heaplab_core::object::{TUPLE_BASE, WORD};
use heaplab_core::version::FreeLists as Limits;
use heaplab_core::{Allocator, Kind};

/// Which free list a block belongs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    Float,
    Int,
    List,
    Dict,
    /// A keys object of 8 slots.
    Keys,
    /// A tuple of this many items (1 to 20).
    Tuple(usize),
}

/// The tuple lengths with a free list of their own.
const TUPLE_LENGTHS: usize = 20;
const SLOTS: usize = 5 + TUPLE_LENGTHS;

impl Slot {
    fn index(self) -> usize {
        match self {
            Slot::Float => 0,
            Slot::Int => 1,
            Slot::List => 2,
            Slot::Dict => 3,
            Slot::Keys => 4,
            Slot::Tuple(len) => 4 + len,
        }
    }

    /// The free list of a new object of `kind` and `size` bytes (its `slots` field: an
    /// int's digits), if its type has one.
    pub(crate) fn of_object(kind: Kind, size: usize, slots: u16) -> Option<Slot> {
        match kind {
            Kind::Float => Some(Slot::Float),
            Kind::Int if slots <= 1 => Some(Slot::Int),
            Kind::List => Some(Slot::List),
            Kind::Dict => Some(Slot::Dict),
            Kind::Tuple => {
                let len = (size - TUPLE_BASE) / WORD;
                (1..=TUPLE_LENGTHS).contains(&len).then_some(Slot::Tuple(len))
            }
            _ => None,
        }
    }
}

/// One type's list: its newest block and how many it holds.
#[derive(Clone, Copy, Default)]
struct List {
    head: Option<NonNull<u8>>,
    len: usize,
}

/// A heap's free lists.
pub(crate) struct FreeLists {
    lists: [List; SLOTS],
    /// How many each list may hold when a block dies.
    keep: [usize; SLOTS],
    /// Whether each list hands its blocks out again.
    reuse: [bool; SLOTS],
    /// Whether only unicode keys objects are kept.
    keys_unicode_only: bool,
}

impl FreeLists {
    pub(crate) fn new(limits: &Limits) -> FreeLists {
        let mut keep = [0; SLOTS];
        let mut reuse = [false; SLOTS];
        for (slot, limit) in [
            (Slot::Float, limits.floats),
            (Slot::Int, limits.ints),
            (Slot::List, limits.lists),
            (Slot::Dict, limits.dicts),
            (Slot::Keys, limits.dict_keys),
        ] {
            keep[slot.index()] = limit;
            reuse[slot.index()] = limit > 0;
        }
        for len in 1..=TUPLE_LENGTHS {
            let index = Slot::Tuple(len).index();
            keep[index] = if len <= limits.tuple_kept_len { limits.tuples } else { 0 };
            reuse[index] = len <= limits.tuple_reused_len && limits.tuples > 0;
        }
        FreeLists {
            lists: [List::default(); SLOTS],
            keep,
            reuse,
            keys_unicode_only: limits.dict_keys_unicode_only,
        }
    }

    /// Whether a keys object of `2^log2_size` slots, unicode or not, has a free list.
    pub(crate) fn keys_slot(&self, log2_size: u8, unicode: bool) -> Option<Slot> {
        (log2_size == 3 && (unicode || !self.keys_unicode_only)).then_some(Slot::Keys)
    }

    /// Whether a block of `slot` that dies now is kept.
    #[inline]
    pub(crate) fn keeps(&self, slot: Slot) -> bool {
        self.lists[slot.index()].len < self.keep[slot.index()]
    }

    /// Keeps a dying block of `bytes` bytes, if its list has room; `false` if the caller
    /// must free it.
    #[inline]
    pub(crate) fn keep(&mut self, slot: Slot, block: NonNull<u8>, bytes: usize) -> bool {
        if !self.keeps(slot) {
            return false;
        }
        debug_assert!(bytes >= 2 * WORD, "a block of {bytes} bytes cannot hold its link");
        let list = &mut self.lists[slot.index()];
        let next = list.head.map_or(std::ptr::null_mut(), NonNull::as_ptr);
        // SAFETY: the block is one the heap owns and no object uses any more, at least 16
        // bytes and 16-aligned (`heaplab_core::alloc::ALIGN`): its first two words are free
        // to hold the link and the size until `take` or `drain` hands it out again.
        unsafe {
            block.as_ptr().cast::<*mut u8>().write(next);
            block.as_ptr().cast::<usize>().add(1).write(bytes);
        }
        list.head = Some(block);
        list.len += 1;
        true
    }

    /// A kept block of `slot` of exactly `bytes` bytes, if the newest one is one and the
    /// release reuses this list.
    #[inline]
    pub(crate) fn take(&mut self, slot: Slot, bytes: usize) -> Option<NonNull<u8>> {
        if !self.reuse[slot.index()] {
            return None;
        }
        let list = &mut self.lists[slot.index()];
        let block = list.head?;
        // SAFETY: a kept block's first two words hold its link and its size (`keep`).
        let (next, size) = unsafe { read_link(block) };
        if size != bytes {
            // A list shared by blocks of two sizes (a dict object and a 3.8-3.10 `__dict__`'s
            // under a collector without a GC header) hands out only a block of the size asked.
            return None;
        }
        list.head = NonNull::new(next);
        list.len -= 1;
        Some(block)
    }

    /// Gives every kept block back to `alloc` (`_PyTuple_ClearFreeList` and its siblings).
    pub(crate) fn drain(&mut self, alloc: &mut impl Allocator) {
        for list in &mut self.lists {
            while let Some(block) = list.head {
                // SAFETY: the head of a list is a kept block.
                let (next, bytes) = unsafe { read_link(block) };
                // SAFETY: the block came from `alloc` with `bytes` bytes and was kept, not freed;
                // it leaves the list now and nothing else refers to it.
                unsafe { alloc.free(block, bytes) };
                list.head = NonNull::new(next);
                list.len -= 1;
            }
        }
    }
}

/// A kept block's link to the next one (a pointer, so that it keeps its provenance) and its size.
///
/// # Safety
/// `block` must be on a free list: `FreeLists::keep` wrote its first two words.
unsafe fn read_link(block: NonNull<u8>) -> (*mut u8, usize) {
    // SAFETY: the caller's contract: both words were written by `keep`, and the block is
    // 16-aligned and at least 16 bytes.
    unsafe { (block.as_ptr().cast::<*mut u8>().read(), block.as_ptr().cast::<usize>().add(1).read()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_keeps_to_its_limit_and_hands_out_only_its_size() {
        let limits = Limits { dicts: 2, ..Limits::NONE };
        let mut lists = FreeLists::new(&limits);
        let mut blocks = [[0u64; 8]; 3];
        let [a, b, c] = blocks.each_mut().map(|block| NonNull::from(block).cast::<u8>());
        assert!(lists.keep(Slot::Dict, a, 48));
        assert!(lists.keep(Slot::Dict, b, 64));
        assert!(!lists.keep(Slot::Dict, c, 48), "full at its limit");
        assert!(!lists.keep(Slot::Float, c, 24), "no float list");
        assert_eq!(lists.take(Slot::Dict, 48), None, "the newest block is of another size");
        assert_eq!(lists.take(Slot::Dict, 64), Some(b));
        assert_eq!(lists.take(Slot::Dict, 48), Some(a));
        assert_eq!(lists.take(Slot::Dict, 48), None, "empty");
    }

    #[test]
    fn slots_follow_the_object() {
        assert_eq!(Slot::of_object(Kind::Tuple, TUPLE_BASE + 3 * WORD, 0), Some(Slot::Tuple(3)));
        assert_eq!(Slot::of_object(Kind::Tuple, TUPLE_BASE + 21 * WORD, 0), None);
        assert_eq!(Slot::of_object(Kind::Tuple, TUPLE_BASE, 0), None, "the empty tuple");
        assert_eq!(Slot::of_object(Kind::Int, 28, 1), Some(Slot::Int));
        assert_eq!(Slot::of_object(Kind::Int, 32, 2), None, "two digits are not compact");
        assert_eq!(Slot::of_object(Kind::Instance, 24, 1), None);
        let lists = FreeLists::new(&heaplab_core::version::DEFAULT.free_lists);
        assert_eq!(lists.keys_slot(3, true), Some(Slot::Keys));
        assert_eq!(lists.keys_slot(3, false), None, "3.11 keeps unicode keys only");
        assert_eq!(lists.keys_slot(4, true), None, "16 slots are not the smallest");
    }
}
