//! "Model against real CPython": where a run has real-interpreter cells
//! (`python@3.X+allocator`, collector `python`), each is set beside the model's
//! cell of the same release and allocator (`cycle@3.X+allocator`; `cycle+allocator`
//! at the default release), and the model's *ratios* are checked against the
//! interpreter's: allocator against pymalloc, and a workload's variant against its
//! base (`bulk-load-gc-off` against `bulk-load`), for wall time and peak RSS.
//!
//! The scores: the share of the real differences that are significant whose
//! direction the model gets right; the median error of the model's peak-memory
//! ratio; and how much of the model's time effect survives in the interpreter
//! (the dilution: the real ratio's logarithm over the model's, where the model's
//! effect is significant), since in a real interpreter allocation is a small
//! share of the time. Collections are compared as totals, exact or not.

use std::collections::BTreeMap;

use super::analysis::{Cell, CellKey, Figure, Ratio};
use super::document::Document;
use super::format;
use super::stats::median;

/// The collector name of real-interpreter records.
pub const REAL: &str = "python";
/// The model's collector a real interpreter is compared with.
const MODEL: &str = "cycle";
/// The allocator every ratio is taken against.
const BASE_ALLOCATOR: &str = "pymalloc";
/// The release a name without `@` means (heaplab_core's `version::DEFAULT`).
const DEFAULT_RELEASE: &str = heaplab_core::version::DEFAULT.name;
/// Workload variants and what they change, by the suffix of their name.
const VARIANTS: [(&str, &str); 3] = [
    ("-gc-off", "gc.disable() during the load"),
    ("-frozen", "gc.freeze() half-way"),
    ("-contiguous", "contiguous array"),
];
/// With one run a side nothing is tested; a real difference then counts when it is at least this large.
const UNTESTED_THRESHOLD: f64 = 0.05;
/// A real difference smaller than this counts for nothing, however significant: no one chooses an
/// allocator for it, and the model is not asked to predict its direction.
const MIN_EFFECT: f64 = 0.01;

/// `python@3.13+jemalloc` into (`3.13`, `jemalloc`); `None` for other strategies.
fn real_parts(strategy: &str) -> Option<(&str, &str)> {
    let (collector, allocator) = strategy.split_once('+')?;
    let (name, release) = collector.split_once('@').unwrap_or((collector, DEFAULT_RELEASE));
    (name == REAL).then_some((release, allocator))
}

/// The model's strategy for a real one's release and allocator.
fn model_strategy(release: &str, allocator: &str) -> String {
    if release == DEFAULT_RELEASE {
        format!("{MODEL}+{allocator}")
    } else {
        format!("{MODEL}@{release}+{allocator}")
    }
}

/// One ratio, in the model and in the interpreter.
#[derive(Debug)]
struct Pair {
    workload: String,
    size: u64,
    release: String,
    what: String,
    figure: Figure,
    model: Ratio,
    real: Ratio,
}

impl Pair {
    /// Whether the interpreter's difference counts: significant, or large where untested.
    fn real_difference(&self) -> bool {
        let effect = (self.real.value - 1.0).abs();
        match self.real.verdict {
            super::stats::Verdict::Untested => effect >= UNTESTED_THRESHOLD,
            verdict => verdict.is_significant() && effect >= MIN_EFFECT,
        }
    }

    fn same_direction(&self) -> bool {
        (self.model.value - 1.0).signum() == (self.real.value - 1.0).signum()
    }
}

fn ok<'c, 'a>(
    cells: &'c BTreeMap<CellKey, Cell<'a>>,
    workload: &str,
    strategy: &str,
    size: u64,
) -> Option<&'c Cell<'a>> {
    super::analysis::ok_cell(cells, workload, strategy, size, 1)
}

/// Every ratio that both the model and the interpreter measured.
fn pairs(cells: &BTreeMap<CellKey, Cell<'_>>) -> Vec<Pair> {
    let mut pairs = Vec::new();
    for cell in cells.values().filter(|c| c.collector == REAL && !c.ok.is_empty() && c.key.threads == 1) {
        let Some((release, allocator)) = real_parts(&cell.key.strategy) else { continue };
        let (workload, size) = (cell.key.workload.as_str(), cell.key.size);
        let mut push = |what: String,
                        real_base: Option<&Cell<'_>>,
                        model: Option<&Cell<'_>>,
                        model_base: Option<&Cell<'_>>| {
            let (Some(real_base), Some(model), Some(model_base)) = (real_base, model, model_base) else {
                return;
            };
            for figure in [Figure::WallNs, Figure::PeakRssBytes] {
                if let (Some(model_ratio), Some(real_ratio)) =
                    (Ratio::between(model, model_base, figure), Ratio::between(cell, real_base, figure))
                {
                    pairs.push(Pair {
                        workload: workload.to_owned(),
                        size,
                        release: release.to_owned(),
                        what: what.clone(),
                        figure,
                        model: model_ratio,
                        real: real_ratio,
                    });
                }
            }
        };
        if allocator != BASE_ALLOCATOR {
            let real_base = ok(
                cells,
                workload,
                &format!("{}+{BASE_ALLOCATOR}", cell.key.strategy.split('+').next().unwrap_or(REAL)),
                size,
            );
            push(
                format!("{allocator} / {BASE_ALLOCATOR}"),
                real_base,
                ok(cells, workload, &model_strategy(release, allocator), size),
                ok(cells, workload, &model_strategy(release, BASE_ALLOCATOR), size),
            );
        }
        for (suffix, meaning) in VARIANTS {
            let Some(base) = workload.strip_suffix(suffix) else { continue };
            let model = model_strategy(release, allocator);
            push(
                format!("{meaning} ({workload} / {base}, {allocator})"),
                ok(cells, base, &cell.key.strategy, size),
                ok(cells, workload, &model, size),
                ok(cells, base, &model, size),
            );
        }
    }
    pairs
}

/// One real cell beside its model cell: collections and peak RSS.
struct Beside<'c, 'a> {
    real: &'c Cell<'a>,
    model: &'c Cell<'a>,
}

fn besides<'c, 'a>(cells: &'c BTreeMap<CellKey, Cell<'a>>) -> Vec<Beside<'c, 'a>> {
    cells
        .values()
        .filter(|c| c.collector == REAL && !c.ok.is_empty())
        .filter_map(|real| {
            let (release, allocator) = real_parts(&real.key.strategy)?;
            let model = ok(cells, &real.key.workload, &model_strategy(release, allocator), real.key.size)?;
            Some(Beside { real, model })
        })
        .collect()
}

/// Adds the section, where the run has real-interpreter cells.
pub fn section(document: &mut Document, cells: &BTreeMap<CellKey, Cell<'_>>) {
    let beside = besides(cells);
    if !cells.values().any(|c| c.collector == REAL) {
        return;
    }
    document.folded_heading("Model against real CPython");
    document.paragraph(format!(
        "Each `python@3.X+allocator` cell is the real interpreter running the workload's Python twin (the same objects, \
         the same checksum), set beside the model's `{MODEL}@3.X+allocator`. Times are the whole run's, the \
         interpreter's start-up and the twin's checksum included; memory is the interpreter process's peak RSS."
    ));
    if beside.is_empty() {
        document.paragraph("No real cell has a model cell of the same release, allocator, workload and size to set it beside.");
        return;
    }

    let collections: Vec<(bool, &Beside<'_, '_>)> = beside
        .iter()
        .filter_map(|b| {
            let (real, model) = (b.real.median(Figure::Collections)?, b.model.median(Figure::Collections)?);
            Some((real == model, b))
        })
        .collect();
    let exact = collections.iter().filter(|(same, _)| *same).count();
    let pairs = pairs(cells);
    let counted: Vec<&Pair> = pairs.iter().filter(|p| p.real_difference()).collect();
    let right = counted.iter().filter(|p| p.same_direction()).count();
    let memory_errors: Vec<f64> = pairs
        .iter()
        .filter(|p| p.figure == Figure::PeakRssBytes)
        .map(|p| (p.model.value / p.real.value - 1.0).abs())
        .collect();
    let dilution: Vec<f64> = pairs
        .iter()
        .filter(|p| {
            p.figure == Figure::WallNs
                && p.model.verdict.is_significant()
                && (p.model.value - 1.0).abs() > 0.01
        })
        .map(|p| p.real.value.ln() / p.model.value.ln())
        .collect();
    let checksum = |cell: &Cell<'_>| cell.ok.first().and_then(|r| r.checksum.clone());
    let mismatched: Vec<String> = beside
        .iter()
        .filter(|b| checksum(b.real) != checksum(b.model))
        .map(|b| format!("`{}` {} size {}", b.real.key.strategy, b.real.key.workload, b.real.key.size))
        .collect();
    let mut score = vec![
        if mismatched.is_empty() {
            format!(
                "Checksums: every real cell's equals the model's ({} cells): the twins built what the model built.",
                beside.len()
            )
        } else {
            format!(
                "Checksums: **{} of {} real cells differ from the model's** ({}): those twins did not build what the model built.",
                mismatched.len(),
                beside.len(),
                mismatched.join(", ")
            )
        },
        format!(
            "Collections: the model's total equals the interpreter's in {exact} of {} cells.",
            collections.len()
        ),
    ];
    if counted.is_empty() {
        score.push(format!(
            "No real ratio differs from 1 beyond the noise (or by {} where a cell ran once), so the model's directions \
             are not scored.",
            format::percent(UNTESTED_THRESHOLD)
        ));
    } else {
        score.push(format!(
            "Direction: of the {} real differences (significant and at least {}, or at least {} where a side ran \
             once), the model predicts the direction of {right} ({}).",
            counted.len(),
            format::percent(MIN_EFFECT),
            format::percent(UNTESTED_THRESHOLD),
            format::percent(right as f64 / counted.len() as f64)
        ));
    }
    if let Some(error) = median(&memory_errors) {
        score.push(format!(
            "Peak memory: the model's ratio is off the interpreter's by {} (median over {} ratios).",
            format::percent(error),
            memory_errors.len()
        ));
    }
    if let Some(kept) = median(&dilution) {
        score.push(format!(
            "Dilution: where the model's time ratio is significant, the interpreter's log-ratio is {} of the \
             model's (median over {}; 100% would be the model's whole effect, 0% none of it){}.",
            format::percent(kept),
            dilution.len(),
            if kept < 0.5 { ": most of an interpreter's time is not spent allocating" } else { "" }
        ));
    }
    document.list(score);

    if !pairs.is_empty() {
        document.paragraph("Ratios in the model and in the interpreter (model | real; a ratio's interval and verdict as elsewhere in the report).");
        let rows = pairs
            .iter()
            .map(|p| {
                vec![
                    format!("`{}`", p.workload),
                    p.size.to_string(),
                    p.release.clone(),
                    p.what.clone(),
                    if p.figure == Figure::WallNs { "time".to_owned() } else { "peak RSS".to_owned() },
                    p.model.cell(),
                    p.real.cell(),
                    if p.real_difference() {
                        if p.same_direction() { "yes" } else { "**no**" }.to_owned()
                    } else {
                        "(no real difference)".to_owned()
                    },
                ]
            })
            .collect();
        document.table(
            ["workload", "size", "release", "ratio", "figure", "model", "real CPython", "direction right"]
                .map(str::to_owned)
                .to_vec(),
            rows,
        );
    }

    let rows = beside
        .iter()
        .map(|b| {
            let figure = |cell: &Cell<'_>, f: Figure, show: fn(f64) -> String| {
                cell.median(f).map_or("–".to_owned(), show)
            };
            vec![
                format!("`{}`", b.real.key.workload),
                b.real.key.size.to_string(),
                format!("`{}`", b.real.key.strategy),
                figure(b.model, Figure::Collections, format::count),
                figure(b.real, Figure::Collections, format::count),
                figure(b.model, Figure::PeakRssBytes, format::bytes),
                figure(b.real, Figure::PeakRssBytes, format::bytes),
                figure(b.model, Figure::WallNs, format::duration_ns),
                figure(b.real, Figure::WallNs, format::duration_ns),
            ]
        })
        .collect();
    document.paragraph("Side by side (medians).");
    document.table(
        [
            "workload",
            "size",
            "real strategy",
            "collections (model)",
            "collections (real)",
            "peak RSS (model)",
            "peak RSS (real)",
            "time (model)",
            "time (real)",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analysis::cells;
    use crate::report::document::Block;
    use heaplab_core::Record;

    fn record(strategy: &str, workload: &str, rep: u32, wall_ns: u64, rss: u64, collections: u64) -> Record {
        let mut record = crate::report::analysis::tests::run(strategy, workload, 1000, wall_ns, rss);
        // The collector without its release, as heaplab records it.
        record.collector = record.collector.split('@').next().unwrap_or_default().to_owned();
        record.rep = rep;
        record.collections = Some(collections);
        record
    }

    /// Three reps of each: the model says jemalloc is faster and bigger; the
    /// interpreter agrees on time and disagrees on memory.
    fn sample() -> Vec<Record> {
        let mut records = Vec::new();
        for rep in 0..3 {
            let jitter = u64::from(rep);
            records.push(record("cycle+pymalloc", "bulk-load", rep, 100 + jitter, 1000 + jitter, 7));
            records.push(record("cycle+jemalloc", "bulk-load", rep, 50 + jitter, 1500 + jitter, 7));
            records.push(record("python@3.11+pymalloc", "bulk-load", rep, 400 + jitter, 3000 + jitter, 7));
            records.push(record("python@3.11+jemalloc", "bulk-load", rep, 300 + jitter, 2000 + jitter, 8));
        }
        records
    }

    fn text(document: &Document) -> String {
        document.to_markdown()
    }

    #[test]
    fn the_model_s_ratios_are_set_beside_the_interpreter_s_and_scored() {
        let records = sample();
        let cells = cells(&records);
        let pairs = pairs(&cells);
        assert_eq!(pairs.len(), 2, "{pairs:?}");
        let time = pairs.iter().find(|p| p.figure == Figure::WallNs).unwrap();
        assert!((time.model.value - 0.51).abs() < 0.01 && (time.real.value - 301.0 / 401.0).abs() < 1e-9);
        assert!(time.same_direction());
        let memory = pairs.iter().find(|p| p.figure == Figure::PeakRssBytes).unwrap();
        assert!(!memory.same_direction());
        let mut document = Document::default();
        section(&mut document, &cells);
        let markdown = text(&document);
        assert!(markdown.contains("equals the interpreter's in 1 of 2 cells"), "{markdown}");
        assert!(markdown.contains("the model predicts the direction of 1"), "{markdown}");
        assert!(markdown.contains("jemalloc / pymalloc"), "{markdown}");
        assert!(markdown.contains("**no**"), "{markdown}");
        assert!(markdown.contains("every real cell's equals the model's (2 cells)"), "{markdown}");

        let mut wrong = sample();
        wrong
            .iter_mut()
            .filter(|r| r.strategy == "python@3.11+jemalloc")
            .for_each(|r| r.checksum = Some("ff".into()));
        let mut document = Document::default();
        section(&mut document, &crate::report::analysis::cells(&wrong));
        assert!(text(&document).contains("1 of 2 real cells differ"), "{}", text(&document));
    }

    #[test]
    fn variants_are_compared_with_their_base_and_no_real_cells_means_no_section() {
        let mut records = Vec::new();
        for rep in 0..3 {
            let jitter = u64::from(rep);
            records.push(record("cycle@3.13+pymalloc", "bulk-load", rep, 100 + jitter, 1000, 9));
            records.push(record("cycle@3.13+pymalloc", "bulk-load-gc-off", rep, 80 + jitter, 1000, 0));
            records.push(record("python@3.13+pymalloc", "bulk-load", rep, 500 + jitter, 5000, 9));
            records.push(record("python@3.13+pymalloc", "bulk-load-gc-off", rep, 450 + jitter, 5000, 0));
        }
        let cells = cells(&records);
        let pairs = pairs(&cells);
        let time = pairs.iter().find(|p| p.figure == Figure::WallNs).expect("the gc-off pair");
        assert_eq!(time.release, "3.13");
        assert!(time.what.contains("gc.disable()"), "{}", time.what);
        let mut document = Document::default();
        section(&mut document, &cells);
        assert!(text(&document).contains("equals the interpreter's in 2 of 2 cells"));

        let model_only: Vec<Record> = records.into_iter().filter(|r| r.collector != REAL).collect();
        let mut empty = Document::default();
        section(&mut empty, &crate::report::analysis::cells(&model_only));
        assert!(empty.blocks.is_empty());
        assert!(!matches!(empty.blocks.first(), Some(Block::Heading { .. })));
    }
}
