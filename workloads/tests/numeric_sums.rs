//! The sum workloads — `boxed-sum`, `array-sum`, `chunked`, `par-map-reduce`
//! — compute one sum: the same checksum on every strategy, in every form,
//! at every thread count; and their memory is what their documentation says.

mod common;

use common::{
    Run, assert_same_checksum, available_allocators, params_threads, run_everywhere, run_on, run_once,
    workload,
};
use heaplab_workloads::kernels::BLOCK;

/// A size that ends in the middle of a second block, so a block boundary and a short last block are exercised.
const ACROSS_BLOCKS: u64 = BLOCK as u64 + 13;

/// Every run of one sum workload at `size`: every strategy, and for
/// `par-map-reduce` every allocator at one, two and three threads.
fn runs_of(name: &str, size: u64, seed: u64) -> Vec<Run> {
    let workload = workload(name);
    if workload.threaded {
        [1, 2, 3]
            .into_iter()
            .flat_map(|threads| run_everywhere(workload, &params_threads(size, threads, seed)))
            .collect()
    } else {
        run_everywhere(workload, &params_threads(size, 1, seed))
    }
}

#[test]
fn every_form_of_the_sum_gives_one_checksum_on_every_strategy() {
    let check = |size: u64| {
        let mut runs = Vec::new();
        for name in ["boxed-sum", "array-sum", "chunked", "par-map-reduce"] {
            let runs_of_one = runs_of(name, size, 7);
            assert_same_checksum(&runs_of_one, &format!("{name} at {size}"));
            runs.push(runs_of_one.into_iter().next().expect("at least one strategy"));
        }
        assert_same_checksum(&runs, &format!("the four sums at {size}"));
    };
    check(1);
    check(9);
    check(1_000);
}

#[test]
fn the_forms_agree_across_block_boundaries() {
    let check = |name: &str, collector: &'static str, allocator: &str, threads: u32| {
        let workload = workload(name);
        let run = run_on(workload, collector, allocator, &params_threads(ACROSS_BLOCKS, threads, 3));
        let reference = run_once(self::workload("array-sum"), &params_threads(ACROSS_BLOCKS, 1, 3));
        assert_eq!(run.outcome.checksum, reference.outcome.checksum, "{name} on {}", run.strategy);
    };
    check("boxed-sum", "marksweep", "pymalloc", 1);
    check("chunked", "cycle", "jemalloc", 1);
    check("par-map-reduce", "", "pymalloc", 2);
    check("par-map-reduce", "", "system", 3);
}

#[test]
fn the_checksum_depends_on_the_seed_and_the_size() {
    let checksum = |name: &str, size: u64, seed: u64| {
        run_once(workload(name), &params_threads(size, 1, seed)).outcome.checksum
    };
    for name in ["boxed-sum", "array-sum", "chunked", "par-map-reduce"] {
        assert_ne!(checksum(name, 100, 1), checksum(name, 100, 2), "{name}: seeds 1 and 2");
        assert_ne!(checksum(name, 100, 1), checksum(name, 101, 1), "{name}: sizes 100 and 101");
    }
}

#[test]
fn phases_are_the_documented_ones() {
    let check = |name: &str, expected: &[&str]| {
        for run in runs_of(name, 100, 1) {
            assert_eq!(run.phase_names(), expected, "{name} on {}", run.strategy);
        }
    };
    check("boxed-sum", &["build", "map", "reduce", "teardown"]);
    check("array-sum", &["build", "map", "reduce", "teardown"]);
    check("chunked", &["stream"]);
    check("par-map-reduce", &["map-reduce"]);
}

#[test]
fn ops_count_the_elements() {
    for name in ["boxed-sum", "array-sum", "chunked", "par-map-reduce"] {
        for size in [1, 77, 1_000] {
            assert_eq!(
                run_once(workload(name), &params_threads(size, 1, 1)).outcome.ops,
                size,
                "{name} at {size}"
            );
        }
    }
}

#[test]
fn boxed_floats_hold_about_four_times_the_bytes_of_arrays() {
    // On pure refcount nothing dropped lingers, so peak live bytes are what the workload holds.
    let check = |collector: &'static str, size: u64| {
        let peak = |name: &str| {
            let run = run_on(workload(name), collector, "system", &params_threads(size, 1, 1));
            run.heap_stats().peak_live_bytes as f64
        };
        let ratio = peak("boxed-sum") / peak("array-sum");
        assert!((3.9..=4.1).contains(&ratio), "{collector} at {size}: boxed / array = {ratio}");
    };
    check("refcount", 10_000);
    check("cycle", 10_000);
    check("refcount", 30_000);
}

#[test]
fn both_lists_or_arrays_are_alive_until_teardown() {
    let check = |name: &str, bytes_per_element: u64| {
        let size = 5_000;
        let run = run_once(workload(name), &params_threads(size, 1, 1));
        assert!(run.live_bytes_after("build") >= size * bytes_per_element / 2, "{name}: build");
        assert!(run.live_bytes_after("reduce") >= size * bytes_per_element, "{name}: reduce");
        assert_eq!(run.live_bytes_after("teardown"), 0, "{name}: teardown");
    };
    check("boxed-sum", 64);
    check("array-sum", 16);
}

#[test]
fn chunked_peak_is_bounded_by_two_chunks_whatever_the_size() {
    let two_chunks = 2 * (64 + 8 * BLOCK as u64);
    let check = |size: u64| {
        let chunked = run_once(workload("chunked"), &params_threads(size, 1, 1));
        let whole = run_once(workload("array-sum"), &params_threads(size, 1, 1));
        let chunked_peak = chunked.heap_stats().peak_live_bytes;
        assert!(chunked_peak <= two_chunks, "size {size}: chunked peaks at {chunked_peak}");
        assert!(whole.heap_stats().peak_live_bytes >= 16 * size, "size {size}: array-sum peaks too low");
        assert_eq!(chunked.heap_stats().live_bytes, 0, "size {size}: chunks left alive");
    };
    check(1_000);
    check(ACROSS_BLOCKS);
    check(8 * BLOCK as u64);
}

#[test]
fn par_map_reduce_frees_every_buffer_it_allocates() {
    for allocator in available_allocators() {
        for threads in [1, 2, 3] {
            let run =
                run_on(workload("par-map-reduce"), "", allocator, &params_threads(ACROSS_BLOCKS, threads, 1));
            let Some(counters) = run.alloc_counters else { continue };
            assert_eq!(counters.n_allocs, 2 * 2, "{}: two buffers for each of two chunks", run.strategy);
            assert_eq!(counters.n_frees, counters.n_allocs, "{}", run.strategy);
            assert_eq!(counters.live_bytes, 0, "{}", run.strategy);
        }
    }
}
