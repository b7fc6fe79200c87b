//! The workloads that run on an allocator — `bandwidth`, `xmalloc`,
//! `larson` — give one checksum on every allocator and at every thread
//! count, mark their phases, free what they allocate, and count their ops.

mod common;

use common::{Run, assert_same_checksum, available_allocators, params_threads, run_on, run_once, workload};
use heaplab_workloads::larson::{ARRAYS, ROUNDS, SLOTS};

/// `name` on every available allocator at one, two and three threads.
fn runs_at_thread_counts(name: &str, size: u64, seed: u64) -> Vec<Run> {
    let mut runs = Vec::new();
    for allocator in available_allocators() {
        for threads in [1, 2, 3] {
            runs.push(run_on(workload(name), "", allocator, &params_threads(size, threads, seed)));
        }
    }
    runs
}

#[test]
fn xmalloc_gives_one_checksum_on_every_allocator_and_thread_count_and_frees_every_block() {
    for size in [1, 63, 64, 65, 3_000] {
        let runs = runs_at_thread_counts("xmalloc", size, 2);
        assert_same_checksum(&runs, &format!("xmalloc at {size}"));
        for run in runs {
            let what = format!("{} at {size}", run.strategy);
            assert_eq!(run.outcome.ops, size, "{what}");
            assert_eq!(run.phase_names(), ["exchange"], "{what}");
            let Some(counters) = run.alloc_counters else { continue };
            assert_eq!((counters.n_allocs, counters.n_frees), (size, size), "{what}");
            assert_eq!(counters.live_bytes, 0, "{what}");
        }
    }
}

#[test]
fn larson_gives_one_checksum_on_every_allocator_and_thread_count_and_frees_every_block() {
    // 3,000 replacements are 7 for each of 48 arrays in each of 8 rounds.
    let (size, replacements) = (3_000, 7 * (ARRAYS * ROUNDS) as u64);
    let runs = runs_at_thread_counts("larson", size, 2);
    assert_same_checksum(&runs, "larson");
    for run in runs {
        let what = &run.strategy;
        assert_eq!(run.outcome.ops, replacements, "{what}");
        assert_eq!(run.phase_names(), ["fill", "rounds", "teardown"], "{what}");
        let Some(counters) = run.alloc_counters else { continue };
        let blocks = (SLOTS * ARRAYS) as u64 + replacements;
        assert_eq!((counters.n_allocs, counters.n_frees), (blocks, blocks), "{what}");
        assert_eq!(counters.live_bytes, 0, "{what}");
    }
}

#[test]
fn bandwidth_gives_one_checksum_on_every_allocator() {
    for size in [1, 9, 100_000] {
        let runs: Vec<Run> = available_allocators()
            .into_iter()
            .map(|allocator| run_on(workload("bandwidth"), "", allocator, &params_threads(size, 1, 2)))
            .collect();
        assert_same_checksum(&runs, &format!("bandwidth at {size}"));
    }
}

#[test]
fn the_checksum_depends_on_the_seed_and_the_size() {
    let checksum = |name: &str, size: u64, seed: u64| {
        run_once(workload(name), &params_threads(size, 1, seed)).outcome.checksum
    };
    for (name, size) in [("xmalloc", 1_000), ("larson", 1_000), ("bandwidth", 1_000)] {
        assert_ne!(checksum(name, size, 1), checksum(name, size, 2), "{name}: seeds 1 and 2");
    }
    assert_ne!(checksum("xmalloc", 1_000, 1), checksum("xmalloc", 1_001, 1), "xmalloc: sizes");
    assert_ne!(checksum("larson", 1_000, 1), checksum("larson", 2_000, 1), "larson: sizes");
    assert_ne!(checksum("bandwidth", 1_000, 1), checksum("bandwidth", 1_001, 1), "bandwidth: sizes");
}

#[test]
fn bandwidth_reads_one_block_of_eight_bytes_an_element() {
    let check = |size: u64| {
        let run = run_once(workload("bandwidth"), &params_threads(size, 1, 1));
        assert_eq!(run.outcome.ops, 8 * size, "size {size}");
        let counters = run.alloc_counters.expect("the system allocator counts");
        assert_eq!((counters.n_allocs, counters.n_frees), (1, 1), "size {size}");
        assert_eq!(counters.peak_live_bytes, 8 * size, "size {size}");
        assert_eq!(run.live_bytes_after("read"), 8 * size, "size {size}: the block is alive while read");
        assert_eq!(run.phase_names(), ["fill", "read", "teardown"], "size {size}");
    };
    check(1);
    check(1_000);
}

#[test]
fn larson_arrays_are_kept_alive_between_rounds() {
    // The live set after the fill and after the rounds is every slot's block.
    let run = run_on(workload("larson"), "", "pymalloc", &params_threads(2_000, 2, 1));
    let counted_blocks_alive = |phase: &str| {
        let record = run.phases.iter().find(|record| record.name == phase).expect("the phase ran");
        let counters = record.alloc.counters.expect("pymalloc counts");
        counters.n_allocs - counters.n_frees
    };
    assert_eq!(counted_blocks_alive("fill"), (ARRAYS * SLOTS) as u64);
    assert_eq!(counted_blocks_alive("rounds"), (ARRAYS * SLOTS) as u64);
    assert_eq!(counted_blocks_alive("teardown"), 0);
}
