//! `cargo xtask bench --dry-run`: what a sweep would run, and how long it would take
//! by an earlier run's wall times (`--estimate-from DIR`).
//!
//! A cell's time is, in order of preference: the median wall time of the same cell in
//! the earlier run; the same strategy and workload at the nearest size it ran, scaled
//! to the size; the same for another strategy of the same collector (`python@3.9+pymalloc`
//! by `python@3.11+pymalloc`), then of any collector, times how much longer the cell's
//! collector takes than that one where both ran alike (the real interpreter is an order of
//! magnitude slower than the model). A traced program no earlier run replayed (or ran under
//! the real interpreter) is timed as the same strategy's median program of the same kind: the
//! programs' times spread over a factor of ten, and time per byte of trace tells them apart no
//! better (each of 22 published programs estimated from the others: within 0.5–1.7× for 8 in
//! 10 either way, the real interpreter's runs 0.2–2× by trace size). A cell with none of these
//! is counted as unknown, never guessed.
//!
//! Scaling treats a depth `d` as the size `2^d` (a tree of that depth) and takes time as a
//! power of the size: the power the earlier run shows between the two sizes nearest the
//! cell's (matmul's cube, a tree's growth past the caches), kept within 1 to 3 — never
//! below linear, since at small sizes a fixed start-up cost flattens the curve and does not
//! grow with it — or linear where only one size ran.
//!
//! Under `--precision` a cell's repetitions are, likewise, replayed from the earlier run: the
//! stopping rule applied to the first runs of the same cell (or of the neighbour its time came
//! from), in the order they ran, gives the repetitions it stopped at there. A cell whose
//! neighbour has too few runs to tell is counted at the fewest repetitions, and the estimate
//! says how many were.

use std::collections::BTreeMap;

use heaplab_core::{Record, Status};

use super::plan::{Cell, traced_program};
use crate::report::stats::median;

/// Values by workload, threads and size.
type ByCell<T> = BTreeMap<(String, u32, u64), T>;

/// A cell's median time and its wall times in the order they ran.
type Timed = (f64, Vec<f64>);

/// The wall times of an earlier run, by strategy, workload and threads, then size, in the order they ran.
pub struct History {
    times: BTreeMap<(String, String, u32), BTreeMap<u64, Vec<f64>>>,
    collectors: BTreeMap<String, String>,
    /// By collector, then workload, threads and size: the median over the collector's
    /// strategies of their median times.
    typical: BTreeMap<String, ByCell<f64>>,
    /// By strategy and whether the program ran under the real interpreter: the median time and
    /// the wall times of each traced program it ran, fastest first.
    programs: BTreeMap<(String, bool), Vec<Timed>>,
}

/// How a cell's time was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Basis {
    /// The same cell ran.
    Exact,
    /// Scaled from another size or strategy.
    Scaled,
    /// Nothing to go by.
    Unknown,
}

/// How many times each cell runs: `fewest`, or under `--precision` until the 95% CI of its
/// median wall time is within `precision` of it, at most `most`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Repetitions {
    /// The repetitions every cell runs.
    pub fewest: u32,
    /// The most repetitions of a cell.
    pub most: u32,
    /// `--precision`: the stopping rule's relative half-width, if any.
    pub precision: Option<f64>,
}

impl Repetitions {
    /// The runs a cell whose wall times came out as `walls` (in the order they ran) stops at, by
    /// the sweep's own rule ([`super::precise_enough`], checked before each run past the fewest);
    /// `None` when `walls` ends before the rule decides.
    pub fn replay(&self, walls: &[f64]) -> Option<u32> {
        let Some(precision) = self.precision else { return Some(self.fewest) };
        for runs in self.fewest..self.most {
            if super::precise_enough(walls.get(..runs as usize)?, precision) {
                return Some(runs);
            }
        }
        Some(self.most)
    }
}

/// The estimate of one group of cells.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Estimate {
    /// Seconds for the group's cells, each at the repetitions the earlier run's spread replays.
    pub seconds: f64,
    /// Seconds for one run of each of the group's cells (times the fewest or the most
    /// repetitions: the estimate if every cell stopped there).
    pub seconds_once: f64,
    /// Cells (with a time) whose repetitions the earlier run could not replay: counted at the fewest.
    pub repetitions_unknown: usize,
    /// Cells by how their time was found.
    pub exact: usize,
    /// Cells scaled from a neighbour.
    pub scaled: usize,
    /// Cells with no estimate.
    pub unknown: usize,
}

impl History {
    /// The successful runs of `records`.
    pub fn of(records: &[Record]) -> History {
        let mut times: BTreeMap<(String, String, u32), BTreeMap<u64, Vec<f64>>> = BTreeMap::new();
        let mut collectors = BTreeMap::new();
        for record in records.iter().filter(|r| r.status == Status::Ok) {
            let Some(wall_ns) = record.wall_ns else { continue };
            let key = (record.strategy.clone(), record.workload.clone(), record.threads);
            times.entry(key).or_default().entry(record.size).or_default().push(wall_ns as f64 / 1e9);
            collectors.insert(record.strategy.clone(), record.collector.clone());
        }
        let mut medians: BTreeMap<&str, ByCell<Vec<f64>>> = BTreeMap::new();
        for ((strategy, workload, threads), sizes) in &times {
            let by_cell = medians.entry(collectors[strategy].as_str()).or_default();
            for (&size, walls) in sizes {
                by_cell.entry((workload.clone(), *threads, size)).or_default().extend(median(walls));
            }
        }
        let typical = medians
            .into_iter()
            .map(|(collector, by_cell)| {
                let by_cell = by_cell.into_iter().filter_map(|(key, m)| Some((key, median(&m)?))).collect();
                (collector.to_owned(), by_cell)
            })
            .collect();
        let mut programs: BTreeMap<(String, bool), Vec<Timed>> = BTreeMap::new();
        for ((strategy, workload, _), sizes) in &times {
            let Some((_, real)) = traced_program(workload) else { continue };
            let runs = programs.entry((strategy.clone(), real)).or_default();
            runs.extend(sizes.values().filter_map(|walls| Some((median(walls)?, walls.clone()))));
        }
        for runs in programs.values_mut() {
            runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        History { times, collectors, typical, programs }
    }

    /// `strategy` on `workload` at `size`, scaled from the nearest size it ran by the power
    /// its two sizes nearest `size` show (see the module's comment).
    fn scaled(
        &self,
        strategy: &str,
        workload: &str,
        threads: u32,
        size: u64,
        depth: bool,
    ) -> Option<(f64, bool, &[f64])> {
        let sizes = self.times.get(&(strategy.to_owned(), workload.to_owned(), threads))?;
        // The natural log of the size a size (or depth) stands for.
        let log_size =
            |s: u64| if depth { s as f64 * std::f64::consts::LN_2 } else { (s.max(1) as f64).ln() };
        let target = log_size(size);
        let mut measured: Vec<(f64, f64, &[f64])> = sizes
            .iter()
            .filter_map(|(&s, times)| {
                Some((log_size(s), median(times)?.max(f64::MIN_POSITIVE), times.as_slice()))
            })
            .collect();
        measured.sort_by(|a, b| (a.0 - target).abs().total_cmp(&(b.0 - target).abs()));
        let &(nearest, seconds, times) = measured.first()?;
        let power = match measured.get(1) {
            Some(&(other, other_seconds, _)) if other != nearest => {
                ((other_seconds / seconds).ln() / (other - nearest)).clamp(1.0, 3.0)
            }
            _ => 1.0,
        };
        Some((seconds * ((target - nearest) * power).exp(), nearest == target, times))
    }

    /// The time of one run of `cell`, how it was found, and the wall times (in the order they
    /// ran) of the cell it was found from; `&[]` when unknown.
    pub fn cell(&self, cell: &Cell, depth: bool) -> (f64, Basis, &[f64]) {
        let (workload, threads, size) = (cell.workload.as_str(), cell.threads, cell.size);
        if let Some((seconds, exact, walls)) = self.scaled(&cell.strategy, workload, threads, size, depth) {
            return (seconds, if exact { Basis::Exact } else { Basis::Scaled }, walls);
        }
        let ran: Vec<&String> = self
            .times
            .keys()
            .filter(|(_, w, t)| w == workload && *t == threads)
            .map(|(strategy, _, _)| strategy)
            .collect();
        let same_collector =
            ran.iter().filter(|s| self.collectors.get(**s).is_some_and(|c| *c == cell.collector));
        for strategy in same_collector.chain(ran.iter()) {
            if let Some((seconds, _, walls)) = self.scaled(strategy, workload, threads, size, depth) {
                let ratio = match self.collectors.get(*strategy) {
                    Some(collector) if *collector != cell.collector => self.ratio(&cell.collector, collector),
                    _ => 1.0,
                };
                return (seconds * ratio, Basis::Scaled, walls);
            }
        }
        if let Some((_, real)) = traced_program(workload) {
            let runs = self.programs.get(&(cell.strategy.clone(), real)).map_or(&[][..], Vec::as_slice);
            if let Some((seconds, walls)) = runs.get(runs.len().saturating_sub(1) / 2) {
                return (*seconds, Basis::Scaled, walls);
            }
        }
        (0.0, Basis::Unknown, &[])
    }

    /// How much longer `collector`'s runs take than `other`'s: the median, over the workloads,
    /// threads and sizes both ran, of the ratio of their typical times; 1 where they ran nothing alike.
    fn ratio(&self, collector: &str, other: &str) -> f64 {
        let (Some(ours), Some(theirs)) = (self.typical.get(collector), self.typical.get(other)) else {
            return 1.0;
        };
        let ratios: Vec<f64> = ours
            .iter()
            .filter_map(|(key, &time)| Some(time / *theirs.get(key)?))
            .filter(|ratio| ratio.is_finite() && *ratio > 0.0)
            .collect();
        median(&ratios).unwrap_or(1.0)
    }
}

/// The group a cell is counted in: the model, the real interpreter, or an allocator alone.
pub fn group(cell: &Cell) -> &'static str {
    match cell.collector.as_str() {
        "" => "allocator alone",
        "python" => "real interpreter",
        _ => "model",
    }
}

/// Estimates every group of `cells`, each run as `repetitions` says; `depth` says which workloads' sizes are depths.
pub fn estimate(
    cells: &[Cell],
    repetitions: Repetitions,
    history: &History,
    depth: impl Fn(&str) -> bool,
) -> BTreeMap<&'static str, Estimate> {
    let mut groups: BTreeMap<&'static str, Estimate> = BTreeMap::new();
    for cell in cells {
        let (seconds, basis, walls) = history.cell(cell, depth(&cell.workload));
        let entry = groups.entry(group(cell)).or_default();
        let replayed = repetitions.replay(walls);
        if replayed.is_none() && basis != Basis::Unknown {
            entry.repetitions_unknown += 1;
        }
        entry.seconds += seconds * f64::from(replayed.unwrap_or(repetitions.fewest));
        entry.seconds_once += seconds;
        match basis {
            Basis::Exact => entry.exact += 1,
            Basis::Scaled => entry.scaled += 1,
            Basis::Unknown => entry.unknown += 1,
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(strategy: &str, collector: &str, workload: &str, size: u64, wall_s: f64) -> Record {
        let mut record: Record = serde_json::from_value(serde_json::json!({
            "strategy": strategy, "collector": collector, "allocator": "pymalloc", "workload": workload,
            "size": size, "threads": 1, "seed": 42, "rep": 0, "status": "ok", "params": ""
        }))
        .unwrap();
        record.wall_ns = Some((wall_s * 1e9) as u64);
        record
    }

    /// Equal to within rounding.
    fn near(got: f64, want: f64) -> bool {
        (got / want - 1.0).abs() < 1e-9
    }

    fn cell(strategy: &str, collector: &str, workload: &str, size: u64) -> Cell {
        Cell {
            strategy: strategy.into(),
            collector: collector.into(),
            allocator: "pymalloc".into(),
            workload: workload.into(),
            size,
            threads: 1,
            threaded: false,
            trace: None,
            program: None,
            settings: Vec::new(),
        }
    }

    #[test]
    fn cells_are_timed_exactly_scaled_by_size_or_depth_borrowed_or_unknown() {
        let history = History::of(&[
            record("cycle+pymalloc", "cycle", "bulk-load", 1000, 1.0),
            record("cycle+pymalloc", "cycle", "bulk-load", 1000, 3.0),
            record("cycle+pymalloc", "cycle", "binary-trees", 14, 2.0),
            record("python@3.11+pymalloc", "python", "bulk-load", 1000, 10.0),
        ]);
        let time = |c: &Cell, depth| {
            let (seconds, basis, _) = history.cell(c, depth);
            ((seconds * 1e9).round() / 1e9, basis)
        };
        assert_eq!(time(&cell("cycle+pymalloc", "cycle", "bulk-load", 1000), false), (2.0, Basis::Exact));
        assert_eq!(time(&cell("cycle+pymalloc", "cycle", "bulk-load", 4000), false), (8.0, Basis::Scaled));
        assert_eq!(time(&cell("cycle+pymalloc", "cycle", "binary-trees", 16), true), (8.0, Basis::Scaled));
        let borrowed = time(&cell("python@3.9+pymalloc", "python", "bulk-load", 2000), false);
        assert_eq!(borrowed, (20.0, Basis::Scaled), "the same collector's time, not the model's");
        assert_eq!(time(&cell("cycle+pymalloc", "cycle", "churn", 10), false), (0.0, Basis::Unknown));

        let cells = [
            cell("cycle+pymalloc", "cycle", "bulk-load", 1000),
            cell("python@3.11+pymalloc", "python", "bulk-load", 1000),
        ];
        let three = Repetitions { fewest: 3, most: 3, precision: None };
        let groups = estimate(&cells, three, &history, |_| false);
        let expected = Estimate {
            seconds: 6.0,
            seconds_once: 2.0,
            repetitions_unknown: 0,
            exact: 1,
            scaled: 0,
            unknown: 0,
        };
        assert_eq!(groups["model"], expected);
        assert_eq!(groups["real interpreter"].seconds, 30.0);
    }

    #[test]
    fn a_time_borrowed_from_another_collector_is_scaled_by_how_the_two_compare() {
        let history = History::of(&[
            record("cycle+pymalloc", "cycle", "bulk-load", 1000, 1.0),
            record("python@3.11+pymalloc", "python", "bulk-load", 1000, 12.0),
            record("cycle+pymalloc", "cycle", "churn", 1000, 0.5),
            record("refcount+pymalloc", "refcount", "churn", 1000, 0.7),
            record("cycle+pymalloc", "cycle", "cyclic-garbage", 1000, 3.0),
        ]);
        let time = |strategy: &str, collector: &str, workload: &str| {
            let (seconds, basis, _) = history.cell(&cell(strategy, collector, workload, 1000), false);
            assert_eq!(basis, Basis::Scaled);
            seconds
        };
        let churn = time("python@3.11+pymalloc", "python", "churn");
        assert!(near(churn, 12.0 * 0.5), "cycle+pymalloc's churn (the first that ran it) times 12: {churn}");
        let python = time("python@3.12+pymalloc", "python", "churn");
        assert!(near(python, churn), "a release with no runs borrows the same way: {python}");
        assert!(near(time("refcount+pymalloc", "refcount", "cyclic-garbage"), 3.0 * 1.4), "0.7 / 0.5");
        assert!(near(time("marksweep+pymalloc", "marksweep", "churn"), 0.5), "nothing alike: as it is");
    }

    #[test]
    fn a_traced_program_that_never_ran_is_timed_as_the_strategys_median_program_of_its_kind() {
        let history = History::of(&[
            record("pymalloc", "", "trace-replay-a", 1, 0.1),
            record("pymalloc", "", "trace-replay-b", 1, 0.3),
            record("pymalloc", "", "trace-replay-b", 1, 0.5),
            record("pymalloc", "", "trace-replay-c", 1, 0.9),
            record("python@3.11+pymalloc", "python", "program-a", 1, 2.0),
            record("python@3.11+pymalloc", "python", "program-b", 1, 6.0),
            record("cycle+pymalloc", "cycle", "churn", 1000, 50.0),
        ]);
        let time = |strategy: &str, collector: &str, workload: &str| {
            let (seconds, basis, walls) = history.cell(&cell(strategy, collector, workload, 1), false);
            ((seconds * 1e6).round() / 1e6, basis, walls.len())
        };
        assert_eq!(
            time("pymalloc", "", "trace-replay-new"),
            (0.4, Basis::Scaled, 2),
            "b: the middle of three"
        );
        assert_eq!(
            time("python@3.11+pymalloc", "python", "program-new"),
            (2.0, Basis::Scaled, 1),
            "of two, the lower"
        );
        assert_eq!(time("pymalloc", "", "trace-replay-b"), (0.4, Basis::Exact, 2), "its own time first");
        assert_eq!(time("system", "", "trace-replay-new"), (0.0, Basis::Unknown, 0), "no program of its own");
        assert_eq!(time("pymalloc", "", "program-new"), (0.0, Basis::Unknown, 0), "nor of its kind");
        assert_eq!(time("cycle+pymalloc", "cycle", "churn-new"), (0.0, Basis::Unknown, 0), "not a program");
    }

    #[test]
    fn scaling_follows_the_power_between_the_two_nearest_sizes_within_linear_and_cubic() {
        let history = History::of(&[
            record("cycle+pymalloc", "cycle", "matmul", 10, 1.0),
            record("cycle+pymalloc", "cycle", "matmul", 20, 8.0),
            record("cycle+pymalloc", "cycle", "churn", 1000, 1.0),
            record("cycle+pymalloc", "cycle", "churn", 2000, 1.2),
            record("cycle+pymalloc", "cycle", "churn", 1_000_000, 600.0),
            record("cycle+pymalloc", "cycle", "steep", 10, 1.0),
            record("cycle+pymalloc", "cycle", "steep", 20, 100.0),
            record("cycle+pymalloc", "cycle", "binary-trees", 14, 2.0),
            record("cycle+pymalloc", "cycle", "binary-trees", 15, 5.0),
        ]);
        let time = |workload: &str, size: u64, depth: bool| {
            let (seconds, basis, _) = history.cell(&cell("cycle+pymalloc", "cycle", workload, size), depth);
            assert_eq!(basis, Basis::Scaled, "{workload} at {size}");
            seconds
        };
        assert!(near(time("matmul", 40, false), 64.0), "cubic, as the two sizes show");
        assert!(near(time("matmul", 5, false), 0.125), "and down from the nearest size as well");
        assert!(near(time("churn", 4000, false), 2.4), "a flattening curve scales linearly, not slower");
        assert!(near(time("churn", 500_000, false), 300.0), "from the nearest size, 1,000,000");
        assert!(near(time("steep", 40, false), 800.0), "a steeper power is taken as cubic");
        assert!(near(time("binary-trees", 16, true), 12.5), "2.5 per level, as 14 to 15 shows");
    }

    #[test]
    fn repetitions_replay_the_stopping_rule_on_the_runs_the_time_came_from() {
        let rule = Repetitions { fewest: 3, most: 10, precision: Some(0.05) };
        // Steady from the start: the median's interval needs 6 values, and is tight at once.
        let steady = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.0, 1.0, 1.01, 0.99];
        let stop = rule.replay(&steady).expect("ten runs decide");
        assert!((6..10).contains(&stop), "a steady cell stops early, at {stop}");
        assert_eq!(rule.replay(&steady[..stop as usize]), Some(stop), "its own runs are enough to tell");
        // Never within 5%: the most.
        let noisy = [1.0, 2.0, 0.5, 1.5, 0.7, 1.9, 0.6, 1.4, 0.8, 2.1];
        assert_eq!(rule.replay(&noisy), Some(10));
        assert_eq!(rule.replay(&noisy[..7]), None, "seven noisy runs cannot tell where it would stop");
        assert_eq!(
            Repetitions { precision: None, ..rule }.replay(&[]),
            Some(3),
            "without --precision: the fewest"
        );

        // A group: one cell replayed from its own runs, one scaled from a neighbour too short to replay.
        let mut records: Vec<Record> =
            steady.iter().map(|&w| record("cycle+pymalloc", "cycle", "bulk-load", 1000, w)).collect();
        records.push(record("cycle+pymalloc", "cycle", "churn", 10, 2.0));
        let history = History::of(&records);
        let cells = [
            cell("cycle+pymalloc", "cycle", "bulk-load", 1000),
            cell("cycle+pymalloc", "cycle", "churn", 20),
        ];
        let model = &estimate(&cells, rule, &history, |_| false)["model"];
        assert_eq!(model.repetitions_unknown, 1);
        assert!((model.seconds - (f64::from(stop) * 1.0 + 3.0 * 4.0)).abs() < 1e-9, "{model:?}");
        assert!((model.seconds_once * 3.0 - 3.0 * 5.0).abs() < 1e-9, "at the fewest");
        assert!((model.seconds_once * 10.0 - 10.0 * 5.0).abs() < 1e-9, "at the most");
    }
}
