//! `temporaries`, `matmul` and `groupby`: the same result on every strategy
//! and in both forms, the documented phases, and the objects and arrays
//! each form allocates.

mod common;

use common::{assert_same_checksum, params_threads, run_everywhere, run_once, workload};

#[test]
fn temporaries_and_fused_give_one_checksum_on_every_strategy() {
    let check = |size: u64| {
        let mut runs = run_everywhere(workload("temporaries"), &params_threads(size, 1, 4));
        runs.extend(run_everywhere(workload("temporaries-fused"), &params_threads(size, 1, 4)));
        assert_same_checksum(&runs, &format!("temporaries at {size}"));
    };
    check(1);
    check(1_000);
    check(70_000);
}

#[test]
fn matmul_boxed_and_array_give_one_product_on_every_strategy() {
    let check = |n: u64| {
        let mut runs = run_everywhere(workload("matmul-boxed"), &params_threads(n, 1, 5));
        runs.extend(run_everywhere(workload("matmul-array"), &params_threads(n, 1, 5)));
        assert_same_checksum(&runs, &format!("matmul at {n}"));
    };
    check(1);
    check(7);
    check(16);
}

#[test]
fn groupby_gives_one_checksum_on_every_strategy() {
    let check = |size: u64| {
        let runs = run_everywhere(workload("groupby"), &params_threads(size, 1, 6));
        assert_same_checksum(&runs, &format!("groupby at {size}"));
    };
    check(1);
    check(10);
    check(2_000);
}

#[test]
fn the_checksum_depends_on_the_seed_and_the_size() {
    let checksum = |name: &str, size: u64, seed: u64| {
        run_once(workload(name), &params_threads(size, 1, seed)).outcome.checksum
    };
    for (name, size) in
        [("temporaries", 100), ("temporaries-fused", 100), ("matmul-boxed", 5), ("matmul-array", 5)]
    {
        assert_ne!(checksum(name, size, 1), checksum(name, size, 2), "{name}: seeds 1 and 2");
        assert_ne!(checksum(name, size, 1), checksum(name, size + 1, 1), "{name}: sizes");
    }
    assert_ne!(checksum("groupby", 1_000, 1), checksum("groupby", 1_000, 2), "groupby: seeds 1 and 2");
    assert_ne!(checksum("groupby", 1_000, 1), checksum("groupby", 1_001, 1), "groupby: sizes");
}

#[test]
fn phases_are_the_documented_ones() {
    let check = |name: &str, size: u64, expected: &[&str]| {
        for run in run_everywhere(workload(name), &params_threads(size, 1, 1)) {
            assert_eq!(run.phase_names(), expected, "{name} on {}", run.strategy);
        }
    };
    check("temporaries", 100, &["build", "compute", "reduce", "teardown"]);
    check("temporaries-fused", 100, &["build", "compute", "reduce", "teardown"]);
    check("matmul-boxed", 4, &["build", "multiply", "teardown"]);
    check("matmul-array", 4, &["build", "multiply", "teardown"]);
    check("groupby", 100, &["build", "aggregate", "teardown"]);
}

#[test]
fn every_heap_workload_here_leaves_nothing_live() {
    let check = |name: &str, size: u64| {
        for run in run_everywhere(workload(name), &params_threads(size, 1, 1)) {
            let stats = run.heap_stats();
            assert_eq!(stats.live_objects, 0, "{name} on {}", run.strategy);
            assert_eq!(stats.live_bytes, 0, "{name} on {}", run.strategy);
            assert_eq!(stats.leaked_bytes, 0, "{name} on {}", run.strategy);
        }
    };
    for (name, size) in [
        ("boxed-sum", 500),
        ("array-sum", 500),
        ("chunked", 500),
        ("temporaries", 500),
        ("temporaries-fused", 500),
        ("matmul-boxed", 6),
        ("matmul-array", 6),
        ("groupby", 500),
    ] {
        check(name, size);
    }
}

#[test]
fn temporaries_hold_seven_arrays_at_their_peak_and_fused_five() {
    let check = |name: &str, arrays: u64| {
        let size = 10_000;
        let stats = run_once(workload(name), &params_threads(size, 1, 1)).heap_stats().clone();
        assert_eq!(stats.peak_live_bytes, arrays * (64 + 8 * size), "{name}");
        assert_eq!(stats.allocated_objects, arrays, "{name}");
    };
    check("temporaries", 7);
    check("temporaries-fused", 5);
}

#[test]
fn matmul_boxed_allocates_a_float_per_multiply_add() {
    let check = |n: u64| {
        let run = run_once(workload("matmul-boxed"), &params_threads(n, 1, 1));
        assert_eq!(run.outcome.ops, n * n * n, "n = {n}");
        // A and B: a list, n rows, n² floats each; C: a list, n rows and one shared zero.
        let built = 2 * (1 + n + n * n) + (1 + n + 1);
        assert_eq!(run.heap_stats().allocated_objects, built + n * n * n, "n = {n}");
    };
    check(1);
    check(3);
    check(10);
}

#[test]
fn matmul_array_allocates_three_arrays() {
    let run = run_once(workload("matmul-array"), &params_threads(10, 1, 1));
    assert_eq!(run.outcome.ops, 1_000);
    assert_eq!(run.heap_stats().allocated_objects, 3);
}

#[test]
fn groupby_allocates_three_objects_a_record_and_a_float_an_update() {
    let check = |size: u64| {
        let run = run_once(workload("groupby"), &params_threads(size, 1, 1));
        assert_eq!(run.outcome.ops, size, "size {size}");
        // Each record: an int, a float, a tuple; each update: a float. Plus two lists and one zero.
        assert_eq!(run.heap_stats().allocated_objects, 4 * size + 3, "size {size}");
    };
    check(1);
    check(100);
    check(4_321);
}
