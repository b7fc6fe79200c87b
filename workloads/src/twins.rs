//! The Python twins: each object workload's program in Python (`workloads/python/`),
//! compiled into this crate so that `heaplab run --strategy python@3.X+…` can run
//! the real interpreter on it from anywhere.
//!
//! A twin builds the same objects in the same order with the same seeded choices and
//! gives the same checksum; `heaplab_measure.py` is the harness every twin imports
//! (its documentation says what a twin prints). Adding one is its script in
//! `workloads/python/` and one line in [`TWINS`]; the tests check the table against
//! the scripts' own `WORKLOADS`.

/// A workload's Python twin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Twin {
    /// The heaplab workload.
    pub workload: &'static str,
    /// Its script's file name in `workloads/python/`.
    pub script: &'static str,
    /// The script.
    pub source: &'static str,
}

/// The harness every twin imports: its file name and its source.
pub const HARNESS: (&str, &str) = ("heaplab_measure.py", include_str!("../python/heaplab_measure.py"));

macro_rules! twin {
    ($workload:literal, $script:literal) => {
        Twin { workload: $workload, script: $script, source: include_str!(concat!("../python/", $script)) }
    };
}

/// Every workload with a twin.
pub const TWINS: &[Twin] = &[
    twin!("bulk-load", "bulk_load.py"),
    twin!("bulk-load-gc-off", "bulk_load.py"),
    twin!("bulk-load-frozen", "bulk_load.py"),
    twin!("bulk-load-dicts", "bulk_load_dicts.py"),
    twin!("bulk-load-dicts-gc-off", "bulk_load_dicts.py"),
    twin!("bulk-load-dicts-frozen", "bulk_load_dicts.py"),
    twin!("bulk-load-columns", "bulk_load_columns.py"),
    twin!("json-records", "json_records.py"),
    twin!("groupby-dict", "groupby_dict.py"),
    twin!("gc-traverse", "gc_traverse.py"),
    twin!("fragmentation", "fragmentation.py"),
    twin!("fragmentation-contiguous", "fragmentation.py"),
    twin!("churn", "churn.py"),
    twin!("cyclic-garbage", "cyclic_garbage.py"),
    twin!("binary-trees", "binary_trees.py"),
    twin!("objects-dict", "binary_trees.py"),
];

/// The twin of `workload`, if it has one.
pub fn find(workload: &str) -> Option<&'static Twin> {
    TWINS.iter().find(|twin| twin.workload == workload)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names in a script's `WORKLOADS = ("a", "b")` line.
    fn declared(source: &str) -> Vec<String> {
        let line = source.lines().find(|line| line.starts_with("WORKLOADS = (")).expect("a WORKLOADS line");
        line.split('"').skip(1).step_by(2).map(str::to_owned).collect()
    }

    #[test]
    fn every_twin_is_a_workload_its_script_declares() {
        for twin in TWINS {
            assert!(crate::find(twin.workload).is_some(), "{} is not a workload", twin.workload);
            assert!(
                declared(twin.source).iter().any(|name| name == twin.workload),
                "{} does not declare {}",
                twin.script,
                twin.workload
            );
            assert!(twin.source.contains("import heaplab_measure"), "{} uses the harness", twin.script);
        }
    }

    #[test]
    fn every_script_in_the_folder_is_in_the_table_with_all_it_declares() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/python");
        let mut scripts = 0;
        for entry in std::fs::read_dir(folder).expect("workloads/python") {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".py") || name == HARNESS.0 {
                continue;
            }
            scripts += 1;
            let source = std::fs::read_to_string(&path).unwrap();
            for workload in declared(&source) {
                let twin =
                    find(&workload).unwrap_or_else(|| panic!("{name} declares {workload}: not in TWINS"));
                assert_eq!(twin.script, name, "{workload}");
                assert_eq!(twin.source, source, "{name} compiled in is the file");
            }
        }
        assert!(scripts >= 10, "found {scripts} scripts in {folder}");
    }
}
