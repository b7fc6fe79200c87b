//! `json-records`: a nested document of dicts and lists as `json.loads`
//! builds it, then one pass over it.
//!
//! What it models: an API response or a JSON-lines file decoded into
//! Python objects. The document, in Python:
//!
//! ```python
//! {"count": n, "records": [
//!     {"id": i, "name": "user%d" % i, "score": i * 0.25,
//!      "tags": ["t%d" % (i % 5), "t%d" % (i % 3)],
//!      "address": {"city": "city%d" % (i % 100), "zip": 10000 + i % 90000}}
//!     for i in range(n)]}
//! ```
//!
//! built as `json.loads` builds it (`Modules/_json.c`, `_parse_object_unicode`
//! and `_parse_array_unicode`): each object a `PyDict_New()` filled by
//! `PyDict_SetItem` in document order, each array a list filled by
//! appends, every key taken from the decoder's memo so that the records
//! share one str object per key name. Each record dict holds a list, so
//! `MAINTAIN_TRACKING` tracks it; the address dict, of atomic values, stays
//! untracked. The Python twin decodes the real text with `json.loads`.
//!
//! `size` is the number of records. A record is two dicts of str keys (the
//! unicode kind, a table of 8: 184 bytes each with the GC header), a list
//! of two tags (56 bytes and a buffer of 4 items after two appends), four
//! new strs, two ints and a float: about 700 bytes.
//!
//! What it stresses: many small dicts and lists of mixed lifetimes tracked
//! by the cycle collector (every record is a tracked container, so young
//! collections traverse them), and freeing a deep document.
//!
//! Phases: `build` (the document decoded), `compute` (one pass: every
//! field of every record read), `teardown` (the document dropped).
//!
//! Checksum: the count, then each record's id, name bytes, score, its tags'
//! bytes, city bytes and zip. `ops` is the number of records.

use std::collections::HashMap;

use heaplab_core::{Checksum, Heap, Obj, Outcome, Params};

use crate::{Body, Family, Workload};

/// The registry entry.
pub const WORKLOAD: Workload = Workload {
    name: "json-records",
    family: Family::Object,
    summary: "a JSON document of N records (nested dicts and lists) as json.loads builds it, then one pass",
    size_meaning: "records in the document (2 dicts, a list and 8 scalars each)",
    quick_sizes: &[10_000, 50_000],
    default_sizes: &[125_000, 250_000, 500_000, 1_000_000, 2_000_000],
    threaded: false,
    body: Body::Heap(run),
};

/// The decoder's memo of keys: one str per key name, as `json.loads` shares them.
struct Memo {
    keys: HashMap<&'static str, Obj>,
}

impl Memo {
    fn key(&mut self, heap: &mut dyn Heap, name: &'static str) -> Obj {
        *self.keys.entry(name).or_insert_with(|| heap.str(name))
    }
}

/// Sets `d[name] = value` and gives the caller's reference to `value` back.
fn put(heap: &mut dyn Heap, memo: &mut Memo, dict: Obj, name: &'static str, value: Obj) {
    let key = memo.key(heap, name);
    heap.dict_set(dict, key, value);
    heap.release(value);
}

/// Record `index`, decoded in document order: an owned reference.
fn make_record(heap: &mut dyn Heap, memo: &mut Memo, index: u64) -> Obj {
    let record = heap.dict();
    let id = heap.int(index as i64);
    put(heap, memo, record, "id", id);
    let name = heap.str(&format!("user{index}"));
    put(heap, memo, record, "name", name);
    let score = heap.float(index as f64 * 0.25);
    put(heap, memo, record, "score", score);
    let tags = heap.list(0);
    for tag in [index % 5, index % 3] {
        let tag = heap.str(&format!("t{tag}"));
        heap.append(tags, tag);
        heap.release(tag);
    }
    put(heap, memo, record, "tags", tags);
    let address = heap.dict();
    let city = heap.str(&format!("city{}", index % 100));
    put(heap, memo, address, "city", city);
    let zip = heap.int(10_000 + (index % 90_000) as i64);
    put(heap, memo, address, "zip", zip);
    put(heap, memo, record, "address", address);
    record
}

/// Runs the workload; see the module documentation.
pub fn run(heap: &mut dyn Heap, params: &Params) -> Outcome {
    let n_records = params.size;
    let mut memo = Memo { keys: HashMap::new() };

    heap.phase("build");
    let document = heap.dict();
    let count = heap.int(n_records as i64);
    put(heap, &mut memo, document, "count", count);
    let records = heap.list(0);
    for index in 0..n_records {
        let record = make_record(heap, &mut memo, index);
        heap.append(records, record);
        heap.release(record);
    }
    put(heap, &mut memo, document, "records", records);

    heap.phase("compute");
    let mut checksum = Checksum::new();
    let field = |heap: &dyn Heap, memo: &Memo, dict: Obj, name: &str| {
        heap.dict_get(dict, memo.keys[name]).expect("a field of the record")
    };
    checksum.word(heap.int_value(field(heap, &memo, document, "count")) as u64);
    let records = field(heap, &memo, document, "records");
    for index in 0..heap.len(records) {
        let record = heap.get(records, index).expect("a record");
        checksum.word(heap.int_value(field(heap, &memo, record, "id")) as u64);
        checksum.bytes(heap.str_bytes(field(heap, &memo, record, "name")));
        checksum.float(heap.float_value(field(heap, &memo, record, "score")));
        let tags = field(heap, &memo, record, "tags");
        for position in 0..heap.len(tags) {
            checksum.bytes(heap.str_bytes(heap.get(tags, position).expect("a tag")));
        }
        let address = field(heap, &memo, record, "address");
        checksum.bytes(heap.str_bytes(field(heap, &memo, address, "city")));
        checksum.word(heap.int_value(field(heap, &memo, address, "zip")) as u64);
    }

    heap.phase("teardown");
    heap.release(document);
    for (_, key) in memo.keys.drain() {
        heap.release(key);
    }
    Outcome { checksum: checksum.finish(), ops: n_records }
}
