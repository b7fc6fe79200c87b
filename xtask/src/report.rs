//! `cargo xtask report`: the report of a results directory, drawn from its
//! CSVs without running anything; several directories are shards, merged.
//!
//! As in criterion.rs, loading and analysis (pure functions on records:
//! `load`, `analysis`, `stats`, `findings`) are kept apart from rendering
//! (`figures` and `plots` for the charts, `sections` and `document` for
//! `REPORT.md` and `index.html`). `comparisons` and `large_data` hold the
//! analysis behind the findings that also have tables; `traced` the section
//! of the traced programs' replays.

pub(crate) mod analysis;
mod answers;
mod calibration;
mod comparisons;
mod document;
mod figures;
mod findings;
pub(crate) mod format;
mod large_data;
mod plots;
mod reality;
mod rows;
mod sections;
pub(crate) mod series;
mod settings;
pub(crate) mod stats;
mod traced;
mod versions;

use crate::results;
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use heaplab_core::Record;

/// Redraws the report of a results directory, or merges shard directories and reports on the whole.
#[derive(clap::Args)]
pub struct ReportCmd {
    /// Results directories. With several, they are shards of one sweep: merged into the first, or into --out.
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Where to write the merged results and the report (default: the first DIR).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

impl ReportCmd {
    /// Merges the directories if there are several (or `--out` is given), then writes the report; exit code 0.
    pub fn run(self) -> Result<i32> {
        let out = self.out.clone().unwrap_or_else(|| self.dirs[0].clone());
        if self.dirs.len() > 1 || self.out.is_some() {
            let n_runs = merge_results(&self.dirs, &out)?;
            let sources = match self.dirs.len() {
                1 => "1 directory".to_owned(),
                n => format!("{n} directories"),
            };
            eprintln!("merged {n_runs} runs from {sources} into {}", out.display());
        }
        write_report(&out)?;
        println!("{}", out.join("REPORT.md").display());
        println!("{}", out.join("index.html").display());
        Ok(0)
    }
}

/// Writes `summary.csv`, `plots/`, `REPORT.md` and `index.html` into `dir`
/// from its `runs.csv` (and `runs.jsonl`, `series/`, `env.json` where present).
pub fn write_report(dir: &Path) -> Result<()> {
    let results = results::load_results(dir)?;
    let cells = analysis::cells(&results.records);
    let summary = analysis::summary_csv(&analysis::summarise(&cells));
    fs::write(dir.join("summary.csv"), summary)
        .with_context(|| format!("writing {}", dir.join("summary.csv").display()))?;

    let plots_dir = dir.join("plots");
    fs::create_dir_all(&plots_dir).with_context(|| format!("creating {}", plots_dir.display()))?;
    remove_old_plots(&plots_dir)?;
    let plots = figures::build_plots(&results, &cells)?;
    for plot in &plots {
        plots::save(&plot.chart, &plots_dir, &plot.stem)
            .with_context(|| format!("drawing plots/{}", plot.stem))?;
    }

    let findings = findings::findings(&results, &cells);
    let document = sections::build_document(&results, &cells, &plots, &findings);
    fs::write(dir.join("REPORT.md"), document.to_markdown())
        .with_context(|| format!("writing {}", dir.join("REPORT.md").display()))?;
    let html = document.to_html(dir, sections::TITLE)?;
    fs::write(dir.join("index.html"), html)
        .with_context(|| format!("writing {}", dir.join("index.html").display()))?;
    Ok(())
}

/// Removes the SVG and PNG files a previous report left in `plots/`.
fn remove_old_plots(plots_dir: &Path) -> Result<()> {
    for entry in fs::read_dir(plots_dir).with_context(|| format!("listing {}", plots_dir.display()))? {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "svg" || e == "png") {
            fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

/// What identifies one run: a row seen twice (a shard merged twice) is kept once.
fn run_identity(record: &Record) -> (String, String, u64, u32, u64, u32) {
    (record.strategy.clone(), record.workload.clone(), record.size, record.threads, record.seed, record.rep)
}

/// Merges the runs, series, failures and environment of `dirs` into `out`;
/// returns the number of runs in the merged `runs.csv`.
pub fn merge_results(dirs: &[PathBuf], out: &Path) -> Result<usize> {
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let out_canonical = fs::canonicalize(out).with_context(|| format!("resolving {}", out.display()))?;
    let mut sources: Vec<results::ResultsDir> = Vec::new();
    for dir in dirs {
        sources.push(results::load_results(dir)?);
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
    results::write_runs_csv(&out.join(results::RUNS_CSV), &records)?;
    if !reports.is_empty() {
        results::write_runs_jsonl(&out.join(results::RUNS_JSONL), &reports)?;
    }
    for source in &sources {
        let same_dir = fs::canonicalize(&source.dir).is_ok_and(|d| d == out_canonical);
        if same_dir {
            continue;
        }
        copy_missing(&source.series_files, &out.join("series"))?;
        copy_missing(&source.failure_files, &out.join("failures"))?;
        let env_files: Vec<PathBuf> =
            source.envs.iter().map(|(id, _)| source.dir.join("envs").join(format!("{id}.json"))).collect();
        copy_missing(&env_files, &out.join("envs"))?;
        // A shard written before envs/ existed keeps its env.json under a name of its own.
        if source.envs.is_empty() && source.env.is_some() {
            let name = source.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let target = out.join("envs").join(format!("{}.json", legacy_env_id(&name)));
            fs::create_dir_all(out.join("envs"))
                .with_context(|| format!("creating {}", out.join("envs").display()))?;
            if !target.exists() {
                fs::copy(source.dir.join("env.json"), &target)
                    .with_context(|| format!("copying {}", source.dir.join("env.json").display()))?;
            }
        }
        let env = source.dir.join("env.json");
        if env.is_file() && !out.join("env.json").exists() {
            fs::copy(&env, out.join("env.json")).with_context(|| format!("copying {}", env.display()))?;
        }
    }
    Ok(records.len())
}

/// The id under which a merge keeps the `env.json` of a directory that has no `envs/`.
pub fn legacy_env_id(dir_name: &str) -> String {
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
