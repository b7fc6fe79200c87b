//! Helpers for the numeric and threaded workload tests: run a workload on
//! every strategy available here, with any thread count.

#![allow(dead_code)]

use heaplab_alloc::{ALLOCATORS, AllocConfig, AllocVisitor};
use heaplab_core::{Allocator, Counters, Heap, HeapStats, Outcome, Params, PhaseLog, PhaseRecord};
use heaplab_gc::{COLLECTORS, GcConfig};
use heaplab_workloads::{Body, Workload};

/// What one run of a workload gave.
#[derive(Debug)]
pub struct Run {
    /// `collector+allocator`, or the allocator alone for allocator-level workloads, and `xT` for T threads.
    pub strategy: String,
    /// What the workload returned.
    pub outcome: Outcome,
    /// For heap workloads, the heap's figures after `finish()`.
    pub heap: Option<HeapStats>,
    /// For allocator-level workloads, the allocator's counts at the end, where it keeps them.
    pub alloc_counters: Option<Counters>,
    /// The phases, in order.
    pub phases: Vec<PhaseRecord>,
}

impl Run {
    /// The names of the phases, in order.
    pub fn phase_names(&self) -> Vec<&str> {
        self.phases.iter().map(|phase| phase.name.as_str()).collect()
    }

    /// The heap's figures; panics for allocator-level workloads.
    pub fn heap_stats(&self) -> &HeapStats {
        self.heap.as_ref().expect("a heap workload")
    }

    /// The live bytes at the end of phase `name`.
    pub fn live_bytes_after(&self, name: &str) -> u64 {
        self.phases
            .iter()
            .find(|phase| phase.name == name)
            .unwrap_or_else(|| panic!("no phase {name}"))
            .live_bytes
    }
}

/// Parameters for a run.
pub fn params(size: u64, threads: u32, seed: u64) -> Params {
    Params { size, threads, seed }
}

/// The registered workload of this name.
pub fn workload(name: &str) -> &'static Workload {
    heaplab_workloads::find(name).unwrap_or_else(|| panic!("{name} is not registered"))
}

/// The allocators available on this machine (the `cpython` one may not be).
pub fn available_allocators() -> Vec<&'static str> {
    ALLOCATORS.iter().map(|info| info.name).filter(|name| heaplab_alloc::availability(name).is_ok()).collect()
}

/// Runs `workload` on every available strategy: every collector over every
/// allocator for heap workloads, every allocator for the others.
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

/// Runs `workload` once on `refcount+system` (heap workloads) or `system`.
pub fn run_once(workload: &Workload, params: &Params) -> Run {
    run_on(workload, "refcount", "system", params)
}

/// Runs `workload` once on `collector+allocator`, or on `allocator` alone
/// for workloads that run on an allocator (which ignore `collector`).
pub fn run_on(workload: &Workload, collector: &'static str, allocator: &str, params: &Params) -> Run {
    let config = AllocConfig::default();
    let threads = params.threads;
    match workload.body {
        Body::Heap(body) => {
            let visitor = OnHeap { collector, body, params };
            let (outcome, stats, phases) =
                heaplab_alloc::with_allocator(allocator, &config, visitor).expect("an available allocator");
            Run {
                strategy: format!("{collector}+{allocator}"),
                outcome,
                heap: Some(stats),
                alloc_counters: None,
                phases,
            }
        }
        Body::Alloc(body) => {
            let mut alloc = heaplab_alloc::boxed(allocator, &config).expect("an available allocator");
            let mut log = PhaseLog::new(None);
            let outcome = body(alloc.as_mut(), &mut log, params);
            log.end(Default::default);
            Run {
                strategy: allocator.to_owned(),
                outcome,
                heap: None,
                alloc_counters: alloc.stats().counters,
                phases: log.take_records(),
            }
        }
        Body::Shared(body) => {
            let alloc = heaplab_alloc::shared(allocator, &config).expect("an available allocator");
            let mut log = PhaseLog::new(None);
            let outcome = body(alloc.as_ref(), &mut log, params);
            log.end(Default::default);
            Run {
                strategy: format!("{allocator} x{threads}"),
                outcome,
                heap: None,
                alloc_counters: alloc.stats().counters,
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
    type Output = (Outcome, HeapStats, Vec<PhaseRecord>);

    fn visit<A: Allocator + 'static>(self, alloc: A) -> Self::Output {
        let mut heap = heaplab_gc::new_heap(self.collector, alloc, &GcConfig::default(), None)
            .expect("a registered collector");
        let outcome = (self.body)(heap.as_mut(), self.params);
        let (stats, phases) = heap.finish();
        (outcome, stats, phases)
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
