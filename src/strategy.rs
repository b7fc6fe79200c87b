//! Strategy names: `collector+allocator` for object and numeric workloads,
//! an allocator alone for allocator workloads; and `heaplab list`.

use std::fmt::Write;

use anyhow::{Result, bail};
use heaplab_alloc::ALLOCATORS;
use heaplab_gc::COLLECTORS;
use heaplab_workloads::Workload;
use serde::Serialize;

/// A parsed strategy name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Strategy {
    /// The collector; `None` for an allocator strategy.
    pub collector: Option<&'static str>,
    /// The allocator.
    pub allocator: &'static str,
}

impl Strategy {
    /// The strategy's name.
    pub fn name(&self) -> String {
        match self.collector {
            Some(c) => format!("{c}+{}", self.allocator),
            None => self.allocator.to_owned(),
        }
    }
}

/// Every heap strategy name, collectors outer.
pub fn heap_strategy_names() -> Vec<String> {
    COLLECTORS.iter().flat_map(|c| ALLOCATORS.iter().map(move |a| format!("{}+{}", c.name, a.name))).collect()
}

/// Every allocator strategy name.
pub fn allocator_strategy_names() -> Vec<String> {
    ALLOCATORS.iter().map(|a| a.name.to_owned()).collect()
}

/// Resolves `name` for `workload`: a heap strategy for heap workloads, an
/// allocator for allocator workloads; errors name what is valid.
pub fn resolve(name: &str, workload: &Workload) -> Result<Strategy> {
    let find_allocator = |a: &str| ALLOCATORS.iter().find(|info| info.name == a).map(|info| info.name);
    let parsed = match name.split_once('+') {
        Some((c, a)) => match (COLLECTORS.iter().find(|info| info.name == c), find_allocator(a)) {
            (Some(c), Some(a)) => Some(Strategy { collector: Some(c.name), allocator: a }),
            _ => None,
        },
        None => find_allocator(name).map(|a| Strategy { collector: None, allocator: a }),
    };
    let valid = if workload.runs_on_heap() { heap_strategy_names() } else { allocator_strategy_names() };
    let kind = if workload.runs_on_heap() { "collector+allocator" } else { "allocator" };
    let Some(strategy) = parsed else {
        bail!("unknown strategy '{name}' (valid for {}: {})", workload.name, valid.join(", "));
    };
    if strategy.collector.is_some() != workload.runs_on_heap() {
        bail!(
            "workload {} runs on {kind} strategies, not '{name}' (valid: {})",
            workload.name,
            valid.join(", ")
        );
    }
    if let Err(reason) = heaplab_alloc::availability(strategy.allocator) {
        bail!("strategy '{name}' is unavailable here: {reason}");
    }
    Ok(strategy)
}

/// Finds a workload by name; the error lists them all.
pub fn find_workload(name: &str) -> Result<&'static Workload> {
    heaplab_workloads::find(name).ok_or_else(|| {
        let valid: Vec<&str> = heaplab_workloads::all().iter().map(|w| w.name).collect();
        anyhow::anyhow!("unknown workload '{name}' (valid: {})", valid.join(", "))
    })
}

#[derive(Serialize)]
struct StrategyEntry {
    name: String,
    kind: &'static str,
    collector: &'static str,
    allocator: &'static str,
    available: bool,
    reason: Option<String>,
}

#[derive(Serialize)]
struct WorkloadEntry {
    name: &'static str,
    family: &'static str,
    summary: &'static str,
    size_meaning: &'static str,
    quick_sizes: &'static [u64],
    default_sizes: &'static [u64],
    threaded: bool,
    runs_on: &'static str,
}

#[derive(Serialize)]
struct Listing {
    strategies: Vec<StrategyEntry>,
    workloads: Vec<WorkloadEntry>,
}

fn listing() -> Listing {
    let mut strategies = Vec::new();
    let collectors = COLLECTORS.iter().map(|c| Some(c.name)).chain([None]);
    for collector in collectors {
        for alloc in ALLOCATORS {
            let availability = heaplab_alloc::availability(alloc.name);
            let strategy = Strategy { collector, allocator: alloc.name };
            strategies.push(StrategyEntry {
                name: strategy.name(),
                kind: if collector.is_some() { "heap" } else { "allocator" },
                collector: collector.unwrap_or(""),
                allocator: alloc.name,
                available: availability.is_ok(),
                reason: availability.err(),
            });
        }
    }
    let workloads = heaplab_workloads::all()
        .iter()
        .map(|w| WorkloadEntry {
            name: w.name,
            family: w.family.as_str(),
            summary: w.summary,
            size_meaning: w.size_meaning,
            quick_sizes: w.quick_sizes,
            default_sizes: w.default_sizes,
            threaded: w.threaded,
            runs_on: if w.runs_on_heap() { "heap" } else { "allocator" },
        })
        .collect();
    Listing { strategies, workloads }
}

/// `heaplab list [--json]`.
pub fn list(json: bool) -> Result<()> {
    let listing = listing();
    if json {
        return crate::print_line(&serde_json::to_string(&listing)?);
    }
    let mut text = String::from("Strategies:\n");
    for s in &listing.strategies {
        match &s.reason {
            None => writeln!(text, "  {:<22} {}", s.name, s.kind)?,
            Some(reason) => writeln!(text, "  {:<22} {} (unavailable: {reason})", s.name, s.kind)?,
        }
    }
    text.push_str("\nWorkloads:\n");
    for w in &listing.workloads {
        writeln!(text, "  {:<26} {:<9} size = {}; {}", w.name, w.family, w.size_meaning, w.summary)?;
    }
    crate::print_line(text.trim_end())
}
