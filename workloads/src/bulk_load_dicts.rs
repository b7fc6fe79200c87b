//! `bulk-load-dicts`, `bulk-load-dicts-gc-off` and `bulk-load-dicts-frozen`:
//! N rows loaded as `csv.DictReader` builds them, one dict a row, with
//! automatic collection on, off, or after `gc.freeze()`.
//!
//! What it models: "why do a million rows from DictReader take 400 MB?" and
//! "does `gc.freeze()` help when my records are dicts?". In Python:
//!
//! ```python
//! header = ["id", "name", "price", "qty"]
//! rows = []
//! for i in range(n):
//!     values = [str(i), "item%d" % (i % 1000), "%.2f" % (i * 0.5), str(i % 7)]
//!     rows.append(dict(zip(header, values)))
//! ```
//!
//! with `gc.disable()` … `gc.enable()` around the loop (`-gc-off`), or
//! `gc.freeze()` when half the rows are loaded (`-frozen`), as `bulk-load`.
//!
//! A row is a dict of four str keys (shared by every row) and four new strs:
//! the dict object (48 bytes, 64 with the GC header) and its keys object of
//! the unicode kind with a table of 8 (32 + 8 + 5 x 16 = 120 bytes), 184 in
//! all (`sys.getsizeof` of a row in CPython 3.11, 232 in 3.8–3.10), plus the
//! four strs (49 + their length each) and 8 bytes of the list: about 400
//! bytes a row (tracemalloc measures 400.5 in CPython 3.11.7 at 100,000 rows).
//!
//! `dict(zip(header, values))` inserts one item at a time
//! (`PyDict_MergeFromSeq2`), into a dict born untracked (`dict_new`); its
//! values are strs, so it stays untracked and no collection ever traverses
//! a row. Yet each row counts: every dict allocation adds one to generation
//! 0's count, so collections run every 700 rows or so, as for `bulk-load`.
//! The temporaries of a row in CPython are the values list and the zip's
//! two tuples, its iterators and its result (`zip_new` in Python/bltinmodule.c;
//! from their free lists, uncounted), and two list iterators and the zip object
//! (GC allocations without a free list: counted, then freed). Here they are
//! made as such: the list and the tuples, and instances of 2 slots (32 bytes, a
//! `listiterobject`) for the iterators and of 3 (40 bytes, 3.8–3.9's
//! `zipobject`) for the zip, so that generation 0's count rises by three before
//! each row's dict and falls back after it, as in CPython. `i * 0.5` and the ints of `i % 1000` and `i % 7` are not
//! made: they are freed at once and count nowhere.
//!
//! `size` is the number of rows. What it stresses: a large live set of
//! untracked containers, the 128-byte and 64-byte pymalloc classes, and
//! young collections that find almost nothing tracked.
//!
//! Phases: `build` (the rows loaded), `teardown` (every row read back, then
//! the list dropped).
//!
//! Checksum: the number of rows, then each row's four items, in order: key
//! and value bytes. `ops` is the number of rows.

use std::fmt::Write as _;

use heaplab_core::{Checksum, Heap, Obj, Outcome, Params};

use crate::bulk_load::{Collection, load};
use crate::{Body, Family, Workload};

/// The registry entry for automatic collection on.
pub const WORKLOAD: Workload = Workload {
    name: "bulk-load-dicts",
    family: Family::Object,
    summary: "N rows as csv.DictReader builds them (dict(zip(header, values)), 4 str fields), automatic GC on",
    size_meaning: "rows loaded (a dict and 4 strs each)",
    quick_sizes: &[20_000, 100_000],
    default_sizes: &[250_000, 500_000, 1_000_000, 2_000_000, 4_000_000],
    threaded: false,
    body: Body::Heap(run_gc_on),
};

/// The registry entry for automatic collection off during the load.
pub const GC_OFF: Workload = Workload {
    name: "bulk-load-dicts-gc-off",
    family: Family::Object,
    summary: "bulk-load-dicts with automatic GC disabled during the load",
    size_meaning: WORKLOAD.size_meaning,
    quick_sizes: WORKLOAD.quick_sizes,
    default_sizes: WORKLOAD.default_sizes,
    threaded: false,
    body: Body::Heap(run_gc_off),
};

/// The registry entry for a load that freezes what it has loaded halfway.
pub const FROZEN: Workload = Workload {
    name: "bulk-load-dicts-frozen",
    family: Family::Object,
    summary: "bulk-load-dicts with gc.freeze() after the first half of the rows",
    size_meaning: WORKLOAD.size_meaning,
    quick_sizes: WORKLOAD.quick_sizes,
    default_sizes: WORKLOAD.default_sizes,
    threaded: false,
    body: Body::Heap(run_frozen),
};

/// The CSV header: the keys of every row.
pub const HEADER: [&str; 4] = ["id", "name", "price", "qty"];

/// Runs `bulk-load-dicts`.
pub fn run_gc_on(heap: &mut dyn Heap, params: &Params) -> Outcome {
    run(heap, params, Collection::Automatic)
}

/// Runs `bulk-load-dicts-gc-off`.
pub fn run_gc_off(heap: &mut dyn Heap, params: &Params) -> Outcome {
    run(heap, params, Collection::Disabled)
}

/// Runs `bulk-load-dicts-frozen`.
pub fn run_frozen(heap: &mut dyn Heap, params: &Params) -> Outcome {
    run(heap, params, Collection::FrozenHalfway)
}

/// The four field texts of row `index`, as the Python twin formats them.
pub fn row_texts(index: u64, texts: &mut [String; 4]) {
    for text in texts.iter_mut() {
        text.clear();
    }
    let [id, name, price, qty] = texts;
    write!(id, "{index}").expect("writing to a String");
    write!(name, "item{}", index % 1000).expect("writing to a String");
    // "%.2f" % (i * 0.5): i * 0.5 has one binary fraction digit, so two decimals are exact.
    write!(price, "{}.{}", index / 2, if index % 2 == 1 { "50" } else { "00" }).expect("writing to a String");
    write!(qty, "{}", index % 7).expect("writing to a String");
}

fn run(heap: &mut dyn Heap, params: &Params, collection: Collection) -> Outcome {
    let n_rows = params.size;
    let mut checksum = Checksum::new();
    let mut texts: [String; 4] = Default::default();

    heap.phase("build");
    let header: Vec<Obj> = HEADER.iter().map(|name| heap.str(name)).collect();
    let header_list = heap.list(HEADER.len());
    for &key in &header {
        heap.append(header_list, key);
    }
    let rows = load(heap, n_rows, collection, |heap, index| {
        row_texts(index, &mut texts);
        make_row(heap, &header, header_list, &texts)
    });

    heap.phase("teardown");
    let n = heap.len(rows);
    checksum.word(n as u64);
    for index in 0..n {
        let row = heap.get(rows, index).expect("a hole in the rows");
        for (key, value) in heap.dict_items(row) {
            checksum.bytes(heap.str_bytes(key));
            checksum.bytes(heap.str_bytes(value));
        }
    }
    heap.release(rows);
    heap.release(header_list);
    for key in header {
        heap.release(key);
    }
    Outcome { checksum: checksum.finish(), ops: n_rows }
}

/// `dict(zip(header, [v0, v1, v2, v3]))`: an owned reference to the row.
fn make_row(heap: &mut dyn Heap, header: &[Obj], header_list: Obj, texts: &[String; 4]) -> Obj {
    let values = heap.list(texts.len());
    for text in texts {
        let value = heap.str(text);
        heap.append(values, value);
        heap.release(value);
    }
    // zip(header, values): its two list iterators and the zip object, which CPython counts in
    // generation 0 and frees after the row, and its tuples, which come from the free lists.
    let iterators = [header_list, values].map(|list| {
        let iterator = heap.instance(2);
        heap.set(iterator, 0, Some(list));
        iterator
    });
    let ittuple = heap.tuple(&iterators);
    let first = heap.get(values, 0).expect("a value");
    let result = heap.tuple(&[header[0], first]);
    let zip = heap.instance(3);
    heap.set(zip, 0, Some(ittuple));
    heap.set(zip, 1, Some(result));
    for obj in iterators.into_iter().chain([ittuple, result]) {
        heap.release(obj);
    }
    let row = heap.dict();
    for (position, &key) in header.iter().enumerate() {
        let value = heap.get(values, position).expect("a value");
        heap.dict_set(row, key, value);
    }
    heap.release(zip);
    heap.release(values);
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_python_s() {
        let mut texts: [String; 4] = Default::default();
        row_texts(12_345, &mut texts);
        assert_eq!(texts, ["12345", "item345", "6172.50", "4"]);
        row_texts(0, &mut texts);
        assert_eq!(texts, ["0", "item0", "0.00", "0"]);
    }
}
