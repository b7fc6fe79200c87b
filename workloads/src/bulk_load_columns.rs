//! `bulk-load-columns`: `bulk-load-dicts`' data loaded as four columns
//! instead of N row dicts — the "columns instead of rows" answer.
//!
//! What it models: the same CSV read into one array per numeric column and
//! a list of strs for the text column, as a column store or a data frame
//! holds it. In Python:
//!
//! ```python
//! ids, prices, qtys = (array("d", [0.0]) * n for _ in range(3))
//! names = []
//! for i in range(n):
//!     ids[i] = i; names.append("item%d" % (i % 1000))
//!     prices[i] = i * 0.5; qtys[i] = i % 7
//! ```
//!
//! `size` is the number of rows. A row costs 24 bytes in the three arrays
//! (8 each) and one str of 53 to 56 bytes with 8 bytes of the names list
//! (9 with its over-allocation): about 90 bytes a row, against about 400 for
//! a dict a row (`bulk-load-dicts`) and 180 for a tuple a row (`bulk-load`).
//!
//! What it stresses: three large buffers through the allocator's large
//! path, one size class of small strs, and no container a row: the cycle
//! collector sees one list.
//!
//! Phases: `build` (the columns filled), `teardown` (every row read back
//! across the columns, then the columns dropped).
//!
//! Checksum: the number of rows, then each row's id, name bytes, price and
//! qty, the numbers as f64 bits. `ops` is the number of rows.

use std::fmt::Write as _;

use heaplab_core::{Checksum, Heap, Outcome, Params};

use crate::{Body, Family, Workload};

/// The registry entry.
pub const WORKLOAD: Workload = Workload {
    name: "bulk-load-columns",
    family: Family::Object,
    summary: "bulk-load-dicts' rows as columns: three float arrays and a list of strs",
    size_meaning: "rows loaded (3 array elements and 1 str each)",
    quick_sizes: &[20_000, 100_000],
    default_sizes: &[250_000, 500_000, 1_000_000, 2_000_000, 4_000_000],
    threaded: false,
    body: Body::Heap(run),
};

/// Runs the workload; see the module documentation.
pub fn run(heap: &mut dyn Heap, params: &Params) -> Outcome {
    let n_rows = params.size as usize;
    let mut text = String::with_capacity(16);

    heap.phase("build");
    let ids = heap.array(n_rows);
    let prices = heap.array(n_rows);
    let qtys = heap.array(n_rows);
    let names = heap.list(0);
    for index in 0..n_rows {
        heap.floats_mut(ids)[index] = index as f64;
        text.clear();
        write!(text, "item{}", index % 1000).expect("writing to a String");
        let name = heap.str(&text);
        heap.append(names, name);
        heap.release(name);
        heap.floats_mut(prices)[index] = index as f64 * 0.5;
        heap.floats_mut(qtys)[index] = (index % 7) as f64;
    }

    heap.phase("teardown");
    let mut checksum = Checksum::new();
    checksum.word(n_rows as u64);
    for index in 0..n_rows {
        checksum.float(heap.floats(ids)[index]);
        checksum.bytes(heap.str_bytes(heap.get(names, index).expect("a name")));
        checksum.float(heap.floats(prices)[index]);
        checksum.float(heap.floats(qtys)[index]);
    }
    for column in [ids, prices, qtys, names] {
        heap.release(column);
    }
    Outcome { checksum: checksum.finish(), ops: n_rows as u64 }
}
