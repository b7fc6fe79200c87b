//! `objects-dict`: `binary-trees` with nodes that are instances of a class
//! without `__slots__`, whose attributes live in a `__dict__`.
//!
//! What it models: the same program as `binary-trees` written as most
//! Python is written — `class Node: def __init__(self): self.left = None;
//! self.right = None` — so that the cost of `__dict__` instances against
//! `__slots__` ones shows on the same work. In Python:
//!
//! ```python
//! class Node:                       # no __slots__
//!     pass
//!
//! def make(depth):
//!     node = Node()
//!     node.left, node.right = ..., ...
//!     return node
//! ```
//!
//! CPython 3.11 keeps such attributes in a values array beside the object,
//! its keys shared by the class (`init_inline_values` in
//! `Objects/dictobject.c`); no dict object is made unless `__dict__` is
//! asked for. A node is then 56 bytes (header, `__weakref__`, the two
//! pre-header words and the GC header) plus a values array of 32 bytes (8
//! bytes of insertion order and 3 slots: the class's two attributes and the
//! one spare `dk_usable` keeps), 88 bytes an instance under `cycle` as
//! tracemalloc measures in CPython 3.11.7, against 48 for a `__slots__` node.
//!
//! `size` is the depth of the long-lived tree, as for `binary-trees`; the
//! short-lived trees and the checksum are the same, so both workloads give
//! the same checksum.
//!
//! What it stresses: two allocations a node instead of one (the object in
//! the 64-byte class, its values in the 32-byte class), and the same
//! collections as `binary-trees` (each object is one tracked container).
//!
//! Phases: `build`, `churn`, `teardown`, as `binary-trees`.
//!
//! Checksum: as `binary-trees`. `ops` is the number of nodes allocated.

use heaplab_core::{Heap, Outcome, Params};

use crate::{Body, Family, Workload};

/// The registry entry.
pub const WORKLOAD: Workload = Workload {
    name: "objects-dict",
    family: Family::Object,
    summary: "binary-trees with __dict__ instances (3.11's values arrays and shared keys) instead of __slots__",
    size_meaning: crate::binary_trees::WORKLOAD.size_meaning,
    quick_sizes: &[10, 12],
    default_sizes: &[10, 12, 14, 16, 18],
    threaded: false,
    body: Body::Heap(run),
};

/// Runs the workload; see the module documentation.
pub fn run(heap: &mut dyn Heap, params: &Params) -> Outcome {
    crate::binary_trees::run_with(heap, params, |heap| heap.object(2))
}
