//! `cargo xtask compare A B`: two results directories, cell by cell.
//!
//! For every cell (strategy, workload, size, threads) with successful runs in
//! both, the ratio of medians B/A of wall time and of peak RSS, each with the
//! verdict of the report's significance test across repetitions, and the
//! geometric means of the ratios.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;

use crate::report::analysis::{Cell, CellKey, Figure, cells, ordered_cells, ratio_ci};
use crate::report::format;
use crate::report::stats::{
    ALPHA, BOOTSTRAP_RESAMPLES, EXACT_LIMIT, UNSTABLE_THRESHOLD, Verdict, compare_samples, geometric_mean,
    median, significance_count,
};
use crate::results::load_results;

/// Compares two results directories cell by cell.
#[derive(clap::Args)]
pub struct CompareCmd {
    /// The reference results directory.
    a: PathBuf,
    /// The results directory compared with it (ratios are B/A).
    b: PathBuf,
}

impl CompareCmd {
    /// Prints the comparison table; exit code 0.
    pub fn run(self) -> Result<i32> {
        let a = load_results(&self.a)?;
        let b = load_results(&self.b)?;
        let (cells_a, cells_b) = (cells(&a.records), cells(&b.records));
        let rows = compare_cells(&cells_a, &cells_b);
        print!(
            "{}",
            render(&self.a.display().to_string(), &self.b.display().to_string(), &rows, &cells_a, &cells_b)
        );
        Ok(0)
    }
}

/// One figure of one cell compared.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Change {
    /// Median of B over median of A.
    pub ratio: f64,
    /// The test's verdict.
    pub verdict: Verdict,
    /// The 95% bootstrap interval of the ratio.
    pub ci: Option<(f64, f64)>,
    /// Whether this figure spreads beyond the threshold in A or in B.
    pub unstable: bool,
}

/// One cell compared.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareRow {
    /// The cell.
    pub key: CellKey,
    /// Successful runs in A and in B.
    pub n: (usize, usize),
    /// Wall time B/A.
    pub wall: Option<Change>,
    /// Peak RSS B/A.
    pub peak_rss: Option<Change>,
}

fn change(a: &Cell<'_>, b: &Cell<'_>, figure: Figure) -> Option<Change> {
    let (values_a, values_b) = (a.values(figure), b.values(figure));
    let (median_a, median_b) = (median(&values_a)?, median(&values_b)?);
    if median_a <= 0.0 {
        return None;
    }
    Some(Change {
        ratio: median_b / median_a,
        verdict: compare_samples(&values_a, &values_b),
        ci: ratio_ci(b, a, figure),
        unstable: a.unstable_in(figure) || b.unstable_in(figure),
    })
}

/// Every cell with successful runs in both, in presentation order.
pub fn compare_cells(a: &BTreeMap<CellKey, Cell<'_>>, b: &BTreeMap<CellKey, Cell<'_>>) -> Vec<CompareRow> {
    ordered_cells(a)
        .into_iter()
        .filter(|cell_a| !cell_a.ok.is_empty())
        .filter_map(|cell_a| {
            let cell_b = b.get(&cell_a.key).filter(|c| !c.ok.is_empty())?;
            Some(CompareRow {
                key: cell_a.key.clone(),
                n: (cell_a.ok.len(), cell_b.ok.len()),
                wall: change(cell_a, cell_b, Figure::WallNs),
                peak_rss: change(cell_a, cell_b, Figure::PeakRssBytes),
            })
        })
        .collect()
}

fn change_cells(change: Option<Change>) -> [String; 2] {
    match change {
        Some(c) => {
            let ratio = match c.ci {
                Some(ci) => format!("{} {}", format::ratio(c.ratio), format::interval(ci)),
                None => format::ratio(c.ratio),
            };
            let unstable = if c.unstable { ", UNSTABLE" } else { "" };
            [ratio, format!("{}{unstable}", c.verdict)]
        }
        None => ["–".into(), String::new()],
    }
}

/// The comparison as a plain-text table with a method line and geometric means.
pub fn render(
    name_a: &str,
    name_b: &str,
    rows: &[CompareRow],
    cells_a: &BTreeMap<CellKey, Cell<'_>>,
    cells_b: &BTreeMap<CellKey, Cell<'_>>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "A: {name_a}\nB: {name_b}");
    let _ = writeln!(
        out,
        "Ratios are medians of B over A, with a 95% percentile-bootstrap interval ({BOOTSTRAP_RESAMPLES} resamples of each side's repetitions, seeded per cell). Significance: two-sided Mann-Whitney U test at alpha {ALPHA} (exact up to {EXACT_LIMIT} runs) where the repetitions let it reach alpha; otherwise whether the min-max ranges overlap, a test at alpha = 2/C(nA+nB, nA) (0.10 for 3 against 3), as each verdict says; untested with one run on a side. UNSTABLE: the wall times of the cell spread by more than {:.0}% (MAD / median) in A or B.\n",
        UNSTABLE_THRESHOLD * 100.0
    );
    let header = [
        "workload",
        "strategy",
        "size",
        "threads",
        "n A",
        "n B",
        "wall B/A",
        "wall verdict",
        "peak RSS B/A",
        "peak RSS verdict",
    ];
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for row in rows {
        let mut line = vec![
            row.key.workload.clone(),
            row.key.strategy.clone(),
            row.key.size.to_string(),
            row.key.threads.to_string(),
            row.n.0.to_string(),
            row.n.1.to_string(),
        ];
        line.extend(change_cells(row.wall));
        line.extend(change_cells(row.peak_rss));
        table.push(line);
    }
    let widths: Vec<usize> =
        (0..header.len()).map(|i| table.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for line in &table {
        let padded: Vec<String> =
            line.iter().zip(&widths).map(|(text, width)| format!("{text:<width$}")).collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    }
    let summary = |name: &str, pick: fn(&CompareRow) -> Option<Change>| {
        let changes: Vec<Change> = rows.iter().filter_map(pick).collect();
        let mean = geometric_mean(&changes.iter().map(|c| c.ratio).collect::<Vec<_>>());
        let significant = changes.iter().filter(|c| c.verdict.is_significant()).count();
        let not_significant = changes.iter().filter(|c| c.verdict.is_not_significant()).count();
        let untested = changes.len() - significant - not_significant;
        let unstable = changes.iter().filter(|c| c.unstable).count();
        let verdicts: Vec<Verdict> = changes.iter().map(|c| c.verdict).collect();
        format!(
            "{name} B/A: geometric mean {} over {} cells; {significant} significant, {not_significant} not significant, {untested} untested; {unstable} unstable\n  {}",
            mean.map(format::ratio).unwrap_or_else(|| "–".into()),
            changes.len(),
            significance_count(&verdicts)
        )
    };
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", summary("wall time", |r| r.wall));
    let _ = writeln!(out, "{}", summary("peak RSS", |r| r.peak_rss));
    let only_a = cells_a.keys().filter(|k| !cells_b.contains_key(*k)).count();
    let only_b = cells_b.keys().filter(|k| !cells_a.contains_key(*k)).count();
    let without_runs = cells_a.len() - only_a - rows.len();
    let _ = writeln!(
        out,
        "{} cells compared; {only_a} only in A, {only_b} only in B, {without_runs} without a successful run on one side.",
        rows.len()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analysis::tests::run;

    fn records(scale: u64) -> Vec<heaplab_core::Record> {
        let mut records = Vec::new();
        for wall in [100, 104, 97, 101] {
            records.push(run("cycle+pymalloc", "churn", 10, wall * scale, 1 << 20));
            records.push(run("marksweep+mimalloc", "churn", 10, wall * 3 * scale, 2 << 20));
        }
        records
    }

    #[test]
    fn a_result_compared_with_itself_is_not_significant_anywhere() {
        let a = records(1);
        let (cells_a, cells_b) = (cells(&a), cells(&a));
        let rows = compare_cells(&cells_a, &cells_b);
        assert_eq!(rows.len(), 2);
        for row in &rows {
            assert_eq!(row.wall.unwrap().ratio, 1.0);
            assert!(row.wall.unwrap().verdict.is_not_significant(), "{row:?}");
            assert!(row.peak_rss.unwrap().verdict.is_not_significant(), "{row:?}");
        }
        let text = render("a", "a", &rows, &cells_a, &cells_b);
        assert!(text.contains("wall time B/A: geometric mean 1.00x over 2 cells; 0 significant, 2 not significant, 0 untested; 0 unstable"), "{text}");
    }

    #[test]
    fn doubled_times_are_flagged_in_every_cell() {
        let (a, b) = (records(1), records(2));
        let (cells_a, cells_b) = (cells(&a), cells(&b));
        let rows = compare_cells(&cells_a, &cells_b);
        for row in &rows {
            let wall = row.wall.unwrap();
            assert!((wall.ratio - 2.0).abs() < 1e-9);
            assert!(wall.verdict.is_significant(), "{row:?}");
            assert!(row.peak_rss.unwrap().verdict.is_not_significant(), "memory did not change: {row:?}");
        }
        let text = render("a", "b", &rows, &cells_a, &cells_b);
        assert!(text.contains("geometric mean 2.00x over 2 cells; 2 significant"), "{text}");
        assert!(text.contains("significant (U test, p=0.029)"), "{text}");
    }

    #[test]
    fn noisy_wall_times_mark_the_wall_change_and_not_the_steady_memory() {
        let mut noisy = Vec::new();
        for wall in [100, 130, 70, 125] {
            noisy.push(run("cycle+pymalloc", "churn", 10, wall, 1 << 20));
        }
        let (a, b) = (records(1), noisy);
        let rows = compare_cells(&cells(&a), &cells(&b));
        let row = rows.iter().find(|r| r.key.strategy == "cycle+pymalloc").unwrap();
        assert!(row.wall.unwrap().unstable, "{row:?}");
        assert!(!row.peak_rss.unwrap().unstable, "peak RSS did not spread: {row:?}");
    }

    #[test]
    fn cells_in_one_directory_only_are_counted_not_compared() {
        let a = records(1);
        let mut b = records(1);
        b.retain(|r| r.strategy == "cycle+pymalloc");
        b.push(run("refcount+system", "churn", 10, 50, 1));
        let (cells_a, cells_b) = (cells(&a), cells(&b));
        let rows = compare_cells(&cells_a, &cells_b);
        assert_eq!(rows.len(), 1);
        let text = render("a", "b", &rows, &cells_a, &cells_b);
        assert!(
            text.contains(
                "1 cells compared; 1 only in A, 1 only in B, 0 without a successful run on one side."
            ),
            "{text}"
        );
    }
}
