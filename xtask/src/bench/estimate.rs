//! `cargo xtask bench --dry-run`: what a sweep would run, and how long it would take
//! by an earlier run's wall times (`--estimate-from DIR`).
//!
//! A cell's time is, in order of preference: the median wall time of the same cell in
//! the earlier run; the same strategy and workload at the nearest size it ran, scaled
//! by the size (linearly; by 2 per level for sizes that are depths); the same for
//! another strategy of the same collector (`python@3.9+pymalloc` by `python@3.11+pymalloc`),
//! then of any collector. A cell with none of these is counted as unknown, never
//! guessed.

use std::collections::BTreeMap;

use heaplab_core::{Record, Status};

use super::plan::Cell;
use crate::report::stats::median;

/// The wall times of an earlier run, by strategy, workload and threads, then size.
pub struct History {
    times: BTreeMap<(String, String, u32), BTreeMap<u64, Vec<f64>>>,
    collectors: BTreeMap<String, String>,
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

/// The estimate of one group of cells.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Estimate {
    /// Seconds for every repetition of the group's cells.
    pub seconds: f64,
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
        History { times, collectors }
    }

    /// `strategy` on `workload` at `size`, scaled from the nearest size it ran.
    fn scaled(
        &self,
        strategy: &str,
        workload: &str,
        threads: u32,
        size: u64,
        depth: bool,
    ) -> Option<(f64, bool)> {
        let sizes = self.times.get(&(strategy.to_owned(), workload.to_owned(), threads))?;
        let distance = |s: u64| ((s as f64).ln() - (size as f64).ln()).abs();
        let (&nearest, times) = sizes.iter().min_by(|a, b| distance(*a.0).total_cmp(&distance(*b.0)))?;
        let seconds = median(times)?;
        let factor =
            if depth { 2f64.powf(size as f64 - nearest as f64) } else { size as f64 / nearest as f64 };
        Some((seconds * factor, nearest == size))
    }

    /// The time of one run of `cell`, and how it was found.
    pub fn cell(&self, cell: &Cell, depth: bool) -> (f64, Basis) {
        let (workload, threads, size) = (cell.workload.as_str(), cell.threads, cell.size);
        if let Some((seconds, exact)) = self.scaled(&cell.strategy, workload, threads, size, depth) {
            return (seconds, if exact { Basis::Exact } else { Basis::Scaled });
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
            if let Some((seconds, _)) = self.scaled(strategy, workload, threads, size, depth) {
                return (seconds, Basis::Scaled);
            }
        }
        (0.0, Basis::Unknown)
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

/// Estimates every group of `cells`, each run `repeat` times; `depth` says which workloads' sizes are depths.
pub fn estimate(
    cells: &[Cell],
    repeat: u32,
    history: &History,
    depth: impl Fn(&str) -> bool,
) -> BTreeMap<&'static str, Estimate> {
    let mut groups: BTreeMap<&'static str, Estimate> = BTreeMap::new();
    for cell in cells {
        let (seconds, basis) = history.cell(cell, depth(&cell.workload));
        let entry = groups.entry(group(cell)).or_default();
        entry.seconds += seconds * f64::from(repeat);
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
        let time = |c: &Cell, depth| history.cell(c, depth);
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
        let groups = estimate(&cells, 3, &history, |_| false);
        assert_eq!(groups["model"], Estimate { seconds: 6.0, exact: 1, scaled: 0, unknown: 0 });
        assert_eq!(groups["real interpreter"].seconds, 30.0);
    }
}
