//! A program spec: how the real interpreter's `program` workload runs one whole program
//! (`heaplab run --strategy python@3.11+jemalloc --workload program --program SPEC`).
//!
//! `cargo xtask pyperf` writes one beside each trace it captures, `<bench>.program.json`,
//! so that `cargo xtask bench --traces DIR` runs each traced program under every real
//! strategy of its release as well as replaying its trace on every allocator:
//!
//! ```json
//! {"program": "json_loads", "release": "3.11", "python": "/…/venv-3.11/bin/python",
//!  "argv": ["/…/bm_json_loads/run_benchmark.py", "--worker", "--loops", "128"], "cwd": "/…/work"}
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One program and how to run it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProgramSpec {
    /// The program's name (its trace's stem).
    pub program: String,
    /// The CPython release (`3.11`) whose interpreter `python` is: only `python@3.11+…` runs it.
    pub release: String,
    /// The interpreter (a virtual environment's, so that the program's packages are there).
    pub python: PathBuf,
    /// Its arguments: the script and the script's own.
    pub argv: Vec<String>,
    /// The working directory.
    pub cwd: PathBuf,
}

/// The file name of `program`'s spec beside its trace.
pub fn file_name(program: &str) -> String {
    format!("{program}.program.json")
}

/// Reads a spec; errors name the file.
pub fn read(path: &Path) -> Result<ProgramSpec, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading the program spec {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not a program spec: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_survives_a_write_and_a_read_and_a_foreign_file_is_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("heaplab-program-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = ProgramSpec {
            program: "json_loads".into(),
            release: "3.11".into(),
            python: "/v/bin/python".into(),
            argv: vec!["run_benchmark.py".into(), "--worker".into()],
            cwd: "/w".into(),
        };
        let path = dir.join(file_name("json_loads"));
        std::fs::write(&path, serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(read(&path).unwrap(), spec);
        std::fs::write(&path, "{\"program\": 1}").unwrap();
        let error = read(&path).unwrap_err();
        assert!(error.contains("json_loads.program.json: not a program spec"), "{error}");
        assert!(read(&dir.join("missing.json")).unwrap_err().contains("missing.json"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
