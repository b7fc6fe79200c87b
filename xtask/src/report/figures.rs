//! Which plots the report has, and what goes into each: built from the
//! cells, the series files and `runs.jsonl`, drawn by `plots`.
//!
//! Per workload: throughput against size; peak RSS and peak live bytes
//! against size; memory over time at the largest size with a series; GC
//! pauses per strategy; pymalloc's arena map after a `free` phase; and
//! throughput against threads where the workload ran on several. Across
//! workloads: the bytes per element of the numeric workloads.

use std::collections::BTreeMap;

use anyhow::Result;
use heaplab_core::RunReport;
use plotters::style::RGBColor;

use super::analysis::{
    ALLOCATOR_BASELINE, CPYTHON_BASELINE, Cell, CellKey, Figure, baseline_for, is_allocator_workload,
    split_strategy, strategies_of, strategy_order, workloads,
};
use super::large_data::{element_table, largest_sizes};
use super::plots::{
    ArenaChart, ArenaPanel, Axis, BarGroup, BarsChart, Chart, Dash, HeatPanel, HeatmapChart, Line, LineStyle,
    LinesChart, Marker, Panel, SpanRow, format_tick,
};
use super::series::{Series, downsample, find_series_file, read_series};
use super::stats::Spread;
use crate::results::ResultsDir;

/// Points per line kept when a series is thinned for plotting: at most twice this,
/// enough for a plot 1500 pixels wide and small enough to keep an SVG of 18 lines light.
const SERIES_BUCKETS: usize = 600;
/// Pause markers drawn per strategy on a timeline: the longest ones.
pub const MAX_PAUSE_MARKERS: usize = 200;
const MIB: f64 = 1024.0 * 1024.0;
/// The stem of the overview heatmap.
pub const OVERVIEW_STEM: &str = "overview";
/// The overview's colour scale saturates at this ratio and its inverse.
const OVERVIEW_SPAN: f64 = 8.0;
/// The stem of the plot of bytes per element across the numeric workloads.
pub const BYTES_PER_ELEMENT_STEM: &str = "numeric-bytes-per-element";

/// One plot of the report.
#[derive(Debug)]
pub struct PlotSpec {
    /// The file stem under `plots/`.
    pub stem: String,
    /// The workload it belongs to; empty for a plot across workloads.
    pub workload: String,
    /// What it shows, for the caption.
    pub caption: String,
    /// The chart to draw.
    pub chart: Chart,
}

/// The colour of an allocator's lines.
pub fn allocator_color(allocator: &str) -> RGBColor {
    match allocator {
        "pymalloc" => RGBColor(31, 119, 180),
        "system" => RGBColor(255, 127, 14),
        "mimalloc" => RGBColor(44, 160, 44),
        "jemalloc" => RGBColor(214, 39, 40),
        "bump" => RGBColor(148, 103, 189),
        "cpython" => RGBColor(140, 86, 75),
        _ => RGBColor(127, 127, 127),
    }
}

/// A strategy's look: colour by allocator, marker and dash by collector.
pub fn strategy_style(strategy: &str) -> LineStyle {
    let (collector, allocator) = split_strategy(strategy);
    let (marker, dash) = match collector {
        "refcount" => (Marker::Circle, Dash::Long),
        "cycle" => (Marker::Triangle, Dash::Solid),
        "marksweep" => (Marker::Square, Dash::Short),
        "" => (Marker::Circle, Dash::Solid),
        _ => (Marker::Cross, Dash::Solid),
    };
    LineStyle { color: allocator_color(allocator), marker, dash }
}

/// Every plot of the report, workload by workload.
pub fn build_plots(results: &ResultsDir, cells: &BTreeMap<CellKey, Cell<'_>>) -> Result<Vec<PlotSpec>> {
    let mut plots = Vec::new();
    plots.extend(overview_plot(cells));
    for workload in workloads(cells) {
        // A traced program runs at one size, and its section has its tables: dozens of
        // programs would add hundreds of plots of one point each (index.html stays small).
        if super::traced::traced_program(&workload).is_some() {
            continue;
        }
        plots.extend(throughput_plot(cells, &workload));
        plots.extend(memory_plot(cells, &workload));
        let timeline_series = timeline_series(results, cells, &workload)?;
        plots.extend(timeline_plot(&workload, &timeline_series));
        plots.extend(pause_plot(cells, &workload, &timeline_series));
        plots.extend(arena_plot(&results.reports, &workload));
        plots.extend(threads_plot(cells, &workload));
    }
    plots.extend(bytes_per_element_plot(cells));
    plots.extend(super::settings::plots(cells));
    plots.extend(results.calibration.as_ref().and_then(super::calibration::plot));
    Ok(plots)
}

/// The ratio of `figure`'s medians of `strategy` over `baseline` on `workload`,
/// at the smallest thread count and the largest size where both ran, and whether a cell is unstable in that figure.
pub fn overview_ratio(
    cells: &BTreeMap<CellKey, Cell<'_>>,
    workload: &str,
    strategy: &str,
    baseline: &str,
    figure: Figure,
) -> Option<(f64, bool)> {
    let threads = base_threads(cells, workload)?;
    let find = |s: &str, size: u64| {
        cells
            .get(&CellKey { workload: workload.to_owned(), strategy: s.to_owned(), size, threads })
            .filter(|c| !c.ok.is_empty())
    };
    let (cell, base) = ok_cells(cells, workload, threads)
        .filter(|c| c.key.strategy == strategy)
        .filter_map(|c| Some((c, find(baseline, c.key.size)?)))
        .max_by_key(|(c, _)| c.key.size)?;
    let (value, reference) = (cell.median(figure)?, base.median(figure)?);
    (reference > 0.0).then(|| (value / reference, cell.unstable_in(figure) || base.unstable_in(figure)))
}

/// The overview: every strategy (rows) against every workload (columns), wall time and peak RSS
/// over the workload's baseline at its largest common size; unstable cells dotted.
pub fn overview_plot(cells: &BTreeMap<CellKey, Cell<'_>>) -> Option<PlotSpec> {
    // A workload whose baseline did not run is compared with its first strategy in presentation order.
    let columns: Vec<(String, String)> = workloads(cells)
        .into_iter()
        .filter_map(|w| {
            let baseline = match baseline_for(cells, &w) {
                Some(b) => b.to_owned(),
                None => strategies_of(cells, &w).into_iter().find(|s| {
                    cells.values().any(|c| c.key.workload == w && &c.key.strategy == s && !c.ok.is_empty())
                })?,
            };
            Some((w, baseline))
        })
        .collect();
    if columns.is_empty() {
        return None;
    }
    let mut rows: Vec<String> = cells.keys().map(|k| k.strategy.clone()).collect();
    rows.sort_by_key(|s| strategy_order(s));
    rows.dedup();
    let panel = |title: &str, figure: Figure| {
        let mut values = Vec::new();
        let mut marked = Vec::new();
        for strategy in &rows {
            let found: Vec<Option<(f64, bool)>> = columns
                .iter()
                .map(|(workload, baseline)| overview_ratio(cells, workload, strategy, baseline, figure))
                .collect();
            values.push(found.iter().map(|f| f.map(|(v, _)| v)).collect());
            marked.push(found.iter().map(|f| f.is_some_and(|(_, u)| u)).collect());
        }
        HeatPanel { title: title.to_owned(), values, marked }
    };
    let allocator_columns: Vec<&str> = columns
        .iter()
        .filter(|(w, b)| *b == ALLOCATOR_BASELINE && is_allocator_workload(cells, w))
        .map(|(w, _)| w.as_str())
        .collect();
    let other_baselines: Vec<String> = columns
        .iter()
        .filter(|(_, b)| *b != CPYTHON_BASELINE && *b != ALLOCATOR_BASELINE)
        .map(|(w, b)| format!("`{w}` against `{b}`"))
        .collect();
    let mut against = format!("`{CPYTHON_BASELINE}`");
    if !allocator_columns.is_empty() {
        against.push_str(&format!(
            " (the allocator workloads {}, which run on allocators alone, against `{ALLOCATOR_BASELINE}`)",
            allocator_columns.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    if !other_baselines.is_empty() {
        against
            .push_str(&format!("; where `{CPYTHON_BASELINE}` did not run: {}", other_baselines.join(", ")));
    }
    Some(PlotSpec {
        stem: OVERVIEW_STEM.to_owned(),
        workload: String::new(),
        caption: format!(
            "Every strategy (rows) on every workload (columns): its median wall time (left) and peak RSS (right) over the baseline's, {against}, at the largest size both ran (smallest thread count). Blue is less, red more, on a log scale that saturates at {}x and {}x; a dot marks a ratio drawn from a cell whose runs spread more than {} in that figure (wall time or peak RSS); grey: did not run, or no baseline at that size.",
            format_tick(1.0 / OVERVIEW_SPAN),
            format_tick(OVERVIEW_SPAN),
            super::format::percent(super::stats::UNSTABLE_THRESHOLD)
        ),
        chart: Chart::Heatmap(HeatmapChart {
            title: "Overview: each strategy against the baseline, per workload".into(),
            rows: rows.clone(),
            columns: columns.iter().map(|(w, _)| w.clone()).collect(),
            panels: vec![
                panel("wall time / baseline", Figure::WallNs),
                panel("peak RSS / baseline", Figure::PeakRssBytes),
            ],
            span: OVERVIEW_SPAN,
            mark_label: "unstable cell".into(),
        }),
    })
}

/// Bars of peak live bytes and peak RSS per element, one group per numeric
/// workload at its largest size, under the baseline strategy.
fn bytes_per_element_plot(cells: &BTreeMap<CellKey, Cell<'_>>) -> Option<PlotSpec> {
    let rows = element_table(cells);
    let largest = largest_sizes(&rows);
    if largest.is_empty() {
        return None;
    }
    let mut strategies: Vec<&str> = largest.iter().map(|r| r.strategy).collect();
    strategies.sort_unstable();
    strategies.dedup();
    let under = strategies.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(" or ");
    let groups = largest
        .iter()
        .map(|row| BarGroup {
            label: format!("{} ({})", row.workload, format_tick(row.size as f64)),
            values: vec![row.live_bytes, row.rss_bytes],
        })
        .collect();
    Some(PlotSpec {
        stem: BYTES_PER_ELEMENT_STEM.to_owned(),
        workload: String::new(),
        caption: format!(
            "Bytes per element of each numeric workload at its largest size (in parentheses), under {under}: peak live bytes and peak RSS over the elements (N² for `matmul-*`), medians over repetitions."
        ),
        chart: Chart::Bars(BarsChart {
            title: "Numeric workloads: bytes per element at the largest size".into(),
            value_label: "bytes per element".into(),
            series: vec![
                ("peak live bytes / element".to_owned(), RGBColor(49, 130, 189)),
                ("peak RSS / element".to_owned(), RGBColor(253, 141, 60)),
            ],
            groups,
        }),
    })
}

/// The smallest thread count a workload ran with.
fn base_threads(cells: &BTreeMap<CellKey, Cell<'_>>, workload: &str) -> Option<u32> {
    cells.keys().filter(|k| k.workload == workload).map(|k| k.threads).min()
}

/// The cells of `workload` with successful runs at `threads`.
fn ok_cells<'c, 'a>(
    cells: &'c BTreeMap<CellKey, Cell<'a>>,
    workload: &str,
    threads: u32,
) -> impl Iterator<Item = &'c Cell<'a>> {
    cells.values().filter(move |c| c.key.workload == workload && c.key.threads == threads && !c.ok.is_empty())
}

/// A line per strategy of `figure` (scaled by `scale`) against size, with min–max whiskers.
fn lines_against_size(
    cells: &BTreeMap<CellKey, Cell<'_>>,
    workload: &str,
    threads: u32,
    figure: Figure,
    scale: f64,
) -> Vec<Line> {
    strategies_of(cells, workload)
        .into_iter()
        .filter_map(|strategy| {
            let mut points = Vec::new();
            let mut whiskers = Vec::new();
            for cell in ok_cells(cells, workload, threads).filter(|c| c.key.strategy == strategy) {
                if let Some(spread) = Spread::of(&cell.values(figure)) {
                    let size = cell.key.size as f64;
                    points.push((size, spread.median / scale));
                    whiskers.push((size, spread.min / scale, spread.max / scale));
                }
            }
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            (!points.is_empty()).then(|| Line {
                label: strategy.clone(),
                style: strategy_style(&strategy),
                points,
                show_markers: true,
                whiskers,
                events: Vec::new(),
            })
        })
        .collect()
}

fn threads_note(cells: &BTreeMap<CellKey, Cell<'_>>, workload: &str, threads: u32) -> String {
    let several = cells.keys().any(|k| k.workload == workload && k.threads != threads);
    if several { format!(", {threads} thread{}", if threads == 1 { "" } else { "s" }) } else { String::new() }
}

fn throughput_plot(cells: &BTreeMap<CellKey, Cell<'_>>, workload: &str) -> Option<PlotSpec> {
    let threads = base_threads(cells, workload)?;
    let lines = lines_against_size(cells, workload, threads, Figure::OpsPerS, 1.0);
    if lines.is_empty() {
        return None;
    }
    let note = threads_note(cells, workload, threads);
    Some(PlotSpec {
        stem: format!("{workload}-throughput"),
        workload: workload.to_owned(),
        caption: format!(
            "Throughput of `{workload}` against size{note}: operations per second (the workload's own unit); points are medians, whiskers span min–max over repetitions."
        ),
        chart: Chart::Lines(LinesChart {
            title: format!("{workload}: throughput against size{note}"),
            panels: vec![Panel {
                title: "operations per second (median; whiskers min–max)".into(),
                x: Axis { whole_numbers: true, ..Axis::log("size") },
                y: Axis::log("ops/s"),
                lines,
            }],
            columns: 1,
            span_rows: Vec::new(),
            size: (1400, 800),
        }),
    })
}

fn memory_plot(cells: &BTreeMap<CellKey, Cell<'_>>, workload: &str) -> Option<PlotSpec> {
    let threads = base_threads(cells, workload)?;
    let rss = lines_against_size(cells, workload, threads, Figure::PeakRssBytes, MIB);
    let live = lines_against_size(cells, workload, threads, Figure::PeakLiveBytes, MIB);
    if rss.is_empty() && live.is_empty() {
        return None;
    }
    let note = threads_note(cells, workload, threads);
    Some(PlotSpec {
        stem: format!("{workload}-memory"),
        workload: workload.to_owned(),
        caption: format!(
            "Peak memory of `{workload}` against size{note}: the process's peak RSS (left) and the heap's peak live bytes (right), MiB; medians with min–max whiskers."
        ),
        chart: Chart::Lines(LinesChart {
            title: format!("{workload}: peak memory against size{note}"),
            panels: vec![
                Panel {
                    title: "peak RSS (MiB)".into(),
                    x: Axis { whole_numbers: true, ..Axis::log("size") },
                    y: Axis::log("MiB"),
                    lines: rss,
                },
                Panel {
                    title: "peak live bytes (MiB)".into(),
                    x: Axis { whole_numbers: true, ..Axis::log("size") },
                    y: Axis::log("MiB"),
                    lines: live,
                },
            ],
            columns: 2,
            span_rows: Vec::new(),
            size: (1800, 780),
        }),
    })
}

/// The series of each strategy at the largest size of `workload` that has any, at its smallest thread count.
struct TimelineSeries {
    size: u64,
    threads: u32,
    by_strategy: Vec<(String, Series)>,
}

fn timeline_series(
    results: &ResultsDir,
    cells: &BTreeMap<CellKey, Cell<'_>>,
    workload: &str,
) -> Result<Option<TimelineSeries>> {
    if results.series_files.is_empty() {
        return Ok(None);
    }
    let Some(threads) = base_threads(cells, workload) else { return Ok(None) };
    let mut sizes: Vec<u64> = ok_cells(cells, workload, threads).map(|c| c.key.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    for &size in sizes.iter().rev() {
        let mut by_strategy = Vec::new();
        for strategy in strategies_of(cells, workload) {
            let key = CellKey { workload: workload.to_owned(), strategy: strategy.clone(), size, threads };
            if cells.get(&key).is_none_or(|c| c.ok.is_empty()) {
                continue;
            }
            if let Some(path) = find_series_file(&results.series_files, &key) {
                by_strategy.push((strategy, read_series(path)?));
            }
        }
        if !by_strategy.is_empty() {
            return Ok(Some(TimelineSeries { size, threads, by_strategy }));
        }
    }
    Ok(None)
}

fn timeline_plot(workload: &str, timeline: &Option<TimelineSeries>) -> Option<PlotSpec> {
    let timeline = timeline.as_ref()?;
    let longest_ns =
        timeline.by_strategy.iter().filter_map(|(_, s)| s.samples.last().map(|p| p.t_ns)).max()?;
    let (time_scale, time_unit) = if longest_ns >= 10_000_000_000 { (1e9, "s") } else { (1e6, "ms") };
    let mut rss_lines = Vec::new();
    let mut live_lines = Vec::new();
    let mut span_rows = Vec::new();
    for (strategy, series) in &timeline.by_strategy {
        let style = strategy_style(strategy);
        let rss: Vec<(f64, f64)> =
            series.samples.iter().map(|s| (s.t_ns as f64 / time_scale, s.rss_bytes as f64 / MIB)).collect();
        let live: Vec<(f64, f64)> =
            series.samples.iter().map(|s| (s.t_ns as f64 / time_scale, s.live_bytes as f64 / MIB)).collect();
        let mut pauses: Vec<&super::series::Pause> = series.pauses.iter().collect();
        pauses.sort_by_key(|p| std::cmp::Reverse(p.duration_ns));
        pauses.truncate(MAX_PAUSE_MARKERS);
        let events = pauses.iter().map(|p| (p.t_ns as f64 / time_scale, p.live_bytes as f64 / MIB)).collect();
        let line = |points: &[(f64, f64)], events| Line {
            label: strategy.clone(),
            style,
            points: downsample(points, SERIES_BUCKETS),
            show_markers: false,
            whiskers: Vec::new(),
            events,
        };
        rss_lines.push(line(&rss, Vec::new()));
        live_lines.push(line(&live, events));
        span_rows.push(SpanRow {
            label: strategy.clone(),
            spans: series
                .phases
                .iter()
                .map(|p| (p.start_ns as f64 / time_scale, p.end_ns as f64 / time_scale, p.name.clone()))
                .collect(),
        });
    }
    let time_axis = Axis {
        range: Some((0.0, longest_ns as f64 / time_scale)),
        ..Axis::linear(format!("time ({time_unit})"))
    };
    let size = timeline.size;
    let threads = timeline.threads;
    let strip_height = 70 + 26 * span_rows.len() as u32;
    Some(PlotSpec {
        stem: format!("{workload}-timeline"),
        workload: workload.to_owned(),
        caption: format!(
            "Memory of `{workload}` over time at size {size} ({threads} thread{}): RSS (top) and live bytes (middle), MiB, one run per strategy; crosses mark GC pauses (the {MAX_PAUSE_MARKERS} longest per strategy); the bottom rows shade each strategy's phases.",
            if threads == 1 { "" } else { "s" }
        ),
        chart: Chart::Lines(LinesChart {
            title: format!("{workload}: memory over time at size {size}"),
            panels: vec![
                Panel {
                    title: "RSS (MiB)".into(),
                    x: time_axis.clone(),
                    y: Axis::linear("MiB"),
                    lines: rss_lines,
                },
                Panel {
                    title: "live bytes (MiB); crosses: GC pauses".into(),
                    x: time_axis,
                    y: Axis::linear("MiB"),
                    lines: live_lines,
                },
            ],
            columns: 1,
            span_rows,
            size: (1500, 1100 + strip_height),
        }),
    })
}

/// The p50, p99 and max pause of a set of pauses, in µs.
fn pause_quantiles(durations_ns: &[u64]) -> [Option<f64>; 3] {
    if durations_ns.is_empty() {
        return [None; 3];
    }
    [0.5, 0.99, 1.0].map(|q| Some(heaplab_core::record::quantile(durations_ns, q) as f64 / 1e3))
}

fn pause_plot(
    cells: &BTreeMap<CellKey, Cell<'_>>,
    workload: &str,
    timeline: &Option<TimelineSeries>,
) -> Option<PlotSpec> {
    let series = [
        ("p50".to_owned(), RGBColor(158, 202, 225)),
        ("p99".to_owned(), RGBColor(49, 130, 189)),
        ("max".to_owned(), RGBColor(8, 48, 107)),
    ];
    // From the series where there are pauses in them; from runs.csv (p99 and max, medians over repetitions) otherwise.
    if let Some(timeline) = timeline.as_ref() {
        let groups: Vec<BarGroup> = timeline
            .by_strategy
            .iter()
            .filter(|(_, s)| !s.pauses.is_empty())
            .map(|(strategy, s)| {
                let durations: Vec<u64> = s.pauses.iter().map(|p| p.duration_ns).collect();
                BarGroup { label: strategy.clone(), values: pause_quantiles(&durations).to_vec() }
            })
            .collect();
        if !groups.is_empty() {
            let size = timeline.size;
            return Some(PlotSpec {
                stem: format!("{workload}-pauses"),
                workload: workload.to_owned(),
                caption: format!(
                    "GC pauses of `{workload}` at size {size}: p50, p99 and longest pause of one run per strategy, µs; strategies without pauses are left out."
                ),
                chart: Chart::Bars(BarsChart {
                    title: format!("{workload}: GC pauses at size {size} (µs)"),
                    value_label: "pause (µs)".into(),
                    series: series.to_vec(),
                    groups,
                }),
            });
        }
    }
    let threads = base_threads(cells, workload)?;
    let size = ok_cells(cells, workload, threads).map(|c| c.key.size).max()?;
    let groups: Vec<BarGroup> = ok_cells(cells, workload, threads)
        .filter(|c| c.key.size == size && c.median(Figure::PauseMaxNs).is_some_and(|v| v > 0.0))
        .map(|c| BarGroup {
            label: c.key.strategy.clone(),
            values: vec![
                None,
                c.median(Figure::PauseP99Ns).map(|v| v / 1e3),
                c.median(Figure::PauseMaxNs).map(|v| v / 1e3),
            ],
        })
        .collect();
    if groups.is_empty() {
        return None;
    }
    let mut groups = groups;
    groups.sort_by_key(|g| super::analysis::strategy_order(&g.label));
    Some(PlotSpec {
        stem: format!("{workload}-pauses"),
        workload: workload.to_owned(),
        caption: format!(
            "GC pauses of `{workload}` at size {size}: p99 and longest pause per strategy from `runs.csv` (medians over repetitions), µs; no series were recorded, so no p50."
        ),
        chart: Chart::Bars(BarsChart {
            title: format!("{workload}: GC pauses at size {size} (µs)"),
            value_label: "pause (µs)".into(),
            series: series.to_vec(),
            groups,
        }),
    })
}

/// The `free` phase's arena map of one run, where it has one.
pub fn free_phase_arenas(report: &RunReport) -> Option<&heaplab_core::ArenaStats> {
    report
        .phases
        .iter()
        .find(|p| p.name == "free")
        .and_then(|p| p.alloc.arenas.as_ref())
        .filter(|a| !a.arena_map.is_empty())
}

/// The runs of `workload` with an arena map after `free`, at its largest such size and smallest thread count,
/// the lowest repetition per strategy, in presentation order.
pub fn arena_runs<'r>(reports: &'r [RunReport], workload: &str) -> Vec<&'r RunReport> {
    let with_map: Vec<&RunReport> = reports
        .iter()
        .filter(|r| r.record.workload == workload && r.record.status == heaplab_core::Status::Ok)
        .filter(|r| free_phase_arenas(r).is_some())
        .collect();
    let Some(size) = with_map.iter().map(|r| r.record.size).max() else { return Vec::new() };
    let Some(threads) = with_map.iter().filter(|r| r.record.size == size).map(|r| r.record.threads).min()
    else {
        return Vec::new();
    };
    let mut chosen: BTreeMap<String, &RunReport> = BTreeMap::new();
    for report in with_map.into_iter().filter(|r| r.record.size == size && r.record.threads == threads) {
        let entry = chosen.entry(report.record.strategy.clone()).or_insert(report);
        if report.record.rep < entry.record.rep {
            *entry = report;
        }
    }
    let mut runs: Vec<&RunReport> = chosen.into_values().collect();
    runs.sort_by_key(|r| super::analysis::strategy_order(&r.record.strategy));
    runs
}

fn arena_plot(reports: &[RunReport], workload: &str) -> Option<PlotSpec> {
    let runs = arena_runs(reports, workload);
    let first = runs.first()?;
    let size = first.record.size;
    let panels = runs
        .iter()
        .filter_map(|run| {
            let arenas = free_phase_arenas(run)?;
            let pools_per_arena = arenas.arena_size.checked_div(arenas.pool_size).map_or(0.0, |n| n as f64);
            let totals = arenas.arena_map.iter().fold((0u64, 0u64, 0u64), |t, a| {
                (t.0 + u64::from(a.full), t.1 + u64::from(a.used), t.2 + u64::from(a.empty))
            });
            Some(ArenaPanel {
                title: format!(
                    "{}: {} arenas held; pools {} full, {} used, {} empty",
                    run.record.strategy,
                    arenas.arena_map.len(),
                    totals.0,
                    totals.1,
                    totals.2
                ),
                pools_per_arena,
                arenas: arenas
                    .arena_map
                    .iter()
                    .map(|a| (f64::from(a.full), f64::from(a.used), f64::from(a.empty)))
                    .collect(),
            })
        })
        .collect();
    Some(PlotSpec {
        stem: format!("{workload}-arenas"),
        workload: workload.to_owned(),
        caption: format!(
            "pymalloc's arenas after the `free` phase of `{workload}` at size {size}, one run per strategy on pymalloc: each column is an arena in address order, stacked by its pools' state (full, used, empty). An arena goes back to the system only when all its pools are empty."
        ),
        chart: Chart::Arenas(ArenaChart {
            title: format!("{workload}: pymalloc arenas after `free` (size {size})"),
            panels,
        }),
    })
}

fn threads_plot(cells: &BTreeMap<CellKey, Cell<'_>>, workload: &str) -> Option<PlotSpec> {
    let mut thread_counts: Vec<u32> =
        cells.keys().filter(|k| k.workload == workload).map(|k| k.threads).collect();
    thread_counts.sort_unstable();
    thread_counts.dedup();
    if thread_counts.len() < 2 {
        return None;
    }
    let size = cells
        .values()
        .filter(|c| c.key.workload == workload && !c.ok.is_empty())
        .map(|c| c.key.size)
        .max()?;
    let lines: Vec<Line> = strategies_of(cells, workload)
        .into_iter()
        .filter_map(|strategy| {
            let mut points = Vec::new();
            let mut whiskers = Vec::new();
            for cell in cells.values().filter(|c| {
                c.key.workload == workload
                    && c.key.strategy == strategy
                    && c.key.size == size
                    && !c.ok.is_empty()
            }) {
                if let Some(spread) = Spread::of(&cell.values(Figure::OpsPerS)) {
                    let threads = f64::from(cell.key.threads);
                    points.push((threads, spread.median));
                    whiskers.push((threads, spread.min, spread.max));
                }
            }
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            (!points.is_empty()).then(|| Line {
                label: strategy.clone(),
                style: strategy_style(&strategy),
                points,
                show_markers: true,
                whiskers,
                events: Vec::new(),
            })
        })
        .collect();
    if lines.is_empty() {
        return None;
    }
    let (low, high) = (thread_counts[0] as f64, thread_counts[thread_counts.len() - 1] as f64);
    Some(PlotSpec {
        stem: format!("{workload}-threads"),
        workload: workload.to_owned(),
        caption: format!(
            "Scaling of `{workload}` at size {size}: operations per second against threads, medians with min–max whiskers."
        ),
        chart: Chart::Lines(LinesChart {
            title: format!("{workload}: throughput against threads at size {size}"),
            panels: vec![Panel {
                title: "operations per second (median; whiskers min–max)".into(),
                x: Axis {
                    range: Some((low - 0.2, high + 0.2)),
                    whole_numbers: true,
                    ..Axis::linear("threads")
                },
                y: Axis::linear("ops/s"),
                lines,
            }],
            columns: 1,
            span_rows: Vec::new(),
            size: (1400, 800),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analysis::cells;
    use crate::report::analysis::tests::run;

    fn stems(results: &ResultsDir) -> Vec<String> {
        let cells = cells(&results.records);
        build_plots(results, &cells).unwrap().into_iter().map(|p| p.stem).collect()
    }

    #[test]
    fn each_workload_gets_throughput_and_memory_plots() {
        let results = ResultsDir {
            records: vec![
                run("cycle+pymalloc", "churn", 10, 100, 1000),
                run("cycle+pymalloc", "churn", 100, 1000, 10_000),
            ],
            ..ResultsDir::default()
        };
        assert_eq!(stems(&results), ["overview", "churn-throughput", "churn-memory"]);
    }

    #[test]
    fn the_overview_exists_for_any_set_of_strategies() {
        let sets: [&[&str]; 4] = [
            &["cycle+pymalloc", "refcount+system"],
            &["marksweep+mimalloc"],
            &["refcount+pymalloc", "marksweep+jemalloc", "cycle+pymalloc@3.14"],
            &["some+new-allocator", "another-collector+pymalloc"],
        ];
        for strategies in sets {
            let mut records: Vec<heaplab_core::Record> =
                strategies.iter().map(|s| run(s, "churn", 10, 100, 1000)).collect();
            let mut alone = run("mimalloc", "larson", 10, 100, 1000);
            alone.collector = String::new();
            records.push(alone);
            let cells = cells(&records);
            let plot = overview_plot(&cells).expect("an overview");
            let Chart::Heatmap(chart) = &plot.chart else { panic!("a heatmap") };
            assert_eq!(chart.panels.len(), 2, "wall time and peak RSS");
            assert_eq!(chart.rows.len(), strategies.len() + 1, "{strategies:?}");
            assert_eq!(chart.columns, ["churn", "larson"]);
            let dir = tempfile::tempdir().unwrap();
            crate::report::plots::save(&plot.chart, dir.path(), "overview").unwrap();
            assert!(dir.path().join("overview.png").is_file() && dir.path().join("overview.svg").is_file());
        }
    }

    #[test]
    fn several_thread_counts_add_a_scaling_plot() {
        let mut two_threads = run("mimalloc", "larson", 10, 50, 1000);
        two_threads.threads = 2;
        let results = ResultsDir {
            records: vec![run("mimalloc", "larson", 10, 100, 1000), two_threads],
            ..ResultsDir::default()
        };
        assert_eq!(stems(&results), ["overview", "larson-throughput", "larson-memory", "larson-threads"]);
    }

    #[test]
    fn pauses_come_from_runs_csv_without_series() {
        let mut paused = run("cycle+pymalloc", "churn", 10, 100, 1000);
        paused.pause_max_ns = Some(5_000);
        paused.pause_p99_ns = Some(2_000);
        let results = ResultsDir {
            records: vec![paused, run("refcount+pymalloc", "churn", 10, 100, 1000)],
            ..ResultsDir::default()
        };
        let cells = cells(&results.records);
        let plots = build_plots(&results, &cells).unwrap();
        let pauses = plots.iter().find(|p| p.stem == "churn-pauses").expect("a pause plot");
        let Chart::Bars(bars) = &pauses.chart else { panic!("bars expected") };
        assert_eq!(bars.groups.len(), 1, "refcount never pauses");
        assert_eq!(bars.groups[0].values, vec![None, Some(2.0), Some(5.0)]);
    }

    #[test]
    fn pause_quantiles_by_nearest_rank_in_microseconds() {
        let durations: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(pause_quantiles(&durations), [Some(50.0), Some(99.0), Some(100.0)]);
        assert_eq!(pause_quantiles(&[]), [None, None, None]);
    }

    #[test]
    fn styles_encode_allocator_by_colour_and_collector_by_marker() {
        assert_eq!(strategy_style("cycle+pymalloc").color, strategy_style("refcount+pymalloc").color);
        assert_ne!(strategy_style("cycle+pymalloc").color, strategy_style("cycle+mimalloc").color);
        assert_ne!(strategy_style("cycle+pymalloc").marker, strategy_style("refcount+pymalloc").marker);
    }
}
