"""heaplab_measure: what heaplab's Python workloads measure in CPython, and how.

Every script in this folder is the twin of a workload in ``workloads/src/``:
the same objects, made in the same order, with the same seeded choices
(``Rng`` is heaplab_core's SplitMix64, and ``Checksum`` its digest, so that
``--checksum`` gives the Rust workload's checksum). ``cargo xtask calibrate``
runs a script and ``heaplab run --strategy cycle+pymalloc`` on the same
workload, size and seed, and compares what each reports.

A script prints one JSON object on stdout:

- ``baseline``: the interpreter before the workload — pymalloc's figures from
  ``sys._debugmallocstats()`` and the bytes tracemalloc traces — so that
  the workload's figures can be given as deltas;
- ``interpreter_objects``: the tracked objects the interpreter holds after a
  ``gc.collect()``, which count in CPython's long-lived total;
- ``thresholds``: ``gc.get_threshold()``;
- ``phases``: for each phase the workload marks, in order, at its end: its
  duration, its end on the system clock (``ended_at``), the collections per
  generation since the workload started
  (from ``gc.get_stats()``), the traced bytes (with ``--tracemalloc``) and
  pymalloc's figures;
- ``sizeof``: ``sys.getsizeof`` of one object of each kind the workload
  built, with the length that sizes it (the dict twins add dicts and sets
  of several sizes: ``container_sizes``);
- ``checksum`` (with ``--checksum``, else null) and ``ops``, as the Rust
  workload computes them; with ``--checksum-file FILE`` the checksum's input
  goes to FILE instead, for ``heaplab run --strategy python@…`` to digest
  (the same digest, several times faster than computing it in Python).

The scripts walk lists by index rather than with ``for item in items``: a
list iterator is an object the collector counts, which the Rust workloads
do not make, and one made when generation 0's count is past its threshold
(after ``gc.enable()``, say) runs a collection.

Measuring disturbs what is measured as little as it can: automatic
collection is off while it measures, and everything it allocates is freed
before collection is on again, so that no collection runs on its account
and generation 0's count is what the workload left; pymalloc's report goes
through a file opened before the workload; the interpreter's own tracked
objects are counted after a ``gc.collect()``, just before the workload.
"""

import argparse
import gc
import json
import os
import platform
import struct
import sys
import tempfile
import time
import tracemalloc

MASK64 = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


class Rng:
    """heaplab_core::Rng: SplitMix64, seeded as the Rust one is, so that both draw the same numbers."""

    __slots__ = ("state",)

    def __init__(self, seed):
        self.state = (seed ^ GOLDEN_GAMMA) & MASK64

    def next_u64(self):
        """The next 64 random bits."""
        self.state = (self.state + GOLDEN_GAMMA) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n):
        """A number in range(n), by the Rust one's multiply-shift."""
        return (self.next_u64() * n) >> 64


class Checksum:
    """heaplab_core::Checksum: FNV-1a over 64-bit words (little-endian bytes), then a final mix."""

    __slots__ = ("state",)

    def __init__(self):
        self.state = FNV_OFFSET

    def word(self, value):
        """Mixes in a 64-bit word; negative ints as their two's complement, as Rust's `as u64`."""
        value &= MASK64
        state = self.state
        for _ in range(8):
            state = ((state ^ (value & 0xFF)) * FNV_PRIME) & MASK64
            value >>= 8
        self.state = state

    def float(self, value):
        """Mixes in a float by its bits."""
        self.word(struct.unpack("<Q", struct.pack("<d", value))[0])

    def bytes(self, data):
        """Mixes in the length, then each byte."""
        self.word(len(data))
        state = self.state
        for byte in data:
            state = ((state ^ byte) * FNV_PRIME) & MASK64
        self.state = state

    def finish(self):
        """The digest, as 16 hex digits."""
        x = self.state
        x ^= x >> 33
        x = (x * 0xFF51AFD7ED558CCD) & MASK64
        x ^= x >> 33
        return "%016x" % x


PACK_WORD = struct.Struct("<Q").pack
PACK_FLOAT = struct.Struct("<d").pack
SPILL_BYTES = 1 << 16


class StreamChecksum:
    """Checksum's input, written to a file for heaplab to digest (``--checksum-file``).

    ``Checksum`` is FNV-1a over a stream of bytes: each word as its 8
    little-endian bytes, each ``bytes`` as its length's word then the bytes.
    This writes that stream instead of digesting it, in C (``struct`` into a
    bytearray, ``os.write`` every 64 KiB), which costs a few calls per word
    instead of a Python loop over 8 bytes; ``heaplab run`` digests the file
    with the Rust Checksum. None of it makes an object the collector counts
    (a buffered file would: its flush hands the raw file a memoryview, a
    container, and every 64 KiB one would move generation 0's count).
    """

    __slots__ = ("_fd", "_buffer")

    def __init__(self, path):
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self._buffer = bytearray()

    def _spill(self):
        buffer = self._buffer
        written = os.write(self._fd, buffer)
        if written != len(buffer):
            # Not seen on a regular file; a short write would lose data, so say so.
            raise OSError("short write of the checksum stream (%d of %d bytes)" % (written, len(buffer)))
        buffer.clear()

    def word(self, value):
        """Writes a 64-bit word; negative ints as their two's complement."""
        buffer = self._buffer
        buffer += PACK_WORD(value & MASK64)
        if len(buffer) >= SPILL_BYTES:
            self._spill()

    def float(self, value):
        """Writes a float's bits."""
        buffer = self._buffer
        buffer += PACK_FLOAT(value)
        if len(buffer) >= SPILL_BYTES:
            self._spill()

    def bytes(self, data):
        """Writes the length, then the bytes."""
        buffer = self._buffer
        buffer += PACK_WORD(len(data))
        buffer += data
        if len(buffer) >= SPILL_BYTES:
            self._spill()

    def finish(self):
        """Writes what is left and closes the file; the digest is heaplab's to compute."""
        self._spill()
        os.close(self._fd)
        return None


class NoChecksum:
    """Stands in for Checksum when no checksum is asked for: digesting costs a call and nothing else."""

    __slots__ = ()

    def word(self, value):
        pass

    def float(self, value):
        pass

    def bytes(self, data):
        pass

    def finish(self):
        return None


def int_digits(value):
    """The number of 30-bit digits CPython uses for an int (0 for 0), as heaplab_core::object::int_digits."""
    return (abs(value).bit_length() + 29) // 30


def parse_args(description, workloads):
    """The command line every script takes; ``workloads`` are the heaplab names it can run, the first the default."""
    parser = argparse.ArgumentParser(description=description.strip().splitlines()[0])
    parser.add_argument("--size", type=int, required=True, help="the workload's size, as heaplab's")
    parser.add_argument("--seed", type=int, default=42, help="the seed of every random choice (heaplab's default: 42)")
    parser.add_argument("--workload", choices=workloads, default=workloads[0], help="which variant to run")
    parser.add_argument("--tracemalloc", action="store_true", help="trace allocations (slower; a separate run)")
    parser.add_argument("--checksum", action="store_true", help="compute the Rust workload's checksum (slow)")
    parser.add_argument(
        "--checksum-file", metavar="FILE", help="write the checksum's input to FILE for heaplab to digest (fast)"
    )
    args = parser.parse_args()
    if args.size < 1:
        parser.error("--size must be at least 1")
    return args


def parse_debugmallocstats(text):
    """pymalloc's figures from the text of ``sys._debugmallocstats()``, or None if it printed none."""
    classes = []
    figures = {}
    arena_size = None
    in_table = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("class") and "num pools" in stripped:
            in_table = True
            continue
        if in_table:
            fields = stripped.split()
            if len(fields) == 5 and all(field.isdigit() for field in fields):
                index, size, pools, in_use, available = (int(field) for field in fields)
                classes.append(
                    {"class": index, "size": size, "pools": pools, "blocks_in_use": in_use, "blocks_free": available}
                )
                continue
            if stripped.startswith("#"):
                in_table = False
        if stripped.startswith("#") and "=" in stripped:
            name, value = stripped[1:].split("=", 1)
            value = value.strip().replace(",", "")
            if value.isdigit():
                figures[" ".join(name.split())] = int(value)
        elif "bytes/arena" in stripped and arena_size is None:
            words = stripped.replace("*", " ").split()
            if "bytes/arena" in words:
                arena_size = int(words[words.index("bytes/arena") - 1].replace(",", ""))
    if "arenas allocated current" not in figures:
        return None
    return {
        "arena_size": arena_size,
        "arenas_allocated_total": figures.get("arenas allocated total"),
        "arenas_reclaimed": figures.get("arenas reclaimed"),
        "arenas_highwater": figures.get("arenas highwater mark"),
        "arenas_current": figures.get("arenas allocated current"),
        # POOL_SIZE for each arena whose address is not pool-aligned (it lost a pool).
        "arena_alignment_bytes": figures.get("bytes lost to arena alignment"),
        "classes": classes,
    }


def _sizeof_entries(sizes):
    """The ``sizeof`` entries from the flat list ``Recorder.sizeof`` keeps.

    A function of its own, called with collection off: up to 3.11 a comprehension that uses
    a local of the function it is in makes that local a cell, and the cell is a container
    allocated when the function starts (``MAKE_CELL``), which would count, or collect, in
    ``Recorder.finish`` before it turns collection off.
    """
    return [
        {"kind": sizes[at], "len": sizes[at + 1], "bytes": sizes[at + 2], "growth": sizes[at + 3]}
        for at in range(0, len(sizes), 4)
    ]


def _spares(tracing):
    """What ``gc.get_stats()`` (a list of three dicts) and ``tracemalloc.get_traced_memory()``
    (a 2-tuple) make, made ahead: freed just before they are called, so that theirs come from
    the free lists and go back to them."""
    return [{}, {}, {}, divmod(7, 3) if tracing else None]


def collections_so_far():
    """Collections of each generation since the interpreter started.

    ``gc.get_stats()`` is called before anything is allocated here: a list
    comprehension would make a function object first, and that allocation
    could trigger a collection.
    """
    stats = gc.get_stats()
    return [stats[0]["collections"], stats[1]["collections"], stats[2]["collections"]]


class Recorder:
    """Measures a workload's phases; see the module documentation.

    Made just before the workload, after anything else the script keeps
    (its Rng, its Checksum): it measures the baseline, then runs
    ``gc.collect()`` so that the whole interpreter is long-lived, as it is
    in a program that has warmed up, counts what is tracked, and keeps
    nothing that the collector counts, so that generation 0's count is 0
    when the workload starts, as the model's is.

    While it measures, automatic collection is off: what it allocates is
    freed before collection is on again, so the count is what the workload
    left, and no collection runs on the measurement's account.
    """

    __slots__ = (
        "args",
        "tracing",
        "interpreter_objects",
        "_report_file",
        "_baseline",
        "_phases",
        "_spare",
        "_sizeof",
        "_extra",
        "_current",
        "_started_at",
        "_at_start",
    )

    def __init__(self, args):
        self.args = args
        self.tracing = args.tracemalloc
        self._report_file = tempfile.TemporaryFile()
        self._phases = []
        self._spare = None
        self._sizeof = []
        self._extra = {}
        self._current = None
        self._started_at = 0.0
        if self.tracing:
            tracemalloc.start()
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] if self.tracing else None
        self._baseline = json.dumps({"traced_bytes": traced, "pymalloc": self._pymalloc()})
        # Counted before the last gc.collect(), and that collection with them,
        # so that nothing the collector counts is made after it.
        before = collections_so_far()
        self._at_start = (before[0], before[1], before[2] + 1)
        before = None
        # Made before the last collection, which leaves generation 0's count at 0 with them
        # in the oldest generation: `_end_phase` frees them before it measures.
        self._spare = _spares(self.tracing)
        gc.collect()
        self.interpreter_objects = len(gc.get_objects())

    def _pymalloc(self):
        """``sys._debugmallocstats()``, parsed."""
        return parse_debugmallocstats(self._pymalloc_text().decode("ascii", "replace"))

    def _pymalloc_text(self):
        """Runs ``sys._debugmallocstats()`` with the C-level stderr sent to a file; its bytes.

        Only calls that make no container (ints and bytes), so that the phase boundary
        leaves generation 0's count alone: see ``_end_phase``.
        """
        fd = self._report_file.fileno()
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        sys.stderr.flush()
        saved_stderr = os.dup(2)
        try:
            os.dup2(fd, 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
        size = os.lseek(fd, 0, os.SEEK_END)
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, size)

    def phase(self, name):
        """Ends the running phase, if any, and starts ``name``."""
        self._end_phase(time.perf_counter())
        self._current = name
        self._started_at = time.perf_counter()

    def _end_phase(self, ended_at):
        """Takes the running phase's figures; builds nothing from them until ``finish``.

        Measuring must not move generation 0's count, or the model, which measures nothing,
        would collect at other moments in the phases after this one. Collection is off
        while it measures, but that is not enough: a container made while it is off and
        then freed to a free list (CPython keeps 80 dicts, 80 lists, 2,000 tuples of each
        length) adds one to the count at ``gc_alloc`` and never takes it off, since a
        free-listed object never reaches ``PyObject_GC_Del``. Formatting the figures here
        (a dict per pymalloc size class, the JSON encoder's lists) added 48 to 62 to the
        count at every phase boundary, measured with ``gc.get_count()`` around
        ``phase()``: 3.12 and 3.13 then collected once more in the teardown of a small
        bulk-load than the model. So the boundary only frees the spare containers it made
        at the last one (``_spares``: a list, three dicts, a 2-tuple), lets
        ``gc.get_stats()`` and ``tracemalloc.get_traced_memory()`` take theirs from the free
        lists the spares just went to, reads pymalloc's report as bytes with calls that make
        no container, and makes new spares, again from the free lists. What is left: where a
        free list is full when the spares are freed (80 dicts freed by the workload just
        before), they go to ``PyObject_GC_Del`` and take a few off the count.
        """
        if self._current is None:
            return
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._spare = None
            stats = gc.get_stats()
            c0 = stats[0]["collections"]
            c1 = stats[1]["collections"]
            c2 = stats[2]["collections"]
            stats = None
            traced = tracemalloc.get_traced_memory()[0] if self.tracing else None
            text = self._pymalloc_text()
            self._phases.append(self._current)
            self._phases.append(ended_at - self._started_at)
            # The clock's time at the phase's end, for heaplab run to place it on its RSS series.
            self._phases.append(time.time() - (time.perf_counter() - ended_at))
            self._phases.append(c0)
            self._phases.append(c1)
            self._phases.append(c2)
            self._phases.append(traced)
            self._phases.append(text)
            text = None
            self._spare = _spares(self.tracing)
        finally:
            if was_enabled:
                gc.enable()
        self._current = None

    def _phase_records(self):
        """The phases' figures as the JSON has them, from what ``_end_phase`` kept."""
        records = []
        raw = self._phases
        for at in range(0, len(raw), 8):
            name, seconds, ended_at, c0, c1, c2, traced, text = raw[at : at + 8]
            now = (c0, c1, c2)
            records.append(
                {
                    "name": name,
                    "seconds": seconds,
                    "ended_at": ended_at,
                    "collections": [now[g] - self._at_start[g] for g in range(3)],
                    "traced_bytes": traced,
                    "pymalloc": parse_debugmallocstats(text.decode("ascii", "replace")),
                }
            )
        return records

    def sizeof(self, kind, obj, length, growth=None):
        """Records ``sys.getsizeof(obj)`` for an object of heaplab kind ``kind``.

        ``length`` is what sizes it in heaplab_core's ``Kind::object_size``:
        a str's bytes, a tuple's length, an instance's slots, an int's
        30-bit digits, a list's items. ``growth`` says how a list's buffer
        was sized: "append" (one append at a time from empty) or "exact".
        """
        # Kept flat, as ints and strs, so that measuring keeps no container (see `_end_phase`).
        # `sys.getsizeof` makes one, the bound `__sizeof__` it calls, freed at once: with
        # collection off, so that it collects nothing when the count is past the threshold.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._sizeof.append(kind)
            self._sizeof.append(length)
            self._sizeof.append(sys.getsizeof(obj))
            self._sizeof.append(growth)
        finally:
            if was_enabled:
                gc.enable()

    def pause(self):
        """Turns automatic collection off while the script does some measuring of its own; returns what ``resume`` needs.

        Call it as a method (``was = recorder.pause()``): a ``with`` block
        would allocate a bound method first, which could trigger a collection.
        """
        was_enabled = gc.isenabled()
        gc.disable()
        return was_enabled

    def resume(self, was_enabled):
        """Turns automatic collection back on if ``pause`` turned it off."""
        if was_enabled:
            gc.enable()

    def extra(self, name, value):
        """Adds a figure of the workload's own to the output (e.g. gc-traverse's collection times)."""
        self._extra[name] = value

    def finish(self, checksum, ops, containers=False):
        """Ends the last phase and prints the JSON object.

        With ``containers``, the ``sizeof`` entries also give the sizes of
        ``container_sizes()``, measured after every phase's figures.
        """
        self._end_phase(time.perf_counter())
        gc.disable()
        entries = _sizeof_entries(self._sizeof)
        if containers:
            entries.extend(container_sizes())
        output = {
            "workload": self.args.workload,
            "size": self.args.size,
            "seed": self.args.seed,
            "python": {"implementation": sys.implementation.name, "version": platform.python_version()},
            "thresholds": list(gc.get_threshold()),
            "interpreter_objects": self.interpreter_objects,
            "tracemalloc": self.tracing,
            "baseline": json.loads(self._baseline),
            "phases": self._phase_records(),
            "sizeof": entries,
            "checksum": checksum.finish(),
            "ops": ops,
        }
        output.update(self._extra)
        print(json.dumps(output))


DICT_SIZES = (0, 1, 5, 6, 8, 11, 22, 100, 1000)
SET_SIZES = (0, 1, 4, 5, 18, 19, 100, 1000)


def container_sizes():
    """``sys.getsizeof`` of dicts and sets built one key at a time, as heaplab's ``sizeof`` entries.

    Dicts of ``n`` str keys (``"k%d" % i``) and of ``n`` int keys, each set
    by ``d[k] = 1`` from ``{}`` (kind "dict", ``growth`` "str" or "int"),
    and sets of ``n`` ints added by ``s.add(i)`` from ``set()`` (kind "set").
    Run with automatic collection off; everything made is freed before it returns.
    """
    entries = []
    for n in DICT_SIZES:
        for growth in ("str", "int"):
            keys = ["k%d" % i for i in range(n)] if growth == "str" else list(range(n))
            d = {}
            for index in range(n):
                d[keys[index]] = 1
            entries.append({"kind": "dict", "len": n, "bytes": sys.getsizeof(d), "growth": growth})
            d = None
            keys = None
    for n in SET_SIZES:
        s = set()
        for i in range(n):
            s.add(i)
        entries.append({"kind": "set", "len": n, "bytes": sys.getsizeof(s), "growth": None})
        s = None
    return entries


def checksum_for(args):
    """A StreamChecksum with ``--checksum-file``, a Checksum with ``--checksum``, else a NoChecksum."""
    if args.checksum_file:
        return StreamChecksum(args.checksum_file)
    return Checksum() if args.checksum else NoChecksum()
