//! `cargo xtask report`: the report of a results directory, drawn from its
//! CSVs without running anything; several directories are shards, merged.
//!
//! As in criterion.rs, loading and analysis (the files through [`crate::results`]; pure
//! functions on records: `analysis`, `stats`, `findings`) are kept apart from rendering
//! (`figures` and `plots` for the charts, `sections` and `document` for
//! `REPORT.md` and `index.html`). `comparisons` and `large_data` hold the
//! analysis behind the findings that also have tables; `traced` the section
//! of the traced programs' replays.

pub(crate) mod analysis;
mod answers;
mod calibration;
pub(crate) mod checksums;
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
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

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
            let n_runs = results::merge(&self.dirs, &out)?;
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
