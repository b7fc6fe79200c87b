//! `matmul-boxed` and `matmul-array`: C = A x B for N x N matrices of
//! floats, as lists of lists of boxed floats and as contiguous arrays.
//!
//! What it models: dense linear algebra written in pure Python against the
//! same loop over NumPy-like buffers. In Python:
//!
//! ```python
//! A = [[random() for _ in range(n)] for _ in range(n)]   # build (B alike)
//! C = [[0.0] * n for _ in range(n)]
//! for i in range(n):                                     # multiply
//!     row_a, row_c = A[i], C[i]
//!     for k in range(n):
//!         a_ik, row_b = row_a[k], B[k]
//!         for j in range(n):
//!             row_c[j] = row_c[j] + a_ik * row_b[j]
//! ```
//!
//! Both forms use this i-k-j loop (the cache-friendly order for row-major
//! data), so every `C[i][j]` is `0.0 + A[i][0]*B[0][j] + A[i][1]*B[1][j] + …`
//! added in the same order, and the two products are equal bit for bit. In
//! `matmul-boxed` every multiply-add stores a new float into the row of C
//! and frees the one it replaces: one allocation per multiply-add (CPython
//! also boxes the product `a_ik * row_b[j]`, a float that dies at once and
//! comes from its float free list; the model allocates only the result).
//! In `matmul-array` the matrices are three arrays of N² f64, row-major,
//! and the inner loop runs over slices.
//!
//! `size` is N. The boxed form holds three matrices of N² floats and
//! references (32 bytes an element) and N row lists each: about 96 N²
//! bytes, 8.6 MB at N = 300, and allocates N³ floats (27 million at 300);
//! the array form holds 24 N² bytes and allocates three buffers. The work
//! is N³ multiply-adds either way.
//!
//! What it stresses: for the boxed form, the allocator's fast path and the
//! collector's bookkeeping on a steady stream of short-lived floats with a
//! constant live set; for the array form, nothing but arithmetic — the
//! lower bound the boxed form is measured against.
//!
//! Phases: `build`, `multiply`, `teardown`.
//!
//! Checksum: N and every element of C, row by row, read back.
//! `ops` is N³, the multiply-adds.

use heaplab_core::{Checksum, Heap, Obj, Outcome, Params};

use crate::kernels::element_value;
use crate::{Body, Family, Workload};

/// The registry entry for lists of lists of boxed floats.
pub const WORKLOAD: Workload = Workload {
    name: "matmul-boxed",
    family: Family::Numeric,
    summary: "C = A x B for N x N lists of lists of boxed floats, a new float per multiply-add (i-k-j loop)",
    size_meaning: "rows and columns of each matrix (N^3 multiply-adds)",
    quick_sizes: &[32, 64],
    default_sizes: &[50, 80, 125, 200, 300],
    threaded: false,
    body: Body::Heap(run_boxed),
};

/// The registry entry for contiguous row-major arrays.
pub const ARRAY: Workload = Workload {
    name: "matmul-array",
    family: Family::Numeric,
    summary: "C = A x B for N x N contiguous row-major arrays of f64 (i-k-j loop)",
    size_meaning: "rows and columns of each matrix (N^3 multiply-adds)",
    quick_sizes: WORKLOAD.quick_sizes,
    default_sizes: WORKLOAD.default_sizes,
    threaded: false,
    body: Body::Heap(run_array),
};

/// The value stream of A.
const STREAM_A: u64 = 21;
/// The value stream of B.
const STREAM_B: u64 = 22;

/// Runs `matmul-boxed`.
pub fn run_boxed(heap: &mut dyn Heap, params: &Params) -> Outcome {
    let n = params.size as usize;

    heap.phase("build");
    let matrix_a =
        boxed_matrix(heap, n, |row, column| element_value(params.seed, STREAM_A, (row * n + column) as u64));
    let matrix_b =
        boxed_matrix(heap, n, |row, column| element_value(params.seed, STREAM_B, (row * n + column) as u64));
    let matrix_c = heap.list(0);
    let zero = heap.float(0.0);
    for _ in 0..n {
        let row = heap.list(0);
        for _ in 0..n {
            heap.append(row, zero);
        }
        heap.append(matrix_c, row);
        heap.release(row);
    }
    heap.release(zero);

    heap.phase("multiply");
    for i in 0..n {
        let row_a = heap.get(matrix_a, i).expect("a row of A");
        let row_c = heap.get(matrix_c, i).expect("a row of C");
        for k in 0..n {
            let a_ik = heap.float_value(heap.get(row_a, k).expect("an element of A"));
            let row_b = heap.get(matrix_b, k).expect("a row of B");
            for j in 0..n {
                let b_kj = heap.float_value(heap.get(row_b, j).expect("an element of B"));
                let c_ij = heap.float_value(heap.get(row_c, j).expect("an element of C"));
                let updated = heap.float(c_ij + a_ik * b_kj);
                heap.set(row_c, j, Some(updated));
                heap.release(updated);
            }
        }
    }
    let mut checksum = Checksum::new();
    checksum.word(n as u64);
    for i in 0..n {
        let row_c = heap.get(matrix_c, i).expect("a row of C");
        for j in 0..n {
            checksum.float(heap.float_value(heap.get(row_c, j).expect("an element of C")));
        }
    }

    heap.phase("teardown");
    for matrix in [matrix_a, matrix_b, matrix_c] {
        heap.release(matrix);
    }

    Outcome { checksum: checksum.finish(), ops: multiply_adds(params.size) }
}

/// Runs `matmul-array`.
pub fn run_array(heap: &mut dyn Heap, params: &Params) -> Outcome {
    let n = params.size as usize;

    heap.phase("build");
    let matrix_a = random_array(heap, n * n, params.seed, STREAM_A);
    let matrix_b = random_array(heap, n * n, params.seed, STREAM_B);
    let matrix_c = heap.array(n * n);

    heap.phase("multiply");
    let (inputs, c) = heap.floats_zip(&[matrix_a, matrix_b], matrix_c);
    let (a, b) = (inputs[0], inputs[1]);
    for (row_a, row_c) in a.chunks_exact(n).zip(c.chunks_exact_mut(n)) {
        for (&a_ik, row_b) in row_a.iter().zip(b.chunks_exact(n)) {
            for (c_ij, &b_kj) in row_c.iter_mut().zip(row_b) {
                *c_ij += a_ik * b_kj;
            }
        }
    }
    let mut checksum = Checksum::new();
    checksum.word(n as u64);
    for &c_ij in heap.floats(matrix_c) {
        checksum.float(c_ij);
    }

    heap.phase("teardown");
    for matrix in [matrix_a, matrix_b, matrix_c] {
        heap.release(matrix);
    }

    Outcome { checksum: checksum.finish(), ops: multiply_adds(params.size) }
}

/// N³.
fn multiply_adds(n: u64) -> u64 {
    n * n * n
}

/// A new list of `n` rows, each a new list of `n` new floats `value(row, column)`, grown by appends.
fn boxed_matrix(heap: &mut dyn Heap, n: usize, value: impl Fn(usize, usize) -> f64) -> Obj {
    let matrix = heap.list(0);
    for row_index in 0..n {
        let row = heap.list(0);
        for column in 0..n {
            let element = heap.float(value(row_index, column));
            heap.append(row, element);
            heap.release(element);
        }
        heap.append(matrix, row);
        heap.release(row);
    }
    matrix
}

/// A new array of `len` values of `stream`.
fn random_array(heap: &mut dyn Heap, len: usize, seed: u64, stream: u64) -> Obj {
    let array = heap.array(len);
    for (index, slot) in heap.floats_mut(array).iter_mut().enumerate() {
        *slot = element_value(seed, stream, index as u64);
    }
    array
}
