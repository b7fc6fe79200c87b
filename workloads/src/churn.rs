//! `churn`: a steady live set of mixed objects, replaced at random.
//!
//! What it models: a long-running service or cache whose working set stays
//! the same size while its contents turn over — every size class in use at
//! once, objects dying in no particular order, so that freed blocks are
//! scattered through the heap. In Python:
//!
//! ```python
//! live = [make(rng) for _ in range(size)]
//! for _ in range(4 * size):
//!     i = rng.randrange(size)
//!     digest(live[i])
//!     live[i] = make(rng)
//! ```
//!
//! where `make` returns, with equal odds, an int, a float, a str of 1 to 16
//! letters, a 2-tuple `(int, float)`, or a list of 0 to 3 ints.
//!
//! `size` is the number of objects in the live set (each with its own
//! items); the run makes `4 x size` replacements. An entry averages 1.7
//! objects and about 68 bytes requested with its slot in the list (about 75
//! with the `cycle` collector's GC headers on tuples and lists). At 5
//! million entries, the largest default size, 8.5 million objects hold about
//! 0.35 GB live, and the run allocates 42 million objects, about 1.7 GB, in
//! all (what a `bump` allocator, which never frees, would keep). The default
//! sizes stop there, not at 10 million, for the full sweep's time: each
//! replacement touches a random place of the live set, so a run is bound by
//! memory latency: at 10 million, a minute a run on a 2-core machine, 27
//! minutes for one repetition of the full sweep's 24 strategies, 2.7 hours
//! at the six that `--precision` asks for at least.
//!
//! What it stresses: allocation and freeing across many size classes in
//! random order, reuse of scattered free blocks, and for tracing collectors
//! a large live set traced again and again while little of it changes.
//!
//! Phases: `build` (the live set), `churn` (the replacements), `teardown`
//! (the survivors digested and the list dropped).
//!
//! Checksum: each replaced object's kind and value, read back before it is
//! replaced, then every survivor's. `ops` is the number of replacements.

use heaplab_core::{Checksum, Heap, Kind, Obj, Outcome, Params, Rng};

use crate::{Body, Family, Workload};

/// The registry entry.
pub const WORKLOAD: Workload = Workload {
    name: "churn",
    family: Family::Object,
    summary: "a steady live set of mixed ints, floats, strs, tuples and lists, replaced at random",
    size_meaning: "objects in the live set (4 x size replacements)",
    quick_sizes: &[10_000, 40_000],
    default_sizes: &[312_500, 625_000, 1_250_000, 2_500_000, 5_000_000],
    threaded: false,
    body: Body::Heap(run),
};

/// Replacements made for each object of the live set.
const REPLACEMENTS_PER_OBJECT: u64 = 4;
/// The longest str made.
const MAX_STR_LEN: u64 = 16;
/// The most ints in a list made.
const MAX_LIST_LEN: u64 = 3;

/// Runs the workload; see the module documentation.
pub fn run(heap: &mut dyn Heap, params: &Params) -> Outcome {
    let mut rng = Rng::new(params.seed);
    let mut checksum = Checksum::new();

    heap.phase("build");
    let live = heap.list(0);
    for _ in 0..params.size {
        let obj = make_object(heap, &mut rng);
        heap.append(live, obj);
        heap.release(obj);
    }

    heap.phase("churn");
    let n_replacements = REPLACEMENTS_PER_OBJECT * params.size;
    for _ in 0..n_replacements {
        let index = rng.below(params.size) as usize;
        let old = heap.get(live, index).expect("a hole in the live set");
        digest_object(heap, old, &mut checksum);
        let new = make_object(heap, &mut rng);
        heap.set(live, index, Some(new));
        heap.release(new);
    }

    heap.phase("teardown");
    for index in 0..heap.len(live) {
        let survivor = heap.get(live, index).expect("a hole in the live set");
        digest_object(heap, survivor, &mut checksum);
    }
    heap.release(live);

    Outcome { checksum: checksum.finish(), ops: n_replacements }
}

/// Makes one object of a random kind with random contents; an owned reference.
fn make_object(heap: &mut dyn Heap, rng: &mut Rng) -> Obj {
    match rng.below(5) {
        0 => heap.int(random_int(rng)),
        1 => heap.float(random_float(rng)),
        2 => {
            let len = 1 + rng.below(MAX_STR_LEN);
            let text: String = (0..len).map(|_| char::from(b'a' + rng.below(26) as u8)).collect();
            heap.str(&text)
        }
        3 => {
            let first = heap.int(random_int(rng));
            let second = heap.float(random_float(rng));
            let tuple = heap.tuple(&[first, second]);
            heap.release(first);
            heap.release(second);
            tuple
        }
        _ => {
            let len = rng.below(MAX_LIST_LEN + 1);
            let list = heap.list(len as usize);
            for _ in 0..len {
                let item = heap.int(random_int(rng));
                heap.append(list, item);
                heap.release(item);
            }
            list
        }
    }
}

/// An int, positive or negative, of up to 30 bits or up to 40 bits with
/// equal odds, so that ints of one and of two 30-bit digits (28 and 32
/// bytes) are about as common.
fn random_int(rng: &mut Rng) -> i64 {
    let shift = if rng.below(2) == 0 { 34 } else { 24 };
    (rng.next_u64() as i64) >> shift
}

/// A float in `[0, 1000)`.
fn random_float(rng: &mut Rng) -> f64 {
    rng.below(1 << 53) as f64 / (1u64 << 53) as f64 * 1000.0
}

/// Mixes in an object's kind and value, and those of its items.
fn digest_object(heap: &dyn Heap, obj: Obj, checksum: &mut Checksum) {
    let kind = heap.kind(obj);
    checksum.word(kind as u64);
    match kind {
        Kind::Int => checksum.word(heap.int_value(obj) as u64),
        Kind::Float => checksum.float(heap.float_value(obj)),
        Kind::Str => checksum.bytes(heap.str_bytes(obj)),
        Kind::Tuple | Kind::List => {
            let len = heap.len(obj);
            checksum.word(len as u64);
            for index in 0..len {
                let item = heap.get(obj, index).expect("a hole in a container");
                digest_object(heap, item, checksum);
            }
        }
        Kind::Instance | Kind::Array | Kind::Dict | Kind::Set | Kind::Object => {
            unreachable!("churn makes no {}", kind.name())
        }
    }
}
