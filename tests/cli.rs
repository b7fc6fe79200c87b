//! The command line as a contract: one JSON record per run, and bad input
//! refused with a one-line error that names what is valid, never a panic.

use std::process::{Command, Output};

fn heaplab(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_heaplab"));
    cmd.args(args);
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.output().expect("running heaplab")
}

/// Checks that `args` fail with exit code 2 and one line of stderr containing every `expected` piece.
fn check_refused(args: &[&str], env: &[(&str, &str)], expected: &[&str]) {
    let out = heaplab(args, env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: not one line: {stderr}");
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    for piece in expected {
        assert!(stderr.contains(piece), "{args:?}: '{piece}' missing from: {stderr}");
    }
}

fn run(strategy: &str, workload: &str, size: &str) -> Vec<&'static str> {
    let args = ["run", "--strategy", strategy, "--workload", workload, "--size", size];
    args.iter().map(|a| &*a.to_string().leak()).collect()
}

#[test]
fn unknown_strategy_names_the_valid_ones() {
    check_refused(
        &run("cycle+tcmalloc", "churn", "100"),
        &[],
        &["unknown strategy 'cycle+tcmalloc'", "cycle+pymalloc"],
    );
    check_refused(&run("gc+pymalloc", "churn", "100"), &[], &["unknown strategy", "marksweep+mimalloc"]);
}

#[test]
fn a_strategy_of_the_wrong_kind_is_refused() {
    check_refused(&run("pymalloc", "churn", "100"), &[], &["runs on collector+allocator strategies"]);
    check_refused(
        &run("cycle+pymalloc", "alloc-sizes", "100"),
        &[],
        &["runs on allocator strategies", "jemalloc"],
    );
}

#[test]
fn unknown_workload_names_the_valid_ones() {
    check_refused(&run("cycle+pymalloc", "nbody", "100"), &[], &["unknown workload 'nbody'", "binary-trees"]);
}

#[test]
fn bad_sizes_are_refused() {
    check_refused(&run("cycle+pymalloc", "churn", "0"), &[], &["--size must be at least 1"]);
    check_refused(&run("cycle+pymalloc", "churn", "ten"), &[], &["--size must be a positive integer"]);
    check_refused(&run("cycle+pymalloc", "churn", "-5"), &[], &["--size"]);
    check_refused(&["run", "--strategy", "cycle+pymalloc", "--workload", "churn"], &[], &["--size"]);
}

#[test]
fn bad_threads_seeds_and_settings_are_refused() {
    let mut args = run("cycle+pymalloc", "churn", "100");
    args.extend(["--threads", "2"]);
    check_refused(&args, &[], &["single-threaded"]);
    let mut args = run("cycle+pymalloc", "churn", "100");
    args.extend(["--seed", "x"]);
    check_refused(&args, &[], &["--seed must be an integer"]);
    let mut args = run("cycle+pymalloc", "churn", "100");
    args.extend(["--set", "marksweep.growth=0.5"]);
    check_refused(&args, &[], &["marksweep.growth"]);
    check_refused(&["frobnicate"], &[], &["frobnicate"]);
}

#[test]
fn an_unavailable_strategy_says_why() {
    let env = [("HEAPLAB_LIBPYTHON", "/nonexistent/libpython3.99.so")];
    check_refused(
        &run("cycle+cpython", "churn", "100"),
        &env,
        &["'cycle+cpython' is unavailable here", "/nonexistent"],
    );
    let out = heaplab(&["list", "--json"], &env);
    let listing: serde_json::Value = serde_json::from_slice(&out.stdout).expect("list --json is JSON");
    let cpython = listing["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "cpython")
        .expect("cpython is listed");
    assert_eq!(cpython["available"], false);
    assert!(cpython["reason"].as_str().unwrap().contains("/nonexistent"));
}

#[test]
fn a_run_prints_one_json_record_with_the_contract_columns() {
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("series.csv");
    let mut args = run("cycle+pymalloc", "cyclic-garbage", "2000");
    args.extend(["--series", series.to_str().unwrap()]);
    let out = heaplab(&args, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    let record: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let mut expected: Vec<&str> = heaplab_core::record::COLUMNS.to_vec();
    expected.extend(["collections_by_gen", "phases"]);
    // Where /proc/self/smaps_rollup is readable, the huge-page-backed memory at the end.
    if record.get("anon_huge_bytes").is_some() {
        expected.push("anon_huge_bytes");
    }
    assert_eq!(record.as_object().unwrap().len(), expected.len(), "no field more or less");
    assert!(record["params"].as_str().unwrap().contains("thp="), "{record}");
    let positions: Vec<usize> = expected
        .iter()
        .map(|key| stdout.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("{key} missing")))
        .collect();
    assert!(positions.is_sorted(), "the record's fields are in the contract's order");
    assert_eq!(record["status"], "ok");
    assert_eq!(record["leaked_bytes"], 0);
    assert_eq!(record["collections_by_gen"].as_array().unwrap().len(), 3);
    let phases: Vec<&str> =
        record["phases"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(phases, ["rings", "trees"]);
    let csv = std::fs::read_to_string(&series).unwrap();
    assert!(csv.starts_with("t_ns,rss_bytes,live_bytes,phase,event\n"));
    assert!(csv.lines().count() > 1);
}

#[test]
fn refcount_reports_what_cycles_leak() {
    let out = heaplab(&run("refcount+pymalloc", "cyclic-garbage", "2000"), &[]);
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(record["leaked_bytes"].as_u64().unwrap() > 0);
    assert_eq!(record["collections"], 0);
}

#[test]
fn the_default_matrix_is_every_collector_on_every_allocator_and_each_release_on_pymalloc() {
    let out = heaplab(&["list", "--json"], &[]);
    let listing: serde_json::Value = serde_json::from_slice(&out.stdout).expect("list --json is JSON");
    let in_sweep: Vec<&str> = listing["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["default_sweep"] == true)
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for name in [
        "refcount+bump",
        "cycle+cpython",
        "marksweep+jemalloc",
        "mimalloc",
        "cycle@3.8+pymalloc",
        "cycle@3.13+pymalloc",
        "incremental@3.14+pymalloc",
        "python@3.9+pymalloc",
        "python@3.11+mimalloc",
    ] {
        assert!(in_sweep.contains(&name), "{name} is in the default matrix: {in_sweep:?}");
    }
    for name in [
        "cycle@3.13+jemalloc",
        "cycle+cpython@3.9",
        "incremental+cpython",
        "incremental+pymalloc",
        "python@3.9+jemalloc",
    ] {
        assert!(!in_sweep.contains(&name), "{name} runs only when a glob names it");
    }
}

#[test]
fn the_listing_gives_each_release_s_free_lists() {
    let out = heaplab(&["list", "--json"], &[]);
    let listing: serde_json::Value = serde_json::from_slice(&out.stdout).expect("list --json is JSON");
    let free_lists = |name: &str| {
        let versions = listing["versions"].as_array().unwrap();
        versions.iter().find(|v| v["name"] == name).expect("a listed release")["free_lists"].clone()
    };
    assert_eq!(
        (free_lists("3.9")["tuple_kept_len"].as_u64(), free_lists("3.9")["tuple_reused_len"].as_u64()),
        (Some(19), Some(19))
    );
    assert_eq!(
        (free_lists("3.11")["tuple_kept_len"].as_u64(), free_lists("3.11")["tuple_reused_len"].as_u64()),
        (Some(20), Some(19))
    );
    assert_eq!(free_lists("3.13")["floats"], 100);
    assert_eq!(free_lists("3.14")["ints"], 100);
    let text = String::from_utf8(heaplab(&["list"], &[]).stdout).unwrap();
    assert!(text.contains("free lists: tuples of 1-20 items (1-19 reused)"), "{text}");
}

#[test]
fn a_record_names_the_release_an_unversioned_name_stands_for_where_it_is_not_the_default() {
    let params = |strategy: &str| -> String {
        let out = heaplab(&run(strategy, "bulk-load", "100"), &[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        record["params"].as_str().unwrap().to_owned()
    };
    assert!(params("incremental+pymalloc").contains("version=3.14"), "{}", params("incremental+pymalloc"));
    assert!(params("cycle@3.9+pymalloc").contains("version=3.9"));
    assert!(!params("cycle+pymalloc").contains("version="), "no suffix: the default release, by contract");
}

/// A child forked from a large process (a sweep is one) reports its own peak RSS, not its
/// parent's: Linux's `ru_maxrss` would keep the pre-`exec` process's.
#[test]
fn the_peak_rss_is_the_runs_own_and_not_the_parents() {
    const PARENT: usize = 256 << 20;
    let mut ballast = vec![0u8; PARENT];
    for page in ballast.chunks_mut(4096) {
        page[0] = 1;
    }
    let out = heaplab(&run("cycle+pymalloc", "binary-trees", "4"), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let peak = record["peak_rss_bytes"].as_u64().unwrap();
    assert!(peak > 0 && peak < (64 << 20), "a depth-4 tree peaks at {peak} bytes");
    assert_eq!(std::hint::black_box(&ballast)[4096], 1);
}
