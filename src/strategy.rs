//! Strategy names: `collector+allocator` for object and numeric workloads,
//! an allocator alone for allocator workloads; and `heaplab list`.
//!
//! Either part may name a CPython release after `@`: `cycle@3.13+pymalloc` is 3.13's
//! collector, object sizes and pymalloc geometry ([`heaplab_core::version`]);
//! `cycle+cpython@3.9` loads libpython3.9. No `@` means 3.11.
//!
//! `python@3.11+jemalloc` is not a model: it is the real interpreter of that release
//! running the workload's Python twin on that allocator ([`crate::real`]).

use std::fmt::Write;

use anyhow::{Result, bail};
use heaplab_alloc::ALLOCATORS;
use heaplab_core::version::{self, Version};
use heaplab_gc::COLLECTORS;
use heaplab_workloads::Workload;
use serde::Serialize;

use crate::real;

/// A parsed strategy name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Strategy {
    /// The collector; `None` for an allocator strategy.
    pub collector: Option<&'static str>,
    /// The allocator.
    pub allocator: &'static str,
    /// The release named after the collector (`cycle@3.13`), if any.
    pub version: Option<&'static Version>,
    /// The release named after the allocator (`cpython@3.9`), if any.
    pub allocator_version: Option<&'static Version>,
}

impl Strategy {
    /// The strategy's name, as it was written.
    pub fn name(&self) -> String {
        let at = |name: &str, v: Option<&Version>| match v {
            Some(v) => format!("{name}@{}", v.name),
            None => name.to_owned(),
        };
        match self.collector {
            Some(c) => format!("{}+{}", at(c, self.version), at(self.allocator, self.allocator_version)),
            None => at(self.allocator, self.allocator_version),
        }
    }

    /// The release whose sizes and rules apply: the one named, else 3.11.
    /// A collector the default release lacks (`incremental`) means the first release that has it.
    pub fn effective_version(&self) -> &'static Version {
        self.version.unwrap_or_else(|| match self.collector {
            Some(c) if c != real::COLLECTOR && !version::DEFAULT.has_collector(c) => {
                version::VERSIONS.iter().find(|v| v.has_collector(c)).unwrap_or(version::DEFAULT)
            }
            _ => version::DEFAULT,
        })
    }
}

/// Splits `name@3.13` into the name and its release; an unknown release is an error.
fn split_version(part: &str) -> Result<(&str, Option<&'static Version>)> {
    match part.split_once('@') {
        None => Ok((part, None)),
        Some((name, v)) => Ok((name, Some(version::find(v).map_err(anyhow::Error::msg)?))),
    }
}

/// Every heap strategy name, collectors outer.
pub fn heap_strategy_names() -> Vec<String> {
    COLLECTORS.iter().flat_map(|c| ALLOCATORS.iter().map(move |a| format!("{}+{}", c.name, a.name))).collect()
}

/// The versioned strategies a sweep runs beside the unversioned ones: each release's
/// collectors on pymalloc (the default release's are the unversioned names).
pub fn versioned_strategy_names() -> Vec<String> {
    version::VERSIONS
        .iter()
        .filter(|v| v.name != version::DEFAULT.name)
        .flat_map(|v| {
            v.collectors
                .iter()
                .filter(|c| **c != "refcount" && **c != "marksweep")
                .filter(|c| COLLECTORS.iter().any(|info| info.name == **c))
                .map(move |c| format!("{c}@{}+pymalloc", v.name))
        })
        .chain(
            // CPython's own allocator of every release with an interpreter to load it from.
            version::VERSIONS
                .iter()
                .filter(|v| v.measured_with.is_some() && v.name != version::DEFAULT.name)
                .map(|v| format!("cycle+cpython@{}", v.name)),
        )
        .collect()
}

/// Every allocator strategy name.
pub fn allocator_strategy_names() -> Vec<String> {
    ALLOCATORS.iter().map(|a| a.name.to_owned()).collect()
}

/// Resolves `name` for `workload`: a heap strategy for heap workloads, an
/// allocator for allocator workloads; errors name what is valid.
pub fn resolve(name: &str, workload: &Workload) -> Result<Strategy> {
    let find_allocator = |a: &str| ALLOCATORS.iter().find(|info| info.name == a).map(|info| info.name);
    if let Some((c, a)) = name.split_once('+')
        && split_version(c)?.0 == real::COLLECTOR
    {
        return resolve_real(name, c, a, Some(workload));
    }
    let parsed = match name.split_once('+') {
        Some((c, a)) => {
            let ((c, version), (a, allocator_version)) = (split_version(c)?, split_version(a)?);
            match (COLLECTORS.iter().find(|info| info.name == c), find_allocator(a)) {
                (Some(c), Some(a)) => {
                    Some(Strategy { collector: Some(c.name), allocator: a, version, allocator_version })
                }
                _ => None,
            }
        }
        None => {
            let (a, allocator_version) = split_version(name)?;
            find_allocator(a).map(|a| Strategy {
                collector: None,
                allocator: a,
                version: None,
                allocator_version,
            })
        }
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
    if let (Some(collector), Some(v)) = (strategy.collector, strategy.version)
        && !v.has_collector(collector)
    {
        let at: Vec<String> = version::VERSIONS
            .iter()
            .filter(|v| v.has_collector(collector))
            .map(|v| v.name.to_owned())
            .collect();
        bail!(
            "{collector} is not modelled at CPython {} (its versions: {}; {} has: {})",
            v.name,
            at.join(", "),
            v.name,
            v.collectors.join(", ")
        );
    }
    if let Some(v) = strategy.allocator_version
        && strategy.allocator != "cpython"
    {
        bail!(
            "only the cpython allocator takes a version (`cpython@{}`); for {}'s geometry at {} name it on the collector (`cycle@{}+{}`)",
            v.name,
            strategy.allocator,
            v.name,
            v.name,
            strategy.allocator
        );
    }
    let config = heaplab_alloc::AllocConfig {
        cpython_version: strategy.allocator_version.map(|v| v.name.to_owned()),
        ..Default::default()
    };
    if let Err(reason) = heaplab_alloc::availability_with(strategy.allocator, &config) {
        bail!("strategy '{name}' is unavailable here: {reason}");
    }
    Ok(strategy)
}

/// Resolves `name` for the real interpreter's own workload, [`real::PROGRAM`]: only
/// `python@3.X+allocator` strategies run a program.
pub fn resolve_program(name: &str) -> Result<Strategy> {
    match name.split_once('+') {
        Some((c, a)) if split_version(c)?.0 == real::COLLECTOR => resolve_real(name, c, a, None),
        _ => bail!(
            "workload {} runs on the real interpreter's strategies (python@3.X+ALLOCATOR), not '{name}'",
            real::PROGRAM
        ),
    }
}

/// Resolves a real-interpreter strategy, `python@3.X+allocator` ([`real`]), for a twin
/// workload, or for a program where `workload` is `None`.
fn resolve_real(
    name: &str,
    collector: &str,
    allocator: &str,
    workload: Option<&Workload>,
) -> Result<Strategy> {
    let (_, version) = split_version(collector)?;
    let Some(real_allocator) = real::allocator(allocator) else {
        let valid: Vec<&str> = real::ALLOCATORS.iter().map(|a| a.name).collect();
        bail!(
            "unknown allocator '{allocator}' under the real interpreter in '{name}' (valid: {})",
            valid.join(", ")
        );
    };
    if let Some(workload) = workload {
        real::twin_of(workload.name, name)?;
    }
    let strategy = Strategy {
        collector: Some(real::COLLECTOR),
        allocator: real_allocator.name,
        version,
        allocator_version: None,
    };
    if let Err(reason) = real::availability(strategy.effective_version(), real_allocator) {
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
    /// Whether it runs at the default release with its rules: no `@`, and a collector that
    /// release has (`--quick` runs only these unless a glob names others).
    default_release: bool,
    /// Whether a full sweep without `--strategy` runs it ([`in_default_sweep`]).
    default_sweep: bool,
}

/// The default matrix of a full sweep: every collector of the default release on every
/// allocator; every other release on pymalloc alone, with its collectors (`cycle@3.13`,
/// `incremental@3.14`); the real interpreter of the default release on every allocator and of every other
/// release on pymalloc; every allocator alone. The rest (`cycle@3.13+jemalloc`,
/// `cycle+cpython@3.9`, `python@3.9+mimalloc`) runs when a glob names it.
fn in_default_sweep(collector: Option<&str>, allocator: &str, version: Option<&Version>) -> bool {
    let default_release = version.is_none_or(|v| v.name == version::DEFAULT.name);
    match collector {
        None => true,
        Some(real::COLLECTOR) => default_release || allocator == "pymalloc",
        Some(c) if default_release && version::DEFAULT.has_collector(c) => true,
        // `incremental+pymalloc` is `incremental@3.14+pymalloc` under its other name.
        Some(_) => allocator == "pymalloc" && !default_release,
    }
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
    /// Its Python twin's script, which `python@…` strategies (kind `real`) run.
    twin: Option<&'static str>,
}

#[derive(Serialize)]
struct VersionEntry {
    name: &'static str,
    measured_with: Option<&'static str>,
    collectors: &'static [&'static str],
    thresholds: &'static [u32],
    geometry: &'static str,
    collects: &'static str,
    free_lists: version::FreeLists,
}

#[derive(Serialize)]
struct Listing {
    strategies: Vec<StrategyEntry>,
    workloads: Vec<WorkloadEntry>,
    versions: Vec<VersionEntry>,
    default_version: &'static str,
}

fn listing() -> Listing {
    let mut strategies = Vec::new();
    let collectors = COLLECTORS.iter().map(|c| Some(c.name)).chain([None]);
    for collector in collectors {
        for alloc in ALLOCATORS {
            let availability = heaplab_alloc::availability(alloc.name);
            let strategy =
                Strategy { collector, allocator: alloc.name, version: None, allocator_version: None };
            strategies.push(StrategyEntry {
                default_release: collector.is_none_or(|c| version::DEFAULT.has_collector(c)),
                default_sweep: in_default_sweep(collector, alloc.name, None),
                name: strategy.name(),
                kind: if collector.is_some() { "heap" } else { "allocator" },
                collector: collector.unwrap_or(""),
                allocator: alloc.name,
                available: availability.is_ok(),
                reason: availability.err(),
            });
        }
    }
    for name in versioned_strategy_names() {
        let (collector, allocator) = name.split_once('+').expect("collector+allocator");
        let (allocator, allocator_version) = split_version(allocator).expect("a registered version");
        let config = heaplab_alloc::AllocConfig {
            cpython_version: allocator_version.map(|v| v.name.to_owned()),
            ..Default::default()
        };
        let availability = heaplab_alloc::availability_with(allocator, &config);
        strategies.push(StrategyEntry {
            collector: {
                let bare = collector.split_once('@').map_or(collector, |(c, _)| c);
                COLLECTORS.iter().find(|c| c.name == bare).map_or("", |c| c.name)
            },
            allocator: ALLOCATORS.iter().find(|a| a.name == allocator).map_or("", |a| a.name),
            default_release: false,
            default_sweep: in_default_sweep(
                Some(collector),
                allocator,
                split_version(collector).ok().and_then(|(_, v)| v).or(allocator_version),
            ),
            name,
            kind: "heap",
            available: availability.is_ok(),
            reason: availability.err(),
        });
    }
    for v in version::VERSIONS {
        for a in real::ALLOCATORS {
            let availability = real::availability(v, a);
            strategies.push(StrategyEntry {
                name: format!("{}@{}+{}", real::COLLECTOR, v.name, a.name),
                kind: "real",
                collector: real::COLLECTOR,
                allocator: a.name,
                available: availability.is_ok(),
                reason: availability.err(),
                default_release: false,
                default_sweep: in_default_sweep(Some(real::COLLECTOR), a.name, Some(v)),
            });
        }
    }
    let versions = version::VERSIONS
        .iter()
        .map(|v| VersionEntry {
            name: v.name,
            measured_with: v.measured_with,
            collectors: v.collectors,
            thresholds: v.thresholds,
            geometry: v.geometry,
            free_lists: v.free_lists,
            collects: match v.trigger {
                version::GcTrigger::InAllocation => "in the allocation",
                version::GcTrigger::EvalBreaker => "at the eval breaker",
            },
        })
        .collect();
    let workloads: Vec<WorkloadEntry> = heaplab_workloads::all()
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
            twin: heaplab_workloads::twins::find(w.name).map(|t| t.script),
        })
        .chain([WorkloadEntry {
            name: real::PROGRAM,
            family: "program",
            summary: "a real program (pyperformance's benchmarks: cargo xtask pyperf), run once by the real \
                      interpreter on its allocator (heaplab run --program SPEC)",
            size_meaning: "runs (always 1)",
            quick_sizes: &[],
            default_sizes: &[],
            threaded: false,
            runs_on: "real",
            twin: None,
        }])
        .collect();
    Listing { strategies, workloads, versions, default_version: version::DEFAULT.name }
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
            None => writeln!(text, "  {:<24} {}", s.name, s.kind)?,
            Some(reason) => writeln!(text, "  {:<24} {} (unavailable: {reason})", s.name, s.kind)?,
        }
    }
    text.push_str("\nCPython versions (name a collector's with @, e.g. cycle@3.13+pymalloc; none means ");
    text.push_str(version::DEFAULT.name);
    text.push_str("):\n");
    for v in &listing.versions {
        let thresholds: Vec<String> = v.thresholds.iter().map(u32::to_string).collect();
        writeln!(
            text,
            "  {:<5} collectors {}; thresholds {}; pymalloc {}; collects {}; free lists: {}{}",
            v.name,
            v.collectors.join(", "),
            thresholds.join(","),
            v.geometry,
            v.collects,
            v.free_lists.summary(),
            match v.measured_with {
                Some(p) => format!("; measured with {p}"),
                None => "; modelled from the sources only".to_owned(),
            }
        )?;
    }
    text.push_str("\nWorkloads:\n");
    for w in &listing.workloads {
        writeln!(text, "  {:<26} {:<9} size = {}; {}", w.name, w.family, w.size_meaning, w.summary)?;
    }
    crate::print_line(text.trim_end())
}
