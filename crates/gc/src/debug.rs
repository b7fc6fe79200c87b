//! Debug-build checks: every reference a workload passes is checked against
//! the live set, and freed memory is poisoned, so that a use after free or a
//! double release fails loudly, naming the object's kind and the operation.

use std::collections::HashMap;
use std::ptr::NonNull;

use heaplab_core::{Kind, Obj};

use crate::object as layout;

/// The byte freed memory is filled with.
pub(crate) const POISON: u8 = 0xdb;

/// The objects alive now and, for better messages, the kinds of those freed.
#[derive(Default)]
pub(crate) struct LiveSet {
    live: std::collections::HashSet<usize>,
    freed: HashMap<usize, Kind>,
}

impl LiveSet {
    /// Records a new object.
    pub(crate) fn born(&mut self, obj: Obj) {
        self.live.insert(obj.addr());
        self.freed.remove(&obj.addr());
    }

    /// Records an object about to be freed (its header is still intact).
    pub(crate) fn died(&mut self, obj: Obj) {
        let was_live = self.live.remove(&obj.addr());
        assert!(was_live, "freeing {obj:?}, which is not a live object");
        self.freed.insert(obj.addr(), layout::kind(obj));
    }

    /// Panics unless `obj` is live.
    pub(crate) fn check(&self, obj: Obj, operation: &str) {
        if self.live.contains(&obj.addr()) {
            return;
        }
        match self.freed.get(&obj.addr()) {
            Some(kind) => panic!("{operation}: use of a freed {} ({obj:?})", kind.name()),
            None => panic!("{operation}: {obj:?} is not an object of this heap"),
        }
    }
}

/// Fills `bytes` bytes at `ptr` with [`POISON`].
pub(crate) fn poison(ptr: NonNull<u8>, bytes: usize) {
    // SAFETY: the caller is about to free these `bytes` bytes, which it owns.
    unsafe { ptr.as_ptr().write_bytes(POISON, bytes) };
}
