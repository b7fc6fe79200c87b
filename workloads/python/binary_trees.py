"""binary-trees in Python: the twin of workloads/src/binary_trees.rs (GCBench, the benchmarks game).

A long-lived complete binary tree of depth N (phase ``build``); then, for
depths 4, 6, ..., N, ``2 ** (N - depth + 4)`` short-lived trees, each built,
walked and dropped (phase ``churn``); then the long-lived tree walked and
dropped (phase ``teardown``). Nodes are instances of a class with two
``__slots__`` (``objects-dict``: of a class without them). Leaves hold None in both slots, where heaplab's hold empty
slots: the same bytes, and no exception when a walk reads them.
"""

import heaplab_measure as measure

WORKLOADS = ("binary-trees", "objects-dict")
MIN_DEPTH = 4


class Node:
    __slots__ = ("left", "right")


class DictNode:
    """objects-dict's node: no __slots__, its attributes in (3.11) a values array with the class's shared keys."""


NODE = Node


def make_tree(depth):
    """A complete tree of ``depth``, children made before their parent."""
    if depth == 0:
        leaf = NODE()
        leaf.left = None
        leaf.right = None
        return leaf
    left = make_tree(depth - 1)
    right = make_tree(depth - 1)
    node = NODE()
    node.left = left
    node.right = right
    return node


def count_nodes(root):
    """Counts a tree's nodes by walking it."""
    n_nodes = 0
    to_visit = [root]
    while to_visit:
        node = to_visit.pop()
        n_nodes += 1
        if node.left is not None:
            to_visit.append(node.left)
        if node.right is not None:
            to_visit.append(node.right)
    return n_nodes


def short_lived_depths(max_depth):
    if max_depth < MIN_DEPTH:
        return [max_depth]
    return list(range(MIN_DEPTH, max_depth + 1, 2))


def nodes_in_tree(depth):
    return (1 << (depth + 1)) - 1


def main():
    args = measure.parse_args(__doc__, WORKLOADS)
    checksum = measure.checksum_for(args)
    max_depth = args.size
    global NODE
    NODE = DictNode if args.workload == "objects-dict" else Node
    n_nodes_allocated = 0

    recorder = measure.Recorder(args)

    recorder.phase("build")
    long_lived = make_tree(max_depth)
    n_nodes_allocated += nodes_in_tree(max_depth)

    recorder.phase("churn")
    depths = short_lived_depths(max_depth)
    for depth_index in range(len(depths)):
        depth = depths[depth_index]
        n_iterations = 1 << (max_depth - depth + MIN_DEPTH)
        n_nodes_counted = 0
        for _ in range(n_iterations):
            tree = make_tree(depth)
            n_nodes_counted += count_nodes(tree)
            tree = None
        n_nodes_allocated += n_iterations * nodes_in_tree(depth)
        checksum.word(depth)
        checksum.word(n_iterations)
        checksum.word(n_nodes_counted)

    recorder.phase("teardown")
    recorder.sizeof("object" if NODE is DictNode else "instance", long_lived, 2)
    checksum.word(max_depth)
    checksum.word(count_nodes(long_lived))
    long_lived = None

    recorder.finish(checksum, ops=n_nodes_allocated)


if __name__ == "__main__":
    main()
