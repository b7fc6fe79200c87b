//! `python@3.X+allocator`: the real interpreters on the machine run each workload's Python
//! twin, and every record proves what ran — the model's checksum, the model's collections
//! where the model is exact, and the allocator libraries the interpreter had mapped.
//! Releases that are not installed are skipped with a message, never failed.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The preload library beside the binary under test, built with cargo when it is not there.
fn preload_library() -> PathBuf {
    static LIBRARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    LIBRARY
        .get_or_init(|| {
            let so = Path::new(env!("CARGO_BIN_EXE_heaplab")).with_file_name("libheaplab_preload.so");
            if !so.exists() {
                let mut build = Command::new(env!("CARGO"));
                build.args(["build", "-p", "heaplab-preload"]);
                if !cfg!(debug_assertions) {
                    build.arg("--release");
                }
                assert!(build.status().expect("running cargo build").success(), "building heaplab-preload");
            }
            assert!(so.exists(), "{} was not built", so.display());
            so
        })
        .clone()
}

/// `heaplab run` with `args`; the record, or the error's text.
fn heaplab_run(args: &[&str]) -> Result<Value, String> {
    let output = Command::new(env!("CARGO_BIN_EXE_heaplab"))
        .arg("run")
        .args(args)
        .env("HEAPLAB_PRELOAD_LIB", preload_library())
        .output()
        .expect("running heaplab");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        return Err(stderr);
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("not one JSON record ({e}): {stderr}"))
}

fn record(strategy: &str, workload: &str, size: u64) -> Option<Value> {
    let size = size.to_string();
    match heaplab_run(&["--strategy", strategy, "--workload", workload, "--size", &size]) {
        Ok(record) => Some(record),
        Err(error) if error.contains("unavailable here") => {
            eprintln!("skipped {strategy}: {}", error.trim());
            None
        }
        Err(error) => panic!("{strategy} on {workload}: {error}"),
    }
}

fn param<'a>(record: &'a Value, key: &str) -> Option<&'a str> {
    record["params"]
        .as_str()?
        .split(';')
        .find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v))
}

/// Whether pyenv has a build of `release` (the interpreter `heaplab` picks first).
fn pyenv_has(release: &str) -> bool {
    let versions = heaplab_alloc::cpython::pyenv_root().join("versions");
    let (installed, _) = heaplab_alloc::cpython::pyenv_installs(&versions, release);
    installed.iter().any(|(_, name)| versions.join(name).join("bin/python3").is_file())
}

/// The releases the model knows that have an interpreter (3.14 has none here).
const RELEASES: [&str; 6] = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"];

#[test]
fn every_allocator_under_the_real_interpreter_gives_the_model_s_checksum_and_shows_what_served() {
    let model = record("cycle+pymalloc", "bulk-load", 3_000).expect("the model always runs");
    let mut ran = 0;
    for allocator in ["pymalloc", "system", "jemalloc", "mimalloc"] {
        let strategy = format!("python@3.11+{allocator}");
        let Some(real) = record(&strategy, "bulk-load", 3_000) else { continue };
        ran += 1;
        let r = &real;
        assert_eq!(r["strategy"], strategy.as_str());
        assert_eq!((r["collector"].as_str(), r["allocator"].as_str()), (Some("python"), Some(allocator)));
        assert_eq!(r["checksum"], model["checksum"], "{strategy}");
        assert_eq!(
            real["collections_by_gen"], model["collections_by_gen"],
            "{strategy}: 3.11's counts are exact"
        );
        assert!(r["peak_rss_bytes"].as_u64().unwrap() > 5 << 20, "{strategy}: an interpreter's RSS");
        assert!(r["wall_ns"].as_u64().unwrap() > 0 && r["user_ns"].as_u64().is_some());
        let phases: Vec<&str> =
            real["phases"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(phases, ["build", "teardown"], "{strategy}");
        let mapped = param(&real, "mapped").unwrap_or_default();
        assert!(mapped.contains("libc.so"), "{strategy}: mapped {mapped}");
        // pyenv's builds link libpython; a distribution's python3.11 on the PATH may be static.
        if pyenv_has("3.11") {
            assert!(mapped.contains("libpython3.11"), "{strategy}: mapped {mapped}");
        }
        let preloaded = matches!(allocator, "jemalloc" | "mimalloc");
        assert_eq!(mapped.contains("libheaplab_preload.so"), preloaded, "{strategy}: mapped {mapped}");
        assert_eq!(param(&real, "preload"), preloaded.then_some(allocator), "{strategy}");
        let pythonmalloc = if allocator == "pymalloc" { "pymalloc" } else { "malloc" };
        assert_eq!(param(&real, "pythonmalloc"), Some(pythonmalloc), "{strategy}");
        assert!(param(&real, "interpreter").is_some_and(|v| v.starts_with("3.11.")), "{strategy}");
    }
    if ran == 0 {
        eprintln!("skipped: no CPython 3.11 interpreter here");
    }
}

#[test]
fn every_twin_under_every_release_gives_the_model_s_checksum_and_bulk_load_its_collections() {
    let sizes = |workload: &str| match workload {
        "binary-trees" | "objects-dict" => 6,
        // 2,000: at 3.13 (threshold 2,000) the last record crosses the threshold, and the
        // interpreter collects at its next eval-breaker check, the call to `recorder.phase()`;
        // the model at the phase boundary (before it ran the collection only at the next object
        // it created: none follows in bulk-load, one collection fewer than 3.13.0 made).
        "bulk-load" => 2_000,
        _ => 3_000,
    };
    let workloads = [
        "bulk-load",
        "bulk-load-gc-off",
        "bulk-load-frozen",
        "bulk-load-dicts",
        "bulk-load-columns",
        "json-records",
        "groupby-dict",
        "gc-traverse",
        "fragmentation",
        "fragmentation-contiguous",
        "churn",
        "cyclic-garbage",
        "binary-trees",
        "objects-dict",
    ];
    for release in RELEASES {
        let strategy = format!("python@{release}+pymalloc");
        // One quick probe: a release without an interpreter is skipped as a whole.
        if record(&strategy, "bulk-load", 10).is_none() {
            continue;
        }
        // The longer workloads at one release; bulk-load, the counts' test, at every one.
        let these: &[&str] = if release == "3.11" { &workloads } else { &workloads[..1] };
        for &workload in these {
            let size = sizes(workload);
            let model = record(&format!("cycle@{release}+pymalloc"), workload, size).expect("the model runs");
            let real = record(&strategy, workload, size).expect("the probe ran");
            assert_eq!(real["checksum"], model["checksum"], "{strategy} on {workload}");
            assert_eq!(real["ops"], model["ops"], "{strategy} on {workload}");
            if workload == "bulk-load" || release == "3.11" {
                // workloads/tests/calibrate_versions.rs checks the counts phase by phase; here
                // the record's own, through `heaplab run`: every twin at 3.11, bulk-load at every release.
                assert_eq!(
                    real["collections_by_gen"], model["collections_by_gen"],
                    "{strategy} on {workload}"
                );
            }
        }
    }
}

#[test]
fn workloads_without_a_twin_and_model_settings_are_refused_in_one_line() {
    for (args, expected) in [
        (
            vec!["--strategy", "python@3.11+pymalloc", "--workload", "larson", "--size", "10"],
            "has no Python twin",
        ),
        (
            vec!["--strategy", "python@3.11+bump", "--workload", "bulk-load", "--size", "10"],
            "valid: pymalloc, system",
        ),
        (
            vec!["--strategy", "python@3.99+pymalloc", "--workload", "bulk-load", "--size", "10"],
            "unknown CPython version",
        ),
        (
            vec!["--strategy", "python@3.14+pymalloc", "--workload", "bulk-load", "--size", "10"],
            "no CPython 3.14 interpreter",
        ),
    ] {
        let error = heaplab_run(&args).expect_err("refused");
        assert_eq!(error.trim_end().lines().count(), 1, "{args:?}: {error}");
        assert!(error.contains(expected), "{args:?}: {error}");
    }
    if record("python@3.11+pymalloc", "bulk-load", 10).is_some() {
        let args = [
            "--strategy",
            "python@3.11+pymalloc",
            "--workload",
            "bulk-load",
            "--size",
            "10",
            "--set",
            "cycle.thresholds=1,1,1",
        ];
        let error = heaplab_run(&args).expect_err("refused");
        assert!(error.contains("the real interpreter"), "{error}");
    }
}

#[test]
fn the_series_of_a_real_run_follows_the_interpreter_s_rss_through_its_phases() {
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("series.csv");
    let series_arg = series.to_string_lossy().into_owned();
    let args = [
        "--strategy",
        "python@3.11+pymalloc",
        "--workload",
        "bulk-load",
        "--size",
        "100000",
        "--series",
        &series_arg,
    ];
    let record = match heaplab_run(&args) {
        Ok(record) => record,
        Err(error) if error.contains("unavailable here") => return eprintln!("skipped: {}", error.trim()),
        Err(error) => panic!("{error}"),
    };
    let text = std::fs::read_to_string(&series).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().skip(1).map(|line| line.split(',').collect()).collect();
    assert!(rows.len() > 10, "{} samples", rows.len());
    let rss: Vec<u64> = rows.iter().map(|row| row[1].parse().unwrap()).collect();
    let peak = record["peak_rss_bytes"].as_u64().unwrap();
    assert!(rss.iter().all(|&r| r <= peak + (1 << 20)), "no sample above getrusage's peak {peak}");
    assert!(*rss.iter().max().unwrap() > peak / 2, "the samples see the peak {peak}");
    let phases: Vec<&str> = rows.iter().map(|row| row[3]).collect();
    assert!(phases.contains(&"build") && phases.contains(&"teardown"), "{phases:?}");
    let first_teardown = phases.iter().position(|p| *p == "teardown").unwrap();
    assert!(phases[first_teardown..].iter().all(|p| *p == "teardown"), "phases in order");
}

/// A program of no one's workload (here a small script; pyperformance's benchmarks in a sweep)
/// runs under the real interpreter on every allocator from its spec, and the record shows what
/// served it; a spec of another release, a model strategy and a missing spec are refused.
#[test]
fn a_program_runs_from_its_spec_on_every_allocator_and_other_releases_are_refused() {
    let versions = heaplab_alloc::cpython::pyenv_root().join("versions");
    let (installed, _) = heaplab_alloc::cpython::pyenv_installs(&versions, "3.11");
    let Some(python) =
        installed.iter().map(|(_, name)| versions.join(name).join("bin/python3")).find(|p| p.is_file())
    else {
        eprintln!("skipped: no pyenv CPython 3.11 here");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("rows.py");
    std::fs::write(
        &script,
        "import sys\nrows = [(i, str(i)) for i in range(int(sys.argv[1]))]\nassert len(rows) == 200000\n",
    )
    .unwrap();
    let spec_path = dir.path().join("rows.program.json");
    let spec = heaplab_core::program::ProgramSpec {
        program: "rows".into(),
        release: "3.11".into(),
        python: python.clone(),
        argv: vec![script.display().to_string(), "200000".into()],
        cwd: dir.path().to_owned(),
    };
    std::fs::write(&spec_path, serde_json::to_string(&spec).unwrap()).unwrap();
    let spec_arg = spec_path.display().to_string();
    for allocator in ["pymalloc", "system", "jemalloc", "mimalloc"] {
        let strategy = format!("python@3.11+{allocator}");
        let args = ["--strategy", &strategy, "--workload", "program", "--program", &spec_arg, "--size", "1"];
        let real = heaplab_run(&args).unwrap_or_else(|error| panic!("{strategy}: {error}"));
        assert_eq!(
            (real["workload"].as_str(), real["checksum"].as_str()),
            (Some("program"), None),
            "{strategy}"
        );
        assert_eq!(param(&real, "program"), Some("rows"), "{strategy}");
        // 200,000 tuples and strs: well over a bare interpreter's RSS.
        assert!(
            real["peak_rss_bytes"].as_u64().unwrap() > 20 << 20,
            "{strategy}: {}",
            real["peak_rss_bytes"]
        );
        let mapped = param(&real, "mapped").unwrap_or_default();
        let preloaded = matches!(allocator, "jemalloc" | "mimalloc");
        assert_eq!(mapped.contains("libheaplab_preload.so"), preloaded, "{strategy}: mapped {mapped}");
        assert!(mapped.contains("libpython3.11"), "{strategy}: mapped {mapped}");
    }
    for (args, expected) in [
        (vec!["--strategy", "python@3.13+pymalloc", "--program", &spec_arg], "is a program for CPython 3.11"),
        (
            vec!["--strategy", "cycle+pymalloc", "--program", &spec_arg],
            "runs on the real interpreter's strategies",
        ),
        (vec!["--strategy", "python@3.11+pymalloc"], "needs --program SPEC"),
    ] {
        let args: Vec<&str> = args.into_iter().chain(["--workload", "program", "--size", "1"]).collect();
        let error = heaplab_run(&args).expect_err("refused");
        assert_eq!(error.trim_end().lines().count(), 1, "{args:?}: {error}");
        assert!(error.contains(expected), "{args:?}: {error}");
    }
    std::fs::write(&script, "raise SystemExit('the program failed here')\n").unwrap();
    let args = [
        "--strategy",
        "python@3.11+pymalloc",
        "--workload",
        "program",
        "--program",
        &spec_arg,
        "--size",
        "1",
    ];
    let error = heaplab_run(&args).expect_err("a failing program fails the run");
    assert!(error.contains("the program failed here"), "{error}");
}
