//! The model at each CPython version against that version's interpreter, wherever pyenv has
//! one: `sys.getsizeof` of the objects whose size changed between releases and of the dicts
//! and sets the calibration measures (`container_sizes` in heaplab_measure.py), and the
//! collections per generation of the twins that only build (bulk-load, gc-traverse).
//! A version whose interpreter is missing is skipped with a message, never failed.

mod calibrate_support;

use calibrate_support::{interpreter, params, python_dir, run_heap, run_python_with};
use heaplab_core::dict_layout as dl;
use heaplab_core::version::{GcTrigger, VERSIONS};
use heaplab_gc::GcConfig;
use serde_json::Value;

fn counts(value: &Value) -> Vec<u64> {
    value.as_array().expect("an array").iter().map(|c| c.as_u64().expect("a count")).collect()
}

#[test]
fn each_version_s_sizes_are_its_interpreter_s() {
    for version in VERSIONS {
        let Some(python) = interpreter("each_version_s_sizes_are_its_interpreter_s", version) else {
            continue;
        };
        let output = std::process::Command::new(&python)
            .args([
                "-c",
                "import sys; print(sys.getsizeof(0), sys.getsizeof(1), sys.getsizeof(2**30), \
                 sys.getsizeof(2**60), sys.getsizeof(''), sys.getsizeof('abc'), sys.getsizeof('x' * 100))",
            ])
            .output()
            .expect("running the interpreter");
        let text = String::from_utf8(output.stdout).expect("UTF-8");
        let measured: Vec<usize> = text.split_whitespace().map(|n| n.parse().expect("a size")).collect();
        let model = vec![
            version.int_size(0),
            version.int_size(1),
            version.int_size(1 << 30),
            version.int_size(1 << 60),
            version.str_size(0),
            version.str_size(3),
            version.str_size(100),
        ];
        assert_eq!(model, measured, "CPython {} ({})", version.name, python.display());
    }
}

/// Every dict and set `cargo xtask calibrate` sizes, exact at every version: the interpreter's
/// `sys.getsizeof` against `dict_layout`'s sizes after one-at-a-time inserts (which
/// crates/gc/tests/dict_set.rs ties to the tables the model builds).
#[test]
fn each_version_s_dicts_and_sets_are_its_interpreter_s() {
    for version in VERSIONS {
        let Some(python) = interpreter("each_version_s_dicts_and_sets_are_its_interpreter_s", version) else {
            continue;
        };
        let output = std::process::Command::new(&python)
            .current_dir(python_dir())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .args(["-c", "import json, heaplab_measure as m; print(json.dumps(m.container_sizes()))"])
            .output()
            .expect("running the interpreter");
        assert!(output.status.success(), "{}: {}", python.display(), String::from_utf8_lossy(&output.stderr));
        let entries: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        let entries = entries.as_array().expect("a list");
        assert!(entries.len() > 20, "{}: {entries:?}", python.display());
        for entry in entries {
            let n = entry["len"].as_u64().expect("a length") as usize;
            let measured = entry["bytes"].as_u64().expect("a size") as usize;
            let model = match (entry["kind"].as_str(), entry["growth"].as_str()) {
                (Some("dict"), Some(keys)) => {
                    dl::dict_getsizeof_after_inserts(version.minor, n, keys == "str")
                }
                (Some("set"), _) => dl::set_getsizeof_after_adds(n),
                other => panic!("an entry of an unknown kind: {other:?}"),
            };
            assert_eq!(model, measured, "CPython {} ({}): {entry}", version.name, python.display());
        }
    }
}

#[test]
fn each_version_collects_when_its_interpreter_does() {
    for version in VERSIONS {
        let Some(python) = interpreter("each_version_collects_when_its_interpreter_does", version) else {
            continue;
        };
        for (workload, size) in [("bulk-load", 20_000), ("gc-traverse", 100_000)] {
            if workload == "gc-traverse" && !matches!(version.name, "3.9" | "3.12" | "3.13") {
                continue; // three releases are enough for the full collections; it is the slow one
            }
            let output = run_python_with(&python, workload, &["--size", &size.to_string()]);
            let thresholds = counts(&output["thresholds"]);
            assert_eq!(
                thresholds,
                version.thresholds.iter().map(|&t| u64::from(t)).collect::<Vec<_>>(),
                "CPython {}: gc.get_threshold()",
                version.name
            );
            let gc = GcConfig {
                thresholds: version.thresholds.to_vec(),
                interpreter_objects: output["interpreter_objects"].as_u64().expect("a count"),
                version,
                ..GcConfig::default()
            };
            let model =
                run_heap(workload, "cycle", "pymalloc", &gc, &params(size, 42)).stats.collections_by_gen;
            let last = output["phases"].as_array().and_then(|phases| phases.last()).expect("phases");
            let cpython = counts(&last["collections"]);
            let what =
                format!("{workload} at {size}: the model at {} against {}", version.name, python.display());
            if version.trigger == GcTrigger::EvalBreaker && workload == "bulk-load" {
                // Known and open: from 3.12 the interpreter's first collection of the build comes
                // a few containers early (seen at every size: 697 records collect once in 3.12,
                // where the model needs 700), so a count can be one ahead of the model's. The
                // generations agree otherwise; the total may differ by one collection at most.
                let (m, c): (u64, u64) = (model.iter().sum(), cpython.iter().sum());
                assert!(
                    m.abs_diff(c) <= 1 && model[1..] == cpython[1..],
                    "{what}: {model:?} against {cpython:?}"
                );
                if model != cpython {
                    eprintln!("{what}: {model:?} against {cpython:?} (the early first collection of 3.12+)");
                }
            } else {
                assert_eq!(model, cpython, "{what}");
            }
        }
    }
}
