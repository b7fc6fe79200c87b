//! What `heaplab list --json` says: the strategies (available or not) and the
//! workloads with their sizes.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use serde::Deserialize;

/// Which strategies a workload runs on, and which kind a strategy is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StrategyKind {
    /// `collector+allocator`: object workloads see a Heap.
    Heap,
    /// An allocator alone: allocator workloads see the Allocator directly.
    Allocator,
    /// `python@3.X+allocator`: the real interpreter, on the workloads with a Python twin.
    Real,
}

/// One strategy as `heaplab list --json` describes it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct StrategyInfo {
    /// The name given to `heaplab run --strategy`.
    pub name: String,
    /// Heap or allocator.
    pub kind: StrategyKind,
    /// The collector; empty for allocator strategies.
    #[serde(default)]
    pub collector: String,
    /// The allocator.
    pub allocator: String,
    /// Whether it can run on this machine.
    pub available: bool,
    /// Why it cannot, where it cannot.
    #[serde(default)]
    pub reason: Option<String>,
    /// Whether it runs at the default CPython release (no `@`, a collector that release has).
    #[serde(default = "default_release")]
    pub default_release: bool,
    /// Whether a full sweep without `--strategy` runs it (the default matrix; absent: yes).
    #[serde(default = "default_release")]
    pub default_sweep: bool,
}

fn default_release() -> bool {
    true
}

/// One workload as `heaplab list --json` describes it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct WorkloadInfo {
    /// The name given to `heaplab run --workload`.
    pub name: String,
    /// `object`, `numeric` or `allocator`.
    #[serde(default)]
    pub family: String,
    /// What it models, in a sentence.
    #[serde(default)]
    pub summary: String,
    /// What its size parameter counts.
    #[serde(default)]
    pub size_meaning: String,
    /// The sizes of the smoke sweep.
    pub quick_sizes: Vec<u64>,
    /// The sizes of the full sweep.
    pub default_sizes: Vec<u64>,
    /// Whether it is swept over thread counts.
    #[serde(default)]
    pub threaded: bool,
    /// Which kind of strategy it runs on.
    pub runs_on: StrategyKind,
    /// Its Python twin's script, where it has one: real strategies run only these.
    #[serde(default)]
    pub twin: Option<String>,
}

impl WorkloadInfo {
    /// Whether a strategy of `kind` runs this workload.
    pub fn runs_on_kind(&self, kind: StrategyKind) -> bool {
        kind == self.runs_on || (kind == StrategyKind::Real && self.twin.is_some())
    }
}

/// Everything `heaplab list --json` prints.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Catalog {
    /// Every strategy heaplab knows, available here or not.
    pub strategies: Vec<StrategyInfo>,
    /// Every workload.
    pub workloads: Vec<WorkloadInfo>,
    /// The CPython release a name without `@` means (empty in a listing that predates it).
    #[serde(default)]
    pub default_version: String,
}

impl Catalog {
    /// Parses the output of `heaplab list --json`.
    pub fn from_json(text: &str) -> anyhow::Result<Catalog> {
        let catalog: Catalog = serde_json::from_str(text.trim())
            .context("`heaplab list --json` printed something that is not the catalog")?;
        if catalog.strategies.is_empty() || catalog.workloads.is_empty() {
            bail!(
                "`heaplab list --json` lists {} strategies and {} workloads: nothing to sweep",
                catalog.strategies.len(),
                catalog.workloads.len()
            );
        }
        Ok(catalog)
    }

    /// Runs `heaplab list --json` (with `child_env` set) and parses what it prints.
    pub fn load(heaplab: &Path, child_env: &[(String, String)]) -> anyhow::Result<Catalog> {
        let output = Command::new(heaplab)
            .args(["list", "--json"])
            .envs(child_env.iter().map(|(name, value)| (name, value)))
            .output()
            .with_context(|| format!("running {} list --json", heaplab.display()))?;
        if !output.status.success() {
            bail!(
                "{} list --json failed ({}): {}",
                heaplab.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Catalog::from_json(&String::from_utf8_lossy(&output.stdout))
    }

    /// The strategy named `name`.
    pub fn strategy(&self, name: &str) -> Option<&StrategyInfo> {
        self.strategies.iter().find(|strategy| strategy.name == name)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A catalog shaped like the real one, small enough to reason about.
    pub(crate) const SAMPLE: &str = r#"{
        "strategies": [
            {"name":"refcount+pymalloc","kind":"heap","collector":"refcount","allocator":"pymalloc","available":true,"reason":null},
            {"name":"cycle+pymalloc","kind":"heap","collector":"cycle","allocator":"pymalloc","available":true,"reason":null},
            {"name":"cycle+mimalloc","kind":"heap","collector":"cycle","allocator":"mimalloc","available":true,"reason":null},
            {"name":"cycle+cpython","kind":"heap","collector":"cycle","allocator":"cpython","available":false,"reason":"no libpython found"},
            {"name":"pymalloc","kind":"allocator","collector":"","allocator":"pymalloc","available":true,"reason":null},
            {"name":"mimalloc","kind":"allocator","collector":"","allocator":"mimalloc","available":true,"reason":null},
            {"name":"cpython","kind":"allocator","collector":"","allocator":"cpython","available":false,"reason":"no libpython found"}
        ],
        "workloads": [
            {"name":"binary-trees","family":"object","summary":"GCBench","size_meaning":"tree depth","quick_sizes":[4,6],"default_sizes":[14,16],"threaded":false,"runs_on":"heap"},
            {"name":"boxed-sum","family":"numeric","summary":"boxed floats","size_meaning":"floats","quick_sizes":[1000],"default_sizes":[1000000],"threaded":false,"runs_on":"heap"},
            {"name":"array-sum","family":"numeric","summary":"contiguous floats","size_meaning":"floats","quick_sizes":[1000],"default_sizes":[1000000],"threaded":false,"runs_on":"heap"},
            {"name":"larson","family":"allocator","summary":"threads exchange blocks","size_meaning":"blocks","quick_sizes":[100],"default_sizes":[10000],"threaded":true,"runs_on":"allocator"},
            {"name":"trace-replay","family":"allocator","summary":"a trace replayed","size_meaning":"replays","quick_sizes":[],"default_sizes":[],"threaded":false,"runs_on":"allocator"}
        ]
    }"#;

    pub(crate) fn sample() -> Catalog {
        Catalog::from_json(SAMPLE).unwrap()
    }

    #[test]
    fn parses_the_contract_shape() {
        let catalog = sample();
        assert_eq!(catalog.strategies.len(), 7);
        assert_eq!(catalog.workloads.len(), 5);
        let cpython = catalog.strategy("cpython").unwrap();
        assert_eq!(cpython.kind, StrategyKind::Allocator);
        assert!(!cpython.available);
        assert_eq!(cpython.reason.as_deref(), Some("no libpython found"));
        assert_eq!(catalog.workloads[3].runs_on, StrategyKind::Allocator);
        assert!(catalog.workloads[3].threaded);
    }

    #[test]
    fn an_empty_catalog_is_refused() {
        assert!(Catalog::from_json(r#"{"strategies":[],"workloads":[]}"#).is_err());
    }

    #[test]
    fn garbage_is_refused() {
        let error = Catalog::from_json("error: no such command").unwrap_err();
        assert!(format!("{error:#}").contains("heaplab list --json"));
    }
}
