//! The results model: the one module that reads and writes a results directory. Here, the
//! directory's layout on disk: [`prepare`] for a sweep, each run's series filed
//! ([`keep_series`]), each invocation's environment ([`write_env`]). `runs` appends finished
//! runs to `runs.csv` and `runs.jsonl` (each line whole and synced), reads them back and
//! writes them anew; `dir` loads a directory whole for the report, the comparison and
//! `publish`; `merge` joins shards into one. The sweep (`bench`) writes through it, the report
//! reads through it, and neither knows the other. The names of a cell's files are in
//! [`crate::layout`].

use std::path::Path;

use anyhow::Context;

mod dir;
mod merge;
mod runs;

pub use dir::{ResultsDir, load_results, read_envs};
pub use merge::merge;
pub use runs::{Sink, gzip_file, read_runs_csv, write_runs_csv, write_runs_jsonl};

/// The file of every run's contract columns, one row per run.
pub const RUNS_CSV: &str = "runs.csv";
/// The file of every run's whole record (phases, collections per generation), one JSON line per run.
pub const RUNS_JSONL: &str = "runs.jsonl";
/// `runs.jsonl` gzipped, as a publication keeps it; read where `runs.jsonl` is absent.
pub const RUNS_JSONL_GZ: &str = "runs.jsonl.gz";
/// The latest invocation's environment.
pub const ENV_JSON: &str = "env.json";
/// Every invocation's environment, `envs/<invocation>.json`.
pub const ENVS_DIR: &str = "envs";
/// Each cell's memory time series, `series/<cell_id>.csv`.
pub const SERIES_DIR: &str = "series";
/// What failed runs left: their stderr tails and partial series.
pub const FAILURES_DIR: &str = "failures";

/// Makes `dir` ready for a sweep: its folders created and, unless the sweep resumes, every
/// earlier run's file removed.
pub fn prepare(dir: &Path, resume: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if !resume {
        for file in [RUNS_CSV, RUNS_JSONL, RUNS_JSONL_GZ] {
            let path = dir.join(file);
            if path.exists() {
                std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            }
        }
        for folder in [SERIES_DIR, FAILURES_DIR, ENVS_DIR] {
            let path = dir.join(folder);
            if path.exists() {
                std::fs::remove_dir_all(&path).with_context(|| format!("removing {}", path.display()))?;
            }
        }
    }
    for folder in [SERIES_DIR, FAILURES_DIR, ENVS_DIR] {
        let path = dir.join(folder);
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
    }
    Ok(())
}

/// Where a run's child writes its time series while it runs: `series/<cell_id>.rep<k>.partial.csv`.
pub fn partial_series(dir: &Path, cell_id: &str, rep: u32) -> std::path::PathBuf {
    dir.join(SERIES_DIR).join(format!("{cell_id}.rep{rep}.partial.csv"))
}

/// Files a finished run's series: a good run's becomes the cell's `series/<cell_id>.csv`
/// (the latest repetition's), a failed run's is kept as `failures/<cell_id>-rep<k>.series.csv`.
/// Nothing to do where the child wrote none.
pub fn keep_series(dir: &Path, cell_id: &str, rep: u32, failed: bool) -> anyhow::Result<()> {
    let partial = partial_series(dir, cell_id, rep);
    if !partial.exists() {
        return Ok(());
    }
    let kept = if failed {
        dir.join(FAILURES_DIR).join(format!("{cell_id}-rep{rep}.series.csv"))
    } else {
        dir.join(SERIES_DIR).join(format!("{cell_id}.csv"))
    };
    std::fs::rename(&partial, &kept)
        .with_context(|| format!("moving {} to {}", partial.display(), kept.display()))
}

/// The machine an environment was taken on, as one line: the CPU model, the logical CPUs and
/// the memory (`AMD EPYC, 2 CPUs, 23.5 GiB`). Two invocations with different lines ran on
/// machines whose times do not compare; a resumed sweep refuses to mix them.
pub fn machine(env: &serde_json::Value) -> String {
    let model = env["cpu"]["model"].as_str().unwrap_or("an unknown CPU");
    let cpus =
        env["cpu"]["logical_cpus"].as_u64().map_or_else(|| "? CPUs".to_owned(), |n| format!("{n} CPUs"));
    let memory = env["memory_bytes"].as_u64().map_or_else(
        || "unknown memory".to_owned(),
        |bytes| format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64),
    );
    format!("{model}, {cpus}, {memory}")
}

/// How long an invocation ran, from its environment's `start` and `end` (RFC 3339, UTC);
/// `None` where either is missing (a sweep still running, or killed).
pub fn invocation_duration(env: &serde_json::Value) -> Option<std::time::Duration> {
    let time = |key: &str| humantime::parse_rfc3339(env[key].as_str()?).ok();
    time("end")?.duration_since(time("start")?).ok()
}

/// Writes an invocation's environment to `dir/envs/<invocation>.json`, kept for good, and to
/// `dir/env.json`, the latest.
pub fn write_env(dir: &Path, invocation: &str, env: &serde_json::Value) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(env).context("serialising env.json")?;
    text.push('\n');
    let envs = dir.join(ENVS_DIR);
    std::fs::create_dir_all(&envs).with_context(|| format!("creating {}", envs.display()))?;
    for path in [envs.join(format!("{invocation}.json")), dir.join(ENV_JSON)] {
        std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_runs_series_becomes_the_cells_and_a_failed_ones_is_kept_apart() {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path(), false).unwrap();
        std::fs::write(partial_series(dir.path(), "cell", 0), "t_ns\n").unwrap();
        keep_series(dir.path(), "cell", 0, false).unwrap();
        assert!(dir.path().join("series/cell.csv").is_file());
        std::fs::write(partial_series(dir.path(), "cell", 1), "t_ns\n").unwrap();
        keep_series(dir.path(), "cell", 1, true).unwrap();
        assert!(dir.path().join("failures/cell-rep1.series.csv").is_file());
        assert!(!partial_series(dir.path(), "cell", 1).exists());
        keep_series(dir.path(), "cell", 2, false).unwrap();
    }

    #[test]
    fn a_fresh_sweep_clears_the_old_results_and_a_resumed_one_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("runs.csv"), "old").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        prepare(dir.path(), true).unwrap();
        assert!(dir.path().join("runs.csv").exists());
        prepare(dir.path(), false).unwrap();
        assert!(!dir.path().join("runs.csv").exists());
        assert!(dir.path().join("notes.txt").exists());
        assert!(dir.path().join("series").is_dir() && dir.path().join("failures").is_dir());
    }
}
