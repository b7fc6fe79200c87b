//! heaplab-workloads: the registry of workloads, one file each.
//!
//! A workload is a function over one of heaplab-core's interfaces — a
//! [`Heap`] for object and most numeric workloads, an [`Allocator`] or a
//! [`SharedAllocator`] for allocator workloads — that returns an [`Outcome`]:
//! a checksum computed from its result (values read back, structure counts,
//! never addresses or times), identical on every strategy for the same size
//! and seed, and a count of operations in the workload's own unit.
//!
//! Workloads see only the traits: they depend on no allocator and no collector.
//!
//! Adding a workload is one new file that defines a `pub const WORKLOAD:
//! Workload`, its `mod` line, and one line in [`all`].

use heaplab_core::{Allocator, Heap, Outcome, Params, PhaseLog, SharedAllocator};

pub mod alloc_sizes;
pub mod array_sum;
pub mod bandwidth;
pub mod binary_trees;
pub mod boxed_sum;
pub mod bulk_load;
pub mod bulk_load_columns;
pub mod bulk_load_dicts;
pub mod chunked;
pub mod churn;
pub mod cyclic_garbage;
pub mod fragmentation;
pub mod gc_traverse;
pub mod groupby;
pub mod groupby_dict;
pub mod json_records;
pub mod kernels;
pub mod larson;
pub mod matmul;
pub mod objects_dict;
pub mod par_map_reduce;
pub mod temporaries;
pub mod trace_replay;
pub mod twins;
pub mod xmalloc;

/// The family a workload belongs to, as the report groups them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// Python object graphs: trees, cycles, mixed live sets.
    Object,
    /// Large-data number crunching, boxed against contiguous.
    Numeric,
    /// Raw allocation patterns on an allocator, without a collector.
    Allocator,
}

impl Family {
    /// The family's name, as written in `heaplab list` and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Object => "object",
            Family::Numeric => "numeric",
            Family::Allocator => "allocator",
        }
    }
}

/// What a workload runs on, and the function that runs it.
#[derive(Clone, Copy, Debug)]
pub enum Body {
    /// Runs on a Heap; marks its phases with [`Heap::phase`].
    Heap(fn(&mut dyn Heap, &Params) -> Outcome),
    /// Runs on one thread's Allocator; marks its phases on the [`PhaseLog`].
    Alloc(fn(&mut dyn Allocator, &mut PhaseLog, &Params) -> Outcome),
    /// Runs `params.threads` threads on a thread-safe allocator; marks its phases on the [`PhaseLog`].
    Shared(fn(&dyn SharedAllocator, &mut PhaseLog, &Params) -> Outcome),
}

/// One workload: its name, what it means, its sizes, and its body.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// The name on the command line and in `runs.csv`.
    pub name: &'static str,
    /// The family it belongs to.
    pub family: Family,
    /// One sentence on what it models.
    pub summary: &'static str,
    /// What its `size` parameter counts.
    pub size_meaning: &'static str,
    /// Sizes for `--quick`: each run well under a second.
    pub quick_sizes: &'static [u64],
    /// Sizes for a full sweep: up to data that is large for the machine.
    pub default_sizes: &'static [u64],
    /// Whether it uses `params.threads` threads.
    pub threaded: bool,
    /// The function that runs it.
    pub body: Body,
}

impl Workload {
    /// Whether it runs on a Heap (a collector over an allocator) rather than on an allocator alone.
    pub fn runs_on_heap(&self) -> bool {
        matches!(self.body, Body::Heap(_))
    }
}

/// Every workload, in the order the report lists them.
static WORKLOADS: &[Workload] = &[
    binary_trees::WORKLOAD,
    cyclic_garbage::WORKLOAD,
    churn::WORKLOAD,
    fragmentation::WORKLOAD,
    fragmentation::CONTIGUOUS,
    bulk_load::WORKLOAD,
    bulk_load::GC_OFF,
    bulk_load::FROZEN,
    bulk_load_dicts::WORKLOAD,
    bulk_load_dicts::GC_OFF,
    bulk_load_dicts::FROZEN,
    bulk_load_columns::WORKLOAD,
    json_records::WORKLOAD,
    groupby_dict::WORKLOAD,
    objects_dict::WORKLOAD,
    gc_traverse::WORKLOAD,
    boxed_sum::WORKLOAD,
    array_sum::WORKLOAD,
    temporaries::WORKLOAD,
    temporaries::FUSED,
    chunked::WORKLOAD,
    matmul::WORKLOAD,
    matmul::ARRAY,
    groupby::WORKLOAD,
    par_map_reduce::WORKLOAD,
    bandwidth::WORKLOAD,
    alloc_sizes::WORKLOAD,
    xmalloc::WORKLOAD,
    larson::WORKLOAD,
    trace_replay::WORKLOAD,
];

/// Every workload, in the order the report lists them.
pub fn all() -> &'static [Workload] {
    WORKLOADS
}

/// The workload of this name, if there is one.
pub fn find(name: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|workload| workload.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_sizes_are_at_least_five_and_log_spaced() {
        for w in all().iter().filter(|w| !w.default_sizes.is_empty()) {
            assert!(w.default_sizes.len() >= 5, "{}: {:?}", w.name, w.default_sizes);
            // Depths are logarithms already: a tree of depth d + 2 has four times the nodes.
            let depth = w.size_meaning.starts_with("depth");
            for pair in w.default_sizes.windows(2) {
                let step = pair[1] as f64 / pair[0] as f64;
                let (low, high) = if depth { (1.05, 1.5) } else { (1.4, 5.0) };
                assert!((low..=high).contains(&step), "{}: {:?} is not log-spaced", w.name, w.default_sizes);
            }
        }
    }

    #[test]
    fn names_are_unique_and_found() {
        for (index, workload) in all().iter().enumerate() {
            assert_eq!(find(workload.name).map(|w| w.name), Some(workload.name));
            let same_name = all().iter().filter(|w| w.name == workload.name).count();
            assert_eq!(same_name, 1, "{} is registered twice (entry {index})", workload.name);
        }
        assert!(find("no-such-workload").is_none());
    }

    #[test]
    fn every_workload_describes_itself() {
        for workload in all() {
            assert!(!workload.summary.is_empty(), "{}", workload.name);
            assert!(!workload.size_meaning.is_empty(), "{}", workload.name);
            // trace-replay has no sizes of its own: it runs only on a trace given with its sizes.
            if workload.name != trace_replay::WORKLOAD.name {
                assert!(!workload.quick_sizes.is_empty(), "{}", workload.name);
                assert!(!workload.default_sizes.is_empty(), "{}", workload.name);
            }
            assert!(workload.quick_sizes.iter().all(|&size| size > 0), "{}", workload.name);
            assert!(workload.default_sizes.is_sorted(), "{}", workload.name);
            assert!(workload.quick_sizes.is_sorted(), "{}", workload.name);
        }
    }

    #[test]
    fn body_matches_family_and_threading() {
        for workload in all() {
            if workload.family == Family::Allocator {
                assert!(!workload.runs_on_heap(), "{}", workload.name);
            }
            assert_eq!(matches!(workload.body, Body::Shared(_)), workload.threaded, "{}", workload.name);
        }
    }

    #[test]
    fn family_names() {
        let check = |family: Family, expected: &str| assert_eq!(family.as_str(), expected);
        check(Family::Object, "object");
        check(Family::Numeric, "numeric");
        check(Family::Allocator, "allocator");
    }
}
