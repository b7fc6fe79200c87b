//! What the calibration tests share: a workload run on one strategy with a
//! chosen collector configuration, and the Python twins in `workloads/python/`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use heaplab_alloc::{AllocConfig, AllocVisitor};
use heaplab_core::{Allocator, Heap, HeapStats, Outcome, Params, PhaseRecord};
use heaplab_gc::GcConfig;
use heaplab_workloads::{Body, Workload};

/// What one run gave: the outcome, the heap's figures at the end of the
/// workload (before `finish()` runs its own collection), and the phases.
#[derive(Debug)]
pub struct HeapRun {
    pub outcome: Outcome,
    pub stats: HeapStats,
    pub phases: Vec<PhaseRecord>,
}

impl HeapRun {
    /// The record of phase `name`; panics if the workload did not mark it.
    pub fn phase(&self, name: &str) -> &PhaseRecord {
        self.phases.iter().find(|phase| phase.name == name).unwrap_or_else(|| panic!("no phase {name}"))
    }

    /// The names of the phases, in order.
    pub fn phase_names(&self) -> Vec<&str> {
        self.phases.iter().map(|phase| phase.name.as_str()).collect()
    }
}

/// The registered workload of this name.
pub fn workload(name: &str) -> &'static Workload {
    heaplab_workloads::find(name).unwrap_or_else(|| panic!("{name} is not registered"))
}

/// The parameters of a test run.
pub fn params(size: u64, seed: u64) -> Params {
    Params { size, threads: 1, seed, trace: None }
}

/// Runs heap workload `name` on `collector+allocator` with `gc`.
pub fn run_heap(
    name: &str,
    collector: &'static str,
    allocator: &str,
    gc: &GcConfig,
    params: &Params,
) -> HeapRun {
    let Body::Heap(body) = workload(name).body else { panic!("{name} does not run on a heap") };
    let visitor = OnHeap { collector, gc, body, params };
    heaplab_alloc::with_allocator(allocator, &AllocConfig::default(), visitor)
        .expect("an available allocator")
}

struct OnHeap<'a> {
    collector: &'static str,
    gc: &'a GcConfig,
    body: fn(&mut dyn Heap, &Params) -> Outcome,
    params: &'a Params,
}

impl AllocVisitor for OnHeap<'_> {
    type Output = HeapRun;

    fn visit<A: Allocator + 'static>(self, alloc: A) -> HeapRun {
        let mut heap =
            heaplab_gc::new_heap(self.collector, alloc, self.gc, None).expect("a registered collector");
        let outcome = (self.body)(heap.as_mut(), self.params);
        let stats = heap.stats();
        let (_, phases) = heap.finish();
        HeapRun { outcome, stats, phases }
    }
}

/// The folder of the Python twins.
pub fn python_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// `python3`, if this machine has one that runs; otherwise says why the test is skipped.
pub fn python3(test: &str) -> Option<Command> {
    match Command::new("python3").arg("--version").output() {
        Ok(output) if output.status.success() => {
            let mut command = Command::new("python3");
            // No __pycache__ folders in the source tree.
            command.env("PYTHONDONTWRITEBYTECODE", "1");
            Some(command)
        }
        _ => {
            eprintln!("{test}: skipped, python3 is not available here");
            None
        }
    }
}

/// The interpreter of CPython `version` on this machine: pyenv's build the version was measured
/// with (`$PYENV_ROOT`, else `~/.pyenv`), else any pyenv build of that release; `None`, with a
/// message naming the test, where there is none.
pub fn interpreter(test: &str, version: &heaplab_core::version::Version) -> Option<PathBuf> {
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".pyenv")));
    let found = root.and_then(|root| {
        let versions = root.join("versions");
        let exact = version.measured_with.map(|patch| versions.join(patch).join("bin/python3"));
        if let Some(path) = exact.filter(|path| path.exists()) {
            return Some(path);
        }
        let prefix = format!("{}.", version.name);
        let mut candidates: Vec<PathBuf> = std::fs::read_dir(&versions)
            .ok()?
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
            .map(|entry| entry.path().join("bin/python3"))
            .filter(|path| path.exists())
            .collect();
        candidates.sort();
        candidates.pop()
    });
    if found.is_none() {
        eprintln!("{test}: CPython {} skipped, no interpreter of it found under pyenv", version.name);
    }
    found
}

/// Runs the Python twin of `name` under `python` with `args`, and parses its JSON line.
pub fn run_python_with(python: &std::path::Path, name: &str, args: &[&str]) -> serde_json::Value {
    let mut command = Command::new(python);
    command.env("PYTHONDONTWRITEBYTECODE", "1");
    let script = python_dir().join(script_of(name));
    let output = command
        .arg(&script)
        .arg("--workload")
        .arg(name)
        .args(args)
        .output()
        .expect("running the interpreter");
    assert!(
        output.status.success(),
        "{} under {} {args:?} failed: {}",
        script.display(),
        python.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("the script prints UTF-8");
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|err| panic!("{name}: not one JSON object ({err}): {stdout}"))
}

/// Runs the Python twin of `name` with `args` after the script, and parses its JSON line.
pub fn run_python(test: &str, name: &str, args: &[&str]) -> Option<serde_json::Value> {
    let mut command = python3(test)?;
    let script = python_dir().join(script_of(name));
    let output =
        command.arg(&script).arg("--workload").arg(name).args(args).output().expect("running python3");
    assert!(
        output.status.success(),
        "{} {args:?} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("the script prints UTF-8");
    Some(
        serde_json::from_str(stdout.trim())
            .unwrap_or_else(|err| panic!("{name}: not one JSON object ({err}): {stdout}")),
    )
}

/// The script that runs workload `name`.
pub fn script_of(name: &str) -> &'static str {
    match name {
        "binary-trees" => "binary_trees.py",
        "cyclic-garbage" => "cyclic_garbage.py",
        "churn" => "churn.py",
        "fragmentation" | "fragmentation-contiguous" => "fragmentation.py",
        "bulk-load" | "bulk-load-gc-off" | "bulk-load-frozen" => "bulk_load.py",
        "gc-traverse" => "gc_traverse.py",
        "objects-dict" => "binary_trees.py",
        "bulk-load-dicts" | "bulk-load-dicts-gc-off" | "bulk-load-dicts-frozen" => "bulk_load_dicts.py",
        "bulk-load-columns" => "bulk_load_columns.py",
        "json-records" => "json_records.py",
        "groupby-dict" => "groupby_dict.py",
        _ => panic!("{name} has no Python twin"),
    }
}

/// Every workload with a Python twin.
pub const TWINNED: [&str; 16] = [
    "binary-trees",
    "cyclic-garbage",
    "churn",
    "fragmentation",
    "fragmentation-contiguous",
    "bulk-load",
    "bulk-load-gc-off",
    "bulk-load-frozen",
    "gc-traverse",
    "objects-dict",
    "bulk-load-dicts",
    "bulk-load-dicts-gc-off",
    "bulk-load-dicts-frozen",
    "bulk-load-columns",
    "json-records",
    "groupby-dict",
];
