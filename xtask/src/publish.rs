//! `cargo xtask publish DIR OUT`: a copy of a results directory small enough
//! to commit, with its report.
//!
//! It copies what a report is drawn from — `runs.csv`, `env.json`, `envs/`,
//! `calibration.csv`, `calibration.json` and `failures/` —, gzips `runs.jsonl`
//! into `runs.jsonl.gz` (its phases make it about 10 KB a run, 40 times less
//! gzipped; the report reads either), thins
//! every memory time series under `series/` (every pause kept; see
//! [`crate::report::series::thin_series`]), and draws the report into OUT
//! with [`crate::report::write_report`], exactly as `cargo xtask report OUT`
//! would. The full series stay in DIR.

use crate::results::{ENV_JSON, ENVS_DIR, FAILURES_DIR, RUNS_CSV, RUNS_JSONL, RUNS_JSONL_GZ, SERIES_DIR};
use std::collections::HashMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::report;
use crate::report::format;
use crate::report::series::thin_series;

/// The files copied as they are, where DIR has them.
const COPIED_FILES: [&str; 4] = [RUNS_CSV, ENV_JSON, "calibration.csv", "calibration.json"];

/// Rows kept per series file by default.
const DEFAULT_SERIES_ROWS: usize = 500;

/// Makes a committable copy of a results directory: its CSVs, thinned series, failures, and the report.
#[derive(clap::Args)]
pub struct PublishCmd {
    /// The results directory to publish (a sweep's `--out`).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Where the copy and its report go: a new directory, an empty one, or an earlier publication (replaced).
    #[arg(value_name = "OUT")]
    out: PathBuf,
    /// Rows kept per series file, where its pauses leave room (every pause is kept).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SERIES_ROWS)]
    series_rows: usize,
    /// Copies the data only, without drawing the report (a shard, merged into one report later).
    #[arg(long)]
    no_report: bool,
}

impl PublishCmd {
    /// Publishes DIR into OUT and prints the report's paths and OUT's total size; exit code 0.
    pub fn run(self) -> Result<i32> {
        let published = publish(&self.dir, &self.out, self.series_rows, !self.no_report)?;
        if !self.no_report {
            println!("{}", self.out.join("REPORT.md").display());
            println!("{}", self.out.join("index.html").display());
        }
        let mut line = format!(
            "published {} into {}: {} files, {} bytes ({}) in all; {} series thinned from {} to {}",
            self.dir.display(),
            self.out.display(),
            published.files,
            published.bytes,
            format::bytes(published.bytes as f64),
            published.series_files,
            format::bytes(published.series_bytes_before as f64),
            format::bytes(published.series_bytes_after as f64),
        );
        if published.unfinished_series > 0 {
            line.push_str(&format!(
                "; {} unfinished series (*.partial.csv) left out",
                published.unfinished_series
            ));
        }
        if published.undrawn_series > 0 {
            line.push_str(&format!(
                "; {} series below their workload's largest size (which the report does not draw) left out",
                published.undrawn_series
            ));
        }
        println!("{line}");
        Ok(0)
    }
}

/// What a publication wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// Files in OUT, the report included.
    pub files: usize,
    /// Their total size.
    pub bytes: u64,
    /// Series files written.
    pub series_files: usize,
    /// Their size in DIR.
    pub series_bytes_before: u64,
    /// Their size in OUT.
    pub series_bytes_after: u64,
    /// Series of runs still going when DIR was read (`*.partial.csv`), left out.
    pub unfinished_series: usize,
    /// Series left out because the report draws none at their size.
    pub undrawn_series: usize,
}

/// Copies `dir` into `out` with its series thinned to about `series_rows` rows each, and (with
/// `draw_report`) writes the report there.
pub fn publish(dir: &Path, out: &Path, series_rows: usize, draw_report: bool) -> Result<Published> {
    check_paths(dir, out)?;
    let results = crate::results::load_results(dir)?;
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for name in COPIED_FILES {
        let (source, target) = (dir.join(name), out.join(name));
        if source.is_file() {
            fs::copy(&source, &target).with_context(|| format!("copying {}", source.display()))?;
        } else if target.is_file() {
            // Left by an earlier publication of a directory that had it.
            fs::remove_file(&target).with_context(|| format!("removing {}", target.display()))?;
        }
    }
    let (jsonl, jsonl_gz) = (dir.join(RUNS_JSONL), dir.join(RUNS_JSONL_GZ));
    let target_gz = out.join(RUNS_JSONL_GZ);
    if jsonl.is_file() {
        crate::results::gzip_file(&jsonl, &target_gz)?;
    } else if jsonl_gz.is_file() {
        fs::copy(&jsonl_gz, &target_gz).with_context(|| format!("copying {}", jsonl_gz.display()))?;
    } else if target_gz.is_file() {
        fs::remove_file(&target_gz).with_context(|| format!("removing {}", target_gz.display()))?;
    }
    let stale_jsonl = out.join(RUNS_JSONL);
    if stale_jsonl.is_file() {
        // An earlier publication's, from before they were gzipped.
        fs::remove_file(&stale_jsonl).with_context(|| format!("removing {}", stale_jsonl.display()))?;
    }
    // Every invocation's environment, as it is.
    let envs: Vec<PathBuf> = results
        .envs
        .iter()
        .map(|(invocation, _)| dir.join(ENVS_DIR).join(format!("{invocation}.json")))
        .collect();
    let envs: Vec<&PathBuf> = envs.iter().collect();
    replace_files(&out.join(ENVS_DIR), &envs)?;
    for source in envs {
        let target = out.join(ENVS_DIR).join(source.file_name().unwrap_or_default());
        fs::copy(source, &target).with_context(|| format!("copying {}", source.display()))?;
    }
    let mut published = Published::default();
    let (finished, unfinished): (Vec<&PathBuf>, Vec<&PathBuf>) =
        results.series_files.iter().partition(|path| !is_unfinished_series(path));
    published.unfinished_series = unfinished.len();
    // The report draws series only at each workload's largest size; the others stay in DIR.
    let largest = largest_sizes(&results.records);
    let (finished, unused): (Vec<&PathBuf>, Vec<&PathBuf>) =
        finished.into_iter().partition(|path| series_is_drawn(path, &largest));
    published.undrawn_series = unused.len();
    let series_dir = out.join(SERIES_DIR);
    replace_files(&series_dir, &finished)?;
    for source in finished {
        let text = fs::read_to_string(source).with_context(|| format!("reading {}", source.display()))?;
        let thinned = thin_series(&text, series_rows).with_context(|| format!("in {}", source.display()))?;
        let target = series_dir.join(source.file_name().unwrap_or_default());
        fs::write(&target, &thinned).with_context(|| format!("writing {}", target.display()))?;
        published.series_files += 1;
        published.series_bytes_before += text.len() as u64;
        published.series_bytes_after += thinned.len() as u64;
    }
    let failures: Vec<&PathBuf> = results.failure_files.iter().collect();
    let failures_dir = out.join(FAILURES_DIR);
    replace_files(&failures_dir, &failures)?;
    for source in failures {
        let target = failures_dir.join(source.file_name().unwrap_or_default());
        copy_failure(source, &target, series_rows)?;
    }
    if draw_report {
        report::write_report(out)?;
    }
    let (files, bytes) = tree_size(out)?;
    published.files = files;
    published.bytes = bytes;
    Ok(published)
}

/// Refuses a DIR that is not a results directory, and an OUT that overlaps DIR
/// or that holds something other than an earlier publication.
fn check_paths(dir: &Path, out: &Path) -> Result<()> {
    if !dir.exists() {
        bail!("{} does not exist", dir.display());
    }
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    if !dir.join(RUNS_CSV).is_file() {
        bail!("{} holds no runs.csv: not a results directory", dir.display());
    }
    let dir_resolved = fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
    let out_resolved = resolve(out)?;
    if out_resolved.starts_with(&dir_resolved) {
        bail!(
            "{} is inside {}: publish into a directory outside the results it copies",
            out.display(),
            dir.display()
        );
    }
    if dir_resolved.starts_with(&out_resolved) {
        bail!(
            "{} is inside {}: publish into a directory beside the results, not around them",
            dir.display(),
            out.display()
        );
    }
    if out.exists() {
        if !out.is_dir() {
            bail!("{} exists and is not a directory", out.display());
        }
        let empty = fs::read_dir(out).with_context(|| format!("listing {}", out.display()))?.next().is_none();
        if !empty && !out.join(RUNS_CSV).is_file() {
            bail!(
                "{} is not empty and is no earlier publication (it has no runs.csv): publish into a new or empty directory",
                out.display()
            );
        }
    }
    Ok(())
}

/// The absolute form of `path` with symbolic links resolved as far as it
/// exists, and the rest taken as written (`.` and `..` applied).
fn resolve(path: &Path) -> Result<PathBuf> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().context("reading the current directory")?.join(path)
    };
    let existing = absolute.ancestors().find(|a| a.exists()).unwrap_or(Path::new("/"));
    let mut resolved =
        fs::canonicalize(existing).with_context(|| format!("resolving {}", existing.display()))?;
    for component in absolute.strip_prefix(existing).unwrap_or(Path::new("")).components() {
        match component {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::Normal(name) => resolved.push(name),
            _ => {}
        }
    }
    Ok(resolved)
}

/// Each workload's largest size among its runs.
fn largest_sizes(records: &[heaplab_core::Record]) -> HashMap<&str, u64> {
    let mut largest: HashMap<&str, u64> = HashMap::new();
    for record in records {
        let size = largest.entry(record.workload.as_str()).or_default();
        *size = (*size).max(record.size);
    }
    largest
}

/// Whether the report draws this series file (`<workload>__<strategy>__<size>__t<threads>.csv`):
/// it does at its workload's largest size. A name of another shape is kept.
fn series_is_drawn(path: &Path, largest: &HashMap<&str, u64>) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let parts: Vec<&str> = name.split("__").collect();
    match (parts.first(), parts.get(2).and_then(|s| s.parse::<u64>().ok())) {
        (Some(workload), Some(size)) => largest.get(workload).is_none_or(|&top| size == top),
        _ => true,
    }
}

/// Whether a series file belongs to a run still going (`<cell>.rep<k>.partial.csv`).
fn is_unfinished_series(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".partial.csv"))
}

/// Creates `target_dir` and removes the plain files in it that are not named in `sources`.
fn replace_files(target_dir: &Path, sources: &[&PathBuf]) -> Result<()> {
    if sources.is_empty() && !target_dir.exists() {
        return Ok(());
    }
    fs::create_dir_all(target_dir).with_context(|| format!("creating {}", target_dir.display()))?;
    for entry in fs::read_dir(target_dir).with_context(|| format!("listing {}", target_dir.display()))? {
        let path = entry?.path();
        let wanted = sources.iter().any(|source| source.file_name() == path.file_name());
        if path.is_file() && !wanted {
            fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

/// Copies a failure's file; the series of a failed run (`*.series.csv`) is
/// thinned like the others where it reads as a series (a killed run may have
/// left its last row cut short), copied as it is otherwise.
fn copy_failure(source: &Path, target: &Path, series_rows: usize) -> Result<()> {
    let is_series = source.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".csv"));
    if is_series {
        let text = fs::read_to_string(source).with_context(|| format!("reading {}", source.display()))?;
        if let Ok(thinned) = thin_series(&text, series_rows) {
            return fs::write(target, thinned).with_context(|| format!("writing {}", target.display()));
        }
    }
    fs::copy(source, target).with_context(|| format!("copying {}", source.display()))?;
    Ok(())
}

/// The number of files under `dir`, at any depth, and their total size.
fn tree_size(dir: &Path) -> Result<(usize, u64)> {
    let mut totals = (0, 0);
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let metadata = entry.metadata().with_context(|| format!("reading {}", entry.path().display()))?;
        if metadata.is_dir() {
            let (files, bytes) = tree_size(&entry.path())?;
            totals = (totals.0 + files, totals.1 + bytes);
        } else {
            totals = (totals.0 + 1, totals.1 + metadata.len());
        }
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_through_what_does_not_exist_yet() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        let check =
            |path: PathBuf, expected: PathBuf| assert_eq!(resolve(&path).unwrap(), expected, "{path:?}");
        check(dir.path().join("a/b"), root.join("a/b"));
        check(dir.path().join("a/../b"), root.join("b"));
        check(dir.path().join("./c"), root.join("c"));
        check(dir.path().to_path_buf(), root.clone());
    }

    #[test]
    fn only_series_at_a_workload_s_largest_size_are_drawn() {
        let largest = HashMap::from([("churn", 4000), ("fragmentation-contiguous", 100)]);
        let check = |name: &str, expected: bool| {
            assert_eq!(series_is_drawn(Path::new(name), &largest), expected, "{name}")
        };
        check("series/churn__cycle+pymalloc__4000__t1.csv", true);
        check("series/churn__cycle+pymalloc__1000__t1.csv", false);
        check("series/fragmentation-contiguous__pymalloc__100__t2.csv", true);
        check("series/larson__pymalloc__7__t2.csv", true);
        check("series/odd-name.csv", true);
    }

    #[test]
    fn unfinished_series_are_told_by_their_name() {
        let check = |name: &str, expected: bool| {
            assert_eq!(is_unfinished_series(Path::new(name)), expected, "{name}")
        };
        check("series/churn__cycle+pymalloc__1000__t1.csv", false);
        check("series/fragmentation__cycle+system__4000000__t1.rep0.partial.csv", true);
    }
}
