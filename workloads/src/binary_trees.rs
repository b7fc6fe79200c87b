//! `binary-trees`: GCBench and the benchmarks game's binary-trees, on Python objects.
//!
//! What it models: a program that keeps one large structure alive for its
//! whole run while it builds and throws away many small ones — the
//! generational hypothesis in its purest form. In Python:
//!
//! ```python
//! class Node:
//!     __slots__ = ("left", "right")
//!
//! def make(depth):
//!     node = Node()
//!     if depth > 0:
//!         node.left, node.right = make(depth - 1), make(depth - 1)
//!     return node
//! ```
//!
//! `size` is the depth of the long-lived tree (a tree of depth `d` has
//! `2^(d+1) - 1` nodes). The short-lived trees have depths 4, 6, …, up to
//! `size` (only `size` itself when it is below 4), and there are
//! `2^(size - d + 4)` of depth `d`, so that every depth allocates about the
//! same number of nodes, `2^(size + 5)`.
//!
//! Each node is a 2-slot instance: 32 bytes under `refcount` and `marksweep`,
//! 48 with the `cycle` collector's GC header. At depth 18, the largest
//! default, the long-lived tree holds 524,287 nodes (25 MB with GC headers)
//! and one short-lived tree as many again, while the run allocates about 67
//! million nodes in all, 2.1 to 3.2 GB: what a `bump` allocator, which never
//! frees, has to hold. Depth 20 allocates 300 million (10 to 15 GB, at or past
//! the sweep's memory cap, half of a 24 GiB machine, under `bump`) and takes a
//! cycle collector over a minute and a half a run, so it is left to `--sizes`.
//!
//! What it stresses: the allocation and freeing fast paths of one size
//! class; for refcount, freeing a whole tree when its root goes; for
//! tracing collectors, how often the long-lived tree is traced again.
//!
//! Phases: `build` (the long-lived tree), `churn` (the short-lived trees,
//! each built, walked and dropped), `teardown` (the long-lived tree walked
//! and dropped).
//!
//! Checksum: for each depth, its iteration count and the number of nodes
//! counted by walking the trees; then the long-lived tree's node count.
//! `ops` is the number of nodes allocated.

use heaplab_core::{Checksum, Heap, Obj, Outcome, Params};

use crate::{Body, Family, Workload};

/// The registry entry.
pub const WORKLOAD: Workload = Workload {
    name: "binary-trees",
    family: Family::Object,
    summary: "GCBench: a long-lived binary tree and many short-lived ones of 2-slot instances",
    size_meaning: "depth of the long-lived tree (short-lived trees of depths 4, 6, ..., size)",
    quick_sizes: &[10, 12],
    default_sizes: &[10, 12, 14, 16, 18],
    threaded: false,
    body: Body::Heap(run),
};

/// The depth of the shallowest short-lived trees, as in the benchmarks game.
const MIN_DEPTH: u64 = 4;
/// The slot of a node's left child.
const LEFT: usize = 0;
/// The slot of a node's right child.
const RIGHT: usize = 1;

/// Runs the workload; see the module documentation.
pub fn run(heap: &mut dyn Heap, params: &Params) -> Outcome {
    run_with(heap, params, |heap| heap.instance(2))
}

/// Runs the workload with nodes made by `new_node` (a 2-slot instance here,
/// a 2-attribute `__dict__` object in `objects-dict`).
pub(crate) fn run_with(heap: &mut dyn Heap, params: &Params, new_node: fn(&mut dyn Heap) -> Obj) -> Outcome {
    let max_depth = params.size;
    let mut checksum = Checksum::new();
    let mut n_nodes_allocated = 0;

    heap.phase("build");
    let long_lived = make_tree(heap, max_depth, new_node);
    n_nodes_allocated += nodes_in_tree(max_depth);

    heap.phase("churn");
    for depth in short_lived_depths(max_depth) {
        let n_iterations = iterations(max_depth, depth);
        let mut n_nodes_counted = 0;
        for _ in 0..n_iterations {
            let tree = make_tree(heap, depth, new_node);
            n_nodes_counted += count_nodes(heap, tree);
            heap.release(tree);
        }
        n_nodes_allocated += n_iterations * nodes_in_tree(depth);
        checksum.word(depth);
        checksum.word(n_iterations);
        checksum.word(n_nodes_counted);
    }

    heap.phase("teardown");
    checksum.word(max_depth);
    checksum.word(count_nodes(heap, long_lived));
    heap.release(long_lived);

    Outcome { checksum: checksum.finish(), ops: n_nodes_allocated }
}

/// The depths of the short-lived trees for a long-lived tree of `max_depth`.
fn short_lived_depths(max_depth: u64) -> Vec<u64> {
    if max_depth < MIN_DEPTH {
        return vec![max_depth];
    }
    (MIN_DEPTH..=max_depth).step_by(2).collect()
}

/// How many short-lived trees of `depth` are built: `2^(max_depth - depth + 4)`.
fn iterations(max_depth: u64, depth: u64) -> u64 {
    1 << (max_depth - depth + MIN_DEPTH)
}

/// Nodes in a complete binary tree of `depth`.
fn nodes_in_tree(depth: u64) -> u64 {
    (1 << (depth + 1)) - 1
}

/// Builds a complete tree of `depth` bottom-up, children before their parent,
/// and returns an owned reference to its root.
fn make_tree(heap: &mut dyn Heap, depth: u64, new_node: fn(&mut dyn Heap) -> Obj) -> Obj {
    if depth == 0 {
        return new_node(heap);
    }
    let left = make_tree(heap, depth - 1, new_node);
    let right = make_tree(heap, depth - 1, new_node);
    let node = new_node(heap);
    heap.set(node, LEFT, Some(left));
    heap.set(node, RIGHT, Some(right));
    heap.release(left);
    heap.release(right);
    node
}

/// Counts the nodes of a tree by walking it (the benchmarks game's `check`).
fn count_nodes(heap: &dyn Heap, root: Obj) -> u64 {
    let mut n_nodes = 0;
    let mut to_visit = vec![root];
    while let Some(node) = to_visit.pop() {
        n_nodes += 1;
        to_visit.extend(heap.get(node, LEFT));
        to_visit.extend(heap.get(node, RIGHT));
    }
    n_nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lived_depths_step_by_two_from_four() {
        let check = |max_depth: u64, expected: &[u64]| {
            assert_eq!(short_lived_depths(max_depth), expected, "max depth {max_depth}");
        };
        check(1, &[1]);
        check(3, &[3]);
        check(4, &[4]);
        check(5, &[4]);
        check(6, &[4, 6]);
        check(10, &[4, 6, 8, 10]);
        check(11, &[4, 6, 8, 10]);
    }

    #[test]
    fn every_depth_allocates_about_the_same_number_of_nodes() {
        let check = |max_depth: u64, depth: u64, expected_iterations: u64| {
            assert_eq!(iterations(max_depth, depth), expected_iterations);
        };
        check(4, 4, 16);
        check(6, 4, 64);
        check(6, 6, 16);
        check(20, 4, 1 << 20);
        check(20, 20, 16);
        assert_eq!(nodes_in_tree(0), 1);
        assert_eq!(nodes_in_tree(4), 31);
        assert_eq!(nodes_in_tree(20), 2_097_151);
    }
}
