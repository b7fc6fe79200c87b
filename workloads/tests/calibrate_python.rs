//! The Python twins in `workloads/python/`: they compile, they do the same
//! work as the Rust workloads (the same checksum), they print the JSON that
//! `cargo xtask calibrate` reads, and CPython collects when the model does.
//! Every test is skipped, with a message, where python3 is missing.

mod calibrate_support;

use calibrate_support::{TWINNED, params, python_dir, python3, run_heap, run_python, script_of};
use heaplab_gc::GcConfig;
use serde_json::Value;

#[test]
fn every_script_compiles() {
    let mut scripts: Vec<_> = std::fs::read_dir(python_dir())
        .expect("workloads/python exists")
        .map(|entry| entry.expect("a readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "py"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 7, "expected a script per workload family and the helper, found {scripts:?}");
    for workload in TWINNED {
        assert!(scripts.iter().any(|path| path.ends_with(script_of(workload))), "{workload} has no script");
    }
    for script in scripts {
        let Some(mut command) = python3("every_script_compiles") else { return };
        // py_compile into a throwaway file, so that no __pycache__ lands in the source tree.
        let output = command
            .args([
                "-c",
                "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)",
            ])
            .arg(&script)
            .arg(std::env::temp_dir().join(format!("heaplab-calibrate-{}.pyc", std::process::id())))
            .output()
            .expect("running python3");
        assert!(output.status.success(), "{}: {}", script.display(), String::from_utf8_lossy(&output.stderr));
    }
}

/// A size at which each twin runs in well under a second, in Python and in a debug build.
fn small_size(workload: &str) -> u64 {
    match workload {
        "binary-trees" | "objects-dict" => 6,
        "churn" => 700,
        _ => 3_000,
    }
}

#[test]
fn every_twin_gives_the_rust_workloads_checksum() {
    for workload in TWINNED {
        let size = small_size(workload);
        // The seed matters to the random workloads only; two seeds there show it is followed.
        let seeds: &[u64] = if matches!(workload, "churn" | "cyclic-garbage") { &[1, 7] } else { &[1] };
        for &seed in seeds {
            let args = ["--size", &size.to_string(), "--seed", &seed.to_string(), "--checksum"];
            let Some(output) = run_python("every_twin_gives_the_rust_workloads_checksum", workload, &args)
            else {
                return;
            };
            let rust =
                run_heap(workload, "refcount", "system", &GcConfig::default(), &params(size, seed)).outcome;
            let what = format!("{workload} at size {size}, seed {seed}");
            assert_eq!(output["checksum"], Value::from(format!("{:016x}", rust.checksum)), "{what}");
            assert_eq!(output["ops"], Value::from(rust.ops), "{what}");
        }
    }
}

/// Checks that `value` is an array of `n` unsigned integers.
fn assert_counts(value: &Value, n: usize, what: &str) {
    let counts = value.as_array().unwrap_or_else(|| panic!("{what}: not an array: {value}"));
    assert_eq!(counts.len(), n, "{what}: {value}");
    assert!(counts.iter().all(Value::is_u64), "{what}: {value}");
}

/// Checks the shape of pymalloc's figures as the script reports them.
fn assert_pymalloc(value: &Value, what: &str) {
    for key in
        ["arena_size", "arenas_allocated_total", "arenas_reclaimed", "arenas_highwater", "arenas_current"]
    {
        assert!(value[key].is_u64(), "{what}: {key} is {}", value[key]);
    }
    let classes = value["classes"].as_array().unwrap_or_else(|| panic!("{what}: no classes"));
    assert!(!classes.is_empty(), "{what}: no size class in use");
    for row in classes {
        for key in ["class", "size", "pools", "blocks_in_use", "blocks_free"] {
            assert!(row[key].is_u64(), "{what}: a class row without {key}: {row}");
        }
        assert_eq!(
            row["size"].as_u64(),
            row["class"].as_u64().map(|class| 16 * (class + 1)),
            "{what}: {row}"
        );
    }
}

#[test]
fn a_run_prints_the_json_calibrate_reads() {
    let Some(output) =
        run_python("a_run_prints_the_json_calibrate_reads", "gc-traverse", &["--size", "2000"])
    else {
        return;
    };
    for key in [
        "workload",
        "size",
        "seed",
        "python",
        "thresholds",
        "interpreter_objects",
        "tracemalloc",
        "baseline",
        "phases",
        "sizeof",
        "checksum",
        "ops",
    ] {
        assert!(output.get(key).is_some(), "no {key} in {output}");
    }
    assert_eq!(output["workload"], "gc-traverse");
    assert_eq!(output["size"], 2000);
    assert_eq!(output["seed"], 42, "heaplab's default seed");
    assert_eq!(output["checksum"], Value::Null, "no checksum without --checksum");
    assert_eq!(output["tracemalloc"], false);
    assert_counts(&output["thresholds"], 3, "thresholds");
    assert!(
        output["interpreter_objects"].as_u64().is_some_and(|n| n > 100),
        "{}",
        output["interpreter_objects"]
    );
    assert_pymalloc(&output["baseline"]["pymalloc"], "baseline");
    assert_eq!(output["baseline"]["traced_bytes"], Value::Null);

    let phases = output["phases"].as_array().expect("phases is an array");
    let names: Vec<&str> = phases.iter().map(|phase| phase["name"].as_str().expect("a phase name")).collect();
    assert_eq!(names, ["build", "collect", "teardown"]);
    for phase in phases {
        assert!(phase["seconds"].as_f64().is_some_and(|s| s >= 0.0), "{phase}");
        assert_counts(&phase["collections"], 3, "collections");
        assert_pymalloc(&phase["pymalloc"], "a phase");
    }
    let full = |index: usize| phases[index]["collections"][2].as_u64().expect("a count");
    assert_eq!(full(1) - full(0), 5, "five gc.collect() calls in the collect phase");
    assert_eq!(output["collect_seconds"].as_array().map(Vec::len), Some(5));
    assert_eq!(output["collect_found"], serde_json::json!([0, 0, 0, 0, 0]), "nothing is garbage");

    let sizeof = output["sizeof"].as_array().expect("sizeof is an array");
    let kinds: Vec<&str> = sizeof.iter().map(|entry| entry["kind"].as_str().expect("a kind")).collect();
    assert_eq!(kinds, ["int", "list", "list"]);
    assert_eq!(sizeof[0]["bytes"], 28, "sys.getsizeof of an int of one digit");
    assert_eq!(sizeof[1]["bytes"], 64, "sys.getsizeof([i]): 56 and one slot");
}

#[test]
fn tracemalloc_runs_report_traced_bytes() {
    let args = ["--size", "2000", "--tracemalloc"];
    let Some(output) = run_python("tracemalloc_runs_report_traced_bytes", "bulk-load", &args) else { return };
    assert_eq!(output["tracemalloc"], true);
    let baseline = output["baseline"]["traced_bytes"].as_u64().expect("traced bytes before the workload");
    let build = output["phases"][0]["traced_bytes"].as_u64().expect("traced bytes after build");
    // Each record is at least an int, a float, a str, a tuple and a slot in the list: 28 + 24 + 50 + 64 + 8.
    assert!(build >= baseline + 2000 * 174, "{baseline} bytes before, {build} after 2,000 records");
}

#[test]
fn cpython_collects_when_the_model_does() {
    // The model gets what the script measured: the thresholds and the
    // interpreter's tracked objects. Both start with generation 0's count at
    // zero and count the same containers, so the collections are the same,
    // generation by generation. 100,000 lists are enough for gc-traverse's
    // build to make a full collection of its own (after 11 of generation 1,
    // with the survivors pending over a quarter of the interpreter's
    // objects) before the five forced ones.
    for (workload, size) in [
        ("bulk-load", 20_000),
        ("bulk-load-gc-off", 5_000),
        ("bulk-load-frozen", 20_000),
        ("gc-traverse", 100_000),
    ] {
        let Some(output) =
            run_python("cpython_collects_when_the_model_does", workload, &["--size", &size.to_string()])
        else {
            return;
        };
        let measured: Vec<u64> = output["thresholds"]
            .as_array()
            .expect("thresholds")
            .iter()
            .map(|t| t.as_u64().expect("a threshold"))
            .collect();
        let gc = GcConfig {
            thresholds: measured.iter().map(|&t| u32::try_from(t).expect("a small threshold")).collect(),
            interpreter_objects: output["interpreter_objects"].as_u64().expect("a count"),
            ..GcConfig::default()
        };
        let model = run_heap(workload, "cycle", "pymalloc", &gc, &params(size, 42)).stats.collections_by_gen;
        let last = output["phases"].as_array().and_then(|phases| phases.last()).expect("phases");
        let cpython: Vec<u64> = last["collections"]
            .as_array()
            .expect("collections")
            .iter()
            .map(|c| c.as_u64().expect("a count"))
            .collect();
        assert_eq!(model, cpython, "{workload} at {size}: the model against CPython");
    }
}
