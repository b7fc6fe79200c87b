//! What every workload leaves behind, which phases it marks, and what it counts as operations.

mod common;

use common::{covered, params, run_everywhere, run_on, run_once, small_size, workload};

#[test]
fn phases_are_the_documented_ones() {
    let check = |name: &str, expected: &[&str]| {
        let workload = workload(name);
        for run in run_everywhere(workload, &params(small_size(workload), 1)) {
            assert_eq!(run.phase_names(), expected, "{name} on {}", run.strategy);
        }
    };
    check("binary-trees", &["build", "churn", "teardown"]);
    check("cyclic-garbage", &["rings", "trees"]);
    check("churn", &["build", "churn", "teardown"]);
    check("fragmentation", &["build", "free", "reuse", "teardown"]);
    check("fragmentation-contiguous", &["build", "free", "reuse", "teardown"]);
    check("alloc-sizes", &["lifo", "fifo", "random"]);
}

#[test]
fn heap_workloads_leave_nothing_live_where_the_collector_reclaims_what_they_drop() {
    for workload in covered().filter(|workload| workload.runs_on_heap()) {
        for run in run_everywhere(workload, &params(small_size(workload), 1)) {
            let makes_cycles = workload.name == "cyclic-garbage";
            if makes_cycles && !run.reclaims_cycles() {
                continue;
            }
            let stats = run.heap_stats();
            let what = format!("{} on {}", workload.name, run.strategy);
            assert_eq!(stats.live_objects, 0, "{what}: objects still live after finish");
            assert_eq!(stats.live_bytes, 0, "{what}: bytes still live after finish");
            assert_eq!(stats.leaked_bytes, 0, "{what}: bytes leaked");
        }
    }
}

#[test]
fn allocator_workloads_free_every_block() {
    for workload in covered().filter(|workload| !workload.runs_on_heap()) {
        for run in run_everywhere(workload, &params(small_size(workload), 1)) {
            let Some(counters) = run.alloc_counters else {
                continue;
            };
            let what = format!("{} on {}", workload.name, run.strategy);
            assert_eq!(counters.live_bytes, 0, "{what}: bytes still allocated");
            assert_eq!(counters.n_allocs, counters.n_frees, "{what}: allocations without frees");
        }
    }
}

/// Objects `cyclic-garbage` makes at `size`: a ring node is an instance and
/// an int, a tree node an instance, an int and a list of its children.
fn cyclic_garbage_objects(size: u64) -> u64 {
    let ring_nodes = size / 2;
    let tree_nodes = size - ring_nodes;
    2 * ring_nodes + 3 * tree_nodes
}

#[test]
fn pure_refcount_leaks_every_object_of_cyclic_garbage() {
    let check = |size: u64| {
        let run = run_on(workload("cyclic-garbage"), "refcount", "system", &params(size, 1));
        let stats = run.heap_stats();
        assert_eq!(stats.leaked_objects, cyclic_garbage_objects(size), "size {size}");
        assert!(stats.leaked_bytes > 0, "size {size}");
        // The allocator's own count, independent of the heap's bookkeeping: every leaked byte
        // is still allocated, and nothing else is.
        let still_allocated = run.alloc_counters.expect("the system allocator counts").live_bytes;
        assert_eq!(stats.leaked_bytes, still_allocated, "size {size}: leaked against still allocated");
    };
    // Sizes 1 and 2 leave room only for a one-node tree, which is no cycle.
    check(3);
    check(1_000);
    check(5_001);
}

#[test]
fn collectors_that_find_cycles_leak_nothing_of_cyclic_garbage_and_reclaim_it_as_it_goes() {
    let check = |collector: &'static str, allocator: &str| {
        let size = 40_000;
        let run = run_on(workload("cyclic-garbage"), collector, allocator, &params(size, 1));
        let stats = run.heap_stats();
        let what = format!("{collector}+{allocator}");
        assert_eq!(stats.leaked_bytes, 0, "{what}");
        assert_eq!(stats.live_objects, 0, "{what}");
        assert_eq!(stats.allocated_objects, cyclic_garbage_objects(size), "{what}");
        // Batches of about 4,096 nodes become garbage one after another: a collector
        // that reclaims them during the run never holds more than half of them at once.
        assert!(stats.peak_live_objects < stats.allocated_objects / 2, "{what}: peak {stats:?}");
    };
    check("marksweep", "system");
    check("marksweep", "pymalloc");
    check("cycle", "system");
    check("cycle", "pymalloc");
}

#[test]
fn cyclic_garbage_builds_the_nodes_it_counts() {
    let check = |size: u64| {
        let run = run_once(workload("cyclic-garbage"), &params(size, 3));
        assert_eq!(run.outcome.ops, size);
        assert_eq!(run.heap_stats().allocated_objects, cyclic_garbage_objects(size), "size {size}");
    };
    check(1);
    check(4_096);
    check(4_097);
    check(10_000);
}

#[test]
fn binary_trees_counts_every_node_it_allocates() {
    let check = |depth: u64, expected_nodes: u64| {
        let run = run_once(workload("binary-trees"), &params(depth, 1));
        assert_eq!(run.outcome.ops, expected_nodes, "depth {depth}");
        assert_eq!(run.heap_stats().allocated_objects, expected_nodes, "depth {depth}");
    };
    // Depth 1: a 3-node long-lived tree, and 16 short-lived trees of depth 1.
    check(1, 3 + 16 * 3);
    // Depth 4: 31 nodes long-lived, 16 trees of depth 4.
    check(4, 31 + 16 * 31);
    // Depth 6: 127 nodes long-lived, 64 trees of depth 4 and 16 of depth 6.
    check(6, 127 + 64 * 31 + 16 * 127);
}

#[test]
fn churn_replaces_four_times_its_live_set() {
    let check = |size: u64| {
        let run = run_once(workload("churn"), &params(size, 5));
        assert_eq!(run.outcome.ops, 4 * size, "size {size}");
        assert!(run.heap_stats().peak_live_objects >= size, "size {size}: the live set was never whole");
    };
    check(1);
    check(100);
    check(2_000);
}

#[test]
fn fragmentation_allocates_floats_then_a_tenth_as_many_strs() {
    let check = |name: &str, size: u64| {
        let run = run_once(workload(name), &params(size, 1));
        let objects = size + size / 10;
        assert_eq!(run.outcome.ops, objects, "{name} at {size}");
        // Three lists: all the floats, the survivors, the new strs.
        assert_eq!(run.heap_stats().allocated_objects, objects + 3, "{name} at {size}");
    };
    for name in ["fragmentation", "fragmentation-contiguous"] {
        check(name, 1);
        check(name, 99);
        check(name, 5_000);
    }
}

#[test]
fn fragmentation_keeps_one_float_in_a_hundred_through_the_reuse_phase() {
    // On pure refcount (run_once's collector), what is dropped is freed at once,
    // so the live bytes at the end of a phase are what the workload holds.
    let check = |name: &str, size: u64, survivors: u64| {
        let run = run_once(workload(name), &params(size, 1));
        let live_at_end = |phase: &str| {
            let record = run.phases.iter().find(|record| record.name == phase).expect("the phase ran");
            record.live_bytes
        };
        let float_bytes = 24;
        let str_bytes = 57;
        let kept_bytes = survivors * float_bytes;
        assert!(live_at_end("free") >= kept_bytes, "{name}: survivors freed early");
        assert!(live_at_end("free") < size * float_bytes / 10, "{name}: too much kept after free");
        assert!(live_at_end("reuse") >= kept_bytes + size / 10 * str_bytes, "{name}: reuse lost objects");
    };
    check("fragmentation", 10_000, 100);
    check("fragmentation-contiguous", 10_000, 100);
}

#[test]
fn alloc_sizes_counts_every_block_it_allocates() {
    let check = |size: u64, expected_blocks: u64| {
        let run = run_once(workload("alloc-sizes"), &params(size, 1));
        assert_eq!(run.outcome.ops, expected_blocks, "size {size}");
        let counters = run.alloc_counters.expect("the system allocator counts");
        assert_eq!(counters.n_allocs, expected_blocks, "size {size}");
        assert_eq!(counters.n_frees, expected_blocks, "size {size}");
    };
    // Three phases of two rounds; a round is a batch of each of 32 small and 4 large sizes.
    check(1, 3 * 2 * (32 + 4));
    // The large sizes get 51,200 bytes' worth: 66 of 768, 50 of 1024, 12 of 4096, 1 of 32768.
    check(100, 3 * 2 * (32 * 100 + 66 + 50 + 12 + 1));
}
