//! gc-traverse: exactly five full collections over a heap where nothing is garbage.

mod calibrate_support;

use calibrate_support::{params, run_heap};
use heaplab_gc::GcConfig;
use heaplab_workloads::gc_traverse::FULL_COLLECTIONS;

#[test]
fn the_collect_phase_is_five_full_collections_that_free_nothing() {
    let check = |size: u64| {
        let run = run_heap("gc-traverse", "cycle", "pymalloc", &GcConfig::default(), &params(size, 1));
        assert_eq!(run.phase_names(), ["build", "collect", "teardown"]);
        let (build, collect) = (run.phase("build"), run.phase("collect"));
        assert_eq!(collect.collections - build.collections, FULL_COLLECTIONS, "{size} lists");
        assert_eq!(collect.live_bytes, build.live_bytes, "{size} lists: a collection freed something");
        // Too few allocations for an automatic full collection: every full one is the workload's.
        assert_eq!(run.stats.collections_by_gen[2], FULL_COLLECTIONS, "{size} lists");
        assert_eq!(run.stats.live_objects, 0, "{size} lists: teardown left objects");
    };
    check(1);
    check(700);
    check(5_000);
}

#[test]
fn marksweep_also_collects_five_times_and_frees_nothing() {
    let run = run_heap("gc-traverse", "marksweep", "system", &GcConfig::default(), &params(2_000, 1));
    let (build, collect) = (run.phase("build"), run.phase("collect"));
    assert_eq!(collect.collections - build.collections, FULL_COLLECTIONS);
    assert_eq!(collect.live_bytes, build.live_bytes);
}

#[test]
fn every_strategy_reads_back_the_same_lists() {
    let reference =
        run_heap("gc-traverse", "refcount", "system", &GcConfig::default(), &params(3_000, 1)).outcome;
    assert_eq!(reference.ops, 3_000);
    for collector in ["refcount", "cycle", "marksweep"] {
        for allocator in ["system", "pymalloc", "bump"] {
            let run = run_heap("gc-traverse", collector, allocator, &GcConfig::default(), &params(3_000, 1));
            assert_eq!(run.outcome, reference, "{collector}+{allocator}");
        }
    }
}
