"""cyclic-garbage in Python: the twin of workloads/src/cyclic_garbage.rs.

Half of N nodes in rings of 1 to 32 nodes linked through ``next`` (phase
``rings``), the other half in trees of 2 to 64 nodes, each node attached to
a random earlier node of its tree and pointing back at its parent (phase
``trees``). Structures are built in batches of about 4,096 nodes, each
batch walked and then dropped: garbage that only the cycle detector frees.
The random choices are heaplab's: the same seed makes the same structures.
"""

import heaplab_measure as measure

WORKLOADS = ("cyclic-garbage",)
BATCH_NODES = 4096
MAX_RING_NODES = 32
MIN_TREE_NODES = 2
MAX_TREE_NODES = 64


class RingNode:
    __slots__ = ("next", "value")


class TreeNode:
    __slots__ = ("parent", "children", "value")


class Values:
    """The values nodes hold: 0, 1, 2, ... in the order nodes are made."""

    __slots__ = ("next_value",)

    def __init__(self):
        self.next_value = 0

    def take(self):
        value = self.next_value
        self.next_value = value + 1
        return value


def make_ring_node(values):
    node = RingNode()
    node.value = values.take()
    return node


def make_ring(n_nodes, values):
    """A ring of ``n_nodes`` nodes holding consecutive values; its first node."""
    first = make_ring_node(values)
    last = first
    for _ in range(1, n_nodes):
        node = make_ring_node(values)
        last.next = node
        last = node
    last.next = first
    return first


def digest_ring(first, checksum):
    """Follows a ring back to its start, mixing in its length and the sum of its values."""
    n_nodes = 0
    sum_of_values = 0
    node = first
    while True:
        n_nodes += 1
        assert n_nodes <= MAX_RING_NODES, "a ring longer than any built: its links are broken"
        sum_of_values += node.value
        node = node.next
        if node is first:
            break
    checksum.word(n_nodes)
    checksum.word(sum_of_values)


def tree_nodes(drawn, n_left):
    """The next tree's nodes: ``drawn``, or fewer where fewer are left, never leaving a lone node."""
    n_nodes = min(drawn, n_left)
    return n_nodes + 1 if n_left - n_nodes == 1 else n_nodes


def make_tree_node(parent, values):
    node = TreeNode()
    node.children = []
    node.value = values.take()
    if parent is not None:
        node.parent = parent
        parent.children.append(node)
    return node


def make_tree(n_nodes, rng, values):
    """A tree of ``n_nodes`` nodes, each attached to a random earlier node; its root."""
    root = make_tree_node(None, values)
    nodes = [root]
    for n_built in range(1, n_nodes):
        parent = nodes[rng.below(n_built)]
        nodes.append(make_tree_node(parent, values))
    return root


def digest_tree(root, checksum):
    """Walks a tree depth-first, checking parent pointers, mixing in each value and number of children."""
    assert getattr(root, "parent", None) is None, "a root with a parent"
    n_nodes = 0
    to_visit = [root]
    while to_visit:
        node = to_visit.pop()
        n_nodes += 1
        children = node.children
        checksum.word(node.value)
        checksum.word(len(children))
        for index in range(len(children)):
            child = children[index]
            assert child.parent is node, "a child that points at another parent"
            to_visit.append(child)
    checksum.word(n_nodes)


def main():
    args = measure.parse_args(__doc__, WORKLOADS)
    checksum = measure.checksum_for(args)
    rng = measure.Rng(args.seed)
    values = Values()
    n_ring_nodes = args.size // 2
    n_tree_nodes = args.size - n_ring_nodes

    recorder = measure.Recorder(args)

    recorder.phase("rings")
    sized = False
    n_left = n_ring_nodes
    while n_left > 0:
        batch = []
        n_in_batch = 0
        while n_left > 0 and n_in_batch < BATCH_NODES:
            n_nodes = min(1 + rng.below(MAX_RING_NODES), n_left)
            batch.append(make_ring(n_nodes, values))
            n_left -= n_nodes
            n_in_batch += n_nodes
        for index in range(len(batch)):
            digest_ring(batch[index], checksum)
        if not sized:
            sized = True
            recorder.sizeof("instance", batch[-1], 2)
            recorder.sizeof("int", batch[-1].value, measure.int_digits(batch[-1].value))
        batch = None

    recorder.phase("trees")
    n_left = n_tree_nodes
    sized = False
    while n_left > 0:
        batch = []
        n_in_batch = 0
        while n_left > 0 and n_in_batch < BATCH_NODES:
            drawn = MIN_TREE_NODES + rng.below(MAX_TREE_NODES - MIN_TREE_NODES + 1)
            n_nodes = tree_nodes(drawn, n_left)
            batch.append(make_tree(n_nodes, rng, values))
            n_left -= n_nodes
            n_in_batch += n_nodes
        for index in range(len(batch)):
            digest_tree(batch[index], checksum)
        if not sized:
            sized = True
            recorder.sizeof("instance", batch[0], 3)
            children = batch[0].children
            recorder.sizeof("list", children, len(children), growth="append")
            children = None
        batch = None

    recorder.finish(checksum, ops=args.size)


if __name__ == "__main__":
    main()
