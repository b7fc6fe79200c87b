//! Every covered workload gives the same checksum and the same operation count on
//! every strategy available here, and its checksum follows its result.

mod common;

use common::{covered, params, run_everywhere, run_once, small_size, workload};

#[test]
fn every_workload_agrees_on_every_strategy() {
    for workload in covered() {
        let runs = run_everywhere(workload, &params(small_size(workload), 1));
        assert!(runs.len() >= 2, "{}: fewer than two strategies to compare", workload.name);
        let first = &runs[0];
        for run in &runs[1..] {
            assert_eq!(
                run.outcome,
                first.outcome,
                "{} at size {}: {} and {} disagree",
                workload.name,
                small_size(workload),
                first.strategy,
                run.strategy
            );
        }
    }
}

/// The checksum on one strategy of `name` at `size` and `seed`.
fn checksum(name: &str, size: u64, seed: u64) -> u64 {
    run_once(workload(name), &params(size, seed)).outcome.checksum
}

#[test]
fn checksums_follow_the_size() {
    let check = |name: &str, smaller: u64, larger: u64| {
        assert_ne!(
            checksum(name, smaller, 1),
            checksum(name, larger, 1),
            "{name}: {smaller} against {larger}"
        );
    };
    check("binary-trees", 4, 5);
    check("cyclic-garbage", 1_000, 1_001);
    check("churn", 500, 501);
    check("fragmentation", 1_000, 1_001);
    check("fragmentation-contiguous", 1_000, 1_100);
    check("alloc-sizes", 10, 11);
}

#[test]
fn random_workloads_follow_the_seed() {
    let check = |name: &str| {
        assert_ne!(checksum(name, 1_000, 1), checksum(name, 1_000, 2), "{name}");
    };
    check("cyclic-garbage");
    check("churn");
}

#[test]
fn deterministic_workloads_ignore_the_seed() {
    let check = |name: &str, size: u64| {
        assert_eq!(checksum(name, size, 1), checksum(name, size, 2), "{name}");
    };
    check("binary-trees", 5);
    check("fragmentation", 1_000);
    check("fragmentation-contiguous", 1_000);
    // The seed only orders the random phase's frees, and the sums read back do not depend on order.
    check("alloc-sizes", 10);
}
