//! Rendering charts with plotters, each as `plots/<stem>.svg` and `plots/<stem>.png`.
//!
//! This module knows how to draw and nothing about heaplab's data: the
//! charts it draws are plain descriptions ([`LinesChart`], [`BarsChart`],
//! [`ArenaChart`]) built by `figures`. Text is drawn with DejaVu Sans, bundled
//! in the repository and registered at start, so that PNGs render on a
//! machine without fontconfig.

use std::fmt::Display;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The font family every text uses.
const FONT: &str = "sans-serif";
/// The bundled font.
const FONT_BYTES: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");

const TITLE_SIZE: u32 = 28;
const PANEL_TITLE_SIZE: u32 = 21;
const AXIS_DESC_SIZE: u32 = 18;
const TICK_SIZE: u32 = 16;
const LEGEND_SIZE: u32 = 17;
const LEGEND_WIDTH: u32 = 330;
const LEGEND_ROW: i32 = 27;
/// A logarithmic axis is drawn only where the values span at least this factor; linear otherwise.
pub const LOG_SPAN: f64 = 20.0;
/// Width of the vertical axis's label area.
const Y_LABEL_AREA: u32 = 84;
/// Width of the vertical axis's label area on a timeline, whose phase rows carry strategy names.
const TIMELINE_Y_LABEL_AREA: u32 = 190;

/// Registers the bundled font as `sans-serif`, once.
pub fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok());
    if ok { Ok(()) } else { Err(anyhow!("the bundled DejaVuSans.ttf is not a usable font")) }
}

fn plot_error<E: Display>(err: E) -> anyhow::Error {
    anyhow!("drawing a plot: {err}")
}

/// A mark on the chart's points, one per collector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    /// A filled circle.
    Circle,
    /// A filled triangle.
    Triangle,
    /// A filled square.
    Square,
    /// A cross.
    Cross,
}

/// How a line is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dash {
    /// A solid line.
    Solid,
    /// Long dashes.
    Long,
    /// Short dashes.
    Short,
}

/// The look of one strategy's line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineStyle {
    /// Its colour.
    pub color: RGBColor,
    /// Its point marker.
    pub marker: Marker,
    /// Its dash pattern.
    pub dash: Dash,
}

/// One line of a chart.
#[derive(Clone, Debug)]
pub struct Line {
    /// The legend's name for it.
    pub label: String,
    /// How it looks.
    pub style: LineStyle,
    /// Its points, in x order.
    pub points: Vec<(f64, f64)>,
    /// Whether to mark each point.
    pub show_markers: bool,
    /// Vertical ranges `(x, low, high)` drawn as whiskers (min–max over repetitions).
    pub whiskers: Vec<(f64, f64, f64)>,
    /// Point events, such as collection pauses, drawn as small crosses.
    pub events: Vec<(f64, f64)>,
}

/// One axis of a panel.
#[derive(Clone, Debug)]
pub struct Axis {
    /// What it measures, with the unit.
    pub label: String,
    /// Logarithmic scale.
    pub log: bool,
    /// A fixed range; otherwise fitted to the data.
    pub range: Option<(f64, f64)>,
    /// Label only whole numbers (for thread counts).
    pub whole_numbers: bool,
}

impl Axis {
    /// A linear axis fitted to the data.
    pub fn linear(label: impl Into<String>) -> Axis {
        Axis { label: label.into(), log: false, range: None, whole_numbers: false }
    }

    /// A logarithmic axis fitted to the data.
    pub fn log(label: impl Into<String>) -> Axis {
        Axis { log: true, ..Axis::linear(label) }
    }
}

/// One panel: axes and lines.
#[derive(Clone, Debug)]
pub struct Panel {
    /// The panel's title.
    pub title: String,
    /// The horizontal axis.
    pub x: Axis,
    /// The vertical axis.
    pub y: Axis,
    /// The lines.
    pub lines: Vec<Line>,
}

/// A row of spans under a timeline, such as the phases of one run.
#[derive(Clone, Debug)]
pub struct SpanRow {
    /// The row's label.
    pub label: String,
    /// Spans `(start, end, name)` in the panels' x units.
    pub spans: Vec<(f64, f64, String)>,
}

/// One or more panels of lines sharing a legend.
#[derive(Clone, Debug)]
pub struct LinesChart {
    /// The chart's title.
    pub title: String,
    /// The panels, laid out in `columns` columns.
    pub panels: Vec<Panel>,
    /// Columns of the panel grid.
    pub columns: usize,
    /// Rows of shaded spans under the panels, on the same x axis (phases).
    pub span_rows: Vec<SpanRow>,
    /// Width and height in pixels.
    pub size: (u32, u32),
}

/// One group of horizontal bars (one strategy), a bar per series.
#[derive(Clone, Debug)]
pub struct BarGroup {
    /// The group's label.
    pub label: String,
    /// One value per series; `None` where absent.
    pub values: Vec<Option<f64>>,
}

/// Grouped horizontal bars on a logarithmic value axis.
#[derive(Clone, Debug)]
pub struct BarsChart {
    /// The chart's title.
    pub title: String,
    /// What the values measure, with the unit.
    pub value_label: String,
    /// The series' names and colours (such as p50, p99, max).
    pub series: Vec<(String, RGBColor)>,
    /// The groups, top to bottom.
    pub groups: Vec<BarGroup>,
}

/// The pools of each arena, by state, for one strategy.
#[derive(Clone, Debug)]
pub struct ArenaPanel {
    /// The panel's title.
    pub title: String,
    /// Pools per arena.
    pub pools_per_arena: f64,
    /// Per arena in address order: (full, used, empty) pools.
    pub arenas: Vec<(f64, f64, f64)>,
}

/// pymalloc's arena map, one panel per strategy.
#[derive(Clone, Debug)]
pub struct ArenaChart {
    /// The chart's title.
    pub title: String,
    /// The panels.
    pub panels: Vec<ArenaPanel>,
}

/// One panel of a heatmap: a value per row and column.
#[derive(Clone, Debug)]
pub struct HeatPanel {
    /// The panel's title.
    pub title: String,
    /// `values[row][column]`: a ratio (drawn on a log scale around 1), or `None` where absent.
    pub values: Vec<Vec<Option<f64>>>,
    /// `marked[row][column]`: a dot in the cell (an unstable cell).
    pub marked: Vec<Vec<bool>>,
}

/// Ratios of rows against columns, coloured on a diverging log scale, in panels side by side that share the rows.
#[derive(Clone, Debug)]
pub struct HeatmapChart {
    /// The chart's title.
    pub title: String,
    /// The rows' labels, top to bottom.
    pub rows: Vec<String>,
    /// The columns' labels, left to right.
    pub columns: Vec<String>,
    /// The panels.
    pub panels: Vec<HeatPanel>,
    /// The colour scale saturates at `1 / span` and `span`.
    pub span: f64,
    /// What the dot means, for the legend.
    pub mark_label: String,
}

/// Any chart this module draws.
#[derive(Clone, Debug)]
pub enum Chart {
    /// Lines on panels.
    Lines(LinesChart),
    /// Grouped bars.
    Bars(BarsChart),
    /// An arena map.
    Arenas(ArenaChart),
    /// A heatmap of ratios.
    Heatmap(HeatmapChart),
}

const FULL_POOL_COLOR: RGBColor = RGBColor(31, 78, 140);
const USED_POOL_COLOR: RGBColor = RGBColor(120, 170, 220);
const EMPTY_POOL_COLOR: RGBColor = RGBColor(225, 225, 225);
/// Arenas drawn as separate columns at most; more are averaged in bins.
const MAX_ARENA_COLUMNS: usize = 400;

impl Chart {
    fn size(&self) -> (u32, u32) {
        match self {
            Chart::Lines(chart) => chart.size,
            Chart::Bars(chart) => {
                (1400, (180 + chart.groups.len() as u32 * (24 * chart.series.len() as u32 + 18)).max(420))
            }
            Chart::Arenas(chart) => (1400, 110 + 260 * chart.panels.len().max(1) as u32),
            Chart::Heatmap(chart) => heatmap_size(chart),
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        root.fill(&WHITE).map_err(plot_error)?;
        match self {
            Chart::Lines(chart) => draw_lines_chart(root, chart),
            Chart::Bars(chart) => draw_bars_chart(root, chart),
            Chart::Arenas(chart) => draw_arena_chart(root, chart),
            Chart::Heatmap(chart) => draw_heatmap(root, chart),
        }
    }
}

/// Writes `chart` as `<dir>/<stem>.svg` and `<dir>/<stem>.png`.
pub fn save(chart: &Chart, dir: &Path, stem: &str) -> Result<()> {
    register_font()?;
    let size = chart.size();
    let svg_path = dir.join(format!("{stem}.svg"));
    {
        let root = SVGBackend::new(&svg_path, size).into_drawing_area();
        chart.draw(&root)?;
        root.present().map_err(plot_error)?;
    }
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        chart.draw(&root)?;
        root.present().map_err(plot_error)?;
    }
    write_png(&dir.join(format!("{stem}.png")), size, &pixels)
}

/// Colours of an indexed PNG.
const PALETTE_SIZE: usize = 256;

/// The pixels as indices into a palette of at most [`PALETTE_SIZE`] colours: every
/// colour where there are that few (a chart's flat colours), else the most
/// frequent ones, each other colour (antialiased edges) mapped to its nearest.
pub fn quantize(pixels: &[u8]) -> (Vec<[u8; 3]>, Vec<u8>) {
    let mut counts: std::collections::HashMap<[u8; 3], usize> = std::collections::HashMap::new();
    for rgb in pixels.chunks_exact(3) {
        *counts.entry([rgb[0], rgb[1], rgb[2]]).or_insert(0) += 1;
    }
    let mut by_count: Vec<([u8; 3], usize)> = counts.iter().map(|(c, n)| (*c, *n)).collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let palette: Vec<[u8; 3]> = by_count.iter().take(PALETTE_SIZE).map(|(c, _)| *c).collect();
    let distance = |a: [u8; 3], b: [u8; 3]| {
        a.iter().zip(b).map(|(x, y)| (i32::from(*x) - i32::from(y)).pow(2)).sum::<i32>()
    };
    let index: std::collections::HashMap<[u8; 3], u8> = counts
        .keys()
        .map(|colour| {
            let nearest = (0..palette.len()).min_by_key(|&i| distance(*colour, palette[i])).unwrap_or(0);
            (*colour, nearest as u8)
        })
        .collect();
    let indices = pixels.chunks_exact(3).map(|rgb| index[&[rgb[0], rgb[1], rgb[2]]]).collect();
    (palette, indices)
}

/// Encodes RGB pixels as an indexed PNG (see [`quantize`]: a chart is mostly
/// flat colour, so its PNG is a fraction of an RGB one and the HTML page that
/// inlines every plot stays small) with one fixed row filter (`Up`) rather than
/// trying every filter on every row, which is most of the time a PNG takes in a debug build.
fn write_png(path: &Path, (width, height): (u32, u32), pixels: &[u8]) -> Result<()> {
    let (palette, indices) = quantize(pixels);
    let file = std::fs::File::create(path).map_err(|e| anyhow!("creating {}: {e}", path.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_palette(palette.concat());
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_filter(png::Filter::Up);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    writer.write_image_data(&indices).map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    writer.finish().map_err(|e| anyhow!("writing {}: {e}", path.display()))
}

/// A tick label: compact, with k, M and G for thousands, millions and billions.
pub fn format_tick(value: f64) -> String {
    let magnitude = value.abs();
    let (scaled, suffix) = if magnitude >= 1e9 {
        (value / 1e9, "G")
    } else if magnitude >= 1e6 {
        (value / 1e6, "M")
    } else if magnitude >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    if scaled == 0.0 {
        return "0".into();
    }
    let digits = if scaled.abs() >= 100.0 {
        0
    } else if scaled.abs() >= 10.0 {
        1
    } else if scaled.abs() >= 1.0 {
        2
    } else {
        (-scaled.abs().log10().floor()) as usize + 2
    };
    let text = format!("{scaled:.digits$}");
    let text =
        if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text };
    format!("{text}{suffix}")
}

/// `axis`, logarithmic only where asked for and the positive `values` span at least [`LOG_SPAN`];
/// the label says when the scale is logarithmic.
fn effective_axis(axis: &Axis, values: impl Iterator<Item = f64>) -> Axis {
    if !axis.log {
        return axis.clone();
    }
    let positive: Vec<f64> = values.filter(|v| v.is_finite() && *v > 0.0).collect();
    let low = positive.iter().copied().fold(f64::INFINITY, f64::min);
    let high = positive.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (low, high) = axis.range.unwrap_or((low, high));
    if !positive.is_empty() && high / low >= LOG_SPAN {
        let label = match axis.label.strip_suffix(')') {
            Some(open) => format!("{open}, log scale)"),
            None => format!("{} (log scale)", axis.label),
        };
        Axis { label, ..axis.clone() }
    } else {
        Axis { log: false, ..axis.clone() }
    }
}

/// The range an axis spans: its fixed range, or the data's padded a little.
fn fit_range(axis: &Axis, values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    if let Some(range) = axis.range {
        return Some(range);
    }
    let usable: Vec<f64> = values.filter(|v| v.is_finite() && (!axis.log || *v > 0.0)).collect();
    let low = usable.iter().copied().fold(f64::INFINITY, f64::min);
    let high = usable.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if usable.is_empty() {
        return None;
    }
    if axis.log {
        let (low, high) = if high / low < 1.5 { (low / 1.5, high * 1.5) } else { (low, high) };
        let pad = (high / low).powf(0.04);
        Some((low / pad, high * pad))
    } else {
        let low = if low >= 0.0 && !axis.whole_numbers { 0.0 } else { low };
        let span = if high > low { high - low } else { high.abs().max(1.0) };
        let pad = span * 0.05;
        let low = if low == 0.0 { 0.0 } else { low - pad };
        Some((low, high + pad))
    }
}

fn x_values(panel: &Panel) -> impl Iterator<Item = f64> + '_ {
    panel.lines.iter().flat_map(|line| line.points.iter().map(|p| p.0))
}

fn y_values(panel: &Panel) -> impl Iterator<Item = f64> + '_ {
    panel
        .lines
        .iter()
        .flat_map(|line| line.points.iter().map(|p| p.1).chain(line.whiskers.iter().flat_map(|w| [w.1, w.2])))
}

fn draw_lines_chart<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &LinesChart) -> Result<()> {
    let body = root.titled(&chart.title, (FONT, TITLE_SIZE)).map_err(plot_error)?;
    let (width, _) = body.dim_in_pixel();
    let (plots, legend) = body.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
    let mut entries: Vec<(String, LegendMark)> = Vec::new();
    for line in chart.panels.iter().flat_map(|p| &p.lines) {
        if !entries.iter().any(|(label, _)| *label == line.label) {
            entries.push((line.label.clone(), LegendMark::Line(line.style)));
        }
    }
    draw_legend(&legend, &entries)?;
    let strip_height = if chart.span_rows.is_empty() { 0 } else { 70 + 26 * chart.span_rows.len() as u32 };
    let (_, plots_height) = plots.dim_in_pixel();
    let (panel_area, strip_area) = plots.split_vertically(plots_height.saturating_sub(strip_height));
    let columns = chart.columns.max(1);
    let rows = chart.panels.len().div_ceil(columns).max(1);
    let areas = panel_area.split_evenly((rows, columns));
    let y_label_area = if chart.span_rows.is_empty() { Y_LABEL_AREA } else { TIMELINE_Y_LABEL_AREA };
    for (panel, area) in chart.panels.iter().zip(&areas) {
        draw_panel(area, panel, y_label_area)?;
    }
    if let Some(first) = chart.panels.first().filter(|_| !chart.span_rows.is_empty()) {
        let range = fit_range(&first.x, x_values(first)).unwrap_or((0.0, 1.0));
        draw_span_rows(&strip_area, &chart.span_rows, range, &first.x.label, y_label_area)?;
    }
    Ok(())
}

fn draw_no_data<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, title: &str) -> Result<()> {
    let (width, height) = area.dim_in_pixel();
    let style =
        TextStyle::from((FONT, PANEL_TITLE_SIZE).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text(&format!("{title}: no data"), &style, (width as i32 / 2, height as i32 / 2))
        .map_err(plot_error)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    y_label_area: u32,
) -> Result<()> {
    let panel = &Panel {
        x: effective_axis(&panel.x, x_values(panel)),
        y: effective_axis(&panel.y, y_values(panel)),
        ..panel.clone()
    };
    let (Some((x0, x1)), Some((y0, y1))) =
        (fit_range(&panel.x, x_values(panel)), fit_range(&panel.y, y_values(panel)))
    else {
        return draw_no_data(area, &panel.title);
    };
    let (x1, y1) = (if x1 > x0 { x1 } else { x0 + 1.0 }, if y1 > y0 { y1 } else { y0 + 1.0 });
    match (panel.x.log, panel.y.log) {
        (true, true) => draw_panel_in(area, panel, y_label_area, (x0..x1).log_scale(), (y0..y1).log_scale()),
        (true, false) => draw_panel_in(area, panel, y_label_area, (x0..x1).log_scale(), y0..y1),
        (false, true) => draw_panel_in(area, panel, y_label_area, x0..x1, (y0..y1).log_scale()),
        (false, false) => draw_panel_in(area, panel, y_label_area, x0..x1, y0..y1),
    }
}

fn shape_style(color: RGBColor, width: u32) -> ShapeStyle {
    ShapeStyle { color: color.to_rgba(), filled: false, stroke_width: width }
}

fn draw_panel_in<DB, XS, YS>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    y_label_area: u32,
    x_spec: XS,
    y_spec: YS,
) -> Result<()>
where
    DB: DrawingBackend,
    XS: AsRangedCoord<Value = f64>,
    YS: AsRangedCoord<Value = f64>,
    XS::CoordDescType: ValueFormatter<f64>,
    YS::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, PANEL_TITLE_SIZE))
        .margin(14)
        .x_label_area_size(58)
        .y_label_area_size(y_label_area)
        .build_cartesian_2d(x_spec, y_spec)
        .map_err(plot_error)?;
    let whole_numbers = panel.x.whole_numbers;
    let x_formatter = move |v: &f64| {
        if whole_numbers && (v.fract().abs() > 1e-9) { String::new() } else { format_tick(*v) }
    };
    chart
        .configure_mesh()
        .x_desc(&panel.x.label)
        .y_desc(&panel.y.label)
        .axis_desc_style((FONT, AXIS_DESC_SIZE))
        .label_style((FONT, TICK_SIZE))
        .x_label_formatter(&x_formatter)
        .y_label_formatter(&|v| format_tick(*v))
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(plot_error)?;
    for line in &panel.lines {
        let style = shape_style(line.style.color, 2);
        let points = line.points.clone();
        match line.style.dash {
            Dash::Solid => chart.draw_series(LineSeries::new(points, style)).map(|_| ()),
            Dash::Long => chart.draw_series(DashedLineSeries::new(points, 10, 6, style)).map(|_| ()),
            Dash::Short => chart.draw_series(DashedLineSeries::new(points, 3, 4, style)).map(|_| ()),
        }
        .map_err(plot_error)?;
        let thin = shape_style(line.style.color, 1);
        chart
            .draw_series(
                line.whiskers.iter().map(|&(x, low, high)| PathElement::new(vec![(x, low), (x, high)], thin)),
            )
            .map_err(plot_error)?;
        if line.show_markers {
            draw_markers(&mut chart, &line.points, line.style)?;
        }
        let event_style = ShapeStyle { color: line.style.color.mix(0.8), filled: false, stroke_width: 1 };
        chart.draw_series(line.events.iter().map(|&p| Cross::new(p, 4, event_style))).map_err(plot_error)?;
    }
    Ok(())
}

fn draw_markers<DB, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    points: &[(f64, f64)],
    style: LineStyle,
) -> Result<()>
where
    DB: DrawingBackend,
    X: plotters::coord::ranged1d::Ranged<ValueType = f64>,
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
{
    let filled = style.color.filled();
    let points = points.iter().copied();
    match style.marker {
        Marker::Circle => chart.draw_series(points.map(|p| Circle::new(p, 5, filled))).map(|_| ()),
        Marker::Triangle => chart.draw_series(points.map(|p| TriangleMarker::new(p, 6, filled))).map(|_| ()),
        Marker::Square => chart
            .draw_series(points.map(|p| EmptyElement::at(p) + Rectangle::new([(-4, -4), (4, 4)], filled)))
            .map(|_| ()),
        Marker::Cross => {
            chart.draw_series(points.map(|p| Cross::new(p, 5, shape_style(style.color, 2)))).map(|_| ())
        }
    }
    .map_err(plot_error)
}

/// What the legend shows beside a label.
enum LegendMark {
    Line(LineStyle),
    Swatch(RGBColor),
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, LegendMark)],
) -> Result<()> {
    let text_style = TextStyle::from((FONT, LEGEND_SIZE).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let top = 50;
    for (index, (label, mark)) in entries.iter().enumerate() {
        let y = top + index as i32 * LEGEND_ROW;
        match mark {
            LegendMark::Line(style) => {
                let stroke = shape_style(style.color, 2);
                match style.dash {
                    Dash::Solid => area.draw(&PathElement::new(vec![(10, y), (50, y)], stroke)),
                    Dash::Long => area
                        .draw(&PathElement::new(vec![(10, y), (22, y)], stroke))
                        .and_then(|_| area.draw(&PathElement::new(vec![(28, y), (40, y)], stroke)))
                        .and_then(|_| area.draw(&PathElement::new(vec![(46, y), (50, y)], stroke))),
                    Dash::Short => (0..6).try_for_each(|i| {
                        area.draw(&PathElement::new(vec![(10 + i * 7, y), (13 + i * 7, y)], stroke))
                    }),
                }
                .map_err(plot_error)?;
                let filled = style.color.filled();
                let at = (30, y);
                match style.marker {
                    Marker::Circle => area.draw(&Circle::new(at, 5, filled)),
                    Marker::Triangle => area.draw(&TriangleMarker::new(at, 6, filled)),
                    Marker::Square => area.draw(&Rectangle::new([(26, y - 4), (34, y + 4)], filled)),
                    Marker::Cross => area.draw(&Cross::new(at, 5, shape_style(style.color, 2))),
                }
                .map_err(plot_error)?;
            }
            LegendMark::Swatch(color) => {
                area.draw(&Rectangle::new([(14, y - 8), (46, y + 8)], color.filled())).map_err(plot_error)?;
            }
        }
        area.draw_text(label, &text_style, (60, y)).map_err(plot_error)?;
    }
    Ok(())
}

const SPAN_COLORS: [RGBColor; 6] = [
    RGBColor(198, 219, 239),
    RGBColor(253, 208, 162),
    RGBColor(199, 233, 192),
    RGBColor(218, 218, 235),
    RGBColor(252, 187, 161),
    RGBColor(240, 240, 180),
];

fn draw_span_rows<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    rows: &[SpanRow],
    (x0, x1): (f64, f64),
    x_label: &str,
    y_label_area: u32,
) -> Result<()> {
    let mut names: Vec<&str> = Vec::new();
    for (_, _, name) in rows.iter().flat_map(|row| &row.spans) {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    let mut chart = ChartBuilder::on(area)
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(y_label_area)
        .build_cartesian_2d(x0..x1.max(x0 + 1.0), 0.0..rows.len() as f64)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_x_mesh()
        .y_labels(0)
        .x_desc(format!("{x_label}; shaded: phases"))
        .axis_desc_style((FONT, AXIS_DESC_SIZE))
        .label_style((FONT, TICK_SIZE))
        .x_label_formatter(&|v| format_tick(*v))
        .draw()
        .map_err(plot_error)?;
    let label_style = TextStyle::from((FONT, TICK_SIZE).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    let inner_style =
        TextStyle::from((FONT, TICK_SIZE - 2).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
    for (index, row) in rows.iter().enumerate() {
        let top = rows.len() as f64 - index as f64;
        let (y_high, y_low) = (top - 0.1, top - 0.9);
        for (start, end, name) in &row.spans {
            let color = SPAN_COLORS[names.iter().position(|n| n == name).unwrap_or(0) % SPAN_COLORS.len()];
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(*start, y_low), (*end, y_high)],
                    color.filled(),
                )))
                .map_err(plot_error)?;
            let (left, _) = chart.backend_coord(&(*start, y_low));
            let (right, _) = chart.backend_coord(&(*end, y_low));
            if right - left > 12 * name.len() as i32 {
                chart
                    .draw_series(std::iter::once(Text::new(
                        name.clone(),
                        ((start + end) / 2.0, top - 0.5),
                        inner_style.clone(),
                    )))
                    .map_err(plot_error)?;
            }
        }
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((x0, top - 0.5))
                    + Text::new(short_label(&row.label, 20), (-6, 0), label_style.clone()),
            ))
            .map_err(plot_error)?;
    }
    Ok(())
}

/// `label` cut to `max` characters with an ellipsis.
fn short_label(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_owned()
    } else {
        format!("{}…", label.chars().take(max - 1).collect::<String>())
    }
}

fn draw_bars_chart<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &BarsChart) -> Result<()> {
    let body = root.titled(&chart.title, (FONT, TITLE_SIZE)).map_err(plot_error)?;
    let (width, _) = body.dim_in_pixel();
    let (plot_area, legend) = body.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
    let entries: Vec<(String, LegendMark)> =
        chart.series.iter().map(|(name, color)| (name.clone(), LegendMark::Swatch(*color))).collect();
    draw_legend(&legend, &entries)?;
    let values: Vec<f64> =
        chart.groups.iter().flat_map(|g| g.values.iter().flatten().copied()).filter(|v| *v > 0.0).collect();
    let axis = effective_axis(&Axis::log(chart.value_label.clone()), values.iter().copied());
    let Some((x0, x1)) = fit_range(&axis, values.iter().copied()) else {
        return draw_no_data(&plot_area, &chart.title);
    };
    if axis.log {
        draw_bars_in(&plot_area, chart, &axis, (x0..x1).log_scale(), x0)
    } else {
        draw_bars_in(&plot_area, chart, &axis, x0..x1, x0)
    }
}

fn draw_bars_in<DB, XS>(
    plot_area: &DrawingArea<DB, Shift>,
    chart: &BarsChart,
    axis: &Axis,
    x_spec: XS,
    x0: f64,
) -> Result<()>
where
    DB: DrawingBackend,
    XS: AsRangedCoord<Value = f64>,
    XS::CoordDescType: ValueFormatter<f64>,
{
    let n_groups = chart.groups.len() as f64;
    let mut plot = ChartBuilder::on(plot_area)
        .margin(14)
        .x_label_area_size(58)
        .y_label_area_size(230)
        .build_cartesian_2d(x_spec, 0.0..n_groups)
        .map_err(plot_error)?;
    plot.configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc(&axis.label)
        .axis_desc_style((FONT, AXIS_DESC_SIZE))
        .label_style((FONT, TICK_SIZE))
        .x_label_formatter(&|v| format_tick(*v))
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(plot_error)?;
    let label_style =
        TextStyle::from((FONT, LEGEND_SIZE).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    let n_series = chart.series.len().max(1) as f64;
    for (index, group) in chart.groups.iter().enumerate() {
        let top = n_groups - index as f64;
        let band = 0.8 / n_series;
        for (series_index, value) in group.values.iter().enumerate() {
            let Some(value) = value.filter(|v| *v > 0.0) else { continue };
            let color = chart.series.get(series_index).map(|s| s.1).unwrap_or(BLACK);
            let y_high = top - 0.1 - band * series_index as f64;
            let y_low = y_high - band * 0.9;
            plot.draw_series(std::iter::once(Rectangle::new([(x0, y_low), (value, y_high)], color.filled())))
                .map_err(plot_error)?;
        }
        plot.draw_series(std::iter::once(
            EmptyElement::at((x0, top - 0.5)) + Text::new(group.label.clone(), (-8, 0), label_style.clone()),
        ))
        .map_err(plot_error)?;
    }
    Ok(())
}

/// Averages arenas into at most [`MAX_ARENA_COLUMNS`] columns.
pub fn bin_arenas(arenas: &[(f64, f64, f64)]) -> Vec<(f64, f64, f64)> {
    if arenas.len() <= MAX_ARENA_COLUMNS {
        return arenas.to_vec();
    }
    let per_bin = arenas.len().div_ceil(MAX_ARENA_COLUMNS);
    arenas
        .chunks(per_bin)
        .map(|chunk| {
            let n = chunk.len() as f64;
            let sum = chunk.iter().fold((0.0, 0.0, 0.0), |acc, a| (acc.0 + a.0, acc.1 + a.1, acc.2 + a.2));
            (sum.0 / n, sum.1 / n, sum.2 / n)
        })
        .collect()
}

fn draw_arena_chart<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &ArenaChart) -> Result<()> {
    let body = root.titled(&chart.title, (FONT, TITLE_SIZE)).map_err(plot_error)?;
    let (width, _) = body.dim_in_pixel();
    let (plots, legend) = body.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
    let entries = vec![
        ("full pools".to_owned(), LegendMark::Swatch(FULL_POOL_COLOR)),
        ("used pools (some blocks free)".to_owned(), LegendMark::Swatch(USED_POOL_COLOR)),
        ("empty pools".to_owned(), LegendMark::Swatch(EMPTY_POOL_COLOR)),
    ];
    draw_legend(&legend, &entries)?;
    let areas = plots.split_evenly((chart.panels.len().max(1), 1));
    for (panel, area) in chart.panels.iter().zip(&areas) {
        let columns = bin_arenas(&panel.arenas);
        if columns.is_empty() {
            draw_no_data(area, &panel.title)?;
            continue;
        }
        let per_column = panel.arenas.len().div_ceil(columns.len());
        let x_desc = if per_column > 1 {
            format!("arena, in address order (each column the mean of {per_column} arenas)")
        } else {
            "arena, in address order".to_owned()
        };
        let mut plot = ChartBuilder::on(area)
            .caption(&panel.title, (FONT, PANEL_TITLE_SIZE))
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(84)
            .build_cartesian_2d(0.0..columns.len() as f64, 0.0..panel.pools_per_arena.max(1.0))
            .map_err(plot_error)?;
        plot.configure_mesh()
            .disable_x_mesh()
            .x_desc(x_desc)
            .y_desc("pools")
            .axis_desc_style((FONT, AXIS_DESC_SIZE))
            .label_style((FONT, TICK_SIZE))
            .x_label_formatter(&|v| {
                if v.fract() == 0.0 { format_tick(*v * per_column as f64) } else { String::new() }
            })
            .y_label_formatter(&|v| format_tick(*v))
            .draw()
            .map_err(plot_error)?;
        let gap = if columns.len() > 100 { 0.0 } else { 0.12 };
        let bars = columns.iter().enumerate().flat_map(|(i, &(full, used, empty))| {
            let (left, right) = (i as f64 + gap, i as f64 + 1.0 - gap);
            [
                Rectangle::new([(left, 0.0), (right, full)], FULL_POOL_COLOR.filled()),
                Rectangle::new([(left, full), (right, full + used)], USED_POOL_COLOR.filled()),
                Rectangle::new(
                    [(left, full + used), (right, full + used + empty)],
                    EMPTY_POOL_COLOR.filled(),
                ),
            ]
        });
        plot.draw_series(bars).map_err(plot_error)?;
    }
    Ok(())
}

const HEAT_CELL_WIDTH: u32 = 30;
const HEAT_CELL_HEIGHT: u32 = 26;
const HEAT_ROW_LABELS: u32 = 230;
const HEAT_COLUMN_LABELS: u32 = 190;
const HEAT_PANEL_GAP: u32 = 40;
/// The narrowest a panel's slot gets, so that its title never runs into the next one's.
const HEAT_PANEL_MIN_WIDTH: u32 = 200;
const HEAT_SCALE_WIDTH: u32 = 200;
const HEAT_TOP: u32 = 60;
/// The colours of the diverging scale: below 1 (less time or memory), at 1, above 1.
const HEAT_LOW: RGBColor = RGBColor(33, 102, 172);
const HEAT_MID: RGBColor = RGBColor(247, 247, 247);
const HEAT_HIGH: RGBColor = RGBColor(178, 24, 43);
const HEAT_ABSENT: RGBColor = RGBColor(225, 225, 225);

/// The width a panel takes: its columns, or [`HEAT_PANEL_MIN_WIDTH`] when they are few.
fn heat_panel_slot(chart: &HeatmapChart) -> u32 {
    (chart.columns.len().max(1) as u32 * HEAT_CELL_WIDTH).max(HEAT_PANEL_MIN_WIDTH)
}

fn heatmap_size(chart: &HeatmapChart) -> (u32, u32) {
    let panels = chart.panels.len().max(1) as u32;
    let panel_width = heat_panel_slot(chart);
    let width = HEAT_ROW_LABELS + panels * panel_width + (panels - 1) * HEAT_PANEL_GAP + HEAT_SCALE_WIDTH;
    let height = HEAT_TOP + 40 + HEAT_COLUMN_LABELS + chart.rows.len().max(1) as u32 * HEAT_CELL_HEIGHT + 30;
    (width.max(900), height.max(420))
}

/// The colour of a ratio on the diverging log scale that saturates at `1 / span` and `span`.
pub fn heat_color(ratio: f64, span: f64) -> RGBColor {
    let t = (ratio.ln() / span.ln()).clamp(-1.0, 1.0);
    let (end, t) = if t < 0.0 { (HEAT_LOW, -t) } else { (HEAT_HIGH, t) };
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
    RGBColor(mix(HEAT_MID.0, end.0), mix(HEAT_MID.1, end.1), mix(HEAT_MID.2, end.2))
}

fn draw_heatmap<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &HeatmapChart) -> Result<()> {
    let title_style = TextStyle::from((FONT, TITLE_SIZE).into_font()).pos(Pos::new(HPos::Left, VPos::Top));
    root.draw_text(&chart.title, &title_style, (16, 12)).map_err(plot_error)?;
    let panel_width = chart.columns.len() as i32 * HEAT_CELL_WIDTH as i32;
    let slot = heat_panel_slot(chart) as i32;
    let (cw, ch) = (HEAT_CELL_WIDTH as i32, HEAT_CELL_HEIGHT as i32);
    let panel_title_y = HEAT_TOP as i32;
    let grid_top = panel_title_y + 40 + HEAT_COLUMN_LABELS as i32;
    let row_style = TextStyle::from((FONT, TICK_SIZE).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    for (r, label) in chart.rows.iter().enumerate() {
        let y = grid_top + r as i32 * ch + ch / 2;
        root.draw_text(&short_label(label, 26), &row_style, (HEAT_ROW_LABELS as i32 - 8, y))
            .map_err(plot_error)?;
    }
    let column_style = TextStyle::from((FONT, TICK_SIZE - 1).into_font().transform(FontTransform::Rotate270))
        .pos(Pos::new(HPos::Left, VPos::Center));
    let panel_title_style =
        TextStyle::from((FONT, PANEL_TITLE_SIZE).into_font()).pos(Pos::new(HPos::Left, VPos::Top));
    for (p, panel) in chart.panels.iter().enumerate() {
        let left = HEAT_ROW_LABELS as i32 + p as i32 * (slot + HEAT_PANEL_GAP as i32);
        root.draw_text(&panel.title, &panel_title_style, (left, panel_title_y)).map_err(plot_error)?;
        for (c, label) in chart.columns.iter().enumerate() {
            let x = left + c as i32 * cw + cw / 2;
            root.draw_text(&short_label(label, 24), &column_style, (x, grid_top - 6)).map_err(plot_error)?;
        }
        for (r, row) in panel.values.iter().enumerate() {
            for (c, value) in row.iter().enumerate() {
                let (x0, y0) = (left + c as i32 * cw, grid_top + r as i32 * ch);
                let color = value
                    .filter(|v| *v > 0.0 && v.is_finite())
                    .map_or(HEAT_ABSENT, |v| heat_color(v, chart.span));
                root.draw(&Rectangle::new([(x0, y0), (x0 + cw - 1, y0 + ch - 1)], color.filled()))
                    .map_err(plot_error)?;
                if panel.marked.get(r).and_then(|m| m.get(c)).copied().unwrap_or(false) {
                    root.draw(&Circle::new((x0 + cw / 2, y0 + ch / 2), 4, BLACK.filled()))
                        .map_err(plot_error)?;
                }
            }
        }
        let grid_bottom = grid_top + chart.rows.len() as i32 * ch;
        root.draw(&Rectangle::new(
            [(left, grid_top), (left + panel_width, grid_bottom)],
            shape_style(RGBColor(150, 150, 150), 1),
        ))
        .map_err(plot_error)?;
    }
    // The colour scale: a vertical bar from 1/span (bottom) to span (top), with ticks.
    let scale_left = HEAT_ROW_LABELS as i32
        + chart.panels.len() as i32 * slot
        + (chart.panels.len() as i32 - 1).max(0) * HEAT_PANEL_GAP as i32
        + 40;
    let (bar_top, bar_height, bar_width) = (grid_top, 240i32, 24i32);
    for i in 0..bar_height {
        let t = 1.0 - 2.0 * f64::from(i) / f64::from(bar_height - 1);
        let color = heat_color(chart.span.powf(t), chart.span);
        root.draw(&Rectangle::new(
            [(scale_left, bar_top + i), (scale_left + bar_width, bar_top + i + 1)],
            color.filled(),
        ))
        .map_err(plot_error)?;
    }
    let tick_style = TextStyle::from((FONT, TICK_SIZE).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let steps = 4;
    for k in -steps..=steps {
        let t = f64::from(k) / f64::from(steps);
        let y = bar_top + ((1.0 - t) / 2.0 * f64::from(bar_height - 1)).round() as i32;
        let value = chart.span.powf(t);
        root.draw(&PathElement::new(
            vec![(scale_left + bar_width, y), (scale_left + bar_width + 5, y)],
            shape_style(BLACK, 1),
        ))
        .map_err(plot_error)?;
        root.draw_text(&format!("{}x", format_tick(value)), &tick_style, (scale_left + bar_width + 8, y))
            .map_err(plot_error)?;
    }
    let note_style = TextStyle::from((FONT, TICK_SIZE - 2).into_font()).pos(Pos::new(HPos::Left, VPos::Top));
    let below = bar_top + bar_height + 16;
    root.draw(&Circle::new((scale_left + 8, below + 8), 4, BLACK.filled())).map_err(plot_error)?;
    root.draw_text(&chart.mark_label, &note_style, (scale_left + 20, below)).map_err(plot_error)?;
    root.draw(&Rectangle::new(
        [(scale_left, below + 26), (scale_left + 16, below + 42)],
        HEAT_ABSENT.filled(),
    ))
    .map_err(plot_error)?;
    root.draw_text("did not run", &note_style, (scale_left + 20, below + 26)).map_err(plot_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_colours_are_kept_exactly_and_many_are_mapped_to_the_nearest() {
        let pixels = [255, 255, 255, 0, 0, 0, 255, 255, 255];
        let (palette, indices) = quantize(&pixels);
        assert_eq!(palette, [[255, 255, 255], [0, 0, 0]]);
        assert_eq!(indices, [0, 1, 0]);
        let mut many = Vec::new();
        for i in 0..300u32 {
            many.extend_from_slice(&[(i % 256) as u8, (i / 256) as u8, 7]);
            many.extend_from_slice(&[(i % 256) as u8, (i / 256) as u8, 7]);
        }
        many.extend_from_slice(&[10, 0, 8]);
        let (palette, indices) = quantize(&many);
        assert_eq!(palette.len(), 256);
        let last = palette[usize::from(*indices.last().unwrap())];
        assert_eq!(last, [10, 0, 7], "the nearest kept colour");
    }

    #[test]
    fn the_heat_scale_diverges_around_one() {
        assert_eq!(heat_color(1.0, 8.0), HEAT_MID);
        assert_eq!(heat_color(8.0, 8.0), HEAT_HIGH);
        assert_eq!(heat_color(100.0, 8.0), HEAT_HIGH);
        assert_eq!(heat_color(0.125, 8.0), HEAT_LOW);
        let (half_up, half_down) = (heat_color(8f64.sqrt(), 8.0), heat_color(1.0 / 8f64.sqrt(), 8.0));
        assert!(half_up.0 > half_up.2 && half_down.2 > half_down.0);
    }

    #[test]
    fn tick_labels_are_compact() {
        let check = |value: f64, expected: &str| assert_eq!(format_tick(value), expected, "{value}");
        check(0.0, "0");
        check(1.0, "1");
        check(2.5, "2.5");
        check(0.05, "0.05");
        check(0.0123, "0.0123");
        check(150.0, "150");
        check(2000.0, "2k");
        check(12_500.0, "12.5k");
        check(3_000_000.0, "3M");
        check(1.5e9, "1.5G");
    }

    #[test]
    fn arenas_are_binned_to_a_drawable_count() {
        let many: Vec<(f64, f64, f64)> =
            (0..800).map(|i| if i % 2 == 0 { (64.0, 0.0, 0.0) } else { (0.0, 0.0, 64.0) }).collect();
        let binned = bin_arenas(&many);
        assert!(binned.len() <= MAX_ARENA_COLUMNS);
        assert_eq!(binned[0], (32.0, 0.0, 32.0));
        let few = vec![(1.0, 2.0, 3.0)];
        assert_eq!(bin_arenas(&few), few);
    }

    #[test]
    fn a_chart_renders_as_svg_and_png_with_text() {
        let dir = tempfile::tempdir().unwrap();
        let style = LineStyle { color: RGBColor(31, 119, 180), marker: Marker::Triangle, dash: Dash::Solid };
        let line = Line {
            label: "cycle+pymalloc".into(),
            style,
            points: vec![(10.0, 1e6), (100.0, 2e6)],
            show_markers: true,
            whiskers: vec![(10.0, 0.9e6, 1.1e6)],
            events: vec![],
        };
        let chart = Chart::Lines(LinesChart {
            title: "a title".into(),
            panels: vec![Panel {
                title: "panel".into(),
                x: Axis::log("size"),
                y: Axis::log("ops/s"),
                lines: vec![line],
            }],
            columns: 1,
            span_rows: vec![],
            size: (800, 500),
        });
        save(&chart, dir.path(), "example").unwrap();
        let svg = std::fs::read_to_string(dir.path().join("example.svg")).unwrap();
        assert!(svg.contains("a title") && svg.contains("cycle+pymalloc"), "the SVG carries its text");
        let png = std::fs::read(dir.path().join("example.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
}
