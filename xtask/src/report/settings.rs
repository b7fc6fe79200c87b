//! "Parameter sweeps": a strategy run at several values of one of its parameters
//! (`cargo xtask bench --set marksweep.growth=1.25,1.5,2,3,4`, cells named
//! `marksweep+pymalloc[marksweep.growth=1.5]`), each value against the strategy
//! run without the setting, workload by workload: wall time, peak RSS, peak live
//! bytes, collections and the longest pause, in a table and against the value in
//! a plot. Mark-sweep's growth factor is the heap size it lets the program reach
//! between collections: the time-space trade-off of a tracing collector.

use std::collections::BTreeMap;

use super::analysis::{Cell, CellKey, Figure, workloads};
use super::document::Document;
use super::figures::PlotSpec;
use super::format;
use plotters::style::RGBColor;

use super::plots::{Axis, Chart, Dash, Line, LineStyle, LinesChart, Marker, Panel};

pub use crate::layout::split_swept;

/// One value's cell beside the plain strategy's, on one workload and size.
#[derive(Debug)]
pub struct Point<'c, 'a> {
    /// The value, as given.
    pub value: String,
    /// Its cell.
    pub cell: &'c Cell<'a>,
}

/// One workload's sweep of one parameter of one strategy.
#[derive(Debug)]
pub struct Sweep<'c, 'a> {
    /// The strategy without the setting.
    pub base: String,
    /// The parameter.
    pub key: String,
    /// The workload.
    pub workload: String,
    /// The size compared: the largest at which the plain strategy and a swept one ran.
    pub size: u64,
    /// The plain strategy's cell.
    pub plain: &'c Cell<'a>,
    /// The swept cells, in the values' numeric order (text order where not numbers).
    pub points: Vec<Point<'c, 'a>>,
}

/// Every sweep in `cells`, by strategy, parameter and workload.
pub fn sweeps<'c, 'a>(cells: &'c BTreeMap<CellKey, Cell<'a>>) -> Vec<Sweep<'c, 'a>> {
    let mut found: BTreeMap<(String, String, String), Vec<&'c Cell<'a>>> = BTreeMap::new();
    for cell in cells.values().filter(|cell| !cell.ok.is_empty() && cell.key.threads <= 1) {
        if let Some((base, key, _)) = split_swept(&cell.key.strategy) {
            found.entry((base.to_owned(), key.to_owned(), cell.key.workload.clone())).or_default().push(cell);
        }
    }
    let order = workloads(cells);
    let mut out = Vec::new();
    for ((base, key, workload), swept) in found {
        let plain_at = |size: u64| {
            cells.get(&CellKey { workload: workload.clone(), strategy: base.clone(), size, threads: 1 })
        };
        let Some(size) = swept
            .iter()
            .map(|cell| cell.key.size)
            .filter(|&size| plain_at(size).is_some_and(|plain| !plain.ok.is_empty()))
            .max()
        else {
            continue;
        };
        let mut points: Vec<Point> = swept
            .iter()
            .filter(|cell| cell.key.size == size)
            .map(|cell| Point {
                value: split_swept(&cell.key.strategy).map(|(_, _, v)| v.to_owned()).unwrap_or_default(),
                cell,
            })
            .collect();
        points.sort_by(|a, b| match (a.value.parse::<f64>(), b.value.parse::<f64>()) {
            (Ok(x), Ok(y)) => x.total_cmp(&y),
            _ => a.value.cmp(&b.value),
        });
        let plain = plain_at(size).expect("filtered");
        out.push(Sweep { base, key, workload, size, plain, points });
    }
    out.sort_by_key(|sweep| {
        (sweep.base.clone(), sweep.key.clone(), order.iter().position(|w| *w == sweep.workload))
    });
    out
}

/// A line's colour per workload in a sweep's plot: distinct hues, dark enough on white.
const WORKLOAD_COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// The plot stem of a strategy's sweep of one parameter.
fn stem(base: &str, key: &str) -> String {
    let clean = |name: &str| -> String {
        name.chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '.') { c } else { '_' })
            .collect()
    };
    format!("sweep-{}-{}", clean(base), clean(key))
}

/// `value`'s median over the plain strategy's, where both have one.
fn ratio_to_plain(sweep: &Sweep<'_, '_>, cell: &Cell<'_>, figure: Figure) -> Option<f64> {
    let (value, plain) = (cell.median(figure)?, sweep.plain.median(figure)?);
    (plain > 0.0).then_some(value / plain)
}

/// One plot per strategy and parameter: wall time and peak RSS over the plain strategy's,
/// against the value, a line per workload.
pub fn plots(cells: &BTreeMap<CellKey, Cell<'_>>) -> Vec<PlotSpec> {
    let all = sweeps(cells);
    let mut by_parameter: BTreeMap<(String, String), Vec<&Sweep>> = BTreeMap::new();
    for sweep in &all {
        by_parameter.entry((sweep.base.clone(), sweep.key.clone())).or_default().push(sweep);
    }
    let mut plots = Vec::new();
    for ((base, key), sweeps) in by_parameter {
        let numeric: Vec<&&Sweep> =
            sweeps.iter().filter(|s| s.points.iter().all(|p| p.value.parse::<f64>().is_ok())).collect();
        if numeric.is_empty() {
            continue;
        }
        let line = |sweep: &Sweep, index: usize, figure: Figure| {
            // Workloads told apart by colour (one strategy, so one allocator, throughout).
            let color = WORKLOAD_COLORS[index % WORKLOAD_COLORS.len()];
            Line {
                label: format!("{} ({})", sweep.workload, sweep.size),
                style: LineStyle { color, marker: Marker::Circle, dash: Dash::Solid },
                points: sweep
                    .points
                    .iter()
                    .filter_map(|p| {
                        Some((p.value.parse::<f64>().ok()?, ratio_to_plain(sweep, p.cell, figure)?))
                    })
                    .collect(),
                show_markers: true,
                whiskers: Vec::new(),
                events: Vec::new(),
            }
        };
        let panel = |title: &str, figure: Figure| Panel {
            title: title.to_owned(),
            x: Axis::linear(key.clone()),
            y: Axis::linear(format!("over {base} without --set")),
            lines: numeric.iter().enumerate().map(|(i, sweep)| line(sweep, i, figure)).collect(),
        };
        plots.push(PlotSpec {
            stem: stem(&base, &key),
            workload: String::new(),
            caption: format!(
                "`{base}` at each value of `{key}`: median wall time (left), peak RSS (middle) and the heap's peak live bytes (right) over `{base}` run without the setting, a line per workload (at the size named)."
            ),
            chart: Chart::Lines(LinesChart {
                title: format!("{base}: {key}"),
                panels: vec![
                    panel("wall time", Figure::WallNs),
                    panel("peak RSS", Figure::PeakRssBytes),
                    panel("peak live bytes", Figure::PeakLiveBytes),
                ],
                columns: 3,
                span_rows: Vec::new(),
                size: (2100, 700),
            }),
        });
    }
    plots
}

/// The "Parameter sweeps" section; nothing when no strategy was swept.
pub fn section(document: &mut Document, cells: &BTreeMap<CellKey, Cell<'_>>, plots: &[PlotSpec]) {
    let all = sweeps(cells);
    if all.is_empty() {
        return;
    }
    document.folded_heading("Parameter sweeps");
    document.paragraph(
        "A strategy run at several values of one parameter (`cargo xtask bench --set KEY=V1,V2,…`, cells `NAME[KEY=VALUE]`), each value beside the same strategy run without the setting, at the largest size both ran; medians over repetitions. `marksweep.growth` is the heap mark-sweep lets the program reach between collections, as a multiple of what the last collection left live: less memory for more collections.",
    );
    let mut shown: Vec<String> = Vec::new();
    for sweep in &all {
        let figure_stem = stem(&sweep.base, &sweep.key);
        if !shown.contains(&figure_stem) {
            document.heading(3, format!("`{}`: `{}`", sweep.base, sweep.key));
            if plots.iter().any(|plot| plot.stem == figure_stem) {
                document.figure(
                    &figure_stem,
                    format!(
                        "`{}` at each value of `{}`: wall time, peak RSS and peak live bytes over the strategy without the setting, a line per workload.",
                        sweep.base, sweep.key
                    ),
                );
            }
            shown.push(figure_stem);
        }
        document.paragraph(format!("`{}` at size {}:", sweep.workload, sweep.size));
        let header = [
            "value",
            "runs",
            "wall time",
            "time / without",
            "peak RSS",
            "RSS / without",
            "peak live",
            "live / without",
            "collections",
            "longest pause",
        ]
        .map(String::from)
        .to_vec();
        let median = |cell: &Cell, figure: Figure, show: fn(f64) -> String| {
            cell.median(figure).map(show).unwrap_or_else(|| "–".into())
        };
        let ratio = |cell: &Cell, figure: Figure| {
            ratio_to_plain(sweep, cell, figure).map(format::ratio).unwrap_or_else(|| "–".into())
        };
        let row = |label: String, cell: &Cell, plain: bool| {
            vec![
                label,
                cell.ok.len().to_string(),
                median(cell, Figure::WallNs, format::duration_ns),
                if plain { "1".into() } else { ratio(cell, Figure::WallNs) },
                median(cell, Figure::PeakRssBytes, format::bytes),
                if plain { "1".into() } else { ratio(cell, Figure::PeakRssBytes) },
                median(cell, Figure::PeakLiveBytes, format::bytes),
                if plain { "1".into() } else { ratio(cell, Figure::PeakLiveBytes) },
                median(cell, Figure::Collections, format::count),
                median(cell, Figure::PauseMaxNs, format::duration_ns),
            ]
        };
        let mut rows = vec![row("without --set".into(), sweep.plain, true)];
        rows.extend(sweep.points.iter().map(|point| row(format!("`{}`", point.value), point.cell, false)));
        document.table(header, rows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analysis::{cells as group, tests::run};

    #[test]
    fn each_value_stands_beside_the_strategy_without_it_in_numeric_order() {
        let records = vec![
            run("marksweep+pymalloc", "binary-trees", 14, 1000, 40 << 20),
            run("marksweep+pymalloc[marksweep.growth=4]", "binary-trees", 14, 800, 80 << 20),
            run("marksweep+pymalloc[marksweep.growth=1.5]", "binary-trees", 14, 1500, 30 << 20),
            run("marksweep+pymalloc[marksweep.growth=10]", "binary-trees", 14, 700, 120 << 20),
            // No plain run at this size: not compared.
            run("marksweep+pymalloc[marksweep.growth=4]", "binary-trees", 16, 800, 80 << 20),
            run("cycle+pymalloc", "binary-trees", 14, 900, 40 << 20),
        ];
        let cells = group(&records);
        let found = sweeps(&cells);
        assert_eq!(found.len(), 1);
        let sweep = &found[0];
        assert_eq!(
            (sweep.base.as_str(), sweep.key.as_str(), sweep.size),
            ("marksweep+pymalloc", "marksweep.growth", 14)
        );
        let values: Vec<&str> = sweep.points.iter().map(|p| p.value.as_str()).collect();
        assert_eq!(values, ["1.5", "4", "10"], "numeric order, not text order");
        assert_eq!(ratio_to_plain(sweep, sweep.points[0].cell, Figure::WallNs), Some(1.5));
        let plots = plots(&cells);
        assert_eq!(plots.len(), 1);
        let mut document = Document::default();
        section(&mut document, &cells, &plots);
        let text = document.to_markdown();
        assert!(
            text.contains("Parameter sweeps")
                && text.contains("plots/sweep-marksweep_pymalloc-marksweep.growth.png"),
            "{text}"
        );
        let row = text.lines().find(|line| line.starts_with("| `4`")).expect("the 4x row");
        let header = text.lines().find(|line| line.starts_with("| value |")).expect("the header");
        assert_eq!(header.matches('|').count(), row.matches('|').count(), "{header}\n{row}");
        assert!(row.contains(&format::ratio(0.8)) && row.contains(&format::ratio(2.0)), "{row}");

        let mut none = Document::default();
        section(&mut none, &group(&records[5..]), &[]);
        assert!(none.blocks.is_empty());
    }

    #[test]
    fn a_swept_name_splits_into_strategy_key_and_value() {
        assert_eq!(
            split_swept(&crate::layout::swept_strategy("marksweep+pymalloc", "marksweep.growth=2")),
            Some(("marksweep+pymalloc", "marksweep.growth", "2"))
        );
        assert_eq!(
            split_swept("marksweep+pymalloc[marksweep.growth=1.5]"),
            Some(("marksweep+pymalloc", "marksweep.growth", "1.5"))
        );
        assert_eq!(split_swept("marksweep+pymalloc"), None);
        assert_eq!(split_swept("x[y]"), None);
    }
}
