//! Pure analysis of records: cells, their summaries, and the ratio table
//! against CPython's configuration. Nothing here reads or writes files.

use std::collections::BTreeMap;

use heaplab_core::{Record, Status};

use super::stats::{
    Spread, Verdict, bootstrap_ratio_ci, compare_samples, geometric_mean, is_unstable, median, relative_mad,
    relative_range, seed_of,
};

/// The strategy that models CPython: the baseline of the ratio table.
pub const CPYTHON_BASELINE: &str = "cycle+pymalloc";
/// The baseline when `cycle+pymalloc` did not run.
pub const FALLBACK_BASELINE: &str = "refcount+pymalloc";
/// The baseline of allocator workloads: CPython's allocator alone.
pub const ALLOCATOR_BASELINE: &str = "pymalloc";

/// One cell of the matrix: a strategy on a workload at a size and a thread count.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    /// The workload.
    pub workload: String,
    /// The strategy.
    pub strategy: String,
    /// The workload's size.
    pub size: u64,
    /// Threads used.
    pub threads: u32,
}

impl CellKey {
    /// The key of the cell a record belongs to.
    pub fn of(record: &Record) -> CellKey {
        CellKey {
            workload: record.workload.clone(),
            strategy: record.strategy.clone(),
            size: record.size,
            threads: record.threads,
        }
    }
}

/// The runs of one cell.
#[derive(Clone, Debug)]
pub struct Cell<'a> {
    /// Which cell.
    pub key: CellKey,
    /// The collector (empty for allocator workloads).
    pub collector: String,
    /// The allocator.
    pub allocator: String,
    /// Runs that finished.
    pub ok: Vec<&'a Record>,
    /// Runs that crashed, ran out of memory or time, or failed.
    pub failed: Vec<&'a Record>,
    /// Each successful run's round drift, in the order of `ok`: how much slower than usual its
    /// group's other strategies ran in the same round ([`round_drifts`]); `None` where not measured.
    pub drift: Vec<Option<f64>>,
}

impl Cell<'_> {
    /// The values of `figure` over the cell's successful runs (where present), wall time and
    /// throughput steadied by each run's round drift ([`Figure::steadied`]).
    pub fn values(&self, figure: Figure) -> Vec<f64> {
        self.ok
            .iter()
            .zip(&self.drift)
            .filter_map(|(record, &drift)| Some(figure.steadied(figure.value(record)?, drift.unwrap_or(1.0))))
            .collect()
    }

    /// The values of `figure` as the runs measured them, no drift taken out.
    pub fn raw_values(&self, figure: Figure) -> Vec<f64> {
        self.ok.iter().filter_map(|record| figure.value(record)).collect()
    }

    /// Whether the wall times as measured (no drift taken out) spread beyond the threshold.
    pub fn unstable_as_measured(&self) -> bool {
        is_unstable(&self.raw_values(Figure::WallNs))
    }

    /// The median of `figure` over the successful runs.
    pub fn median(&self, figure: Figure) -> Option<f64> {
        median(&self.values(figure))
    }

    /// Whether the cell's wall times spread beyond the threshold (MAD / median above [`super::stats::UNSTABLE_THRESHOLD`]).
    pub fn unstable(&self) -> bool {
        self.unstable_in(Figure::WallNs)
    }

    /// Whether `figure` spreads beyond the threshold over the cell's runs: a ratio of peak RSS is
    /// as sure as the peak RSS is steady, whatever the wall time did.
    pub fn unstable_in(&self, figure: Figure) -> bool {
        is_unstable(&self.values(figure))
    }

    /// MAD / median of wall time.
    pub fn wall_relative_mad(&self) -> Option<f64> {
        relative_mad(&self.values(Figure::WallNs))
    }

    /// (max − min) / median of wall time.
    pub fn wall_relative_range(&self) -> Option<f64> {
        relative_range(&self.values(Figure::WallNs))
    }

    /// The cell as a short text, for seeds and lists.
    pub fn label(&self) -> String {
        format!(
            "{} {} size={} threads={}",
            self.key.strategy, self.key.workload, self.key.size, self.key.threads
        )
    }
}

/// The bootstrap interval of `median(first) / median(second)` for `figure`, seeded by the two cells and the figure.
pub fn ratio_ci(first: &Cell<'_>, second: &Cell<'_>, figure: Figure) -> Option<(f64, f64)> {
    let seed = seed_of(&format!("{} / {} / {}", first.label(), second.label(), figure.name()));
    bootstrap_ratio_ci(&first.values(figure), &second.values(figure), seed)
}

/// Fewer of a group's other strategies than this in a round, and the round's drift is not measured.
pub const DRIFT_PEERS: usize = 3;

/// The round of a run within its group: workload, size, threads, invocation and repetition.
/// A sweep runs every cell once a round, a group's strategies one after another, so the runs of
/// one round met the machine in the same state. `None` for a run that names no invocation (the
/// unit tests', or results older than invocation ids), whose round is not known.
type RoundKey = (String, u64, u32, String, u32);

fn round_of(record: &Record) -> Option<RoundKey> {
    let invocation = heaplab_core::record::param(&record.params, "invocation").filter(|id| !id.is_empty())?;
    Some((record.workload.clone(), record.size, record.threads, invocation.to_owned(), record.rep))
}

/// Sets every cell's `drift`. A run's round drift is the median, over the other strategies of its
/// group that ran in the same round, of their run's wall time over their own median wall time —
/// 1.3 where the machine ran the whole group 30% slower that round than in their typical round.
/// Dividing a run's wall time by it takes out what the machine did to every strategy alike and
/// keeps what it did to this one alone, so a cell's spread is its own. Where fewer than
/// [`DRIFT_PEERS`] other strategies (each with two successful runs, so that it has a typical
/// round) ran in the round, or the round is not known, the drift is not measured (`None`) and
/// the run stands as measured.
pub fn round_drifts(cells: &mut BTreeMap<CellKey, Cell<'_>>) {
    let mut rounds: BTreeMap<RoundKey, Vec<(&str, f64)>> = BTreeMap::new();
    for cell in cells.values() {
        if cell.ok.len() < 2 {
            continue;
        }
        let walls = cell.raw_values(Figure::WallNs);
        let Some(typical) = median(&walls).filter(|m| *m > 0.0) else { continue };
        for record in &cell.ok {
            let (Some(round), Some(wall)) = (round_of(record), Figure::WallNs.value(record)) else {
                continue;
            };
            rounds.entry(round).or_default().push((cell.key.strategy.as_str(), wall / typical));
        }
    }
    let drifts: BTreeMap<CellKey, Vec<Option<f64>>> = cells
        .iter()
        .map(|(key, cell)| {
            let drift = cell
                .ok
                .iter()
                .map(|record| {
                    let peers: Vec<f64> = round_of(record)
                        .and_then(|round| rounds.get(&round))
                        .map(|runs| {
                            runs.iter().filter(|(s, _)| *s != key.strategy).map(|(_, r)| *r).collect()
                        })
                        .unwrap_or_default();
                    if peers.len() < DRIFT_PEERS {
                        return None;
                    }
                    median(&peers).filter(|d| d.is_finite() && *d > 0.0)
                })
                .collect();
            (key.clone(), drift)
        })
        .collect();
    for (key, drift) in drifts {
        if let Some(cell) = cells.get_mut(&key) {
            cell.drift = drift;
        }
    }
}

/// Groups records into cells, ordered by workload, strategy, threads and size, each run's round
/// drift measured ([`round_drifts`]).
pub fn cells(records: &[Record]) -> BTreeMap<CellKey, Cell<'_>> {
    let mut cells: BTreeMap<CellKey, Cell<'_>> = BTreeMap::new();
    for record in records {
        let key = CellKey::of(record);
        let cell = cells.entry(key.clone()).or_insert_with(|| Cell {
            key,
            collector: record.collector.clone(),
            allocator: record.allocator.clone(),
            ok: Vec::new(),
            failed: Vec::new(),
            drift: Vec::new(),
        });
        if record.status == Status::Ok {
            cell.ok.push(record);
            cell.drift.push(None);
        } else {
            cell.failed.push(record);
        }
    }
    round_drifts(&mut cells);
    cells
}

/// A numeric figure of a run, as summarised in `summary.csv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Figure {
    /// Wall-clock time.
    WallNs,
    /// Operations per second.
    OpsPerS,
    /// Peak RSS.
    PeakRssBytes,
    /// Peak live bytes.
    PeakLiveBytes,
    /// Bytes allocated in total.
    AllocatedBytes,
    /// Bytes leaked at teardown.
    LeakedBytes,
    /// Collections of every generation.
    Collections,
    /// Sum of the pauses.
    PauseTotalNs,
    /// The longest pause.
    PauseMaxNs,
    /// The 99th-percentile pause.
    PauseP99Ns,
    /// User CPU time.
    UserNs,
    /// System CPU time.
    SysNs,
    /// Minor page faults.
    MinorFaults,
    /// RSS at the end.
    EndRssBytes,
    /// Live bytes at the end.
    EndLiveBytes,
}

impl Figure {
    /// Every figure, in the order of `summary.csv`.
    pub const ALL: [Figure; 15] = [
        Figure::WallNs,
        Figure::OpsPerS,
        Figure::PeakRssBytes,
        Figure::PeakLiveBytes,
        Figure::AllocatedBytes,
        Figure::LeakedBytes,
        Figure::Collections,
        Figure::PauseTotalNs,
        Figure::PauseMaxNs,
        Figure::PauseP99Ns,
        Figure::UserNs,
        Figure::SysNs,
        Figure::MinorFaults,
        Figure::EndRssBytes,
        Figure::EndLiveBytes,
    ];

    /// The column name in `runs.csv`.
    pub fn name(self) -> &'static str {
        match self {
            Figure::WallNs => "wall_ns",
            Figure::OpsPerS => "ops_per_s",
            Figure::PeakRssBytes => "peak_rss_bytes",
            Figure::PeakLiveBytes => "peak_live_bytes",
            Figure::AllocatedBytes => "allocated_bytes",
            Figure::LeakedBytes => "leaked_bytes",
            Figure::Collections => "collections",
            Figure::PauseTotalNs => "pause_total_ns",
            Figure::PauseMaxNs => "pause_max_ns",
            Figure::PauseP99Ns => "pause_p99_ns",
            Figure::UserNs => "user_ns",
            Figure::SysNs => "sys_ns",
            Figure::MinorFaults => "minor_faults",
            Figure::EndRssBytes => "end_rss_bytes",
            Figure::EndLiveBytes => "end_live_bytes",
        }
    }

    /// `value` of this figure in a run with round drift `drift` (see [`round_drifts`]), the
    /// drift taken out: wall time divided by it, throughput multiplied; the other figures are not
    /// speeds and stand as measured.
    pub fn steadied(self, value: f64, drift: f64) -> f64 {
        match self {
            Figure::WallNs => value / drift,
            Figure::OpsPerS => value * drift,
            _ => value,
        }
    }

    /// The figure in one run, where recorded.
    pub fn value(self, record: &Record) -> Option<f64> {
        let integer = match self {
            Figure::OpsPerS => return record.ops_per_s,
            Figure::WallNs => record.wall_ns,
            Figure::PeakRssBytes => record.peak_rss_bytes,
            Figure::PeakLiveBytes => record.peak_live_bytes,
            Figure::AllocatedBytes => record.allocated_bytes,
            Figure::LeakedBytes => record.leaked_bytes,
            Figure::Collections => record.collections,
            Figure::PauseTotalNs => record.pause_total_ns,
            Figure::PauseMaxNs => record.pause_max_ns,
            Figure::PauseP99Ns => record.pause_p99_ns,
            Figure::UserNs => record.user_ns,
            Figure::SysNs => record.sys_ns,
            Figure::MinorFaults => record.minor_faults,
            Figure::EndRssBytes => record.end_rss_bytes,
            Figure::EndLiveBytes => record.end_live_bytes,
        };
        integer.map(|value| value as f64)
    }
}

/// One row of `summary.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRow {
    /// Which cell.
    pub key: CellKey,
    /// The collector.
    pub collector: String,
    /// The allocator.
    pub allocator: String,
    /// Successful runs.
    pub n_ok: usize,
    /// Failed runs.
    pub n_failed: usize,
    /// The spread of each figure of [`Figure::ALL`], in that order.
    pub spreads: Vec<Option<Spread>>,
    /// Wall time's MAD / median.
    pub wall_relative_mad: Option<f64>,
    /// Wall time's (max − min) / median.
    pub wall_relative_range: Option<f64>,
    /// Whether the cell is unstable.
    pub unstable: bool,
}

/// The summary of every cell, in presentation order.
pub fn summarise(cells: &BTreeMap<CellKey, Cell<'_>>) -> Vec<SummaryRow> {
    ordered_cells(cells)
        .into_iter()
        .map(|cell| SummaryRow {
            key: cell.key.clone(),
            collector: cell.collector.clone(),
            allocator: cell.allocator.clone(),
            n_ok: cell.ok.len(),
            n_failed: cell.failed.len(),
            spreads: Figure::ALL.iter().map(|figure| Spread::of(&cell.values(*figure))).collect(),
            wall_relative_mad: cell.wall_relative_mad(),
            wall_relative_range: cell.wall_relative_range(),
            unstable: cell.unstable(),
        })
        .collect()
}

/// Writes summary rows as CSV: the cell, `n`, `failed`, then median, MAD, min and max of every figure,
/// then wall time's spread (`wall_mad_over_median`, `wall_range_over_median`) and `unstable`.
pub fn summary_csv(rows: &[SummaryRow]) -> String {
    let mut header: Vec<String> =
        ["strategy", "collector", "allocator", "workload", "size", "threads", "n", "failed"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    for figure in Figure::ALL {
        for statistic in ["median", "mad", "min", "max"] {
            header.push(format!("{}_{statistic}", figure.name()));
        }
    }
    header.extend(["wall_mad_over_median", "wall_range_over_median", "unstable"].map(String::from));
    let mut out = header.join(",");
    out.push('\n');
    for row in rows {
        let mut fields = vec![
            csv_field(&row.key.strategy),
            csv_field(&row.collector),
            csv_field(&row.allocator),
            csv_field(&row.key.workload),
            row.key.size.to_string(),
            row.key.threads.to_string(),
            row.n_ok.to_string(),
            row.n_failed.to_string(),
        ];
        for spread in &row.spreads {
            match spread {
                Some(s) => fields.extend([s.median, s.mad, s.min, s.max].map(|v| v.to_string())),
                None => fields.extend(std::iter::repeat_n(String::new(), 4)),
            }
        }
        let optional = |value: Option<f64>| value.map(|v| v.to_string()).unwrap_or_default();
        fields.push(optional(row.wall_relative_mad));
        fields.push(optional(row.wall_relative_range));
        fields.push(row.unstable.to_string());
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// Where a collector stands in presentation order.
fn collector_rank(collector: &str) -> usize {
    ["refcount", "cycle", "marksweep", ""].iter().position(|c| *c == collector).unwrap_or(4)
}

/// Where an allocator stands in presentation order.
fn allocator_rank(allocator: &str) -> usize {
    ["pymalloc", "system", "mimalloc", "jemalloc", "bump", "cpython"]
        .iter()
        .position(|a| *a == allocator)
        .unwrap_or(6)
}

/// The sort key of a strategy: collectors in the order refcount, cycle,
/// marksweep; allocators in the order pymalloc, system, mimalloc, jemalloc, bump, cpython.
pub fn strategy_order(strategy: &str) -> (usize, usize, String) {
    let (collector, allocator) = split_strategy(strategy);
    (collector_rank(collector), allocator_rank(allocator), natural_key(strategy))
}

/// `name` with every run of digits padded to six, so that text order is number order
/// (`cycle@3.8` before `cycle@3.10`).
fn natural_key(name: &str) -> String {
    let mut key = String::with_capacity(name.len() + 16);
    let mut digits = String::new();
    for c in name.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if !digits.is_empty() {
            key.push_str(&format!("{digits:0>6}"));
            digits.clear();
        }
        if c != '\0' {
            key.push(c);
        }
    }
    key
}

/// `collector+allocator` into its two parts; an allocator alone has an empty collector.
pub fn split_strategy(strategy: &str) -> (&str, &str) {
    strategy.split_once('+').unwrap_or(("", strategy))
}

/// The cells in presentation order: by workload, strategy (collector, then allocator), threads, size.
pub fn ordered_cells<'c, 'a>(cells: &'c BTreeMap<CellKey, Cell<'a>>) -> Vec<&'c Cell<'a>> {
    let mut ordered: Vec<&Cell<'a>> = cells.values().collect();
    ordered.sort_by_key(|cell| {
        (cell.key.workload.clone(), strategy_order(&cell.key.strategy), cell.key.threads, cell.key.size)
    });
    ordered
}

/// Whether every cell has at most one successful run (a sweep with `--repeat 1`):
/// then nothing can be tested against the noise, and the report says so once.
pub fn single_runs(cells: &BTreeMap<CellKey, Cell<'_>>) -> bool {
    cells.values().all(|cell| cell.ok.len() <= 1)
}

/// The workloads present, sorted.
pub fn workloads(cells: &BTreeMap<CellKey, Cell<'_>>) -> Vec<String> {
    let mut names: Vec<String> = cells.keys().map(|k| k.workload.clone()).collect();
    names.dedup();
    names
}

/// The strategies that ran `workload`, in presentation order.
pub fn strategies_of(cells: &BTreeMap<CellKey, Cell<'_>>, workload: &str) -> Vec<String> {
    let mut names: Vec<String> =
        cells.keys().filter(|k| k.workload == workload).map(|k| k.strategy.clone()).collect();
    names.sort_by_key(|name| strategy_order(name));
    names.dedup();
    names
}

/// Whether a workload ran on allocators alone (its records have no collector).
pub fn is_allocator_workload(cells: &BTreeMap<CellKey, Cell<'_>>, workload: &str) -> bool {
    cells.values().filter(|c| c.key.workload == workload).all(|c| c.collector.is_empty())
}

/// The baseline a workload is compared against: `cycle+pymalloc`, else
/// `refcount+pymalloc`, for heap workloads; `pymalloc` for allocator workloads.
/// Only a strategy with at least one successful run counts.
pub fn baseline_for(cells: &BTreeMap<CellKey, Cell<'_>>, workload: &str) -> Option<&'static str> {
    let ran = |strategy: &str| {
        cells.values().any(|c| c.key.workload == workload && c.key.strategy == strategy && !c.ok.is_empty())
    };
    let candidates: &[&'static str] = if is_allocator_workload(cells, workload) {
        &[ALLOCATOR_BASELINE]
    } else {
        &[CPYTHON_BASELINE, FALLBACK_BASELINE]
    };
    candidates.iter().copied().find(|candidate| ran(candidate))
}

/// The cell of a strategy on a workload, where it has successful runs.
pub fn ok_cell<'c, 'a>(
    cells: &'c BTreeMap<CellKey, Cell<'a>>,
    workload: &str,
    strategy: &str,
    size: u64,
    threads: u32,
) -> Option<&'c Cell<'a>> {
    let key = CellKey { workload: workload.to_owned(), strategy: strategy.to_owned(), size, threads };
    cells.get(&key).filter(|c| !c.ok.is_empty())
}

/// The smallest thread count `workload` ran with.
pub fn base_threads(cells: &BTreeMap<CellKey, Cell<'_>>, workload: &str) -> Option<u32> {
    cells.keys().filter(|k| k.workload == workload).map(|k| k.threads).min()
}

/// The largest size at `threads` where every one of `strategies` ran `workload` successfully.
pub fn largest_common_size(
    cells: &BTreeMap<CellKey, Cell<'_>>,
    workload: &str,
    strategies: &[&str],
    threads: u32,
) -> Option<u64> {
    cells
        .values()
        .filter(|c| c.key.workload == workload && c.key.threads == threads)
        .map(|c| c.key.size)
        .filter(|&size| strategies.iter().all(|s| ok_cell(cells, workload, s, size, threads).is_some()))
        .max()
}

/// The ratio of one figure's medians, with the verdict of the test across repetitions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ratio {
    /// Median of the strategy over median of the baseline.
    pub value: f64,
    /// Whether the repetitions' spread covers the difference.
    pub verdict: Verdict,
    /// The 95% bootstrap interval of the ratio (none with a single run on a side).
    pub ci: Option<(f64, f64)>,
    /// Whether either cell is unstable.
    pub unstable: bool,
}

impl Ratio {
    /// The figure for a table cell.
    pub fn cell(&self) -> String {
        super::format::ratio_cell(self.value, self.ci, self.verdict, self.unstable)
    }

    /// The ratio of `figure`'s medians in `cell` over `baseline`; `None` where either lacks it.
    pub fn between(cell: &Cell<'_>, baseline: &Cell<'_>, figure: Figure) -> Option<Ratio> {
        let values = cell.values(figure);
        let baseline_values = baseline.values(figure);
        let numerator = median(&values)?;
        let denominator = median(&baseline_values)?;
        if denominator <= 0.0 {
            return None;
        }
        Some(Ratio {
            value: numerator / denominator,
            verdict: compare_samples(&values, &baseline_values),
            ci: ratio_ci(cell, baseline, figure),
            unstable: cell.unstable_in(figure) || baseline.unstable_in(figure),
        })
    }
}

/// One figure of two cells side by side: both medians, their ratio, and the verdict.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Compared {
    /// The first cell's median.
    pub first: f64,
    /// The second cell's median.
    pub second: f64,
    /// `first / second`.
    pub ratio: f64,
    /// Whether the repetitions' spread covers the difference.
    pub verdict: Verdict,
    /// The 95% bootstrap interval of the ratio (none with a single run on a side).
    pub ci: Option<(f64, f64)>,
    /// Whether either cell is unstable in this figure.
    pub unstable: bool,
}

impl Compared {
    /// The note a sentence adds after this figure: interval, verdict with its method, **unstable**.
    pub fn note(&self) -> String {
        super::format::compared_note(self.ci, self.verdict, self.unstable)
    }

    /// The figure for a table cell.
    pub fn cell(&self) -> String {
        super::format::ratio_cell(self.ratio, self.ci, self.verdict, self.unstable)
    }

    /// `figure` in `first` against `second`; `None` where either lacks it or the second's median is not positive.
    pub fn of(first: &Cell<'_>, second: &Cell<'_>, figure: Figure) -> Option<Compared> {
        let (values_first, values_second) = (first.values(figure), second.values(figure));
        let (median_first, median_second) = (median(&values_first)?, median(&values_second)?);
        if median_second <= 0.0 {
            return None;
        }
        Some(Compared {
            first: median_first,
            second: median_second,
            ratio: median_first / median_second,
            verdict: compare_samples(&values_first, &values_second),
            ci: ratio_ci(first, second, figure),
            unstable: first.unstable_in(figure) || second.unstable_in(figure),
        })
    }
}

/// One row of the ratio table: a strategy on a workload at a size against the baseline.
#[derive(Clone, Debug, PartialEq)]
pub struct RatioRow {
    /// The cell.
    pub key: CellKey,
    /// The baseline it is compared against (same workload, size and threads).
    pub baseline: &'static str,
    /// Throughput (ops/s) over the baseline's.
    pub throughput: Option<Ratio>,
    /// Peak RSS over the baseline's.
    pub peak_rss: Option<Ratio>,
}

/// The ratio table: every cell with successful runs against its workload's
/// baseline at the same size and threads, the baseline's own rows left out.
pub fn ratio_rows(cells: &BTreeMap<CellKey, Cell<'_>>) -> Vec<RatioRow> {
    let mut rows = Vec::new();
    for workload in workloads(cells) {
        let Some(baseline) = baseline_for(cells, &workload) else { continue };
        for cell in ordered_cells(cells) {
            if cell.key.workload != workload || cell.key.strategy == baseline || cell.ok.is_empty() {
                continue;
            }
            let baseline_key = CellKey { strategy: baseline.to_owned(), ..cell.key.clone() };
            let Some(baseline_cell) = cells.get(&baseline_key) else { continue };
            rows.push(RatioRow {
                key: cell.key.clone(),
                baseline,
                throughput: Ratio::between(cell, baseline_cell, Figure::OpsPerS),
                peak_rss: Ratio::between(cell, baseline_cell, Figure::PeakRssBytes),
            });
        }
    }
    rows
}

/// The geometric mean of a strategy's ratios over every workload and size.
#[derive(Clone, Debug, PartialEq)]
pub struct GeometricMeanRow {
    /// The strategy.
    pub strategy: String,
    /// The baseline its ratios are against.
    pub baseline: &'static str,
    /// Geometric mean of the throughput ratios.
    pub throughput: Option<f64>,
    /// Geometric mean of the peak RSS ratios.
    pub peak_rss: Option<f64>,
    /// How many cells went into the means.
    pub n_cells: usize,
}

/// The geometric means of the ratio table, per strategy and baseline, in presentation order.
pub fn geometric_means(rows: &[RatioRow]) -> Vec<GeometricMeanRow> {
    let mut grouped: BTreeMap<(&'static str, String), Vec<&RatioRow>> = BTreeMap::new();
    for row in rows {
        grouped.entry((row.baseline, row.key.strategy.clone())).or_default().push(row);
    }
    let mut means: Vec<GeometricMeanRow> = grouped
        .into_iter()
        .map(|((baseline, strategy), rows)| {
            let throughput: Vec<f64> = rows.iter().filter_map(|r| r.throughput.map(|t| t.value)).collect();
            let peak_rss: Vec<f64> = rows.iter().filter_map(|r| r.peak_rss.map(|t| t.value)).collect();
            GeometricMeanRow {
                strategy,
                baseline,
                throughput: geometric_mean(&throughput),
                peak_rss: geometric_mean(&peak_rss),
                n_cells: rows.len(),
            }
        })
        .collect();
    means.sort_by_key(|row| strategy_order(&row.strategy));
    means
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A successful run with the figures the analysis looks at.
    pub(crate) fn run(strategy: &str, workload: &str, size: u64, wall_ns: u64, peak_rss: u64) -> Record {
        let (collector, allocator) = split_strategy(strategy);
        let ops = 1_000_000;
        Record {
            strategy: strategy.to_owned(),
            collector: collector.to_owned(),
            allocator: allocator.to_owned(),
            workload: workload.to_owned(),
            size,
            threads: 1,
            seed: 42,
            rep: 0,
            status: Status::Ok,
            checksum: Some("0123456789abcdef".into()),
            wall_ns: Some(wall_ns),
            user_ns: Some(wall_ns),
            sys_ns: Some(0),
            ops: Some(ops),
            ops_per_s: Some(ops as f64 * 1e9 / wall_ns as f64),
            peak_rss_bytes: Some(peak_rss),
            end_rss_bytes: Some(peak_rss / 2),
            peak_live_bytes: Some(peak_rss / 4),
            end_live_bytes: Some(0),
            allocated_bytes: Some(peak_rss),
            leaked_bytes: Some(0),
            collections: Some(0),
            pause_total_ns: Some(0),
            pause_max_ns: Some(0),
            pause_p99_ns: Some(0),
            minor_faults: Some(10),
            params: String::new(),
        }
    }

    fn failed(strategy: &str, workload: &str, size: u64) -> Record {
        let mut record = run(strategy, workload, size, 1, 1);
        record.status = Status::Crashed;
        record.wall_ns = None;
        record.ops_per_s = None;
        record.peak_rss_bytes = None;
        record
    }

    #[test]
    fn a_ratio_is_unstable_by_the_spread_of_its_own_figure() {
        // Wall times spread 25% (MAD over median); peak RSS steady to the byte.
        let mut records = Vec::new();
        for (i, wall) in [100u64, 130, 70, 100, 125, 75].into_iter().enumerate() {
            records.push(run("cycle+system", "churn", 10, wall * 1000, 2000));
            records.push(run("cycle+pymalloc", "churn", 10, 100_000 + i as u64, 1000));
        }
        let cells = cells(&records);
        let key = |strategy: &str| CellKey {
            workload: "churn".into(),
            strategy: strategy.into(),
            size: 10,
            threads: 1,
        };
        let (noisy, steady) = (&cells[&key("cycle+system")], &cells[&key("cycle+pymalloc")]);
        assert!(
            noisy.unstable() && noisy.unstable_in(Figure::WallNs) && !noisy.unstable_in(Figure::PeakRssBytes)
        );
        assert!(Ratio::between(noisy, steady, Figure::WallNs).unwrap().unstable);
        let rss = Ratio::between(noisy, steady, Figure::PeakRssBytes).unwrap();
        assert_eq!((rss.value, rss.unstable), (2.0, false));
        assert!(Compared::of(noisy, steady, Figure::WallNs).unwrap().unstable);
        assert!(!Compared::of(noisy, steady, Figure::PeakRssBytes).unwrap().unstable);
    }

    #[test]
    fn cells_split_ok_from_failed_runs() {
        let records = vec![
            run("cycle+pymalloc", "churn", 10, 100, 1000),
            run("cycle+pymalloc", "churn", 10, 300, 3000),
            failed("cycle+pymalloc", "churn", 10),
            run("cycle+pymalloc", "churn", 20, 100, 1000),
        ];
        let cells = cells(&records);
        assert_eq!(cells.len(), 2);
        let cell = &cells
            [&CellKey { workload: "churn".into(), strategy: "cycle+pymalloc".into(), size: 10, threads: 1 }];
        assert_eq!((cell.ok.len(), cell.failed.len()), (2, 1));
        assert_eq!(cell.median(Figure::WallNs), Some(200.0));
        assert_eq!(cell.median(Figure::PeakRssBytes), Some(2000.0));
    }

    #[test]
    fn summary_has_four_columns_per_figure_and_empty_fields_for_failed_cells() {
        let records = vec![
            run("refcount+pymalloc", "churn", 10, 100, 1000),
            run("refcount+pymalloc", "churn", 10, 200, 1000),
            run("refcount+pymalloc", "churn", 10, 600, 1000),
            failed("marksweep+bump", "churn", 10),
        ];
        let cells = cells(&records);
        let csv = summary_csv(&summarise(&cells));
        let lines: Vec<&str> = csv.lines().collect();
        let header: Vec<&str> = lines[0].split(',').collect();
        assert_eq!(header.len(), 8 + 4 * Figure::ALL.len() + 3);
        assert_eq!(
            header[header.len() - 3..],
            ["wall_mad_over_median", "wall_range_over_median", "unstable"]
        );
        // 100, 200, 600: MAD 100 over median 200.
        assert!(lines[1].ends_with(",0.5,2.5,true"), "{}", lines[1]);
        assert_eq!(
            &header[..8],
            ["strategy", "collector", "allocator", "workload", "size", "threads", "n", "failed"]
        );
        assert_eq!(&header[8..12], ["wall_ns_median", "wall_ns_mad", "wall_ns_min", "wall_ns_max"]);
        // refcount sorts before marksweep.
        let refcount: Vec<&str> = lines[1].split(',').collect();
        assert_eq!(
            &refcount[..12],
            [
                "refcount+pymalloc",
                "refcount",
                "pymalloc",
                "churn",
                "10",
                "1",
                "3",
                "0",
                "200",
                "100",
                "100",
                "600"
            ]
        );
        let marksweep: Vec<&str> = lines[2].split(',').collect();
        assert_eq!(
            &marksweep[..9],
            ["marksweep+bump", "marksweep", "bump", "churn", "10", "1", "0", "1", ""]
        );
    }

    #[test]
    fn strategies_sort_by_collector_then_allocator() {
        let mut names = vec![
            "marksweep+system",
            "pymalloc",
            "cycle+mimalloc",
            "refcount+system",
            "cycle+pymalloc",
            "odd+thing",
        ];
        names.sort_by_key(|n| strategy_order(n));
        assert_eq!(
            names,
            [
                "refcount+system",
                "cycle+pymalloc",
                "cycle+mimalloc",
                "marksweep+system",
                "pymalloc",
                "odd+thing"
            ]
        );
    }

    #[test]
    fn baseline_falls_back_to_refcount_and_uses_pymalloc_for_allocator_workloads() {
        let check = |records: Vec<Record>, workload: &str, expected: Option<&str>| {
            assert_eq!(baseline_for(&cells(&records), workload), expected, "{workload}");
        };
        check(
            vec![run("cycle+pymalloc", "churn", 1, 1, 1), run("refcount+pymalloc", "churn", 1, 1, 1)],
            "churn",
            Some("cycle+pymalloc"),
        );
        check(
            vec![run("marksweep+system", "churn", 1, 1, 1), run("refcount+pymalloc", "churn", 1, 1, 1)],
            "churn",
            Some("refcount+pymalloc"),
        );
        check(vec![run("marksweep+system", "churn", 1, 1, 1)], "churn", None);
        check(
            vec![run("pymalloc", "larson", 1, 1, 1), run("mimalloc", "larson", 1, 1, 1)],
            "larson",
            Some("pymalloc"),
        );
        check(
            vec![failed("cycle+pymalloc", "churn", 1), run("refcount+pymalloc", "churn", 1, 1, 1)],
            "churn",
            Some("refcount+pymalloc"),
        );
    }

    #[test]
    fn ratios_are_of_medians_with_a_verdict() {
        let mut records = Vec::new();
        for wall in [100, 101, 99] {
            records.push(run("cycle+pymalloc", "churn", 10, wall, 1000));
            records.push(run("marksweep+pymalloc", "churn", 10, wall * 2, 1001));
        }
        let rows = ratio_rows(&cells(&records));
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.key.strategy, "marksweep+pymalloc");
        assert_eq!(row.baseline, "cycle+pymalloc");
        let throughput = row.throughput.unwrap();
        assert!((throughput.value - 0.5).abs() < 1e-9, "{throughput:?}");
        assert!(throughput.verdict.is_significant());
        let peak_rss = row.peak_rss.unwrap();
        assert!((peak_rss.value - 1.001).abs() < 1e-9);
        assert!(peak_rss.verdict.is_significant(), "1000 x3 against 1001 x3 do not overlap");
        let means = geometric_means(&rows);
        assert_eq!(means.len(), 1);
        assert!((means[0].throughput.unwrap() - 0.5).abs() < 1e-9);
        assert_eq!(means[0].n_cells, 1);
    }

    #[test]
    fn geometric_means_span_workloads() {
        let records = vec![
            run("cycle+pymalloc", "churn", 10, 100, 1000),
            run("refcount+pymalloc", "churn", 10, 50, 1000),
            run("cycle+pymalloc", "binary-trees", 10, 100, 1000),
            run("refcount+pymalloc", "binary-trees", 10, 200, 1000),
        ];
        let means = geometric_means(&ratio_rows(&cells(&records)));
        assert_eq!(means.len(), 1);
        assert!((means[0].throughput.unwrap() - 1.0).abs() < 1e-9, "2x and 0.5x average to 1x");
        assert_eq!(means[0].n_cells, 2);
        assert!(rows_untested(&records));
    }

    fn rows_untested(records: &[Record]) -> bool {
        ratio_rows(&cells(records)).iter().all(|r| r.throughput.unwrap().verdict == Verdict::Untested)
    }

    #[test]
    fn releases_sort_as_numbers() {
        let mut names =
            vec!["cycle@3.10+pymalloc", "cycle@3.8+pymalloc", "cycle@3.13+pymalloc", "cycle@3.9+pymalloc"];
        names.sort_by_key(|s| strategy_order(s));
        assert_eq!(
            names,
            ["cycle@3.8+pymalloc", "cycle@3.9+pymalloc", "cycle@3.10+pymalloc", "cycle@3.13+pymalloc"]
        );
    }

    /// A run of `strategy` on `workload` at size 10 in round `rep` of invocation `invocation`.
    fn in_round(strategy: &str, workload: &str, invocation: &str, rep: u32, wall_ns: u64) -> Record {
        let mut record = run(strategy, workload, 10, wall_ns, 1000);
        record.rep = rep;
        record.params = format!("thp=never;invocation={invocation}");
        record
    }

    fn churn(strategy: &str) -> CellKey {
        CellKey { workload: "churn".into(), strategy: strategy.into(), size: 10, threads: 1 }
    }

    #[test]
    fn a_drift_every_strategy_of_a_group_shares_is_taken_out_and_a_cells_own_spread_is_not() {
        // Every other round the machine runs the whole group 40% slower. Four strategies feel
        // only that; `cycle+system` is in addition 30% slow on its own in rounds 0 to 2.
        let steady = ["cycle+pymalloc", "cycle+mimalloc", "cycle+jemalloc", "cycle+bump"];
        let mut records = Vec::new();
        for rep in 0..6u32 {
            let machine = if rep % 2 == 1 { 140 } else { 100 };
            for (i, strategy) in steady.iter().enumerate() {
                records.push(in_round(
                    strategy,
                    "churn",
                    "a",
                    rep,
                    (1000 + 100 * i as u64 + u64::from(rep)) * machine,
                ));
            }
            let own = if rep < 3 { 130 } else { 100 };
            records.push(in_round("cycle+system", "churn", "a", rep, 2000 * machine * own / 100));
            // Another workload in the same rounds, on a steady machine: its drift is its own group's.
            for strategy in steady {
                records.push(in_round(strategy, "binary-trees", "a", rep, 500_000));
            }
        }
        let cells = cells(&records);
        for strategy in steady {
            let cell = &cells[&churn(strategy)];
            assert!(cell.unstable_as_measured(), "{strategy} spreads with the machine as measured");
            assert!(!cell.unstable(), "{strategy}: {:?}", cell.values(Figure::WallNs));
            assert_eq!(cell.drift.len(), cell.ok.len());
            // The drift is relative to the strategies' typical round, which lies between the two.
            let drift: Vec<f64> = cell.drift.iter().map(|d| d.unwrap()).collect();
            let (even, odd) = (drift[0], drift[1]);
            assert!(even < 1.0 && odd > 1.0, "{strategy}: {:?}", cell.drift);
            for (record, drift) in cell.ok.iter().zip(&drift) {
                let expected = if record.rep % 2 == 1 { odd } else { even };
                assert!((drift / expected - 1.0).abs() < 0.01, "{strategy} round {}: {drift}", record.rep);
            }
            assert!((odd / even - 1.4).abs() < 0.01, "{strategy}: {:?}", cell.drift);
            let bt = &cells[&CellKey { workload: "binary-trees".into(), ..churn(strategy) }];
            assert!(
                bt.drift.iter().all(|d| *d == Some(1.0)),
                "binary-trees' rounds were steady: {:?}",
                bt.drift
            );
        }
        let system = &cells[&churn("cycle+system")];
        assert!(
            system.unstable(),
            "its own 30% in three rounds of six stays: {:?}",
            system.values(Figure::WallNs)
        );
        // Throughput is steadied the other way round, and figures that are not speeds not at all.
        let pymalloc = &cells[&churn("cycle+pymalloc")];
        let (ops, raw_ops) = (pymalloc.values(Figure::OpsPerS), pymalloc.raw_values(Figure::OpsPerS));
        let drift = pymalloc.drift[1].unwrap();
        assert!(drift > 1.1 && (ops[1] / raw_ops[1] - drift).abs() < 1e-12);
        assert_eq!(pymalloc.values(Figure::PeakRssBytes), pymalloc.raw_values(Figure::PeakRssBytes));
        // A ratio between two steadied cells is as steady as they are.
        let mimalloc = &cells[&churn("cycle+mimalloc")];
        let ratio = Ratio::between(mimalloc, pymalloc, Figure::OpsPerS).unwrap();
        let (low, high) = ratio.ci.unwrap();
        assert!(!ratio.unstable && high - low < 0.05, "{ratio:?}");
    }

    #[test]
    fn without_enough_peers_or_a_known_round_runs_stand_as_measured() {
        let mut records = Vec::new();
        for rep in 0..4u32 {
            let machine = if rep % 2 == 1 { 140 } else { 100 };
            // Three strategies: each has two others in a round, one fewer than DRIFT_PEERS.
            for strategy in ["cycle+pymalloc", "cycle+system", "cycle+bump"] {
                records.push(in_round(strategy, "churn", "a", rep, 1000 * machine));
            }
            // Four strategies whose runs name no invocation: their rounds are not known.
            for strategy in ["cycle+pymalloc", "cycle+system", "cycle+bump", "cycle+mimalloc"] {
                let mut record = run(strategy, "gc-traverse", 10, 1000 * machine, 1000);
                record.rep = rep;
                records.push(record);
            }
        }
        // A fourth strategy that ran once has no typical round, so it is no peer either.
        records.push(in_round("cycle+jemalloc", "churn", "a", 1, 140_000));
        assert_eq!(DRIFT_PEERS, 3);
        let cells = cells(&records);
        for cell in cells.values().filter(|c| c.key.strategy != "cycle+jemalloc") {
            assert!(cell.drift.iter().all(Option::is_none), "{}: {:?}", cell.label(), cell.drift);
            assert_eq!(cell.values(Figure::WallNs), cell.raw_values(Figure::WallNs));
            assert_eq!(cell.unstable(), cell.unstable_as_measured());
        }
        assert!(cells[&churn("cycle+pymalloc")].unstable(), "the 40% stays in");
    }

    #[test]
    fn rounds_of_two_invocations_are_apart() {
        // The same repetition index in a second invocation (a resumed sweep) is another round.
        let strategies = ["cycle+pymalloc", "cycle+system", "cycle+bump", "cycle+mimalloc", "cycle+jemalloc"];
        let mut records = Vec::new();
        for rep in 0..3u32 {
            for strategy in strategies {
                records.push(in_round(strategy, "churn", "a", rep, 100_000));
                records.push(in_round(strategy, "churn", "b", rep, 150_000));
            }
        }
        let cells = cells(&records);
        let cell = &cells[&churn("cycle+pymalloc")];
        let median_wall = 125_000.0;
        for (record, drift) in cell.ok.iter().zip(&cell.drift) {
            let drift = drift.unwrap();
            let invocation = heaplab_core::record::param(&record.params, "invocation").unwrap();
            let expected = if invocation == "a" { 100_000.0 / median_wall } else { 150_000.0 / median_wall };
            assert!((drift - expected).abs() < 1e-9, "{invocation}: {drift}");
        }
        assert!(!cell.unstable() && cell.unstable_as_measured());
    }
}
