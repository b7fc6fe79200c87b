//! Reading a results directory whole: `runs.csv`, `runs.jsonl`, `env.json` and `envs/`,
//! `calibration.json`, and the names of the files under `series/` and `failures/`.
//!
//! Every error names the file and, for a bad row, the line.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use heaplab_core::{Record, RunReport};

#[cfg(test)]
use super::runs::write_runs_csv;
use super::runs::{read_runs_csv, read_runs_jsonl};

/// What a results directory holds.
#[derive(Debug, Default)]
pub struct ResultsDir {
    /// The directory.
    pub dir: PathBuf,
    /// Every row of `runs.csv`, in file order.
    pub records: Vec<Record>,
    /// Every line of `runs.jsonl`, or of `runs.jsonl.gz` where only that is here (empty where
    /// neither is).
    pub reports: Vec<RunReport>,
    /// `env.json`, where present: the latest invocation's environment.
    pub env: Option<serde_json::Value>,
    /// Every invocation's environment, `envs/<invocation>.json`, by invocation id, sorted.
    pub envs: Vec<(String, serde_json::Value)>,
    /// The `.csv` files under `series/`, sorted.
    pub series_files: Vec<PathBuf>,
    /// The files under `failures/`, sorted.
    pub failure_files: Vec<PathBuf>,
    /// `calibration.json`, where `cargo xtask calibrate` wrote one here.
    pub calibration: Option<crate::calibrate::table::CalibrationFile>,
}

/// Reads a results directory. `runs.csv` must exist; everything else may be absent.
pub fn load_results(dir: &Path) -> Result<ResultsDir> {
    let runs_csv = dir.join(super::RUNS_CSV);
    if !runs_csv.is_file() {
        bail!("{} does not exist: not a results directory", runs_csv.display());
    }
    let records = read_runs_csv(&runs_csv)?;
    let (runs_jsonl, runs_jsonl_gz) = (dir.join(super::RUNS_JSONL), dir.join(super::RUNS_JSONL_GZ));
    let reports = if runs_jsonl.is_file() {
        read_runs_jsonl(&runs_jsonl)?
    } else if runs_jsonl_gz.is_file() {
        read_runs_jsonl(&runs_jsonl_gz)?
    } else {
        Vec::new()
    };
    let env_json = dir.join(super::ENV_JSON);
    let env = if env_json.is_file() {
        let text =
            fs::read_to_string(&env_json).with_context(|| format!("reading {}", env_json.display()))?;
        Some(serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", env_json.display()))?)
    } else {
        None
    };
    let envs = read_envs(dir)?;
    Ok(ResultsDir {
        dir: dir.to_path_buf(),
        records,
        reports,
        env,
        envs,
        series_files: files_in(&dir.join(super::SERIES_DIR), Some("csv"))?,
        calibration: load_calibration(dir),
        failure_files: files_in(&dir.join(super::FAILURES_DIR), None)?,
    })
}

/// Every invocation's environment in `dir`, `envs/<invocation>.json`, by invocation id, sorted
/// (none where the folder is absent).
pub fn read_envs(dir: &Path) -> Result<Vec<(String, serde_json::Value)>> {
    let mut envs = Vec::new();
    for path in files_in(&dir.join(super::ENVS_DIR), Some("json"))? {
        let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))?;
        let id = path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
        envs.push((id, value));
    }
    Ok(envs)
}

/// The calibration of `dir`, where `cargo xtask calibrate` wrote one there; an unreadable
/// one is said in a line on stderr and left out.
fn load_calibration(dir: &Path) -> Option<crate::calibrate::table::CalibrationFile> {
    match crate::calibrate::table::read(dir)? {
        Ok(calibration) => Some(calibration),
        Err(error) => {
            eprintln!("report: leaving the calibration out: {error:#}");
            None
        }
    }
}

/// The plain files directly in `dir` (with extension `extension`, if given), sorted; none if `dir` is absent.
fn files_in(dir: &Path, extension: Option<&str>) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let wanted = extension.is_none_or(|ext| path.extension().is_some_and(|e| e == ext));
        if path.is_file() && wanted {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "strategy,collector,allocator,workload,size,threads,seed,rep,status,checksum,wall_ns,user_ns,sys_ns,ops,ops_per_s,peak_rss_bytes,end_rss_bytes,peak_live_bytes,end_live_bytes,allocated_bytes,leaked_bytes,collections,pause_total_ns,pause_max_ns,pause_p99_ns,minor_faults";

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("runs.csv");
        fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn reads_ok_and_failed_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            &format!(
                "{HEADER}\n\
                 cycle+pymalloc,cycle,pymalloc,churn,100,1,42,0,ok,00ff,1000,900,100,50,50000000,4096,4096,2048,1024,8192,0,3,300,200,150,12\n\
                 pymalloc,,pymalloc,larson,100,2,42,1,crashed,,,,,,,,,,,,,,,,,\n"
            ),
        );
        let records = read_runs_csv(&path).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].wall_ns, Some(1000));
        assert_eq!(records[0].ops_per_s, Some(5e7));
        assert_eq!(records[1].collector, "");
        assert_eq!(records[1].status, heaplab_core::Status::Crashed);
        assert_eq!(records[1].wall_ns, None);
    }

    #[test]
    fn a_corrupt_row_names_the_file_and_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let good = "cycle+pymalloc,cycle,pymalloc,churn,100,1,42,0,ok,00ff,1000,900,100,50,50000000,4096,4096,2048,1024,8192,0,3,300,200,150,12";
        let path = write(
            dir.path(),
            &format!(
                "{HEADER}\n{good}\n{good}\ncycle+pymalloc,cycle,pymalloc,churn,a hundred,1,42,0,ok,,,,,,,,,,,,,,,,,\n"
            ),
        );
        let message = format!("{:#}", read_runs_csv(&path).unwrap_err());
        assert!(message.contains("runs.csv:4:"), "{message}");
        assert!(message.contains("column size"), "{message}");
    }

    #[test]
    fn a_short_row_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &format!("{HEADER}\ncycle+pymalloc,cycle\n"));
        let message = format!("{:#}", read_runs_csv(&path).unwrap_err());
        assert!(message.contains("runs.csv:2:"), "{message}");
    }

    #[test]
    fn a_wrong_header_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "strategy,workload\nx,y\n");
        let message = format!("{:#}", read_runs_csv(&path).unwrap_err());
        assert!(message.contains("runs.csv:1:"), "{message}");
    }

    #[test]
    fn records_survive_a_write_and_a_read() {
        let dir = tempfile::tempdir().unwrap();
        let good = "cycle+pymalloc,cycle,pymalloc,churn,100,1,42,0,ok,00ff,1000,900,100,50,50000000.5,4096,4096,2048,1024,8192,0,3,300,200,150,12";
        let path = write(dir.path(), &format!("{HEADER}\n{good}\n"));
        let records = read_runs_csv(&path).unwrap();
        let copy = dir.path().join("copy.csv");
        write_runs_csv(&copy, &records).unwrap();
        assert_eq!(read_runs_csv(&copy).unwrap(), records);
        write_runs_csv(&copy, &[]).unwrap();
        assert_eq!(read_runs_csv(&copy).unwrap(), vec![]);
    }

    #[test]
    fn a_corrupt_jsonl_line_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        fs::write(&path, "\n{not json\n").unwrap();
        let message = format!("{:#}", read_runs_jsonl(&path).unwrap_err());
        assert!(message.contains("runs.jsonl:2:"), "{message}");
    }
}
