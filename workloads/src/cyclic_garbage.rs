//! `cyclic-garbage`: rings and parent-pointer trees, built in batches and dropped.
//!
//! What it models: the object graphs that reference counting alone cannot
//! free — doubly linked structures, parent pointers, objects that refer to
//! themselves — made and abandoned continually, as a program that builds
//! ASTs, DOM-like trees or graph nodes does. In Python:
//!
//! ```python
//! class RingNode:
//!     __slots__ = ("next", "value")
//!
//! class TreeNode:
//!     __slots__ = ("parent", "children", "value")
//!     def __init__(self, parent, value):
//!         self.parent, self.children, self.value = parent, [], value
//!         if parent is not None:
//!             parent.children.append(self)
//! ```
//!
//! `size` is the number of nodes built in total: half of them in rings of
//! 1 to 32 nodes (a ring of one points at itself), linked through `next`,
//! the other half in trees of 2 to 64 nodes, each node attached to a random
//! earlier node of its tree. Every node is part of a cycle — a ring, or a
//! parent and the list of its children — except in the one-node tree that
//! sizes 1 and 2 leave room for. Structures are built in batches of about
//! 4,096 nodes; each batch is walked (the checksum) and then dropped.
//!
//! Every node holds an int, and a tree node a list of its children too. In
//! bytes requested, a ring node costs 60 (instance and int), a tree node
//! about 125 (instance, list, list buffer and int); the `cycle` collector's
//! GC headers add 16 a container, to 76 and about 157. At 16 million nodes
//! pure refcount leaks about 1.5 GB, while the collectors that find cycles
//! need only a few batches' worth at a time.
//!
//! What it stresses: the cycle detector (every batch becomes garbage only a
//! cycle collector can find) and the tracing collector's sweep; pure
//! refcount leaks every node, and the heap's teardown reports them in
//! `leaked_bytes`.
//!
//! Phases: `rings`, then `trees`; each builds, walks and drops its batches.
//!
//! Checksum: for each ring its length and the sum of its values, read by
//! following `next` back to the start; for each tree, in depth-first order,
//! each node's value and number of children (every child's `parent` is
//! checked to be its parent). `ops` is the number of nodes built.

use heaplab_core::{Checksum, Heap, Obj, Outcome, Params, Rng};

use crate::{Body, Family, Workload};

/// The registry entry.
pub const WORKLOAD: Workload = Workload {
    name: "cyclic-garbage",
    family: Family::Object,
    summary: "rings and parent-pointer trees of instances, built in batches and dropped: garbage only a cycle collector frees",
    size_meaning: "nodes built in total (half in rings, half in trees)",
    quick_sizes: &[20_000, 100_000],
    default_sizes: &[1_000_000, 2_000_000, 4_000_000, 8_000_000, 16_000_000],
    threaded: false,
    body: Body::Heap(run),
};

/// Nodes in a batch: built, kept while the batch is built and walked, then dropped.
const BATCH_NODES: u64 = 4096;
/// The longest ring.
const MAX_RING_NODES: u64 = 32;
/// The smallest tree: a root and one child, which point at each other.
const MIN_TREE_NODES: u64 = 2;
/// The largest tree.
const MAX_TREE_NODES: u64 = 64;

/// A ring node's slot for the next node.
const RING_NEXT: usize = 0;
/// A ring node's slot for its int.
const RING_VALUE: usize = 1;
/// A ring node's number of slots.
const RING_SLOTS: usize = 2;

/// A tree node's slot for its parent (empty at the root).
const TREE_PARENT: usize = 0;
/// A tree node's slot for the list of its children.
const TREE_CHILDREN: usize = 1;
/// A tree node's slot for its int.
const TREE_VALUE: usize = 2;
/// A tree node's number of slots.
const TREE_SLOTS: usize = 3;

/// Runs the workload; see the module documentation.
pub fn run(heap: &mut dyn Heap, params: &Params) -> Outcome {
    let mut rng = Rng::new(params.seed);
    let mut checksum = Checksum::new();
    let n_ring_nodes = params.size / 2;
    let n_tree_nodes = params.size - n_ring_nodes;
    let mut next_value = 0;

    heap.phase("rings");
    let mut n_left = n_ring_nodes;
    while n_left > 0 {
        let mut batch = Vec::new();
        let mut n_in_batch = 0;
        while n_left > 0 && n_in_batch < BATCH_NODES {
            let n_nodes = (1 + rng.below(MAX_RING_NODES)).min(n_left);
            batch.push(make_ring(heap, n_nodes, &mut next_value));
            n_left -= n_nodes;
            n_in_batch += n_nodes;
        }
        for &ring in &batch {
            digest_ring(heap, ring, &mut checksum);
        }
        for ring in batch {
            heap.release(ring);
        }
    }

    heap.phase("trees");
    let mut n_left = n_tree_nodes;
    while n_left > 0 {
        let mut batch = Vec::new();
        let mut n_in_batch = 0;
        while n_left > 0 && n_in_batch < BATCH_NODES {
            let n_nodes = tree_nodes(MIN_TREE_NODES + rng.below(MAX_TREE_NODES - MIN_TREE_NODES + 1), n_left);
            batch.push(make_tree(heap, n_nodes, &mut rng, &mut next_value));
            n_left -= n_nodes;
            n_in_batch += n_nodes;
        }
        for &root in &batch {
            digest_tree(heap, root, &mut checksum);
        }
        for root in batch {
            heap.release(root);
        }
    }

    Outcome { checksum: checksum.finish(), ops: params.size }
}

/// Builds a ring of `n_nodes` nodes holding consecutive values and returns
/// an owned reference to its first node.
fn make_ring(heap: &mut dyn Heap, n_nodes: u64, next_value: &mut i64) -> Obj {
    let first = make_ring_node(heap, next_value);
    let mut last = first;
    for _ in 1..n_nodes {
        let node = make_ring_node(heap, next_value);
        heap.set(last, RING_NEXT, Some(node));
        // The ring, held through `first`, keeps the node alive from here on.
        heap.release(node);
        last = node;
    }
    heap.set(last, RING_NEXT, Some(first));
    first
}

/// A new ring node holding the next value, not yet linked; an owned reference.
fn make_ring_node(heap: &mut dyn Heap, next_value: &mut i64) -> Obj {
    let node = heap.instance(RING_SLOTS);
    let value = heap.int(*next_value);
    *next_value += 1;
    heap.set(node, RING_VALUE, Some(value));
    heap.release(value);
    node
}

/// Follows a ring from `first` back to `first`, mixing in its length and the sum of its values.
fn digest_ring(heap: &dyn Heap, first: Obj, checksum: &mut Checksum) {
    let mut n_nodes = 0;
    let mut sum_of_values = 0i64;
    let mut node = first;
    loop {
        n_nodes += 1;
        assert!(n_nodes <= MAX_RING_NODES, "a ring longer than any built: its links are broken");
        let value = heap.get(node, RING_VALUE).expect("a ring node without a value");
        sum_of_values = sum_of_values.wrapping_add(heap.int_value(value));
        node = heap.get(node, RING_NEXT).expect("a ring node without a next node");
        if node == first {
            break;
        }
    }
    checksum.word(n_nodes);
    checksum.word(sum_of_values as u64);
}

/// The nodes of the next tree: `drawn`, or fewer where fewer are left, but
/// never so many that a single node would be left for a last tree: a lone
/// node has no parent pointer to make a cycle with.
fn tree_nodes(drawn: u64, n_left: u64) -> u64 {
    let n_nodes = drawn.min(n_left);
    if n_left - n_nodes == 1 { n_nodes + 1 } else { n_nodes }
}

/// Builds a tree of `n_nodes` nodes, each attached to a random earlier node,
/// and returns an owned reference to its root.
fn make_tree(heap: &mut dyn Heap, n_nodes: u64, rng: &mut Rng, next_value: &mut i64) -> Obj {
    let root = make_tree_node(heap, None, next_value);
    // Borrowed references: the tree, held through `root`, keeps them alive.
    let mut nodes = vec![root];
    for n_built in 1..n_nodes {
        let parent = nodes[rng.below(n_built) as usize];
        let child = make_tree_node(heap, Some(parent), next_value);
        heap.release(child);
        nodes.push(child);
    }
    root
}

/// A new tree node holding the next value, appended to its parent's
/// children if it has a parent; an owned reference.
fn make_tree_node(heap: &mut dyn Heap, parent: Option<Obj>, next_value: &mut i64) -> Obj {
    let node = heap.instance(TREE_SLOTS);
    let children = heap.list(0);
    heap.set(node, TREE_CHILDREN, Some(children));
    heap.release(children);
    let value = heap.int(*next_value);
    *next_value += 1;
    heap.set(node, TREE_VALUE, Some(value));
    heap.release(value);
    if let Some(parent) = parent {
        heap.set(node, TREE_PARENT, Some(parent));
        let siblings = heap.get(parent, TREE_CHILDREN).expect("a tree node without its children list");
        heap.append(siblings, node);
    }
    node
}

/// Walks a tree depth-first from `root`, checking every parent pointer and
/// mixing in each node's value and number of children.
fn digest_tree(heap: &dyn Heap, root: Obj, checksum: &mut Checksum) {
    assert_eq!(heap.get(root, TREE_PARENT), None, "a root with a parent");
    let mut n_nodes = 0;
    let mut to_visit = vec![root];
    while let Some(node) = to_visit.pop() {
        n_nodes += 1;
        let value = heap.get(node, TREE_VALUE).expect("a tree node without a value");
        let children = heap.get(node, TREE_CHILDREN).expect("a tree node without its children list");
        let n_children = heap.len(children);
        checksum.word(heap.int_value(value) as u64);
        checksum.word(n_children as u64);
        for index in 0..n_children {
            let child = heap.get(children, index).expect("a hole in a children list");
            assert_eq!(heap.get(child, TREE_PARENT), Some(node), "a child that points at another parent");
            to_visit.push(child);
        }
    }
    checksum.word(n_nodes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_tree_is_left_with_a_single_node() {
        let check = |drawn: u64, n_left: u64, expected: u64| {
            assert_eq!(tree_nodes(drawn, n_left), expected, "{drawn} drawn, {n_left} left");
        };
        check(10, 100, 10);
        check(10, 12, 10);
        check(10, 11, 11);
        check(10, 10, 10);
        check(10, 3, 3);
        check(2, 3, 3);
        check(64, 1, 1);
    }
}
