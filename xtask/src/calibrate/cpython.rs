//! The Python side: which script runs which workload, running it, and the
//! JSON it prints (see `workloads/python/heaplab_measure.py`).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use serde::Deserialize;

/// A workload that has a Python twin, and the size calibration runs it at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Twin {
    /// The heaplab workload.
    pub workload: &'static str,
    /// Its script in `workloads/python/`.
    pub script: &'static str,
    /// The size calibration uses unless `--sizes` says otherwise.
    pub size: u64,
    /// What one unit of size is, for figures given per unit; empty where
    /// figures per unit would mean nothing (binary-trees' size is a depth).
    pub unit: &'static str,
}

/// Every workload with a Python twin, in the order the table lists them.
///
/// The sizes are those of the figures measured for orientation (two million
/// records, a million lists, two million floats; 500,000 dict rows, #12's
/// target), and small enough for the slower ones to run in seconds in CPython.
pub const TWINS: [Twin; 16] = [
    Twin { workload: "bulk-load", script: "bulk_load.py", size: 2_000_000, unit: "record" },
    Twin { workload: "bulk-load-gc-off", script: "bulk_load.py", size: 2_000_000, unit: "record" },
    Twin { workload: "bulk-load-frozen", script: "bulk_load.py", size: 2_000_000, unit: "record" },
    Twin { workload: "gc-traverse", script: "gc_traverse.py", size: 1_000_000, unit: "list" },
    Twin { workload: "fragmentation", script: "fragmentation.py", size: 2_000_000, unit: "float" },
    Twin { workload: "fragmentation-contiguous", script: "fragmentation.py", size: 2_000_000, unit: "float" },
    Twin { workload: "churn", script: "churn.py", size: 200_000, unit: "live object" },
    Twin { workload: "cyclic-garbage", script: "cyclic_garbage.py", size: 200_000, unit: "node" },
    Twin { workload: "binary-trees", script: "binary_trees.py", size: 14, unit: "" },
    Twin { workload: "bulk-load-dicts", script: "bulk_load_dicts.py", size: 500_000, unit: "row" },
    Twin { workload: "bulk-load-dicts-gc-off", script: "bulk_load_dicts.py", size: 500_000, unit: "row" },
    Twin { workload: "bulk-load-dicts-frozen", script: "bulk_load_dicts.py", size: 500_000, unit: "row" },
    Twin { workload: "bulk-load-columns", script: "bulk_load_columns.py", size: 500_000, unit: "row" },
    Twin { workload: "json-records", script: "json_records.py", size: 50_000, unit: "record" },
    Twin { workload: "groupby-dict", script: "groupby_dict.py", size: 200_000, unit: "record" },
    Twin { workload: "objects-dict", script: "binary_trees.py", size: 14, unit: "" },
];

/// What a script prints.
#[derive(Clone, Debug, Deserialize)]
pub struct PythonRun {
    /// The heaplab workload the script ran.
    pub workload: String,
    /// Its size.
    pub size: u64,
    /// Its seed.
    pub seed: u64,
    /// The interpreter.
    pub python: PythonVersion,
    /// `gc.get_threshold()`.
    pub thresholds: Vec<u64>,
    /// `len(gc.get_objects())` after `gc.collect()`, before the workload.
    pub interpreter_objects: u64,
    /// Whether tracemalloc traced the run.
    pub tracemalloc: bool,
    /// The interpreter before the workload.
    pub baseline: Baseline,
    /// Each phase, at its end.
    pub phases: Vec<PythonPhase>,
    /// `sys.getsizeof` of one object of each kind built.
    pub sizeof: Vec<SizeOf>,
    /// gc-traverse: each forced collection's time.
    #[serde(default)]
    pub collect_seconds: Vec<f64>,
}

/// The interpreter that ran a script.
#[derive(Clone, Debug, Deserialize)]
pub struct PythonVersion {
    /// `sys.implementation.name`: cpython, pypy, …
    pub implementation: String,
    /// `platform.python_version()`.
    pub version: String,
}

/// Figures before the workload.
#[derive(Clone, Debug, Deserialize)]
pub struct Baseline {
    /// tracemalloc's traced bytes (null without --tracemalloc).
    pub traced_bytes: Option<u64>,
    /// pymalloc's figures (null where the interpreter has no pymalloc).
    pub pymalloc: Option<Pymalloc>,
}

/// One phase, at its end.
#[derive(Clone, Debug, Deserialize)]
pub struct PythonPhase {
    /// The phase's name, as the Rust workload names it.
    pub name: String,
    /// Collections per generation since the workload started.
    pub collections: Vec<u64>,
    /// tracemalloc's traced bytes at the phase's end.
    pub traced_bytes: Option<u64>,
    /// pymalloc's figures at the phase's end.
    pub pymalloc: Option<Pymalloc>,
}

/// pymalloc's figures from `sys._debugmallocstats()`.
#[derive(Clone, Debug, Deserialize)]
pub struct Pymalloc {
    /// Bytes in an arena ("N arenas * B bytes/arena").
    pub arena_size: Option<u64>,
    /// "# arenas highwater mark".
    pub arenas_highwater: Option<u64>,
    /// "# arenas allocated current".
    pub arenas_current: Option<u64>,
    /// "# bytes lost to arena alignment": `POOL_SIZE` for each arena whose address is not
    /// pool-aligned, which loses a pool (`_PyObject_DebugMallocStats` in `Objects/obmalloc.c`).
    #[serde(default)]
    pub arena_alignment_bytes: Option<u64>,
    /// The size classes with pools in use.
    pub classes: Vec<PoolClass>,
}

impl Pymalloc {
    /// Pools of the class of `size`-byte blocks (0 when none is in use).
    pub fn pools(&self, size: u64) -> u64 {
        self.classes.iter().find(|class| class.size == size).map_or(0, |class| class.pools)
    }
}

/// One row of `sys._debugmallocstats()`'s table (the columns compared).
#[derive(Clone, Debug, Deserialize)]
pub struct PoolClass {
    /// Block size in bytes.
    pub size: u64,
    /// Pools carved for the class.
    pub pools: u64,
    /// Free blocks in those pools ("avail blocks").
    #[serde(default)]
    pub blocks_free: u64,
}

/// `sys.getsizeof` of one object.
#[derive(Clone, Debug, Deserialize)]
pub struct SizeOf {
    /// heaplab's kind name: int, float, str, tuple, list, instance, dict, set.
    pub kind: String,
    /// What sizes it in `Kind::object_size`; a list's items.
    pub len: u64,
    /// `sys.getsizeof`.
    pub bytes: u64,
    /// For a list: "append" or "exact"; for a dict, its keys: "str" or "int".
    pub growth: Option<String>,
}

/// Runs `twin`'s script at `size` and `seed`, with tracemalloc if `trace`.
pub fn run(
    python: &str,
    dir: &Path,
    twin: &Twin,
    size: u64,
    seed: u64,
    trace: bool,
) -> anyhow::Result<PythonRun> {
    let script = dir.join(twin.script);
    let mut command = Command::new(python);
    command.env("PYTHONDONTWRITEBYTECODE", "1").arg(&script).args([
        "--workload",
        twin.workload,
        "--size",
        &size.to_string(),
        "--seed",
        &seed.to_string(),
    ]);
    if trace {
        command.arg("--tracemalloc");
    }
    let output = command.output().with_context(|| format!("running {python} {}", script.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        bail!(
            "{python} {} --workload {} --size {size} failed ({}): {}",
            script.display(),
            twin.workload,
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let run: PythonRun = serde_json::from_str(stdout.trim())
        .with_context(|| format!("reading the JSON {} printed", script.display()))?;
    if run.thresholds.len() != 3 || run.phases.iter().any(|phase| phase.collections.len() != 3) {
        bail!("{}: expected three generations", script.display());
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_twin_has_a_script_in_the_python_folder() {
        let dir = crate::project_root().join("workloads").join("python");
        for twin in TWINS {
            assert!(dir.join(twin.script).is_file(), "{} has no {}", twin.workload, twin.script);
            assert!(twin.size > 0, "{}", twin.workload);
        }
    }

    #[test]
    fn the_json_of_a_script_reads() {
        let json = r#"{"workload": "bulk-load", "size": 10, "seed": 42,
            "python": {"implementation": "cpython", "version": "3.11.7"},
            "thresholds": [700, 10, 10], "interpreter_objects": 11092, "tracemalloc": false,
            "baseline": {"traced_bytes": null, "pymalloc": {"arena_size": 1048576,
                "arenas_allocated_total": 5, "arenas_reclaimed": 0, "arenas_highwater": 5,
                "arenas_current": 5, "classes": [{"class": 1, "size": 32, "pools": 4,
                "blocks_in_use": 1534, "blocks_free": 506}]}},
            "phases": [{"name": "build", "seconds": 0.1, "collections": [0, 0, 0],
                "traced_bytes": null, "pymalloc": null}],
            "sizeof": [{"kind": "tuple", "len": 3, "bytes": 64, "growth": null}],
            "checksum": null, "ops": 10}"#;
        let run: PythonRun = serde_json::from_str(json).unwrap();
        assert_eq!(run.interpreter_objects, 11_092);
        assert_eq!(run.baseline.pymalloc.as_ref().map(|p| p.pools(32)), Some(4));
        assert_eq!(run.baseline.pymalloc.as_ref().map(|p| p.pools(64)), Some(0));
        assert!(run.collect_seconds.is_empty());
        assert_eq!(run.phases[0].name, "build");
    }
}
