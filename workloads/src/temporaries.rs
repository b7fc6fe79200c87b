//! `temporaries` and `temporaries-fused`: `a*b + c*d` elementwise on arrays
//! of N, with a temporary array per operation or in one pass.
//!
//! What it models: the memory cost of evaluating an array expression one
//! operation at a time, as NumPy does, against evaluating it in one fused
//! pass, as `numexpr` or a hand-written `out=` loop does. In Python:
//!
//! ```python
//! a, b, c, d = (rng.random(n) for _ in range(4))   # build
//! out = a * b + c * d          # temporaries: t1 = a*b, t2 = c*d, out = t1 + t2
//! out = numexpr.evaluate("a * b + c * d")          # temporaries-fused: one pass
//! total = out.sum()                                # reduce
//! ```
//!
//! In `temporaries` each operation makes a new array: `t1 = a * b`,
//! `t2 = c * d`, `out = t1 + t2`, and `t1` and `t2` are released once `out`
//! exists, as CPython's reference counts free them at the end of the
//! statement. (NumPy since 1.13 elides the last temporary of such an
//! expression on large arrays by writing `t1 + t2` into `t1`; this models
//! the evaluation without that elision, one new array per operation.) In
//! `temporaries-fused` `out` is the only new array, written in one pass.
//! Each element is `(a*b) + (c*d)`, three roundings, never fused into a
//! multiply-add, so both give `out` bit for bit and the same checksum.
//!
//! `size` is N, the number of elements in each array. The four inputs take
//! 32N bytes; `temporaries` peaks at seven arrays alive (56N bytes: 896 MB at
//! 16 million), `temporaries-fused` at five (40N bytes: 640 MB).
//!
//! What it stresses: the large-block path of the allocator (three large
//! allocations and two large frees against one allocation), page faults on
//! fresh buffers, and memory traffic: the unfused form reads and writes
//! 3 x 3 x 8N bytes, the fused one 5 x 8N.
//!
//! Phases: `build`, `compute`, `reduce`, `teardown`.
//!
//! Checksum: N and the bits of the sum of `out` in the shared blocked order
//! ([`crate::kernels`]), read back. `ops` is N, the elements of `out`.

use heaplab_core::{Heap, Obj, Outcome, Params};

use crate::kernels::{blocked_sum, element_value, sum_outcome};
use crate::{Body, Family, Workload};

/// The registry entry for one temporary array per operation.
pub const WORKLOAD: Workload = Workload {
    name: "temporaries",
    family: Family::Numeric,
    summary: "a*b + c*d on arrays of N, one temporary array per operation (t1 = a*b, t2 = c*d, out = t1 + t2)",
    size_meaning: "elements in each array",
    quick_sizes: &[100_000, 1_000_000],
    default_sizes: &[1_000_000, 2_000_000, 4_000_000, 8_000_000, 16_000_000],
    threaded: false,
    body: Body::Heap(run_with_temporaries),
};

/// The registry entry for the fused, single-pass form.
pub const FUSED: Workload = Workload {
    name: "temporaries-fused",
    family: Family::Numeric,
    summary: "a*b + c*d on arrays of N in one pass into out, without temporaries (numexpr, out=)",
    size_meaning: "elements in each array",
    quick_sizes: WORKLOAD.quick_sizes,
    default_sizes: WORKLOAD.default_sizes,
    threaded: false,
    body: Body::Heap(run_fused),
};

/// How `out` is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Evaluation {
    /// One new array per operation.
    Temporaries,
    /// One pass, no temporaries.
    Fused,
}

/// Runs `temporaries`.
pub fn run_with_temporaries(heap: &mut dyn Heap, params: &Params) -> Outcome {
    run(heap, params, Evaluation::Temporaries)
}

/// Runs `temporaries-fused`.
pub fn run_fused(heap: &mut dyn Heap, params: &Params) -> Outcome {
    run(heap, params, Evaluation::Fused)
}

/// The value streams of the four inputs.
const INPUT_STREAMS: [u64; 4] = [11, 12, 13, 14];

fn run(heap: &mut dyn Heap, params: &Params, evaluation: Evaluation) -> Outcome {
    let n_elements = params.size as usize;

    heap.phase("build");
    let [a, b, c, d] = INPUT_STREAMS.map(|stream| random_array(heap, n_elements, params.seed, stream));

    heap.phase("compute");
    let out = match evaluation {
        Evaluation::Temporaries => {
            let t1 = elementwise(heap, a, b, |x, y| x * y);
            let t2 = elementwise(heap, c, d, |x, y| x * y);
            let out = elementwise(heap, t1, t2, |x, y| x + y);
            heap.release(t1);
            heap.release(t2);
            out
        }
        Evaluation::Fused => {
            let out = heap.array(n_elements);
            let (inputs, outputs) = heap.floats_zip(&[a, b, c, d], out);
            let columns = inputs[0].iter().zip(inputs[1]).zip(inputs[2]).zip(inputs[3]);
            for (output, (((&a_i, &b_i), &c_i), &d_i)) in outputs.iter_mut().zip(columns) {
                *output = a_i * b_i + c_i * d_i;
            }
            out
        }
    };

    heap.phase("reduce");
    let total = blocked_sum(heap.floats(out));

    heap.phase("teardown");
    for array in [a, b, c, d, out] {
        heap.release(array);
    }

    sum_outcome(params.size, total)
}

/// A new array of `n_elements` values of `stream`.
fn random_array(heap: &mut dyn Heap, n_elements: usize, seed: u64, stream: u64) -> Obj {
    let array = heap.array(n_elements);
    for (index, slot) in heap.floats_mut(array).iter_mut().enumerate() {
        *slot = element_value(seed, stream, index as u64);
    }
    array
}

/// A new array holding `operation(left[i], right[i])` for every `i`: one NumPy binary operation.
fn elementwise(heap: &mut dyn Heap, left: Obj, right: Obj, operation: impl Fn(f64, f64) -> f64) -> Obj {
    let n_elements = heap.len(left);
    let out = heap.array(n_elements);
    let (inputs, outputs) = heap.floats_zip(&[left, right], out);
    for ((output, &x), &y) in outputs.iter_mut().zip(inputs[0]).zip(inputs[1]) {
        *output = operation(x, y);
    }
    out
}
