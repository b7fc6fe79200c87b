"""churn in Python: the twin of workloads/src/churn.rs.

A live set of N objects of random kinds (phase ``build``), 4 x N random
replacements, each replaced object read back first (phase ``churn``), then
every survivor read back and the list dropped (phase ``teardown``). The
random choices are heaplab's: the same seed makes the same objects.
"""

import heaplab_measure as measure

WORKLOADS = ("churn",)
REPLACEMENTS_PER_OBJECT = 4
MAX_STR_LEN = 16
MAX_LIST_LEN = 3
LETTERS = "abcdefghijklmnopqrstuvwxyz"
TWO_TO_THE_53 = float(1 << 53)
KIND_TAGS = {int: 1, float: 2, str: 3, tuple: 4, list: 5}


def random_int(rng):
    """An int of up to 30 or up to 40 bits, positive or negative: the top bits of a signed draw.

    CPython's ``>>`` allocates its result with as many digits as its operand
    has (three for a 64-bit draw) and never shrinks the block, so an int
    made by a shift can sit in a larger size class than ``sys.getsizeof``
    says. Negating twice copies it into a block of its own size, as heaplab
    (and any int made from its value) sizes it.
    """
    shift = 34 if rng.below(2) == 0 else 24
    bits = rng.next_u64()
    if bits >= 1 << 63:
        bits -= 1 << 64
    return -(-(bits >> shift))


def random_float(rng):
    """A float in [0, 1000)."""
    return rng.below(1 << 53) / TWO_TO_THE_53 * 1000.0


def make_object(rng):
    """An int, a float, a str of 1 to 16 letters, an (int, float) tuple or a list of 0 to 3 ints."""
    choice = rng.below(5)
    if choice == 0:
        return random_int(rng)
    if choice == 1:
        return random_float(rng)
    if choice == 2:
        # Concatenated rather than joined from a list: strs are not tracked,
        # a list would be counted by the collector, which heaplab's is not.
        text = ""
        for _ in range(1 + rng.below(MAX_STR_LEN)):
            text += LETTERS[rng.below(26)]
        return text
    if choice == 3:
        first = random_int(rng)
        second = random_float(rng)
        return (first, second)
    # A list of exactly its length, as heaplab's `list(len)` makes it.
    length = rng.below(MAX_LIST_LEN + 1)
    if length == 0:
        return []
    first = random_int(rng)
    if length == 1:
        return [first]
    second = random_int(rng)
    if length == 2:
        return [first, second]
    return [first, second, random_int(rng)]


def digest_object(obj, checksum):
    """Mixes in an object's kind and value, and those of its items."""
    tag = KIND_TAGS[type(obj)]
    checksum.word(tag)
    if tag == 1:
        checksum.word(obj)
    elif tag == 2:
        checksum.float(obj)
    elif tag == 3:
        checksum.bytes(obj.encode("ascii"))
    else:
        checksum.word(len(obj))
        for index in range(len(obj)):
            digest_object(obj[index], checksum)


def record_one_of_each_kind(recorder, live):
    """sys.getsizeof of the first object of each kind in the live set."""
    seen = set()
    for obj in live:
        kind = type(obj)
        if kind in seen:
            continue
        seen.add(kind)
        if kind is int:
            recorder.sizeof("int", obj, measure.int_digits(obj))
        elif kind is float:
            recorder.sizeof("float", obj, 0)
        elif kind is str:
            recorder.sizeof("str", obj, len(obj))
        elif kind is tuple:
            recorder.sizeof("tuple", obj, len(obj))
        elif obj:
            recorder.sizeof("list", obj, len(obj), growth="exact")
        else:
            seen.discard(kind)


def main():
    args = measure.parse_args(__doc__, WORKLOADS)
    checksum = measure.checksum_for(args)
    rng = measure.Rng(args.seed)
    size = args.size

    recorder = measure.Recorder(args)

    recorder.phase("build")
    live = []
    for _ in range(size):
        live.append(make_object(rng))

    recorder.phase("churn")
    n_replacements = REPLACEMENTS_PER_OBJECT * size
    for _ in range(n_replacements):
        index = rng.below(size)
        digest_object(live[index], checksum)
        live[index] = make_object(rng)

    recorder.phase("teardown")
    was_enabled = recorder.pause()
    record_one_of_each_kind(recorder, live)
    recorder.sizeof("list", live, len(live), growth="append")
    recorder.resume(was_enabled)
    for index in range(len(live)):
        digest_object(live[index], checksum)
    live = None

    recorder.finish(checksum, ops=n_replacements)


if __name__ == "__main__":
    main()
