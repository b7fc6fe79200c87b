//! heaplab-gc: the collectors, each a policy over one shared object runtime.
//!
//! - [`refcount`]: pure reference counting; cycles leak.
//! - [`cycle`]: reference counting plus CPython's generational cycle detector.
//! - [`incremental`]: reference counting plus CPython 3.14.0–3.14.4's incremental cycle
//!   collector, modelled from the sources only.
//! - [`marksweep`]: tracing from the workload's references, non-moving.
//!
//! Every collector is generic over the [`Allocator`] it draws from, so the
//! allocation fast path is monomorphic; workloads see only `dyn Heap`.

mod cycle;
#[cfg(any(debug_assertions, feature = "checked"))]
mod debug;
mod dict;
mod freelist;
mod incremental;
mod marksweep;
mod object;
mod refcount;
mod runtime;
mod set;

use heaplab_core::version::{FreeLists, Version};
use heaplab_core::{Allocator, Heap, ProbeHandle};

pub use crate::cycle::{MAX_GENERATIONS, THRESHOLDS_311, THRESHOLDS_313};
pub use crate::incremental::{SCAN_RATE_DIVISOR, THRESHOLDS_314};
use crate::runtime::Runtime;

/// A collector's name and what it models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CollectorInfo {
    /// The name used in strategy names (`refcount+pymalloc`).
    pub name: &'static str,
    /// One line on what it is.
    pub summary: &'static str,
}

/// Every collector, in the order reports list them.
pub const COLLECTORS: &[CollectorInfo] = &[
    CollectorInfo { name: "refcount", summary: "pure reference counting, iterative frees; cycles leak" },
    CollectorInfo {
        name: "cycle",
        summary: "reference counting plus CPython's generational cycle detector (CPython's configuration)",
    },
    CollectorInfo {
        name: "incremental",
        summary: "reference counting plus CPython 3.14.0-3.14.4's incremental cycle collector \
                  (young, old in pending/visited spaces, bounded increments); modelled from the \
                  sources only, no 3.14 interpreter to calibrate against",
    },
    CollectorInfo {
        name: "marksweep",
        summary: "non-moving mark-sweep from the workload's references; paced by a heap growth factor",
    },
];

/// Tracked objects a bare CPython 3.11 holds after `gc.collect()`:
/// `python3 -c "import gc; gc.collect(); print(len(gc.get_objects()))"`
/// printed 11,091 on the machines heaplab was built on (about 4,000 without `site`).
pub const BARE_INTERPRETER_OBJECTS: u64 = 11_000;

/// Collector parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct GcConfig {
    /// `cycle`: one threshold per generation (1 to [`MAX_GENERATIONS`] of them), CPython
    /// 3.11's (700, 10, 10) by default. `incremental` reads them as 3.14's
    /// `gc.set_threshold` does (young, `old[0]` = the scale factor, `old[1]` unused), and
    /// takes [`THRESHOLDS_314`] while they are the default: see
    /// [`GcConfig::incremental_thresholds`].
    pub thresholds: Vec<u32>,
    /// `marksweep`: the heap may grow to this multiple of the live bytes before the next collection.
    pub growth: f64,
    /// `marksweep`: the smallest number of bytes allocated between collections.
    pub min_budget_bytes: u64,
    /// `cycle`: tracked objects the interpreter itself holds in its oldest
    /// generation when the workload starts — in CPython, `gc.collect();
    /// len(gc.get_objects())`. They count in the long-lived total of the 25%
    /// rule, as CPython's own modules, functions and classes do, but are not
    /// traversed. By default [`BARE_INTERPRETER_OBJECTS`], so that
    /// `cycle+pymalloc` decides as a freshly started CPython does;
    /// `cargo xtask calibrate` passes the figure it measures.
    pub interpreter_objects: u64,
    /// The CPython release whose object sizes and collection rules apply (its thresholds are
    /// `thresholds`, set from it unless `--set` says otherwise).
    pub version: &'static Version,
    /// Whether the release's free lists keep freed objects for reuse (CPython's behaviour,
    /// the default), or every object goes back to the allocator when it dies.
    pub free_lists: bool,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            thresholds: THRESHOLDS_311.to_vec(),
            growth: 2.0,
            min_budget_bytes: 256 * 1024,
            interpreter_objects: BARE_INTERPRETER_OBJECTS,
            version: heaplab_core::version::DEFAULT,
            free_lists: true,
        }
    }
}

impl GcConfig {
    /// The thresholds of `incremental`: [`THRESHOLDS_314`] (2000, 10, 0) while `thresholds`
    /// holds the default (3.11's, which are `cycle`'s), and `thresholds` once set (the tests'
    /// tiny thresholds, `--set cycle.thresholds=...`). Until strategies carry a CPython
    /// version, this is how one setting serves both collectors.
    pub fn incremental_thresholds(&self) -> &[u32] {
        if self.thresholds == THRESHOLDS_311 { &THRESHOLDS_314 } else { &self.thresholds }
    }
}

/// Errors of [`new_heap`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GcError {
    /// No collector has this name.
    Unknown {
        /// The name asked for.
        name: String,
    },
}

impl std::fmt::Display for GcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GcError::Unknown { name } => {
                let valid: Vec<&str> = COLLECTORS.iter().map(|c| c.name).collect();
                write!(f, "unknown collector '{name}' (valid: {})", valid.join(", "))
            }
        }
    }
}

impl std::error::Error for GcError {}

/// A Heap of collector `collector` over `alloc`, reporting to `probe` if given.
pub fn new_heap<A: Allocator + 'static>(
    collector: &str,
    alloc: A,
    config: &GcConfig,
    probe: Option<ProbeHandle>,
) -> Result<Box<dyn Heap>, GcError> {
    let free_lists = if config.free_lists { config.version.free_lists } else { FreeLists::NONE };
    Ok(match collector {
        "refcount" => Box::new(Runtime::new(refcount::RefCount, alloc, probe, config.version, free_lists)),
        "cycle" => Box::new(Runtime::new(
            cycle::Cycle::new(&config.thresholds, config.interpreter_objects, config.version),
            alloc,
            probe,
            config.version,
            free_lists,
        )),
        "incremental" => Box::new(Runtime::new(
            incremental::Incremental::new(config.incremental_thresholds(), config.interpreter_objects),
            alloc,
            probe,
            config.version,
            free_lists,
        )),
        "marksweep" => Box::new(Runtime::new(
            marksweep::MarkSweep::new(config.growth, config.min_budget_bytes),
            alloc,
            probe,
            config.version,
            free_lists,
        )),
        _ => return Err(GcError::Unknown { name: collector.to_owned() }),
    })
}
