//! `bulk-load`, `bulk-load-gc-off` and `bulk-load-frozen`: N records of
//! (int, float, str) loaded into a list, with automatic collection on, off,
//! or after `gc.freeze()`.
//!
//! What it models: the question "should I `gc.disable()` or `gc.freeze()`
//! before a bulk load?" — a CSV reader, a database cursor or a JSON decoder
//! turning rows into tuples, all of which stay alive. In Python:
//!
//! ```python
//! records = []                                   # bulk-load
//! for i in range(n):
//!     records.append((i, float(i), str(i)))
//!
//! gc.disable(); records = []; ...; gc.enable()  # bulk-load-gc-off
//!
//! records = []                                   # bulk-load-frozen
//! for i in range(n // 2): records.append(...)
//! gc.freeze()
//! for i in range(n // 2, n): records.append(...)
//! ```
//!
//! Every tuple is a container, so each record counts towards generation 0's
//! threshold, and with automatic collection on, a collection runs every 701
//! records: CPython 3.11 makes 2,616 collections of generation 0 and 237 of
//! generation 1 for two million records, and no full one, because the
//! long-lived rule holds it back (the tuples hold no containers, so the
//! first collection that sees them untracks them and nothing piles up in
//! the older generations). Under `cycle` a heap starts empty, so that rule
//! needs the number of tracked objects the interpreter itself holds
//! (`GcConfig::interpreter_objects`, measured by `cargo xtask calibrate`) to
//! make the same decisions.
//!
//! The frozen variant models a program that has warmed up — here, loaded
//! the first half of its data — and calls `gc.freeze()` before loading the
//! rest: everything alive at that point moves to the permanent generation,
//! out of reach of later collections, and every generation's count
//! restarts. The second half is loaded with automatic collection on. With
//! records of scalars, freezing saves little: the tuples are already
//! untracked, and the collections of the second half run at the same pace
//! (2,616 and 236 for two million records, in CPython 3.11 as in the model).
//!
//! `size` is the number of records. A record is an int (28 bytes), a float
//! (24), a str of i's decimal digits (49 + digits) and a 3-tuple (48, plus
//! 16 for the GC header under `cycle`), and 8 bytes of the list's buffer
//! (9 with the list's over-allocation): about 180 bytes requested a record;
//! in pymalloc two 32-byte blocks and two 64-byte blocks, so that two
//! million records fill 373 arenas of 1 MiB, in CPython 3.11 as in the model.
//!
//! What it stresses: the allocation fast path of two size classes, list
//! growth, and the cycle detector's young collections over a large, growing
//! live set that they must not traverse.
//!
//! Phases: `build` (the records loaded), `teardown` (every record read back,
//! then the list dropped).
//!
//! Checksum: the number of records, then each record's int, float and str,
//! read back. `ops` is the number of records.

use std::fmt::Write as _;

use heaplab_core::{Checksum, Heap, Obj, Outcome, Params};

use crate::{Body, Family, Workload};

/// The registry entry for automatic collection on.
pub const WORKLOAD: Workload = Workload {
    name: "bulk-load",
    family: Family::Object,
    summary: "N records (int, float, str) appended to a list, as a CSV reader builds them, automatic GC on",
    size_meaning: "records loaded (4 objects each)",
    quick_sizes: &[20_000, 200_000],
    default_sizes: &[500_000, 1_000_000, 2_000_000, 4_000_000, 8_000_000],
    threaded: false,
    body: Body::Heap(run_gc_on),
};

/// The registry entry for automatic collection off during the load.
pub const GC_OFF: Workload = Workload {
    name: "bulk-load-gc-off",
    family: Family::Object,
    summary: "bulk-load with automatic GC disabled during the load (gc.disable() ... gc.enable())",
    size_meaning: WORKLOAD.size_meaning,
    quick_sizes: WORKLOAD.quick_sizes,
    default_sizes: WORKLOAD.default_sizes,
    threaded: false,
    body: Body::Heap(run_gc_off),
};

/// The registry entry for a load that freezes what it has loaded halfway.
pub const FROZEN: Workload = Workload {
    name: "bulk-load-frozen",
    family: Family::Object,
    summary: "bulk-load with gc.freeze() after the first half: the loaded half is frozen, the rest loaded with GC on",
    size_meaning: WORKLOAD.size_meaning,
    quick_sizes: WORKLOAD.quick_sizes,
    default_sizes: WORKLOAD.default_sizes,
    threaded: false,
    body: Body::Heap(run_frozen),
};

/// How automatic collection is set during the load (also `bulk-load-dicts`').
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Collection {
    /// On throughout, as by default.
    Automatic,
    /// Off during the load, on again after it.
    Disabled,
    /// On, with everything alive frozen when half the records are loaded.
    FrozenHalfway,
}

/// Runs `bulk-load`.
pub fn run_gc_on(heap: &mut dyn Heap, params: &Params) -> Outcome {
    run(heap, params, Collection::Automatic)
}

/// Runs `bulk-load-gc-off`.
pub fn run_gc_off(heap: &mut dyn Heap, params: &Params) -> Outcome {
    run(heap, params, Collection::Disabled)
}

/// Runs `bulk-load-frozen`.
pub fn run_frozen(heap: &mut dyn Heap, params: &Params) -> Outcome {
    run(heap, params, Collection::FrozenHalfway)
}

fn run(heap: &mut dyn Heap, params: &Params, collection: Collection) -> Outcome {
    let n_records = params.size;
    let mut checksum = Checksum::new();
    let mut text = String::with_capacity(20);

    heap.phase("build");
    let records = load(heap, n_records, collection, |heap, index| make_record(heap, index, &mut text));

    heap.phase("teardown");
    digest_records(heap, records, &mut checksum);
    heap.release(records);

    Outcome { checksum: checksum.finish(), ops: n_records }
}

/// Appends `n` records made by `make` to a new list, with automatic collection set as
/// `collection` says around the load; returns the list (an owned reference).
pub(crate) fn load(
    heap: &mut dyn Heap,
    n: u64,
    collection: Collection,
    mut make: impl FnMut(&mut dyn Heap, u64) -> Obj,
) -> Obj {
    if collection == Collection::Disabled {
        heap.set_automatic(false);
    }
    let records = heap.list(0);
    for index in 0..n {
        if collection == Collection::FrozenHalfway && index == n / 2 {
            heap.freeze();
        }
        let record = make(heap, index);
        heap.append(records, record);
        heap.release(record);
    }
    if collection == Collection::Disabled {
        heap.set_automatic(true);
    }
    records
}

/// Record `index`: `(index, float(index), str(index))`, made in the order
/// CPython makes them (the int by the range iterator, then the float, the
/// str and the tuple); an owned reference to the tuple.
fn make_record(heap: &mut dyn Heap, index: u64, text: &mut String) -> Obj {
    let int = heap.int(index as i64);
    let float = heap.float(index as f64);
    text.clear();
    write!(text, "{index}").expect("writing to a String cannot fail");
    let str = heap.str(text);
    let record = heap.tuple(&[int, float, str]);
    heap.release(int);
    heap.release(float);
    heap.release(str);
    record
}

/// Mixes in the number of records, then each record's int, float bits and str bytes.
fn digest_records(heap: &dyn Heap, records: Obj, checksum: &mut Checksum) {
    let n_records = heap.len(records);
    checksum.word(n_records as u64);
    for index in 0..n_records {
        let record = heap.get(records, index).expect("a hole in the records");
        let field = |position: usize| heap.get(record, position).expect("a record with a missing field");
        checksum.word(heap.int_value(field(0)) as u64);
        checksum.float(heap.float_value(field(1)));
        checksum.bytes(heap.str_bytes(field(2)));
    }
}
