//! Large data: bytes and time per element of the numeric workloads, boxed
//! against contiguous, and the array reduction against the machine's memory
//! bandwidth. Pure functions of the cells and of `runs.jsonl`'s phases.
//!
//! An element is what a workload's `size` counts, except for `matmul-*`,
//! whose size N gives an N x N result: there an element is one of its N²
//! entries. Every figure is a median over the repetitions of a cell, taken
//! under the baseline heap strategy (`cycle+pymalloc`, else
//! `refcount+pymalloc`), so that the workloads compare under one memory
//! manager.

use std::collections::BTreeMap;

use heaplab_core::{RunReport, Status};

use super::analysis::{
    CPYTHON_BASELINE, Cell, CellKey, Compared, FALLBACK_BASELINE, Figure, base_threads,
    is_allocator_workload, ok_cell,
};
use super::format;
use super::stats::median;

/// The numeric workloads that run on a heap, in the order the report lists them.
pub const NUMERIC_WORKLOADS: [&str; 8] = [
    "boxed-sum",
    "array-sum",
    "chunked",
    "temporaries",
    "temporaries-fused",
    "matmul-boxed",
    "matmul-array",
    "groupby",
];

/// Pairs that answer "what do boxed floats cost against a contiguous array?"
/// and its neighbours: the first workload against the second, at equal sizes.
pub const ELEMENT_PAIRS: [(&str, &str); 4] = [
    ("boxed-sum", "array-sum"),
    ("matmul-boxed", "matmul-array"),
    ("temporaries", "temporaries-fused"),
    ("chunked", "array-sum"),
];

/// The workload whose `reduce` phase reads 8 x size bytes once.
pub const REDUCTION_WORKLOAD: &str = "array-sum";
/// The phase of [`REDUCTION_WORKLOAD`] that is one pass over its array.
pub const REDUCTION_PHASE: &str = "reduce";
/// The memory-bandwidth reference workload, run on allocators.
pub const BANDWIDTH_WORKLOAD: &str = "bandwidth";
/// The phase of [`BANDWIDTH_WORKLOAD`] that reads its block once.
pub const BANDWIDTH_PHASE: &str = "read";
/// Bytes in one f64 element.
const F64_BYTES: f64 = 8.0;

/// How many elements a run of `workload` at `size` works on: N² for the
/// matrices of `matmul-*` (the entries of the result), N otherwise.
pub fn elements(workload: &str, size: u64) -> f64 {
    if workload.starts_with("matmul") { (size as f64) * (size as f64) } else { size as f64 }
}

/// What one element is, for a workload and a size, in words.
pub fn element_words(workload: &str, size: u64) -> String {
    if workload.starts_with("matmul") {
        format!("{} entries of the {size} x {size} result", format::count(elements(workload, size)))
    } else {
        format!("{} elements", format::count(elements(workload, size)))
    }
}

/// The heap strategy the numeric figures of `workloads` are taken under:
/// `cycle+pymalloc`, else `refcount+pymalloc`, whichever ran every one of them successfully.
pub fn shared_baseline(cells: &BTreeMap<CellKey, Cell<'_>>, workloads: &[&str]) -> Option<&'static str> {
    [CPYTHON_BASELINE, FALLBACK_BASELINE].into_iter().find(|strategy| {
        workloads.iter().all(|workload| {
            cells
                .values()
                .any(|c| c.key.workload == *workload && c.key.strategy == *strategy && !c.ok.is_empty())
        })
    })
}

/// One numeric workload at one size, per element.
#[derive(Clone, Debug, PartialEq)]
pub struct ElementFigures {
    /// The workload.
    pub workload: String,
    /// Its size.
    pub size: u64,
    /// The strategy the figures are taken under.
    pub strategy: &'static str,
    /// How many elements the size gives.
    pub elements: f64,
    /// Peak live bytes over the elements.
    pub live_bytes: Option<f64>,
    /// Peak RSS over the elements (the process's own baseline included).
    pub rss_bytes: Option<f64>,
    /// Wall time over the elements, in ns.
    pub wall_ns: Option<f64>,
}

impl ElementFigures {
    fn of(cell: &Cell<'_>, strategy: &'static str) -> ElementFigures {
        let elements = elements(&cell.key.workload, cell.key.size);
        let per_element = |figure: Figure| cell.median(figure).map(|value| value / elements);
        ElementFigures {
            workload: cell.key.workload.clone(),
            size: cell.key.size,
            strategy,
            elements,
            live_bytes: per_element(Figure::PeakLiveBytes),
            rss_bytes: per_element(Figure::PeakRssBytes),
            wall_ns: per_element(Figure::WallNs),
        }
    }
}

/// Every numeric workload that ran under a baseline heap strategy, at every
/// size it ran successfully, per element: in [`NUMERIC_WORKLOADS`] order, then by size.
pub fn element_table(cells: &BTreeMap<CellKey, Cell<'_>>) -> Vec<ElementFigures> {
    let mut rows = Vec::new();
    for workload in NUMERIC_WORKLOADS {
        if is_allocator_workload(cells, workload) {
            continue;
        }
        let Some(strategy) = shared_baseline(cells, &[workload]) else { continue };
        let Some(threads) = base_threads(cells, workload) else { continue };
        let mut mine: Vec<&Cell<'_>> = cells
            .values()
            .filter(|c| {
                c.key.workload == workload
                    && c.key.strategy == strategy
                    && c.key.threads == threads
                    && !c.ok.is_empty()
            })
            .collect();
        mine.sort_by_key(|c| c.key.size);
        rows.extend(mine.into_iter().map(|cell| ElementFigures::of(cell, strategy)));
    }
    rows
}

/// Each numeric workload at its largest size, per element (for the bar chart).
pub fn largest_sizes(rows: &[ElementFigures]) -> Vec<&ElementFigures> {
    let mut largest: Vec<&ElementFigures> = Vec::new();
    for row in rows {
        match largest.iter_mut().find(|r| r.workload == row.workload) {
            Some(kept) if kept.size < row.size => *kept = row,
            Some(_) => {}
            None => largest.push(row),
        }
    }
    largest
}

/// One workload against its contiguous (or fused, or chunked) counterpart at one size.
#[derive(Clone, Debug, PartialEq)]
pub struct PairAtSize {
    /// The first workload (boxed, unfused, chunked).
    pub first: String,
    /// The workload it is measured against.
    pub second: String,
    /// The size both ran at.
    pub size: u64,
    /// The strategy both ran under.
    pub strategy: &'static str,
    /// Elements at this size.
    pub elements: f64,
    /// Peak live bytes (whole runs, not per element).
    pub live_bytes: Option<Compared>,
    /// Peak RSS.
    pub rss_bytes: Option<Compared>,
    /// Wall time.
    pub wall_ns: Option<Compared>,
}

impl PairAtSize {
    /// The finding: peak live bytes and wall time per element, and peak RSS, of the first against the second.
    pub fn sentence(&self) -> Option<String> {
        let (first, second) = (&self.first, &self.second);
        let live = self.live_bytes?;
        let per_element = |value: f64| value / self.elements;
        let mut sentence = format!(
            "Under `{}` at size {} ({}), `{first}` peaks at {} of live data per element against {} for `{second}` ({}){}",
            self.strategy,
            self.size,
            element_words(first, self.size),
            format::bytes_fine(per_element(live.first)),
            format::bytes_fine(per_element(live.second)),
            format::ratio(live.ratio),
            live.note(),
        );
        if let Some(rss) = self.rss_bytes {
            sentence.push_str(&format!(
                ", {} against {} of peak RSS ({}){}",
                format::bytes(rss.first),
                format::bytes(rss.second),
                format::ratio(rss.ratio),
                rss.note()
            ));
        }
        if let Some(wall) = self.wall_ns {
            sentence.push_str(&format!(
                ", and takes {} per element against {} ({}){}",
                format::duration_ns(per_element(wall.first)),
                format::duration_ns(per_element(wall.second)),
                format::ratio(wall.ratio),
                wall.note()
            ));
        }
        sentence.push('.');
        Some(sentence)
    }
}

/// `first` against `second` at every size where both ran successfully under
/// the same baseline strategy, by size.
pub fn pair_by_size(cells: &BTreeMap<CellKey, Cell<'_>>, first: &str, second: &str) -> Vec<PairAtSize> {
    let Some(strategy) = shared_baseline(cells, &[first, second]) else { return Vec::new() };
    let Some(threads) = base_threads(cells, first) else { return Vec::new() };
    let cell = |workload: &str, size: u64| ok_cell(cells, workload, strategy, size, threads);
    let mut sizes: Vec<u64> = cells
        .keys()
        .filter(|k| k.workload == first && k.strategy == strategy && k.threads == threads)
        .map(|k| k.size)
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    sizes
        .into_iter()
        .filter_map(|size| {
            let (a, b) = (cell(first, size)?, cell(second, size)?);
            Some(PairAtSize {
                first: first.to_owned(),
                second: second.to_owned(),
                size,
                strategy,
                elements: elements(first, size),
                live_bytes: Compared::of(a, b, Figure::PeakLiveBytes),
                rss_bytes: Compared::of(a, b, Figure::PeakRssBytes),
                wall_ns: Compared::of(a, b, Figure::WallNs),
            })
        })
        .collect()
}

/// The read bandwidth of one phase in bytes per second, for each successful
/// run of `workload` at `size` that `accept` takes and that marked `phase`.
fn phase_bandwidths<'r>(
    reports: &'r [RunReport],
    workload: &str,
    phase: &str,
    size: u64,
    accept: impl Fn(&RunReport) -> bool,
) -> Vec<(&'r RunReport, f64)> {
    reports
        .iter()
        .filter(|r| r.record.workload == workload && r.record.size == size && r.record.status == Status::Ok)
        .filter(|r| accept(r))
        .filter_map(|r| {
            let duration_ns = r.phases.iter().find(|p| p.name == phase)?.duration_ns;
            (duration_ns > 0).then(|| (r, F64_BYTES * size as f64 * 1e9 / duration_ns as f64))
        })
        .collect()
}

/// The array reduction's read bandwidth against the bandwidth workload's at one size.
#[derive(Clone, Debug, PartialEq)]
pub struct BandwidthAtSize {
    /// N: both read 8N bytes.
    pub size: u64,
    /// The strategy `array-sum` ran under.
    pub strategy: &'static str,
    /// `array-sum`'s `reduce` phase, bytes per second (median over its runs), and how many runs.
    pub reduce: Option<(f64, usize)>,
    /// `bandwidth`'s `read` phase, bytes per second (median over every run on every allocator),
    /// how many runs, and on how many allocators.
    pub read: Option<(f64, usize, usize)>,
}

impl BandwidthAtSize {
    /// The reduction's bandwidth as a fraction of the reference's.
    pub fn fraction(&self) -> Option<f64> {
        let ((reduce, _), (read, _, _)) = (self.reduce?, self.read?);
        (read > 0.0).then(|| reduce / read)
    }

    /// The finding, where both figures exist at this size.
    pub fn sentence(&self) -> Option<String> {
        reduction_against(self, self)
    }
}

/// The reduction at `reduce_at`'s size against the reference at `reference_at`'s
/// (the same size, or the nearest where the reference ran, which the sentence then names).
fn reduction_against(reduce_at: &BandwidthAtSize, reference_at: &BandwidthAtSize) -> Option<String> {
    let ((reduce, reduce_runs), (read, read_runs, allocators)) = (reduce_at.reduce?, reference_at.read?);
    if read <= 0.0 {
        return None;
    }
    let fraction = format::percent(reduce / read);
    let opening = format!(
        "the `{REDUCTION_PHASE}` phase of `{REDUCTION_WORKLOAD}` under `{}` reads at {}/s (median of {})",
        reduce_at.strategy,
        format::bytes(reduce),
        runs(reduce_runs)
    );
    let reference = format!(
        "median of {} on {}",
        runs(read_runs),
        if allocators == 1 { "one allocator".to_owned() } else { format!("{allocators} allocators") }
    );
    let bytes_read = |size: u64| format::bytes(F64_BYTES * size as f64);
    Some(if reduce_at.size == reference_at.size {
        format!(
            "At size {} (each pass reads {}), {opening}: {fraction} of the {}/s that the `{BANDWIDTH_PHASE}` phase of `{BANDWIDTH_WORKLOAD}` reaches at the same size ({reference}).",
            reduce_at.size,
            bytes_read(reduce_at.size),
            format::bytes(read),
        )
    } else {
        format!(
            "At its largest size, {} (each pass reads {}), {opening}: {fraction} of the {}/s that the `{BANDWIDTH_PHASE}` phase of `{BANDWIDTH_WORKLOAD}` reaches at {} ({}), the nearest size where it ran ({reference}).",
            reduce_at.size,
            bytes_read(reduce_at.size),
            format::bytes(read),
            reference_at.size,
            bytes_read(reference_at.size),
        )
    })
}

fn runs(n: usize) -> String {
    if n == 1 { "one run".to_owned() } else { format!("{n} runs") }
}

/// `array-sum`'s `reduce` bandwidth and `bandwidth`'s `read` bandwidth at every
/// size where either was measured (the reduction under the baseline strategy;
/// the reference pooled over every allocator it ran on), by size.
pub fn bandwidth_by_size(reports: &[RunReport]) -> Vec<BandwidthAtSize> {
    let strategy = [CPYTHON_BASELINE, FALLBACK_BASELINE].into_iter().find(|strategy| {
        reports.iter().any(|r| {
            r.record.workload == REDUCTION_WORKLOAD
                && r.record.strategy == *strategy
                && r.record.status == Status::Ok
                && r.phases.iter().any(|p| p.name == REDUCTION_PHASE)
        })
    });
    let mut sizes: Vec<u64> = reports
        .iter()
        .filter(|r| {
            (r.record.workload == REDUCTION_WORKLOAD && Some(r.record.strategy.as_str()) == strategy)
                || r.record.workload == BANDWIDTH_WORKLOAD
        })
        .map(|r| r.record.size)
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    sizes
        .into_iter()
        .filter_map(|size| {
            let reduce = strategy.and_then(|strategy| {
                let values: Vec<f64> =
                    phase_bandwidths(reports, REDUCTION_WORKLOAD, REDUCTION_PHASE, size, |r| {
                        r.record.strategy == strategy
                    })
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect();
                Some((median(&values)?, values.len()))
            });
            let read_runs = phase_bandwidths(reports, BANDWIDTH_WORKLOAD, BANDWIDTH_PHASE, size, |_| true);
            let values: Vec<f64> = read_runs.iter().map(|(_, v)| *v).collect();
            let mut allocators: Vec<&str> =
                read_runs.iter().map(|(r, _)| r.record.strategy.as_str()).collect();
            allocators.sort_unstable();
            allocators.dedup();
            let read = median(&values).map(|m| (m, values.len(), allocators.len()));
            (reduce.is_some() || read.is_some()).then(|| BandwidthAtSize {
                size,
                strategy: strategy.unwrap_or(CPYTHON_BASELINE),
                reduce,
                read,
            })
        })
        .collect()
}

/// The findings on large data: each pair at its largest common size, then the
/// reduction against the bandwidth at the largest size where both were measured.
pub fn large_data_findings(cells: &BTreeMap<CellKey, Cell<'_>>, reports: &[RunReport]) -> Vec<String> {
    let mut sentences: Vec<String> = ELEMENT_PAIRS
        .iter()
        .filter_map(|(first, second)| pair_by_size(cells, first, second).last()?.sentence())
        .collect();
    sentences.extend(bandwidth_findings(&bandwidth_by_size(reports)));
    sentences
}

/// The reduction against the reference at the largest size where both ran;
/// then, where the reduction ran at a larger size (or at none of the
/// reference's), its largest size against the reference at the nearest size
/// (by ratio), so that data beyond the caches is compared too.
fn bandwidth_findings(by_size: &[BandwidthAtSize]) -> Vec<String> {
    let mut sentences = Vec::new();
    let common = by_size.iter().rev().find(|b| b.fraction().is_some());
    if let Some(sentence) = common.and_then(BandwidthAtSize::sentence) {
        sentences.push(sentence);
    }
    let largest_reduction = by_size.iter().rev().find(|b| b.reduce.is_some());
    if let Some(largest) = largest_reduction.filter(|l| common.is_none_or(|c| l.size > c.size)) {
        let distance = |b: &&BandwidthAtSize| (b.size as f64 / largest.size as f64).ln().abs();
        let nearest =
            by_size.iter().filter(|b| b.read.is_some()).min_by(|a, b| distance(a).total_cmp(&distance(b)));
        if let Some(sentence) = nearest.and_then(|nearest| reduction_against(largest, nearest)) {
            sentences.push(sentence);
        }
    }
    sentences
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analysis::cells;
    use crate::report::analysis::tests::run;
    use heaplab_core::{PhaseRecord, Record};

    /// A run with its peak live bytes set.
    fn numeric(strategy: &str, workload: &str, size: u64, wall_ns: u64, peak_live: u64) -> Record {
        let mut record = run(strategy, workload, size, wall_ns, peak_live + (8 << 20));
        record.peak_live_bytes = Some(peak_live);
        record
    }

    /// A report whose one phase `phase` lasted `duration_ns`.
    fn phased(record: Record, phase: &str, duration_ns: u64) -> RunReport {
        RunReport {
            record,
            collections_by_gen: vec![],
            phases: vec![
                PhaseRecord { name: "build".into(), duration_ns: 1, ..PhaseRecord::default() },
                PhaseRecord { name: phase.into(), duration_ns, ..PhaseRecord::default() },
            ],
            anon_huge_bytes: None,
        }
    }

    #[test]
    fn an_element_is_an_entry_of_the_result_for_matmul() {
        let check = |workload: &str, size: u64, expected: f64| assert_eq!(elements(workload, size), expected);
        check("boxed-sum", 1000, 1000.0);
        check("groupby", 7, 7.0);
        check("matmul-boxed", 200, 40_000.0);
        check("matmul-array", 3, 9.0);
        assert_eq!(element_words("matmul-array", 200), "40,000 entries of the 200 x 200 result");
        assert_eq!(element_words("chunked", 4_000_000), "4,000,000 elements");
    }

    #[test]
    fn per_element_figures_are_medians_over_the_elements() {
        let mut records = Vec::new();
        for wall in [40_000_000, 42_000_000, 38_000_000] {
            records.push(numeric("cycle+pymalloc", "boxed-sum", 1_000_000, wall, 64_000_000));
        }
        records.push(numeric("cycle+pymalloc", "matmul-boxed", 100, 1_000_000, 960_000));
        records.push(numeric("marksweep+pymalloc", "boxed-sum", 1_000_000, 1, 1));
        let cells = cells(&records);
        let rows = element_table(&cells);
        assert_eq!(rows.len(), 2, "one row per workload and size, under the baseline only: {rows:#?}");
        assert_eq!(rows[0].workload, "boxed-sum");
        assert_eq!(rows[0].strategy, "cycle+pymalloc");
        assert_eq!(rows[0].live_bytes, Some(64.0));
        assert_eq!(rows[0].wall_ns, Some(40.0));
        assert_eq!(rows[0].rss_bytes, Some((64_000_000.0 + 8.0 * 1024.0 * 1024.0) / 1e6));
        assert_eq!(rows[1].workload, "matmul-boxed");
        assert_eq!(rows[1].live_bytes, Some(96.0));
        assert_eq!(rows[1].wall_ns, Some(100.0));
    }

    #[test]
    fn without_cycle_pymalloc_the_figures_fall_back_to_refcount() {
        let records = vec![numeric("refcount+pymalloc", "array-sum", 10, 100, 160)];
        let rows = element_table(&cells(&records));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].strategy, "refcount+pymalloc");
        assert_eq!(rows[0].live_bytes, Some(16.0));
    }

    #[test]
    fn the_largest_size_of_each_workload() {
        let records = vec![
            numeric("cycle+pymalloc", "array-sum", 100, 100, 1600),
            numeric("cycle+pymalloc", "array-sum", 1000, 100, 16_000),
            numeric("cycle+pymalloc", "chunked", 1000, 100, 10),
        ];
        let cells = cells(&records);
        let rows = element_table(&cells);
        let largest = largest_sizes(&rows);
        let found: Vec<(&str, u64)> = largest.iter().map(|r| (r.workload.as_str(), r.size)).collect();
        assert_eq!(found, [("array-sum", 1000), ("chunked", 1000)]);
    }

    /// Three repetitions each: `boxed-sum` at 40 ns and 64 live bytes per element, `array-sum` at 4 ns and 16.
    fn boxed_and_array() -> Vec<Record> {
        let mut records = Vec::new();
        for size in [1_000_000u64, 4_000_000] {
            for jitter in [0i64, 1, -1] {
                let ns = |per_element: i64, spread: i64| (per_element * size as i64 + jitter * spread) as u64;
                records.push(numeric("cycle+pymalloc", "boxed-sum", size, ns(40, 1_000_000), 64 * size));
                records.push(numeric("cycle+pymalloc", "array-sum", size, ns(4, 100_000), 16 * size));
            }
        }
        records
    }

    #[test]
    fn boxed_against_contiguous_per_size() {
        let records = boxed_and_array();
        let cells = cells(&records);
        let pairs = pair_by_size(&cells, "boxed-sum", "array-sum");
        assert_eq!(pairs.iter().map(|p| p.size).collect::<Vec<_>>(), [1_000_000, 4_000_000]);
        let live = pairs[1].live_bytes.unwrap();
        assert_eq!((live.first / 4e6, live.second / 4e6, live.ratio), (64.0, 16.0, 4.0));
        assert_eq!(
            pairs[1].sentence().unwrap(),
            "Under `cycle+pymalloc` at size 4000000 (4,000,000 elements), `boxed-sum` peaks at 64 B of live data per element against 16 B for `array-sum` (4.00x) (95% CI [4.00x–4.00x]; significant (ranges, α=0.10)), 252 MiB against 69 MiB of peak RSS (3.65x) (95% CI [3.65x–3.65x]; significant (ranges, α=0.10)), and takes 40 ns per element against 4 ns (10.0x) (95% CI [9.88x–10.1x]; significant (ranges, α=0.10))."
        );
    }

    #[test]
    fn the_pair_sentence_follows_the_data() {
        let mut records = boxed_and_array();
        for record in records.iter_mut().filter(|r| r.workload == "boxed-sum") {
            record.peak_live_bytes = Some(record.size * 32);
        }
        let sentence =
            pair_by_size(&cells(&records), "boxed-sum", "array-sum").pop().unwrap().sentence().unwrap();
        assert!(
            sentence.contains("peaks at 32 B of live data per element against 16 B for `array-sum` (2.00x)"),
            "{sentence}"
        );
    }

    #[test]
    fn matmul_counts_the_entries_of_the_result() {
        let records = vec![
            numeric("cycle+pymalloc", "matmul-boxed", 200, 400_000_000, 96 * 40_000),
            numeric("cycle+pymalloc", "matmul-array", 200, 8_000_000, 24 * 40_000),
        ];
        let sentence =
            pair_by_size(&cells(&records), "matmul-boxed", "matmul-array").pop().unwrap().sentence().unwrap();
        assert!(sentence.starts_with("Under `cycle+pymalloc` at size 200 (40,000 entries of the 200 x 200 result), `matmul-boxed` peaks at 96 B of live data per element against 24 B for `matmul-array` (4.00x)"), "{sentence}");
        assert!(sentence.contains("takes 10 µs per element against 200 ns (50.0x)"), "{sentence}");
    }

    #[test]
    fn chunked_holds_a_sliver_of_what_the_whole_array_holds() {
        let records = vec![
            numeric("cycle+pymalloc", "chunked", 16_000_000, 64_000_000, 1 << 20),
            numeric("cycle+pymalloc", "array-sum", 16_000_000, 64_000_000, 256_000_000),
        ];
        let sentence =
            pair_by_size(&cells(&records), "chunked", "array-sum").pop().unwrap().sentence().unwrap();
        assert!(
            sentence.contains(
                "`chunked` peaks at 0.066 B of live data per element against 16 B for `array-sum` (0.0041x)"
            ),
            "{sentence}"
        );
    }

    #[test]
    fn a_pair_needs_both_under_one_strategy() {
        let records = vec![
            numeric("cycle+pymalloc", "boxed-sum", 10, 100, 640),
            numeric("refcount+pymalloc", "array-sum", 10, 100, 160),
        ];
        assert!(pair_by_size(&cells(&records), "boxed-sum", "array-sum").is_empty());
        let records = vec![
            numeric("cycle+pymalloc", "boxed-sum", 10, 100, 640),
            numeric("cycle+pymalloc", "array-sum", 20, 100, 320),
        ];
        assert!(pair_by_size(&cells(&records), "boxed-sum", "array-sum").is_empty(), "no common size");
    }

    /// `array-sum` reduces 8 MB in 1 ms per run (8 GB/s); `bandwidth` reads them in 0.8 ms on two allocators (10 GB/s).
    fn bandwidth_reports(reduce_ns: u64) -> Vec<RunReport> {
        let size = 1_000_000;
        let mut reports = Vec::new();
        for rep in 0..3 {
            let mut record = run("cycle+pymalloc", "array-sum", size, 10_000_000, 1 << 24);
            record.rep = rep;
            reports.push(phased(record, "reduce", reduce_ns));
            for allocator in ["system", "mimalloc"] {
                let mut record = run(allocator, "bandwidth", size, 5_000_000, 1 << 24);
                record.rep = rep;
                reports.push(phased(record, "read", 800_000));
            }
        }
        // A size where only the reference ran, and a larger one where only the reduction did.
        reports.push(phased(run("system", "bandwidth", 50_000_000, 1, 1), "read", 40_000_000));
        reports.push(phased(run("cycle+pymalloc", "array-sum", 16_000_000, 1, 1), "reduce", 16_000_000));
        reports
    }

    #[test]
    fn the_reduction_against_the_bandwidth_at_the_largest_common_size() {
        let reports = bandwidth_reports(1_000_000);
        let by_size = bandwidth_by_size(&reports);
        assert_eq!(by_size.iter().map(|b| b.size).collect::<Vec<_>>(), [1_000_000, 16_000_000, 50_000_000]);
        let common = &by_size[0];
        assert_eq!(common.reduce, Some((8e9, 3)));
        assert_eq!(common.read, Some((1e10, 6, 2)));
        assert_eq!(common.fraction(), Some(0.8));
        assert!(by_size[1].fraction().is_none() && by_size[2].fraction().is_none());
        let found = large_data_findings(&cells(&[]), &reports);
        assert_eq!(
            found,
            [
                "At size 1000000 (each pass reads 7.63 MiB), the `reduce` phase of `array-sum` under `cycle+pymalloc` reads at 7.45 GiB/s (median of 3 runs): 80% of the 9.31 GiB/s that the `read` phase of `bandwidth` reaches at the same size (median of 6 runs on 2 allocators).",
                "At its largest size, 16000000 (each pass reads 122 MiB), the `reduce` phase of `array-sum` under `cycle+pymalloc` reads at 7.45 GiB/s (median of one run): 80% of the 9.31 GiB/s that the `read` phase of `bandwidth` reaches at 50000000 (381 MiB), the nearest size where it ran (median of one run on one allocator).",
            ]
        );
    }

    #[test]
    fn the_bandwidth_fraction_follows_the_data() {
        let found = large_data_findings(&cells(&[]), &bandwidth_reports(2_000_000));
        assert!(found[0].contains(": 40% of the 9.31 GiB/s"), "{found:?}");
    }

    #[test]
    fn the_nearest_reference_is_the_nearest_by_ratio() {
        let mut reports = bandwidth_reports(1_000_000);
        reports.push(phased(run("system", "bandwidth", 10_000_000, 1, 1), "read", 16_000_000));
        let found = large_data_findings(&cells(&[]), &reports);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[1].contains(": 160% of the 4.66 GiB/s that the `read` phase of `bandwidth` reaches at 10000000 (76.3 MiB), the nearest size"),
            "16M is nearer 10M than 50M: {found:?}"
        );
    }

    #[test]
    fn a_reduction_beyond_every_reference_size_is_compared_with_the_nearest_alone() {
        let reports: Vec<RunReport> =
            bandwidth_reports(1_000_000).into_iter().filter(|r| r.record.size != 1_000_000).collect();
        let found = large_data_findings(&cells(&[]), &reports);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("At its largest size, 16000000"), "{found:?}");
    }

    #[test]
    fn no_reference_no_bandwidth_finding() {
        let reports: Vec<RunReport> =
            bandwidth_reports(1_000_000).into_iter().filter(|r| r.record.workload != "bandwidth").collect();
        assert!(large_data_findings(&cells(&[]), &reports).is_empty());
    }
}
