//! Helpers shared by the workload tests: every workload on every strategy available here.

#![allow(dead_code)]

use heaplab_alloc::{ALLOCATORS, AllocConfig, AllocVisitor};
use heaplab_core::{
    Allocator, Capabilities, Counters, Heap, HeapStats, Outcome, Params, PhaseLog, PhaseRecord,
};
use heaplab_gc::{COLLECTORS, GcConfig};
use heaplab_workloads::{Body, Workload};

/// What one run of a workload gave: its outcome, the heap's or the allocator's figures, its phases.
#[derive(Debug)]
pub struct Run {
    /// `collector+allocator`, or the allocator alone for allocator workloads.
    pub strategy: String,
    /// What the workload returned.
    pub outcome: Outcome,
    /// For heap workloads, the heap's figures after `finish()` and what its collector can do.
    pub heap: Option<(HeapStats, Capabilities)>,
    /// For allocator workloads, the allocator's counts at the end, where it keeps them.
    pub alloc_counters: Option<Counters>,
    /// The phases, in order.
    pub phases: Vec<PhaseRecord>,
}

impl Run {
    /// The names of the phases, in order.
    pub fn phase_names(&self) -> Vec<&str> {
        self.phases.iter().map(|phase| phase.name.as_str()).collect()
    }

    /// The heap's figures after `finish()`; panics for allocator workloads.
    pub fn heap_stats(&self) -> &HeapStats {
        &self.heap.as_ref().expect("a heap workload").0
    }

    /// The live bytes at the end of phase `name`.
    pub fn live_bytes_after(&self, name: &str) -> u64 {
        self.phases
            .iter()
            .find(|phase| phase.name == name)
            .unwrap_or_else(|| panic!("no phase {name}"))
            .live_bytes
    }

    /// Whether the run's collector reclaims cycles; panics for allocator workloads.
    pub fn reclaims_cycles(&self) -> bool {
        self.heap.as_ref().expect("a heap workload").1.reclaims_cycles
    }
}

/// The parameters of a single-threaded test run.
pub fn params(size: u64, seed: u64) -> Params {
    Params { size, threads: 1, seed, trace: None }
}

/// The parameters of a test run on `threads` threads.
pub fn params_threads(size: u64, threads: u32, seed: u64) -> Params {
    Params { size, threads, seed, trace: None }
}

/// The registered workload of this name.
pub fn workload(name: &str) -> &'static Workload {
    heaplab_workloads::find(name).unwrap_or_else(|| panic!("{name} is not registered"))
}

/// Every registered workload: the cross-strategy tests read the registry, so a new workload
/// is covered the moment it is registered (and fails here until it has a small size).
///
/// Workloads with no sizes of their own need an input (trace-replay needs a trace file) and
/// have tests of their own.
pub fn covered() -> impl Iterator<Item = &'static Workload> {
    heaplab_workloads::all().iter().filter(|workload| !workload.quick_sizes.is_empty())
}

/// A size at which a debug build runs the workload on every strategy in well under a second.
pub fn small_size(workload: &Workload) -> u64 {
    match workload.name {
        "binary-trees" | "objects-dict" => 6,
        "matmul-boxed" | "matmul-array" => 12,
        "alloc-sizes" => 20,
        "bulk-load-dicts" | "bulk-load-dicts-gc-off" | "bulk-load-dicts-frozen" | "bulk-load-columns" => {
            2_000
        }
        "json-records" | "groupby-dict" => 2_000,
        "cyclic-garbage" | "churn" | "fragmentation" | "fragmentation-contiguous" => 2_000,
        "bulk-load" | "bulk-load-gc-off" | "bulk-load-frozen" | "gc-traverse" | "groupby" => 2_000,
        "boxed-sum" | "array-sum" | "temporaries" | "temporaries-fused" | "chunked" | "bandwidth" => 5_000,
        "par-map-reduce" | "xmalloc" | "larson" => 5_000,
        other => panic!(
            "no small size for the registered workload {other}: add one to small_size in workloads/tests/common/mod.rs"
        ),
    }
}

/// The allocators available on this machine (the `cpython` one may not be).
pub fn available_allocators() -> Vec<&'static str> {
    ALLOCATORS.iter().map(|info| info.name).filter(|name| heaplab_alloc::availability(name).is_ok()).collect()
}

/// Runs `workload` at `params` on every available strategy it runs on:
/// every collector over every allocator for heap workloads, every
/// allocator for allocator workloads.
pub fn run_everywhere(workload: &Workload, params: &Params) -> Vec<Run> {
    let mut runs = Vec::new();
    for allocator in available_allocators() {
        match workload.body {
            Body::Heap(_) => {
                for collector in COLLECTORS {
                    runs.push(run_on(workload, collector.name, allocator, params));
                }
            }
            Body::Alloc(_) | Body::Shared(_) => runs.push(run_on(workload, "", allocator, params)),
        }
    }
    runs
}

/// Runs `workload` once, on `refcount+system` for heap workloads and on `system` for the others.
pub fn run_once(workload: &Workload, params: &Params) -> Run {
    run_on(workload, "refcount", "system", params)
}

/// Runs `workload` once on `collector+allocator`, or on `allocator` alone
/// for allocator workloads (which ignore `collector`).
pub fn run_on(workload: &Workload, collector: &'static str, allocator: &str, params: &Params) -> Run {
    let config = AllocConfig::default();
    match workload.body {
        Body::Heap(body) => {
            let visitor = OnHeap { collector, body, params };
            let (outcome, stats, capabilities, phases, alloc_counters) =
                heaplab_alloc::with_allocator(allocator, &config, visitor).expect("an available allocator");
            Run {
                strategy: format!("{collector}+{allocator}"),
                outcome,
                heap: Some((stats, capabilities)),
                alloc_counters,
                phases,
            }
        }
        Body::Alloc(body) => {
            let mut alloc = heaplab_alloc::boxed(allocator, &config).expect("an available allocator");
            let mut log = PhaseLog::new(None);
            let outcome = body(alloc.as_mut(), &mut log, params);
            log.end(Default::default);
            let alloc_counters = alloc.stats().counters;
            Run {
                strategy: allocator.to_owned(),
                outcome,
                heap: None,
                alloc_counters,
                phases: log.take_records(),
            }
        }
        Body::Shared(body) => {
            let alloc = heaplab_alloc::shared(allocator, &config).expect("an available allocator");
            let mut log = PhaseLog::new(None);
            let outcome = body(alloc.as_ref(), &mut log, params);
            log.end(Default::default);
            let alloc_counters = alloc.stats().counters;
            Run {
                strategy: format!("{allocator} x{}", params.threads),
                outcome,
                heap: None,
                alloc_counters,
                phases: log.take_records(),
            }
        }
    }
}

/// Runs a heap workload's body on a fresh heap, then finishes the heap.
struct OnHeap<'a> {
    collector: &'static str,
    body: fn(&mut dyn Heap, &Params) -> Outcome,
    params: &'a Params,
}

impl AllocVisitor for OnHeap<'_> {
    type Output = (Outcome, HeapStats, Capabilities, Vec<PhaseRecord>, Option<Counters>);

    fn visit<A: Allocator + 'static>(self, alloc: A) -> Self::Output {
        let mut heap = heaplab_gc::new_heap(self.collector, alloc, &GcConfig::default(), None)
            .expect("a registered collector");
        let capabilities = heap.capabilities();
        let outcome = (self.body)(heap.as_mut(), self.params);
        let (stats, phases) = heap.finish();
        // The allocator's own count, kept apart from the heap's: what is still allocated.
        let counters = heap.alloc_stats().counters;
        (outcome, stats, capabilities, phases, counters)
    }
}

/// Asserts that every run gave the same checksum, naming the first that differs.
pub fn assert_same_checksum(runs: &[Run], what: &str) {
    let first = &runs[0];
    for run in runs {
        assert_eq!(
            run.outcome.checksum, first.outcome.checksum,
            "{what}: {} and {} differ",
            run.strategy, first.strategy
        );
    }
}
