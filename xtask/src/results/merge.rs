//! Merging results directories (the shards of a sweep) into one: the runs once each, and
//! every series, failure and environment file they hold.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use heaplab_core::Record;

/// What identifies one run: a row seen twice (a shard merged twice) is kept once.
fn run_identity(record: &Record) -> (String, String, u64, u32, u64, u32) {
    (record.strategy.clone(), record.workload.clone(), record.size, record.threads, record.seed, record.rep)
}

/// Merges the runs, series, failures and environment of `dirs` into `out`;
/// returns the number of runs in the merged `runs.csv`.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<usize> {
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let out_canonical = fs::canonicalize(out).with_context(|| format!("resolving {}", out.display()))?;
    let mut sources: Vec<super::ResultsDir> = Vec::new();
    for dir in dirs {
        sources.push(super::load_results(dir)?);
    }
    let mut seen = HashSet::new();
    let mut records = Vec::new();
    for source in &sources {
        for record in &source.records {
            if seen.insert(run_identity(record)) {
                records.push(record.clone());
            }
        }
    }
    let mut seen_reports = HashSet::new();
    let mut reports = Vec::new();
    for source in &sources {
        for report in &source.reports {
            if seen_reports.insert(run_identity(&report.record)) {
                reports.push(report.clone());
            }
        }
    }
    super::write_runs_csv(&out.join(super::RUNS_CSV), &records)?;
    if !reports.is_empty() {
        super::write_runs_jsonl(&out.join(super::RUNS_JSONL), &reports)?;
    }
    for source in &sources {
        let same_dir = fs::canonicalize(&source.dir).is_ok_and(|d| d == out_canonical);
        if same_dir {
            continue;
        }
        copy_missing(&source.series_files, &out.join(super::SERIES_DIR))?;
        copy_missing(&source.failure_files, &out.join(super::FAILURES_DIR))?;
        let env_files: Vec<PathBuf> = source
            .envs
            .iter()
            .map(|(id, _)| source.dir.join(super::ENVS_DIR).join(format!("{id}.json")))
            .collect();
        copy_missing(&env_files, &out.join(super::ENVS_DIR))?;
        // A shard written before envs/ existed keeps its env.json under a name of its own.
        if source.envs.is_empty() && source.env.is_some() {
            let name = source.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let target = out.join(super::ENVS_DIR).join(format!("{}.json", legacy_env_id(&name)));
            fs::create_dir_all(out.join(super::ENVS_DIR))
                .with_context(|| format!("creating {}", out.join(super::ENVS_DIR).display()))?;
            if !target.exists() {
                fs::copy(source.dir.join(super::ENV_JSON), &target)
                    .with_context(|| format!("copying {}", source.dir.join(super::ENV_JSON).display()))?;
            }
        }
        let env = source.dir.join(super::ENV_JSON);
        if env.is_file() && !out.join(super::ENV_JSON).exists() {
            fs::copy(&env, out.join(super::ENV_JSON))
                .with_context(|| format!("copying {}", env.display()))?;
        }
    }
    Ok(records.len())
}

/// The id under which a merge keeps the `env.json` of a directory that has no `envs/`.
fn legacy_env_id(dir_name: &str) -> String {
    let clean: String =
        dir_name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("env-of-{clean}")
}

/// Copies each file into `target_dir` unless a file of that name is there already.
fn copy_missing(files: &[PathBuf], target_dir: &Path) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    fs::create_dir_all(target_dir).with_context(|| format!("creating {}", target_dir.display()))?;
    for file in files {
        let Some(name) = file.file_name() else { continue };
        let target = target_dir.join(name);
        if !target.exists() {
            fs::copy(file, &target).with_context(|| format!("copying {}", file.display()))?;
        }
    }
    Ok(())
}
