//! "Fidelity to CPython": the calibration that `cargo xtask calibrate` wrote as data
//! (`calibration.json` in the results directory), drawn here: the overview by
//! release, a plot of the model's distance from each interpreter by kind of
//! figure, and each interpreter's table.

use plotters::style::RGBColor;

use super::document::Document;
use super::figures::PlotSpec;
use super::plots::{Axis, Chart, Dash, Line, LineStyle, LinesChart, Marker, Panel};
use super::stats::median;
use crate::calibrate::compare::Row;
use crate::calibrate::table::{self, CLOSE_PCT, CalibrationFile};

/// The plot's file stem.
pub const STEM: &str = "calibration-by-release";

/// A test of a row's metric.
type MetricTest = fn(&str) -> bool;

/// The kinds of rows, as the overview and the plot count them: a name and a test of the metric.
const KINDS: [(&str, MetricTest); 4] = [
    ("collections per generation", |m| m.starts_with("collections of")),
    ("pools and arenas", |m| m.starts_with("pools of") || m.starts_with("arenas")),
    ("bytes (getsizeof, tracemalloc)", |m| m.starts_with("sys.getsizeof") || m.starts_with("traced bytes")),
    ("one full collection's time", |m| m.starts_with("one full collection")),
];

/// Whether a row's difference is within [`CLOSE_PCT`].
fn close(row: &Row) -> bool {
    row.difference_pct().is_some_and(|pct| pct.abs() <= CLOSE_PCT)
}

/// `3.11` as a number on the plot's axis: its minor version.
fn minor(release: &str) -> Option<f64> {
    release.split('.').nth(1)?.parse().ok()
}

/// The model's distance from each interpreter, release by release: for each kind of row,
/// the median and the largest |difference| in percent.
pub fn plot(calibration: &CalibrationFile) -> Option<PlotSpec> {
    let releases: Vec<(&str, f64)> =
        calibration.contexts.iter().filter_map(|c| Some((c.release.as_str(), minor(&c.release)?))).collect();
    if releases.is_empty() {
        return None;
    }
    let mut panels = Vec::new();
    for (kind, test) in KINDS {
        // Each release's |differences| of this kind, once: (x, median, largest).
        let figures: Vec<(f64, f64, f64)> = releases
            .iter()
            .filter_map(|&(release, x)| {
                let pcts: Vec<f64> = calibration
                    .rows
                    .iter()
                    .filter(|row| row.python == release && test(&row.metric))
                    .filter_map(|row| row.difference_pct().map(f64::abs))
                    .collect();
                let largest = pcts.iter().copied().reduce(f64::max)?;
                Some((x, median(&pcts)?, largest))
            })
            .collect();
        let line = |label: &str, color: RGBColor, dash: Dash, points: Vec<(f64, f64)>| Line {
            label: label.to_owned(),
            style: LineStyle { color, marker: Marker::Circle, dash },
            points,
            show_markers: true,
            whiskers: Vec::new(),
            events: Vec::new(),
        };
        let median_line = line(
            "median |difference|",
            RGBColor(31, 119, 180),
            Dash::Solid,
            figures.iter().map(|f| (f.0, f.1)).collect(),
        );
        let largest_line = line(
            "largest |difference|",
            RGBColor(214, 39, 40),
            Dash::Short,
            figures.iter().map(|f| (f.0, f.2)).collect(),
        );
        if median_line.points.is_empty() {
            continue;
        }
        panels.push(Panel {
            title: kind.to_owned(),
            x: Axis { whole_numbers: true, ..Axis::linear("CPython 3.x (x)") },
            y: Axis::linear("|heaplab − CPython| / CPython (%)"),
            lines: vec![median_line, largest_line],
        });
    }
    if panels.is_empty() {
        return None;
    }
    Some(PlotSpec {
        stem: STEM.to_owned(),
        workload: String::new(),
        caption: format!(
            "The model against each interpreter, by release and kind of figure: the median and the largest |difference| in percent over that release's rows of the kind (the tables below; within {CLOSE_PCT}% is the target)."
        ),
        chart: Chart::Lines(LinesChart {
            title: "heaplab's model against each CPython release".into(),
            columns: 2.min(panels.len()),
            panels,
            span_rows: Vec::new(),
            size: (1800, 1100),
        }),
    })
}

/// The "Fidelity to CPython" section, folded; nothing without a calibration.
pub fn section(document: &mut Document, calibration: Option<&CalibrationFile>, plots: &[PlotSpec]) {
    let Some(calibration) = calibration else { return };
    document.folded_heading("Fidelity to CPython");
    let pythons: Vec<&str> = calibration.contexts.iter().map(|c| c.python.as_str()).collect();
    document.paragraph(format!(
        "Each object workload's Python twin (`workloads/python/`) ran under each interpreter found ({}), and the same work ran on the model at the interpreter's release (`cycle@X.Y+pymalloc`), and each reported what it saw. CPython's pymalloc figures are deltas from the interpreter's own state before the workload (the model's heap starts empty); its collections are counted from the start of the workload, after a `gc.collect()`.",
        if pythons.is_empty() { "none".to_owned() } else { pythons.join(", ") }
    ));
    if !calibration.missing.is_empty() {
        document.paragraph(format!("Not found here, so not compared: {}.", calibration.missing.join("; ")));
    }
    document.paragraph(
        "The model takes CPython's parameters as measured, and nothing else: the generation thresholds (`gc.get_threshold()`), pymalloc's arena size, and the tracked objects the interpreter holds (`len(gc.get_objects())` after `gc.collect()`, rows \"parameter: interpreter's tracked objects\"), which count in the long-lived total of the 25% rule; its object sizes, collection rules and geometry are the release's own.",
    );
    if !calibration.contexts.is_empty() {
        document.heading(3, "By version");
        let mut header = vec!["release".to_owned(), "interpreter".into(), "model".into(), "rows".into()];
        header.push(format!("within {CLOSE_PCT}%"));
        header.extend(KINDS.iter().map(|(kind, _)| format!("{kind} within {CLOSE_PCT}%")));
        let rows = calibration
            .contexts
            .iter()
            .map(|context| {
                let mine: Vec<&Row> =
                    calibration.rows.iter().filter(|row| row.python == context.release).collect();
                let share = |filter: &dyn Fn(&Row) -> bool| {
                    let of: Vec<&&Row> = mine.iter().filter(|row| filter(row)).collect();
                    format!("{} of {}", of.iter().filter(|row| close(row)).count(), of.len())
                };
                let mut line = vec![
                    context.release.clone(),
                    context.python.clone(),
                    format!("`{}`", context.strategy),
                    mine.len().to_string(),
                    share(&|_| true),
                ];
                line.extend(KINDS.iter().map(|(_, test)| share(&|row: &Row| test(&row.metric))));
                line
            })
            .collect();
        document.table(header, rows);
        if let Some(plot) = plots.iter().find(|plot| plot.stem == STEM) {
            document.figure(&plot.stem, plot.caption.clone());
        }
    }
    for context in &calibration.contexts {
        let thresholds: Vec<String> = context.thresholds.iter().map(u64::to_string).collect();
        let arena = context.arena_size.map_or("not reported".to_owned(), |bytes| format!("{bytes} bytes"));
        document.heading(3, format!("{} against `{}`", context.python, context.strategy));
        document.paragraph(format!(
            "Seed {}; `gc.get_threshold()`: {}; pymalloc's arena size: {arena}.",
            context.seed,
            thresholds.join(", ")
        ));
        let header =
            ["metric", "workload", "size", "CPython", "heaplab", "difference"].map(String::from).to_vec();
        let rows = calibration
            .rows
            .iter()
            .filter(|row| row.python == context.release)
            .map(|row| {
                vec![
                    row.metric.clone(),
                    row.workload.clone(),
                    row.size.to_string(),
                    table::figure(row.cpython),
                    table::figure(row.heaplab),
                    table::difference(row),
                ]
            })
            .collect();
        document.table(header, rows);
    }
    document.paragraph(
        "The difference is (heaplab − CPython) / CPython. \"sys.getsizeof\" rows compare the size CPython reports for one object with the model's (object, GC header of a container, a list's buffer, a dict's keys object, a set's table); \"traced bytes\" rows compare tracemalloc's bytes (a separate run) with the model's live bytes; \"pools\" and \"arenas\" rows compare `sys._debugmallocstats()` with the model's pymalloc; \"one full collection\" compares a `gc.collect()` with the model's, on the same heap.",
    );
    document.paragraph(
        "Not modelled, so expected to differ a little: what CPython's free lists hold when the workload starts (both sides keep up to 2,000 tuples of each length, 100 floats, 80 lists and 80 dicts for reuse, which pin pools after teardown; the model's start empty, a bare interpreter's hold a few dozen), cached small ints and one-character strs, the padding of CPython's one-digit ints (32 bytes requested where `sys.getsizeof` says 28: tracemalloc sees it, the pools do not), up to 3.10 the frame of a function's first call (a GC object, kept on its code object afterwards: one in generation 0's count that never comes off), the interpreter's own transient objects, where the kernel places each arena (one not aligned to a pool holds a pool fewer: the \"arenas not pool-aligned\" rows; the model's pymalloc starts from the pools and arenas the interpreter held before the workload), and the cost of traversing the interpreter's objects in a full collection. At the end of a phase of cyclic-garbage what is held is garbage not yet collected, a sawtooth that the figures sample where the collections happen to leave it.",
    );
    document.paragraph(format!("Made by `{}`.", calibration.command));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::table::Context;

    fn row(python: &str, workload: &str, metric: &str, cpython: f64, heaplab: f64) -> Row {
        Row {
            python: python.into(),
            workload: workload.into(),
            size: 2,
            metric: metric.into(),
            cpython,
            heaplab,
        }
    }

    fn calibration() -> CalibrationFile {
        let context = |python: &str, release: &str| Context {
            python: python.into(),
            release: release.into(),
            strategy: format!("cycle@{release}+pymalloc"),
            seed: 42,
            thresholds: vec![700, 10, 10],
            arena_size: Some(1 << 20),
        };
        CalibrationFile {
            contexts: vec![context("CPython 3.11.7", "3.11"), context("CPython 3.12.1", "3.12")],
            missing: vec!["CPython 3.8 (no pyenv build)".into()],
            command: "cargo xtask calibrate".into(),
            rows: vec![
                row("3.11", "bulk-load", "collections of generation 0", 2616.0, 2616.0),
                row("3.11", "gc-traverse", "one full collection (ms)", 40.0, 10.5),
                row("3.12", "bulk-load", "collections of generation 0", 100.0, 102.0),
                row("3.12", "bulk-load-gc-off", "pools of 32 B blocks", 0.0, 3.0),
            ],
        }
    }

    #[test]
    fn the_section_goes_by_version_from_the_data() {
        let data = calibration();
        let plot = plot(&data).expect("a plot");
        let mut document = Document::default();
        section(&mut document, Some(&data), &[plot]);
        let text = document.to_markdown();
        assert!(text.contains("## Fidelity to CPython"), "{text}");
        assert!(text.contains("Not found here, so not compared: CPython 3.8 (no pyenv build)."));
        // The overview: one line per release, counting its own rows of each kind.
        assert!(text.contains("| 3.11 | CPython 3.11.7 | `cycle@3.11+pymalloc` | 2 | 1 of 2 | 1 of 1 | 0 of 0 | 0 of 0 | 0 of 1 |"), "{text}");
        assert!(text.contains("| 3.12 | CPython 3.12.1 | `cycle@3.12+pymalloc` | 2 | 0 of 2 | 0 of 1 | 0 of 1 | 0 of 0 | 0 of 0 |"), "{text}");
        assert!(text.contains(&format!("plots/{STEM}.png")));
        let at_311 = text.find("### CPython 3.11.7 against `cycle@3.11+pymalloc`").unwrap();
        let at_312 = text.find("### CPython 3.12.1 against `cycle@3.12+pymalloc`").unwrap();
        let one_full =
            text.find("| one full collection (ms) | gc-traverse | 2 | 40 | 10.50 | -73.8% |").unwrap();
        let pools = text.find("| pools of 32 B blocks | bulk-load-gc-off | 2 | 0 | 3 | — |").unwrap();
        assert!(at_311 < one_full && one_full < at_312 && at_312 < pools, "{text}");
        assert!(text.contains("`gc.get_threshold()`: 700, 10, 10; pymalloc's arena size: 1048576 bytes."));

        let mut none = Document::default();
        section(&mut none, None, &[]);
        assert!(none.blocks.is_empty());
    }

    #[test]
    fn the_plot_takes_each_release_s_median_and_largest_difference_by_kind() {
        let Chart::Lines(chart) = plot(&calibration()).unwrap().chart else { panic!("a lines chart") };
        let collections = chart.panels.iter().find(|p| p.title == "collections per generation").unwrap();
        assert_eq!(collections.lines[0].points, [(11.0, 0.0), (12.0, 2.0)]);
        assert_eq!(collections.lines[1].points, [(11.0, 0.0), (12.0, 2.0)]);
        let time = chart.panels.iter().find(|p| p.title == "one full collection's time").unwrap();
        assert_eq!(time.lines[0].points.len(), 1, "only 3.11 has a time row");
        assert!((time.lines[0].points[0].1 - 73.75).abs() < 1e-9);
        // No row of a kind: no panel.
        assert!(!chart.panels.iter().any(|p| p.title.starts_with("bytes")));
    }
}
